"""Every stored image gets its versions, and each version is what its listing says it is.

After `pacs import` (without --no-derive) every instance has:
- V1, the original exactly as received, and, unless the original already is JPEG-LS, a JPEG-LS
  lossless copy of it (same SOP Instance UID) whose pixels are bit-exact;
- V2 (reference) and V3 (comparison): JPEG 2000 irreversible versions that are new DICOM objects
  (new SOP Instance UID, lossy attributes, a reference to the original), compressed to the ratio
  Policies/compression.yaml asks for the image's modality without going below its PSNR floor, with
  their real fidelity measured and recorded, and cut into resolution levels a client can fetch as
  byte prefixes of each frame's codestream.
An original the server cannot decode keeps V1 and says, for every version it could not make, why.

The oracles are pydicom (with pylibjpeg-openjpeg and pyjpegls for the compressed pixels), OpenJPEG's
opj_decompress, DCMTK's dcmdump, dicom3tools' dciodvfy when installed, and compression.yaml read
with PyYAML: no ratio or floor is written down here.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames
from pydicom.multival import MultiValue
from pydicom.tag import Tag
from pydicom.uid import JPEG2000Lossless

from conftest import (JPEG_2000_LOSSY, JPEG_LS_LOSSLESS, LOSSY_SYNTAXES, LOSSY_VERSIONS, POLICIES_DIR,
                      VALID_DIR, Pacs, assert_listed_file_intact, by_key, compression_policy, frames_of,
                      native_pixel_bytes, opj_decode, read_source, version_entry, version_targets, worst_frame_psnr)

# The fixtures big enough for the policy's ratios to be reachable (128x128 and more).
LOSSY_FIXTURES = ("ct_implicit_le.dcm", "ct_explicit_le.dcm", "mr_explicit_le.dcm", "cr_explicit_be.dcm")
COLOUR_FIXTURE = "us_rgb_explicit_le.dcm"
MULTIFRAME_FIXTURES = ("mf_deflated.dcm", "mf_rle.dcm", "mf_extended_offset.dcm")
LOSSY_ORIGINAL_FIXTURE = "xc_jpeg_baseline.dcm"  # JPEG baseline with Lossy Image Compression attributes

RATIO_TOLERANCE = 0.15           # achieved ratio vs the policy's target
LISTED_RATIO_TOLERANCE = 0.01    # listed achievedRatio vs native bytes / codestream bytes
PSNR_TOLERANCE_DB = 0.5          # listed psnr vs the PSNR computed here
UNCOMPRESSED_PREDECESSOR = "121320"   # DCM "Uncompressed predecessor"
EOC = b"\xff\xd9"

def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/setup.sh --test")
    return path


# --------------------------------------------------------------------------
# One store holding every valid fixture, with its versions derived on import
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def store(pacs_bin: Path, tmp_path_factory) -> Pacs:
    cwd = tmp_path_factory.mktemp("versions")
    pacs = Pacs(pacs_bin, cwd / "data", POLICIES_DIR, cwd)
    pacs.import_ok(VALID_DIR)
    return pacs


@dataclass
class Instance:
    """A fixture as stored: its versions listing and its stored original read by pydicom."""

    name: str
    listing: dict
    original_entry: dict
    original_path: Path
    original: pydicom.Dataset

    @property
    def uid(self) -> str:
        return self.listing["sop_instance_uid"]

    def present(self, version: str, variant: str) -> dict:
        """The version's entry, failing with the server's reason when it was not made."""
        reason = self.listing["missing"].get(version)
        assert reason is None, f"{self.name}: {version} was not made: {reason}"
        return version_entry(self.listing["versions"], version, variant)


def stored_instance(store: Pacs, name: str) -> Instance:
    uid = read_source(VALID_DIR / name).sop_instance_uid
    listing = store.versions(uid)
    entry = version_entry(listing["versions"], "V1", "original")
    path = assert_listed_file_intact(store, entry)
    # the stored original, not the source: a source without file meta is stored as a Part 10 file
    return Instance(name, listing, entry, path, pydicom.dcmread(path))


# A lossy JPEG's pixels depend on the decoder (libjpeg and libjpeg-turbo upsample chroma differently);
# the server decodes like libjpeg-turbo, so the reference for these is pydicom's Pillow plugin.
LOSSY_JPEG_SYNTAXES = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51")


def original_pixels(instance: Instance) -> np.ndarray:
    """pydicom's decode of the original (frames first); lossy JPEG by Pillow (libjpeg-turbo, as the server's)."""
    original = instance.original
    if original.file_meta.TransferSyntaxUID in LOSSY_JPEG_SYNTAXES:
        original.pixel_array_options(decoding_plugin="pillow")
    return frames_of(original.pixel_array, original)


def frame_codestreams(path: Path, entry: dict) -> list[bytes]:
    data = path.read_bytes()
    return [data[f["offset"]:f["offset"] + f["length"]] for f in entry["frames"]]


def assert_frames_located(instance_name: str, path: Path, entry: dict, ds: pydicom.Dataset) -> list[bytes]:
    """The listed frames are the file's encapsulated frames, one per frame, each a whole codestream."""
    count = int(ds.get("NumberOfFrames", 1) or 1)
    assert len(entry["frames"]) == count, \
        f"{instance_name} {entry['version']}: {len(entry['frames'])} frames listed, the image has {count}"
    sliced = frame_codestreams(path, entry)
    encapsulated = list(generate_frames(ds.PixelData, number_of_frames=count))
    for n, (codestream, frame) in enumerate(zip(sliced, encapsulated)):
        # a fragment of odd length is padded to even length with one byte
        assert frame[:len(codestream)] == codestream and len(frame) - len(codestream) in (0, 1), \
            f"{instance_name} {entry['version']} frame {n}: offset/length do not locate the encapsulated frame"
        assert codestream.endswith(EOC), f"{instance_name} {entry['version']} frame {n}: no EOI/EOC at the end"
    return sliced


# --------------------------------------------------------------------------
# Decoding JPEG 2000 with OpenJPEG's command line tool
# --------------------------------------------------------------------------

# --------------------------------------------------------------------------
# 1. V1: the original, and a JPEG-LS copy with the very same pixels
# --------------------------------------------------------------------------

GROUP_LENGTH = 0x0000
# How the pixels are encoded, which a transfer syntax change may change: everything else stays.
PIXEL_ENCODING_TAGS = {Tag(0x7FE0, 0x0010), Tag(0x7FE0, 0x0001), Tag(0x7FE0, 0x0002),  # pixels, offset tables
                       Tag(0x0028, 0x0006)}                                           # PlanarConfiguration
PHOTOMETRIC = Tag(0x0028, 0x0004)


def has_no_lossless_copy(store: Pacs, valid_file: Path) -> bool:
    """True (after checking why) for an original that gets no JPEG-LS copy: one that already is JPEG-LS lossless,
    and a lossy one, which is its own V1 (`pacs versions` says so)."""
    instance = stored_instance(store, valid_file.name)
    syntax = read_source(valid_file).transfer_syntax_uid
    copies = [e for e in instance.listing["versions"] if e["version"] == "V1" and e["variant"] != "original"]
    if syntax == JPEG_LS_LOSSLESS:
        assert copies == [], f"{valid_file.name} already is JPEG-LS, yet has V1 copies {copies}"
        assert "V1" not in instance.listing["missing"], instance.listing["missing"]
        return True
    if syntax in LOSSY_SYNTAXES:
        assert copies == [], f"{valid_file.name} is lossy, yet has V1 copies {copies}"
        assert "the original is lossy" in instance.listing["missing"].get("V1", ""), instance.listing["missing"]
        return True
    return False


def test_v1_is_the_original_plus_a_jpeg_ls_copy_unless_it_already_is_jpeg_ls_or_lossy(store: Pacs, valid_file: Path):
    """Every instance keeps its original as V1; unless the original is JPEG-LS or lossy, V1 also has a JPEG-LS
    lossless copy with the same SOP Instance UID, for diagnosis at quality 100, whose listed file is intact."""
    instance = stored_instance(store, valid_file.name)
    if has_no_lossless_copy(store, valid_file):
        return
    copy = instance.present("V1", "jpegls")
    assert copy["transfer_syntax_uid"] == JPEG_LS_LOSSLESS, copy
    assert copy.get("sop_instance_uid") in (None, instance.uid), f"the lossless copy is the same instance: {copy}"
    assert copy["purpose"] == "diagnosis" and copy["quality"] == 100, copy
    assert copy.get("psnr") is None, f"an exact copy has no PSNR: {copy}"
    assert copy.get("max_error") in (None, 0), copy
    path = assert_listed_file_intact(store, copy)
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == JPEG_LS_LOSSLESS
    assert ds.SOPInstanceUID == instance.uid == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.SOPClassUID == instance.original.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID
    for n, codestream in enumerate(assert_frames_located(valid_file.name, path, copy, ds)):
        assert codestream[:4] == b"\xff\xd8\xff\xf7", f"frame {n} is not a JPEG-LS codestream (SOI, SOF55)"


def test_v1_jpeg_ls_copy_is_bit_exact(store: Pacs, valid_file: Path):
    """The JPEG-LS copy decodes (pydicom + pyjpegls) to exactly the pixels pydicom decodes from the
    original: same shape, same type, every sample equal."""
    instance = stored_instance(store, valid_file.name)
    if has_no_lossless_copy(store, valid_file):
        return
    expected = original_pixels(instance)
    copy = pydicom.dcmread(assert_listed_file_intact(store, instance.present("V1", "jpegls")))
    actual = frames_of(copy.pixel_array, copy)
    # same cells; the byte order may differ (a big endian original decodes to big endian cells)
    assert (actual.shape, actual.dtype.newbyteorder("=")) == (expected.shape, expected.dtype.newbyteorder("="))
    differing = int(np.count_nonzero(actual != expected))
    assert differing == 0, f"{valid_file.name}: {differing} of {expected.size} samples of the JPEG-LS copy differ"


def test_v1_jpeg_ls_copy_keeps_every_attribute_but_the_pixel_encoding(store: Pacs, valid_file: Path):
    """Apart from the file meta, the pixel data and its offset tables, planar configuration and (for a
    YBR original, which is decoded to RGB) photometric interpretation, the copy's dataset equals the
    original's element for element (group lengths aside, which are optional)."""
    instance = stored_instance(store, valid_file.name)
    if has_no_lossless_copy(store, valid_file):
        return
    copy = pydicom.dcmread(assert_listed_file_intact(store, instance.present("V1", "jpegls")))
    original = instance.original
    ignored = set(PIXEL_ENCODING_TAGS)
    if str(original.get("PhotometricInterpretation", "")).startswith("YBR"):
        ignored.add(PHOTOMETRIC)
    tags = {t for t in set(original.keys()) | set(copy.keys()) if t.element != GROUP_LENGTH and t not in ignored}
    differences = []
    for tag in sorted(tags):
        ours, theirs = copy.get(tag), original.get(tag)
        if ours is None or theirs is None:
            differences.append(f"{tag} {'missing from the copy' if ours is None else 'added by the copy'}")
        elif ours.value != theirs.value:
            differences.append(f"{tag} {theirs.keyword or ''}: original {theirs.value!r:.80} copy {ours.value!r:.80}")
    assert differences == [], f"{valid_file.name}:\n" + "\n".join(differences)


# --------------------------------------------------------------------------
# 2. The lossy versions: ratio, fidelity, and readable by other software
# --------------------------------------------------------------------------

@dataclass
class LossyVersion:
    instance: Instance
    entry: dict
    path: Path
    ds: pydicom.Dataset

    @property
    def label(self) -> str:
        return f"{self.instance.name} {self.entry['version']}"


def lossy_version(store: Pacs, name: str, version: str) -> LossyVersion:
    instance = stored_instance(store, name)
    entry = instance.present(version, "j2k")
    path = assert_listed_file_intact(store, entry)
    return LossyVersion(instance, entry, path, pydicom.dcmread(path))


each_lossy_version = pytest.mark.parametrize("version", LOSSY_VERSIONS)
each_lossy_fixture = pytest.mark.parametrize("name", LOSSY_FIXTURES)


@each_lossy_fixture
@each_lossy_version
def test_lossy_version_reaches_the_policy_ratio_within_15_percent(store: Pacs, name: str, version: str):
    """The achieved ratio (native pixel bytes : codestream bytes) is within 15% of the target ratio
    compression.yaml sets for the modality, and the listed achievedRatio is that of the file (1%)."""
    lossy = lossy_version(store, name, version)
    targets = version_targets(lossy.instance.original, version)
    assert lossy.entry["target_ratio"] == pytest.approx(targets.ratio), lossy.entry
    codestream_bytes = sum(len(c) for c in frame_codestreams(lossy.path, lossy.entry))
    computed = native_pixel_bytes(lossy.instance.original) / codestream_bytes
    assert lossy.entry["achieved_ratio"] == pytest.approx(computed, rel=LISTED_RATIO_TOLERANCE), \
        f"{lossy.label}: listed ratio {lossy.entry['achieved_ratio']}, file's {computed:.3f}"
    assert computed == pytest.approx(targets.ratio, rel=RATIO_TOLERANCE), \
        f"{lossy.label}: ratio {computed:.2f}, policy asks {targets.ratio}"


@each_lossy_fixture
@each_lossy_version
def test_lossy_version_keeps_the_psnr_floor_and_records_its_real_fidelity(store: Pacs, name: str, version: str):
    """The file decodes (pydicom + pylibjpeg-openjpeg) to the original's shape; the PSNR computed here
    (worst frame, peak 2^BitsStored-1) is within 0.5 dB of the listed psnr, which is at least the
    policy's min_psnr; the listed maxError is the largest absolute difference (to 1)."""
    lossy = lossy_version(store, name, version)
    expected = original_pixels(lossy.instance)
    decoded = frames_of(lossy.ds.pixel_array, lossy.ds)
    assert decoded.shape == expected.shape, f"{lossy.label}: decodes to {decoded.shape}, original is {expected.shape}"
    floor = version_targets(lossy.instance.original, version).min_psnr
    listed = lossy.entry.get("psnr")
    assert isinstance(listed, (int, float)), f"{lossy.label}: no psnr recorded: {lossy.entry}"
    assert listed >= floor, f"{lossy.label}: PSNR {listed:.2f} dB is below the policy's floor {floor} dB"
    measured = worst_frame_psnr(expected, decoded, int(lossy.instance.original.BitsStored))
    assert listed == pytest.approx(measured, abs=PSNR_TOLERANCE_DB), \
        f"{lossy.label}: listed PSNR {listed:.2f} dB, measured {measured:.2f} dB"
    max_error = int(np.max(np.abs(expected.astype(np.int64) - decoded.astype(np.int64))))
    assert abs(lossy.entry.get("max_error", -10) - max_error) <= 1, \
        f"{lossy.label}: listed maxError {lossy.entry.get('max_error')}, measured {max_error}"


@each_lossy_version
def test_no_lossy_version_of_any_image_goes_below_the_policy_psnr_floor(store: Pacs, valid_file: Path, version: str):
    """Whatever the image (small, 8-bit, multi-frame, colour), the version exists and its PSNR, listed and
    measured here (worst frame), is at least the min_psnr compression.yaml sets for it: the server gives
    an image more bytes rather than go below the floor."""
    lossy = lossy_version(store, valid_file.name, version)
    floor = version_targets(lossy.instance.original, version).min_psnr
    listed = lossy.entry.get("psnr")
    assert isinstance(listed, (int, float)), f"{lossy.label}: no psnr recorded: {lossy.entry}"
    expected = original_pixels(lossy.instance)
    measured = worst_frame_psnr(expected, frames_of(lossy.ds.pixel_array, lossy.ds),
                                int(lossy.instance.original.BitsStored))
    assert min(listed, measured) >= floor, \
        f"{lossy.label}: PSNR listed {listed:.2f} dB, measured {measured:.2f} dB, below the floor {floor} dB " \
        f"(ratio {lossy.entry['achieved_ratio']:.2f}, target {lossy.entry['target_ratio']})"


@each_lossy_fixture
@each_lossy_version
def test_each_frame_codestream_decodes_with_opj_decompress_to_full_size(store: Pacs, tmp_path: Path, name: str,
                                                                       version: str):
    """offset/length locate each frame's JPEG 2000 codestream in the file, and OpenJPEG's own command
    line tool decodes it to the image's full size."""
    lossy = lossy_version(store, name, version)
    for n, codestream in enumerate(assert_frames_located(lossy.label, lossy.path, lossy.entry, lossy.ds)):
        assert codestream[:4] == b"\xff\x4f\xff\x51", f"{lossy.label} frame {n}: not a J2K codestream (SOC, SIZ)"
        pixels = opj_decode(codestream, 0, tmp_path)
        assert pixels.shape == (lossy.ds.Rows, lossy.ds.Columns), f"{lossy.label} frame {n}"


@each_lossy_fixture
@each_lossy_version
def test_dcmdump_reads_the_lossy_version_without_errors(store: Pacs, name: str, version: str):
    """DCMTK parses the whole file (exit 0) without an error line."""
    tool = require_tool("dcmdump")
    lossy = lossy_version(store, name, version)
    result = subprocess.run([tool, str(lossy.path)], capture_output=True, text=True, timeout=60)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("E:")]
    assert result.returncode == 0 and errors == [], f"{lossy.label}: dcmdump exit {result.returncode}\n" + \
        "\n".join(errors or result.stderr.splitlines()[-10:])


UID_LIKE = re.compile(r"\b\d+(?:\.\d+){2,}\b")


def dciodvfy_errors(path: Path) -> set[str]:
    result = subprocess.run([require_tool("dciodvfy"), str(path)], capture_output=True, text=True, timeout=60)
    return {UID_LIKE.sub("<uid>", line.strip())
            for line in (result.stdout + result.stderr).splitlines() if "Error" in line}


@each_lossy_fixture
@each_lossy_version
def test_dciodvfy_finds_no_error_the_original_does_not_have(store: Pacs, name: str, version: str):
    """dicom3tools' IOD checker reports nothing wrong with the lossy version that it does not also
    report for the original (the fixtures need not be perfect, the derivation must not add to it)."""
    require_tool("dciodvfy")
    lossy = lossy_version(store, name, version)
    added = dciodvfy_errors(lossy.path) - dciodvfy_errors(lossy.instance.original_path)
    assert added == set(), f"{lossy.label}: dciodvfy errors the original has not:\n" + "\n".join(sorted(added))


# --------------------------------------------------------------------------
# 3. The lossy versions are new DICOM instances derived from the original
# --------------------------------------------------------------------------

def policy_version(version: str) -> dict:
    found = [v for v in compression_policy()["versions"] if v["name"] == version]
    assert len(found) == 1, f"compression.yaml has no single {version}"
    return found[0]


def ds_values(ds: pydicom.Dataset, keyword: str) -> list:
    """A possibly multi-valued attribute as a list (empty when absent)."""
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, MultiValue)) else [value]


def assert_lossy_history(lossy: LossyVersion) -> None:
    """Lossy Image Compression "01"; the ratio and the method appended to the original's earlier values."""
    ds, original = lossy.ds, lossy.instance.original
    assert ds.get("LossyImageCompression") == "01", f"{lossy.label}: {ds.get('LossyImageCompression')!r}"
    earlier_ratios = [float(r) for r in ds_values(original, "LossyImageCompressionRatio")]
    ratios = [float(r) for r in ds_values(ds, "LossyImageCompressionRatio")]
    assert len(ratios) == len(earlier_ratios) + 1, f"{lossy.label}: ratios {ratios}, earlier {earlier_ratios}"
    assert ratios[:-1] == pytest.approx(earlier_ratios, rel=1e-6), f"{lossy.label}: earlier ratios changed"
    assert ratios[-1] == pytest.approx(lossy.entry["achieved_ratio"], rel=LISTED_RATIO_TOLERANCE), \
        f"{lossy.label}: ratio {ratios[-1]}, listed {lossy.entry['achieved_ratio']}"
    methods = [str(m) for m in ds_values(ds, "LossyImageCompressionMethod")]
    earlier_methods = [str(m) for m in ds_values(original, "LossyImageCompressionMethod")]
    assert methods == earlier_methods + ["ISO_15444_1"], f"{lossy.label}: methods {methods}, earlier {earlier_methods}"


@each_lossy_fixture
@each_lossy_version
def test_lossy_version_is_a_new_instance_derived_from_the_original(store: Pacs, name: str, version: str):
    """A new SOP Instance UID (the listed one, in the file and its meta) of the same SOP class and study,
    JPEG 2000 lossy transfer syntax, Image Type DERIVED, a Derivation Description, and a Source Image
    Sequence naming the original with purpose 121320; Lossy Image Compression attributes."""
    lossy = lossy_version(store, name, version)
    ds, original, entry = lossy.ds, lossy.instance.original, lossy.entry
    assert entry["transfer_syntax_uid"] == JPEG_2000_LOSSY == ds.file_meta.TransferSyntaxUID
    assert ds.SOPInstanceUID == entry["sop_instance_uid"] == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.SOPInstanceUID != original.SOPInstanceUID
    assert ds.SOPClassUID == original.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID
    assert ds.StudyInstanceUID == original.StudyInstanceUID
    assert ds_values(ds, "ImageType")[:1] == ["DERIVED"], f"{lossy.label}: ImageType {ds.get('ImageType')}"
    assert str(ds.get("DerivationDescription", "")).strip(), f"{lossy.label}: no DerivationDescription"
    sources = ds.get("SourceImageSequence") or []
    references = [item for item in sources if item.get("ReferencedSOPInstanceUID") == original.SOPInstanceUID]
    assert len(references) == 1, f"{lossy.label}: SourceImageSequence does not name the original once: {sources}"
    reference = references[0]
    assert reference.get("ReferencedSOPClassUID") == original.SOPClassUID
    purposes = [(c.get("CodeValue"), c.get("CodingSchemeDesignator"))
                for c in reference.get("PurposeOfReferenceCodeSequence") or []]
    assert purposes == [(UNCOMPRESSED_PREDECESSOR, "DCM")], f"{lossy.label}: purpose of reference {purposes}"
    assert_lossy_history(lossy)


@each_lossy_fixture
@each_lossy_version
def test_lossy_version_carries_its_parameters_in_the_strata_private_block(store: Pacs, name: str, version: str):
    """(0073,0010) "STRATA VERSIONS" with version name, quality, purpose and target ratio, equal to the
    versions listing, which in turn says what compression.yaml says."""
    lossy = lossy_version(store, name, version)
    ds, entry = lossy.ds, lossy.entry
    policy = policy_version(version)
    assert (entry["purpose"], entry["quality"]) == (policy["purpose"], policy["quality"]), entry
    creator = ds.get(Tag(0x0073, 0x0010))
    assert creator is not None and creator.value == "STRATA VERSIONS", f"{lossy.label}: creator {creator}"
    block = ds.private_block(0x0073, "STRATA VERSIONS")
    assert block[0x01].value == version
    assert int(block[0x02].value) == entry["quality"]
    assert str(block[0x03].value).lower() == entry["purpose"].lower()
    assert float(block[0x04].value) == pytest.approx(entry["target_ratio"])


@each_lossy_version
def test_lossy_version_of_a_lossy_jpeg_original_appends_to_its_lossy_history(store: Pacs, version: str):
    """The JPEG baseline fixture already says it was lossy compressed (ratio, ISO_10918_1): its versions
    keep those values and append their own ratio and ISO_15444_1."""
    lossy = lossy_version(store, LOSSY_ORIGINAL_FIXTURE, version)
    assert ds_values(lossy.instance.original, "LossyImageCompressionMethod"), "the fixture lost its lossy history"
    assert_lossy_history(lossy)


@each_lossy_version
def test_lossy_version_of_an_imported_lossy_version_appends_to_its_lossy_history(
        pacs: Pacs, store: Pacs, tmp_path: Path, version: str):
    """Importing a lossy version as an original (a lossy JPEG 2000 image that already has one ratio and
    method): its own lossy versions keep the earlier ratio and method and append theirs."""
    earlier = lossy_version(store, "ct_explicit_le.dcm", "V2")
    source = tmp_path / "lossy_original.dcm"
    shutil.copyfile(earlier.path, source)
    pacs.import_ok(source)
    instance = Instance(source.name, pacs.versions(earlier.ds.SOPInstanceUID), {}, source, earlier.ds)
    entry = instance.present(version, "j2k")
    path = assert_listed_file_intact(pacs, entry)
    assert_lossy_history(LossyVersion(instance, entry, path, pydicom.dcmread(path)))


@each_lossy_version
def test_colour_lossy_version_is_ybr_ict(store: Pacs, version: str):
    """A colour image's lossy versions use the irreversible colour transform: YBR_ICT, three samples,
    decoding (to RGB) to the original's shape at no less than the policy's PSNR floor."""
    lossy = lossy_version(store, COLOUR_FIXTURE, version)
    assert lossy.ds.PhotometricInterpretation == "YBR_ICT", lossy.ds.PhotometricInterpretation
    assert lossy.ds.SamplesPerPixel == 3
    expected = original_pixels(lossy.instance)
    decoded = frames_of(lossy.ds.pixel_array, lossy.ds)
    assert decoded.shape == expected.shape
    floor = version_targets(lossy.instance.original, version).min_psnr
    measured = worst_frame_psnr(expected, decoded, int(lossy.instance.original.BitsStored))
    assert measured >= floor and lossy.entry["psnr"] >= floor, \
        f"{lossy.label}: PSNR measured {measured:.2f}, listed {lossy.entry['psnr']:.2f}, floor {floor}"


@pytest.mark.parametrize("name", MULTIFRAME_FIXTURES)
@each_lossy_version
def test_every_frame_of_a_multiframe_lossy_version_is_located_and_decodes(store: Pacs, tmp_path: Path, name: str,
                                                                          version: str):
    lossy = lossy_version(store, name, version)
    for n, codestream in enumerate(assert_frames_located(lossy.label, lossy.path, lossy.entry, lossy.ds)):
        pixels = opj_decode(codestream, 0, tmp_path)
        assert pixels.shape == (lossy.ds.Rows, lossy.ds.Columns), f"{lossy.label} frame {n}"


# --------------------------------------------------------------------------
# 4. Progressive delivery: a level is a byte prefix of the codestream
# --------------------------------------------------------------------------

def level_prefix(codestream: bytes, end: int) -> bytes:
    """What the server sends for a level: the codestream up to the level's end, closed with an EOC."""
    return codestream if end >= len(codestream) else codestream[:end] + EOC


@each_lossy_fixture
@each_lossy_version
def test_every_resolution_level_is_a_decodable_prefix_of_the_codestream(store: Pacs, tmp_path: Path, name: str,
                                                                        version: str):
    """For every frame and every level k, the prefix codestream[:levelEnds[k]] + EOC decodes with
    `opj_decompress -r R` (R = levels - 1 - k) to levelSizes[k], and to exactly the pixels OpenJPEG
    decodes at that reduction from the whole codestream. Levels grow from the smallest to the full
    image, and their ends grow with them."""
    lossy = lossy_version(store, name, version)
    columns, rows = int(lossy.ds.Columns), int(lossy.ds.Rows)
    for n, (frame, codestream) in enumerate(zip(lossy.entry["frames"], frame_codestreams(lossy.path, lossy.entry))):
        ends, sizes = frame.get("level_ends"), frame.get("level_sizes")
        assert ends and sizes and len(ends) == len(sizes), f"{lossy.label} frame {n}: no level index: {frame}"
        levels = len(ends)
        assert levels >= 2, f"{lossy.label} frame {n}: a {columns}x{rows} image in one level only"
        assert [list(s) for s in sizes][-1] == [columns, rows], f"{lossy.label} frame {n}: last level {sizes[-1]}"
        for k in range(levels - 1):
            assert sizes[k] == [math.ceil(sizes[k + 1][0] / 2), math.ceil(sizes[k + 1][1] / 2)], \
                f"{lossy.label} frame {n}: level sizes {sizes} do not halve"
            assert 0 < ends[k] < ends[k + 1], f"{lossy.label} frame {n}: level ends {ends} do not grow"
        assert ends[-1] <= len(codestream) and len(codestream) - ends[-1] <= len(EOC), \
            f"{lossy.label} frame {n}: the full level ends at {ends[-1]} of {len(codestream)} bytes"
        for k, (end, (width, height)) in enumerate(zip(ends, sizes)):
            reduce = levels - 1 - k
            from_prefix = opj_decode(level_prefix(codestream, end), reduce, tmp_path)
            from_whole = opj_decode(codestream, reduce, tmp_path)
            assert from_prefix.shape == (height, width), \
                f"{lossy.label} frame {n} level {k}: prefix decodes to {from_prefix.shape[::-1]}, " \
                f"listed {width}x{height}"
            assert np.array_equal(from_prefix, from_whole), \
                f"{lossy.label} frame {n} level {k}: the {end}-byte prefix decodes to other pixels than the whole"


# --------------------------------------------------------------------------
# 5. Versions that cannot be made are listed as missing, with the reason
# --------------------------------------------------------------------------

def undecodable_copy(folder: Path) -> Path:
    """mr_rle.dcm relabelled as JPEG 2000: its RLE fragments are garbage to a JPEG 2000 decoder."""
    ds = pydicom.dcmread(VALID_DIR / "mr_rle.dcm")
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    path = folder / "undecodable.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_an_original_that_cannot_be_decoded_keeps_v1_and_says_why_the_rest_is_missing(
        pacs: Pacs, tmp_path: Path):
    """It is imported (acknowledged, listed, verify clean); its versions list only the V1 original, and
    `missing` gives V1 (the lossless copy), V2 and V3 each a reason that mentions decoding. Working the
    queue again changes nothing and breaks nothing."""
    source = undecodable_copy(tmp_path)
    uid = read_source(source).sop_instance_uid
    report = pacs.import_ok(source)
    assert report.imported == {source.resolve(): uid}, str(report)

    def check() -> None:
        listing = pacs.versions(uid)
        assert [(e["version"], e["variant"]) for e in listing["versions"]] == [("V1", "original")], listing
        assert_listed_file_intact(pacs, listing["versions"][0])
        assert set(listing["missing"]) == {"V1", *LOSSY_VERSIONS}, listing["missing"]
        for version, reason in listing["missing"].items():
            assert isinstance(reason, str) and re.search(r"decod", reason, re.IGNORECASE), \
                f"{version}: the reason {reason!r} does not say the original cannot be decoded"
        assert uid in by_key(pacs.ls("instances"), "sop_instance_uid")
        verify = pacs.verify()
        assert verify.returncode == 0, verify.stdout + verify.stderr

    check()
    pacs.derive("--all")
    check()


# --------------------------------------------------------------------------
# The derivation queue: --no-derive, derive, derive --all
# --------------------------------------------------------------------------

QUEUE_FIXTURES = ("ct_explicit_le.dcm", "mr_explicit_le.dcm")


def version_set(listing: dict) -> dict[tuple[str, str], dict]:
    return {(e["version"], e["variant"]): e for e in listing["versions"]}


def test_import_no_derive_stores_only_and_derive_works_the_queue(pacs: Pacs):
    """`import --no-derive` stores the originals and makes no version; `pacs derive` then makes V1's
    JPEG-LS copy, V2 and V3 of every queued instance and says the queue is empty."""
    sources = [VALID_DIR / name for name in QUEUE_FIXTURES]
    uids = [read_source(p).sop_instance_uid for p in sources]
    result = pacs.run("import", "--no-derive", *sources)
    assert result.returncode == 0, result.stdout + result.stderr
    for uid in uids:
        assert set(version_set(pacs.versions(uid))) == {("V1", "original")}
    assert not list((pacs.data / "fast").rglob("*jpegls*")) and not list((pacs.data / "fast").rglob("*j2k*"))

    assert pacs.derive() == (len(uids), 0)
    for uid in uids:
        listing = pacs.versions(uid)
        assert set(version_set(listing)) == {("V1", "original"), ("V1", "jpegls"), ("V2", "j2k"), ("V3", "j2k")}
        assert listing["missing"] == {}, listing["missing"]
        for entry in listing["versions"]:
            assert_listed_file_intact(pacs, entry)
    assert pacs.derive() in (None, (0, 0)), "nothing was left to derive"
    assert pacs.verify().returncode == 0


def test_derive_with_nothing_queued_says_so(pacs: Pacs):
    """`pacs derive` always ends with its summary line, also when the queue is already empty."""
    pacs.import_ok(VALID_DIR / QUEUE_FIXTURES[0])
    assert pacs.derive() == (0, 0), "pacs derive with nothing queued printed no summary line"


def test_versions_not_derived_yet_are_listed_as_missing_with_a_reason(pacs: Pacs):
    """`pacs versions` says why any version is missing: after `import --no-derive`, V1's copy, V2 and V3
    are not there yet, and each is in `missing` with a reason (for example that it is queued)."""
    source = VALID_DIR / QUEUE_FIXTURES[0]
    result = pacs.run("import", "--no-derive", source)
    assert result.returncode == 0, result.stdout + result.stderr
    listing = pacs.versions(read_source(source).sop_instance_uid)
    assert set(listing["missing"]) == {"V1", *LOSSY_VERSIONS} and all(listing["missing"].values()), \
        f"versions not made yet and not listed as missing: {listing}"


def test_derive_all_makes_only_the_missing_versions(pacs: Pacs):
    """`pacs derive --all` queues every instance again but remakes nothing that exists: every listed
    file, and each lossy version's SOP Instance UID, stays the same."""
    sources = [VALID_DIR / name for name in QUEUE_FIXTURES]
    pacs.import_ok(*sources)
    before = {p: pacs.versions(read_source(p).sop_instance_uid) for p in sources}
    derived, queued = pacs.derive("--all")
    assert queued == 0
    for p in sources:
        after = pacs.versions(read_source(p).sop_instance_uid)
        assert after == before[p], f"{p.name}: derive --all changed existing versions"
    assert pacs.verify().returncode == 0
