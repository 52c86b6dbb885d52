"""`pacs dump FILE --json` agrees with pydicom on every valid fixture, and fails cleanly on malformed ones.

The reference is pydicom's `Dataset.to_json_dict(bulk_data_threshold=10**9)`: the
DICOM JSON model (PS3.18 F.2) of the file's dataset with every binary value
inline. The comparison normalises only what the JSON model leaves open; each
allowance is explained where it is made.
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
from pydicom.filereader import read_dataset

from conftest import Pacs

INLINE_EVERYTHING = 10**9
SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
TAG_KEY = re.compile(r"[0-9A-F]{8}")
DECIMAL_VRS = {"DS", "IS", "FL", "FD"}          # compared with a relative tolerance
INTEGER_VRS = {"US", "SS", "UL", "SL", "UV", "SV"}
BINARY_VRS = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}
WORD_SIZE = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
RELATIVE_TOLERANCE = 1e-6


def pydicom_reference(path: Path) -> tuple[dict, bool]:
    """pydicom's DICOM JSON of the file's dataset, and whether the file is big endian."""
    ds = pydicom.dcmread(path, force=True)
    big_endian = not ds.original_encoding[1]
    return ds.to_json_dict(bulk_data_threshold=INLINE_EVERYTHING, bulk_data_element_handler=None), big_endian


def inline_bytes(element: dict) -> bytes:
    return base64.b64decode(element.get("InlineBinary", ""))


def little_endian_words(data: bytes, size: int) -> bytes:
    usable = len(data) - len(data) % size
    return np.frombuffer(data[:usable], dtype=f">u{size}").astype(f"<u{size}").tobytes() + data[usable:]


def reread_implicit(tag: str, data: bytes, as_sequence: bool) -> dict:
    """The JSON element pydicom makes of `data` as the value of `tag` in Implicit VR Little Endian:
    the dictionary VR for a known tag, items for an undefined-length value."""
    if as_sequence and not data.endswith(SEQUENCE_DELIMITER):
        data += SEQUENCE_DELIMITER
    length = 0xFFFFFFFF if as_sequence else len(data)
    raw = struct.pack("<HHI", int(tag[:4], 16), int(tag[4:], 16), length) + data
    ds = read_dataset(BytesIO(raw), is_implicit_VR=True, is_little_endian=True)
    return ds.to_json_dict(bulk_data_threshold=INLINE_EVERYTHING, bulk_data_element_handler=None)[tag]


def same_binary(ours: bytes, theirs: bytes) -> bool:
    if ours == theirs:
        return True
    if abs(len(ours) - len(theirs)) == 1:
        # an odd-length value is padded to even length by one of the two sides
        longer, shorter = (ours, theirs) if len(ours) > len(theirs) else (theirs, ours)
        return longer[:-1] == shorter
    # Encapsulated pixel data: the pacs contract inlines the item stream "offset table item,
    # fragment items, sequence delimiter", while pydicom's value stops before the sequence
    # delimiter item. Exactly these two forms are accepted.
    return ours == theirs + SEQUENCE_DELIMITER


def first_difference(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def same_value(vr: str, ours, theirs) -> bool:
    if ours is None or theirs is None:
        return ours is None and theirs is None
    if vr in DECIMAL_VRS:
        try:
            return math.isclose(float(ours), float(theirs), rel_tol=RELATIVE_TOLERANCE)
        except (TypeError, ValueError):
            return ours == theirs
    if vr in INTEGER_VRS:
        return ours == theirs
    if vr == "PN":
        return person_name_groups(ours) == person_name_groups(theirs)
    return ours == theirs


def person_name_groups(value):
    """A PN value's non-empty Alphabetic / Ideographic / Phonetic component groups."""
    return {k: v for k, v in value.items() if v} if isinstance(value, dict) else value


def short(value, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class Comparison:
    """Differences between pacs's DICOM JSON and pydicom's, one readable line each."""

    def __init__(self, big_endian: bool):
        self.big_endian = big_endian
        self.differences: list[str] = []

    def differ(self, where: str, what: str) -> None:
        self.differences.append(f"{where}: {what}")

    def datasets(self, ours: dict, theirs: dict, where: str = "") -> None:
        # group lengths (gggg,0000) are retired and not part of the comparison
        ours = {k: v for k, v in ours.items() if not k.endswith("0000")}
        theirs = {k: v for k, v in theirs.items() if not k.endswith("0000")}
        for tag in sorted(ours.keys() | theirs.keys()):
            if not TAG_KEY.fullmatch(tag):
                self.differ(where + tag, "key is not 8 upper-case hex digits")
            elif tag not in theirs:
                self.differ(where + tag, f"only in pacs dump: {short(ours[tag])}")
            elif tag not in ours:
                self.differ(where + tag, f"missing from pacs dump; pydicom has {short(theirs[tag])}")
            else:
                self.element(tag, ours[tag], theirs[tag], where + tag)

    def element(self, tag: str, ours: dict, theirs: dict, where: str) -> None:
        our_vr, their_vr = str(ours.get("vr")), str(theirs["vr"])
        # OB and OW are the same: implicit VR files do not encode the VR and the dictionary says
        # "OB or OW" for Pixel Data and friends, so readers pick differently; the bytes count.
        if our_vr != their_vr and {our_vr, their_vr} != {"OB", "OW"}:
            if "UN" not in (our_vr, their_vr):
                self.differ(where, f"VR {our_vr} in pacs dump, {their_vr} in pydicom")
                return
            reconciled = self.read_un_as_other(tag, ours, theirs, where)
            if reconciled is None:
                return
            ours, theirs = reconciled
        self.payload(str(ours["vr"]), str(theirs["vr"]), ours, theirs, where)

    def read_un_as_other(self, tag: str, ours: dict, theirs: dict, where: str) -> tuple[dict, dict] | None:
        """Reads the UN side's bytes as Implicit VR LE, so both sides have the other side's VR.

        UN is equivalent in two cases. (a) An explicit-VR file may carry a known attribute as UN:
        pydicom replaces UN by the dictionary VR and decodes it, a server may keep the bytes.
        (b) PS3.5 6.2.2: a UN value of undefined length is a sequence in Implicit VR LE: pydicom
        parses it into SQ items, keeping the bytes is lossless too. Either way the UN side's
        bytes, read as Implicit VR LE, must give the other side's element.
        """
        our_vr, their_vr = str(ours["vr"]), str(theirs["vr"])
        un_side, other_vr = (ours, their_vr) if our_vr == "UN" else (theirs, our_vr)
        mismatch = f"VR {our_vr} in pacs dump, {their_vr} in pydicom"
        if "InlineBinary" not in un_side:
            self.differ(where, f"{mismatch}; UN carries InlineBinary (PS3.18 F.2.3), items make an SQ")
            return None
        try:
            reread = reread_implicit(tag, inline_bytes(un_side), as_sequence=other_vr == "SQ")
        except Exception as error:  # noqa: BLE001 - any parse failure is a difference
            self.differ(where, f"{mismatch}, and the UN bytes do not parse as Implicit VR LE: {error}")
            return None
        if str(reread["vr"]) != other_vr:
            self.differ(where, f"{mismatch}, and the UN bytes read as {reread['vr']}")
            return None
        return (reread, theirs) if un_side is ours else (ours, reread)

    def payload(self, our_vr: str, their_vr: str, ours: dict, theirs: dict, where: str) -> None:
        if "BulkDataURI" in ours:
            self.differ(where, "pacs dump --json gave a BulkDataURI; every binary value must be inline")
        elif their_vr == "SQ":
            ours_items, theirs_items = ours.get("Value", []), theirs.get("Value", [])
            if len(ours_items) != len(theirs_items):
                self.differ(where, f"{len(ours_items)} items in pacs dump, {len(theirs_items)} in pydicom")
            for i, (a, b) in enumerate(zip(ours_items, theirs_items)):
                self.datasets(a, b, f"{where}[{i}].")
        elif their_vr in BINARY_VRS or "InlineBinary" in theirs:
            if "Value" in ours:
                self.differ(where, f"{our_vr} value given as Value, not InlineBinary")
                return
            a, b = inline_bytes(ours), inline_bytes(theirs)
            if self.big_endian and their_vr in WORD_SIZE:
                # pydicom inlines the words as they sit in a big-endian file; the JSON model has
                # no transfer syntax, and pacs inlines them little endian (as PS3.18 bulk data).
                b = little_endian_words(b, WORD_SIZE[their_vr])
            if not same_binary(a, b):
                self.differ(where, f"InlineBinary differs: pacs {len(a)} bytes, pydicom {len(b)} bytes, "
                                   f"first difference at byte {first_difference(a, b)}")
        else:
            a, b = ours.get("Value", []), theirs.get("Value", [])
            if len(a) != len(b) or not all(same_value(their_vr, x, y) for x, y in zip(a, b)):
                self.differ(where, f"{their_vr} values differ: pacs {short(a)}, pydicom {short(b)}")


def test_dump_json_matches_pydicom(pacs: Pacs, valid_file: Path):
    """`pacs dump FILE --json` prints the file's dataset as DICOM JSON that agrees with pydicom:
    the same tags (no file meta, no group lengths), the same VRs, the same values, every binary
    value inline."""
    result = pacs.run("dump", valid_file, "--json")
    assert result.returncode == 0, result.stderr
    ours = json.loads(result.stdout)
    theirs, big_endian = pydicom_reference(valid_file)

    comparison = Comparison(big_endian)
    comparison.datasets(ours, theirs)

    assert comparison.differences == [], "\n".join(comparison.differences)


def test_dump_of_a_malformed_file_fails_with_one_line_naming_the_byte_offset(run_pacs, malformed_file: Path):
    """`pacs dump` of a malformed file exits 1 and explains on a single stderr line where in the
    file (which byte) it went wrong: no crash, no stack trace."""
    result = run_pacs("dump", malformed_file, "--json")

    assert result.returncode == 1, f"exit {result.returncode}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert re.search(r"\bbyte", lines[0], re.IGNORECASE) and re.search(r"\d", lines[0]), lines[0]
