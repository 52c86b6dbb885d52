"""Shared fixtures and helpers for Strata's end-to-end tests.

The tests drive the real `pacs` executable (env PACS_BIN, default
<repo>/.build/debug/pacs), each test against a fresh data directory and the
repository's default Policies/ (a copy whose fast tier has a fixed capacity, see POLICIES_DIR). Without the executable every test that needs
it fails with a message saying how to get one (a missing dependency is never a skip).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import math
import os
import secrets
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
import pytest
import yaml
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT / "Fixtures"
VALID_DIR = FIXTURES_DIR / "valid"
MALFORMED_DIR = FIXTURES_DIR / "malformed"
REPO_POLICIES_DIR = REPO_ROOT / "Policies"


def _policies_for_tests() -> Path:
    """The repository's Policies/ with one change: the fast tier's capacity is pinned (1 TB). Without one the
    tier's fill is the file system's, and on a machine whose disk is above the 85% high watermark the mover would
    start moving originals in the middle of tests about something else. The watermark's own tests set theirs."""
    folder = Path(tempfile.mkdtemp(prefix="strata-e2e-")) / "Policies"
    shutil.copytree(REPO_POLICIES_DIR, folder)
    tiering = folder / "tiering.yaml"
    text = tiering.read_text()
    assert "  # capacity: 500GB" in text, "Policies/tiering.yaml no longer has the commented capacity line this copies"
    tiering.write_text(text.replace("  # capacity: 500GB", "  capacity: 1TB", 1))
    atexit.register(shutil.rmtree, folder.parent, True)
    return folder


POLICIES_DIR = _policies_for_tests()
DEFAULT_PACS_BIN = REPO_ROOT / ".build" / "debug" / "pacs"
DEFAULT_WORKSTATION_BIN = REPO_ROOT / ".build" / "debug" / "workstation"
TIMEOUT_SECONDS = 120

LISTING_KINDS = ("studies", "series", "instances")
SUMMARY_LINE = re.compile(r"imported (\d+), duplicate (\d+), failed (\d+)")
DERIVE_SUMMARY_LINE = re.compile(r"derived versions of (\d+) instances, (\d+) still queued")

JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_2000_LOSSY = "1.2.840.10008.1.2.4.91"
# Lossy-compressed transfer syntaxes: an original in one of them is its own V1 (no lossless copy is made).
LOSSY_SYNTAXES = {
    "1.2.840.10008.1.2.4.50": "JPEG Baseline",
    "1.2.840.10008.1.2.4.51": "JPEG Extended",
    "1.2.840.10008.1.2.4.81": "JPEG-LS near-lossless",
    "1.2.840.10008.1.2.4.91": "JPEG 2000",
    "1.2.840.10008.1.2.4.203": "HTJ2K",
}
LOSSY_VERSIONS = ("V2", "V3")


def fixture_files(folder: Path) -> list[Path]:
    """Every file in a fixture folder (recursively), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# What pydicom reads from a source file: the oracle for listings
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceInstance:
    """The identifying attributes of one source DICOM file, as pydicom reads them."""

    path: Path
    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    instance_number: int | None
    modality: str
    series_number: int | None
    series_description: str
    patient_id: str
    patient_name: str
    study_date: str
    accession_number: str
    study_description: str

    @property
    def patient_name_parts(self) -> list[str]:
        """Family, given, ... names of every component group (alphabetic, ideographic, phonetic)."""
        return [part for group in self.patient_name.split("=") for part in group.split("^") if part]


def _int_or_none(value) -> int | None:
    return None if value in (None, "") else int(value)


def read_source(path: Path) -> SourceInstance:
    ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None:  # a bare dataset: no file meta, so the encoding pydicom detected
        syntax = ImplicitVRLittleEndian if ds.original_encoding[0] else ExplicitVRLittleEndian
    return SourceInstance(
        path=path.resolve(),
        sop_instance_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        study_instance_uid=str(ds.StudyInstanceUID),
        series_instance_uid=str(ds.SeriesInstanceUID),
        transfer_syntax_uid=str(syntax),
        instance_number=_int_or_none(ds.get("InstanceNumber")),
        modality=str(ds.get("Modality", "")),
        series_number=_int_or_none(ds.get("SeriesNumber")),
        series_description=str(ds.get("SeriesDescription", "")),
        patient_id=str(ds.get("PatientID", "")),
        patient_name=str(ds.get("PatientName", "")),
        study_date=str(ds.get("StudyDate", "")),
        accession_number=str(ds.get("AccessionNumber", "")),
        study_description=str(ds.get("StudyDescription", "")),
    )


def wildcard_match(pattern: str, value: str) -> bool:
    """DICOM wildcard matching: * any run, ? one character, case-insensitive."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


@functools.cache
def valid_sources() -> tuple[SourceInstance, ...]:
    return tuple(read_source(p) for p in fixture_files(VALID_DIR))


# --------------------------------------------------------------------------
# Running pacs
# --------------------------------------------------------------------------

@dataclass
class ImportReport:
    """What one `pacs import` run said, line by line, and its summary counts."""

    process: subprocess.CompletedProcess
    imported: dict[Path, str] = field(default_factory=dict)    # source -> SOP Instance UID
    duplicates: dict[Path, str] = field(default_factory=dict)  # source -> SOP Instance UID
    failures: dict[Path, str] = field(default_factory=dict)    # source -> reason
    summary: tuple[int, int, int] | None = None                # (imported, duplicate, failed)

    @property
    def returncode(self) -> int:
        return self.process.returncode

    def __str__(self) -> str:
        return (f"exit {self.returncode}\n--- stdout ---\n{self.process.stdout}"
                f"--- stderr ---\n{self.process.stderr}")


def parse_import_line(line: str, cwd: Path) -> tuple[str, Path, str] | None:
    """("imported" | "duplicate", path, uid) or ("failed", path, reason); None for other lines.

    Paths are resolved against the directory pacs ran in, so relative and
    absolute spellings of the same file compare equal.
    """
    line = line.rstrip("\n")
    for kind in ("imported", "duplicate"):
        if line.startswith(f"{kind}: "):
            path, _, uid = line[len(kind) + 2:].rpartition(" ")
            return kind, (cwd / path).resolve(), uid
    if line.startswith("failed: "):
        path, _, reason = line[len("failed: "):].partition(": ")
        return "failed", (cwd / path).resolve(), reason
    return None


class Pacs:
    """The `pacs` command line bound to one data directory."""

    def __init__(self, binary: Path, data: Path, policies: Path, cwd: Path):
        self.binary, self.data, self.policies, self.cwd = binary, data, policies, cwd

    def argv(self, *args) -> list[str]:
        """The command line for a subcommand; the global options go last."""
        return [str(self.binary), *map(str, args),
                "--data", str(self.data), "--policies", str(self.policies)]

    def run(self, *args, timeout: float = TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), cwd=self.cwd, capture_output=True,
                              text=True, timeout=timeout)

    def import_(self, *paths, verbose: bool = True, derive: bool = True) -> ImportReport:
        result = self.run("import", *paths, *(["--verbose"] if verbose else []), *([] if derive else ["--no-derive"]))
        report = ImportReport(result)
        # the contract does not say which stream failures go to: accept either
        for line in (result.stdout + result.stderr).splitlines():
            parsed = parse_import_line(line, self.cwd)
            if parsed is not None:
                kind, path, detail = parsed
                {"imported": report.imported, "duplicate": report.duplicates,
                 "failed": report.failures}[kind][path] = detail
        for line in result.stdout.splitlines():
            if m := SUMMARY_LINE.fullmatch(line.strip()):
                report.summary = tuple(int(n) for n in m.groups())
        return report

    def import_ok(self, *paths) -> ImportReport:
        """Imports paths that must all import cleanly."""
        report = self.import_(*paths)
        assert report.returncode == 0 and not report.failures, str(report)
        return report

    def ls(self, kind: str, *filters: str) -> list[dict]:
        result = self.run("ls", kind, "--json", *filters)
        assert result.returncode == 0, f"pacs ls {kind} failed:\n{result.stderr}"
        rows = json.loads(result.stdout)
        assert isinstance(rows, list), f"pacs ls {kind} --json is not a JSON array: {result.stdout[:300]}"
        return rows

    def verify(self, *flags: str) -> subprocess.CompletedProcess:
        return self.run("verify", *flags)

    def user_add(self, name: str, role: str, password: str) -> None:
        """`pacs user add NAME --role ROLE` with the password on standard input; must succeed."""
        result = subprocess.run(self.argv("user", "add", name, "--role", role), cwd=self.cwd, input=password + "\n",
                                capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
        assert result.returncode == 0, f"pacs user add {name} --role {role}: exit {result.returncode}\n" \
                                       f"{result.stdout}{result.stderr}"

    def wait_until_derived(self, *uids: str, timeout: float = TIMEOUT_SECONDS) -> None:
        """Waits until `pacs versions` says each instance's derivation is done (a server derives in the
        background); fails naming the instances still pending after `timeout`."""
        deadline = time.monotonic() + timeout
        pending = list(uids)
        while pending:
            pending = [uid for uid in pending if self.versions(uid).get("derivation") != "done"]
            if pending:
                assert time.monotonic() < deadline, f"derivation not done after {timeout:.0f} s for {pending}"
                time.sleep(0.25)

    def versions(self, sop_instance_uid: str) -> dict:
        """`pacs versions UID --json`: {"sop_instance_uid", "versions": [file entries], "missing": {name: reason}}."""
        result = self.run("versions", sop_instance_uid, "--json")
        assert result.returncode == 0, f"pacs versions {sop_instance_uid} failed:\n{result.stderr}"
        listing = json.loads(result.stdout)
        assert isinstance(listing, dict) and listing.get("sop_instance_uid") == sop_instance_uid, \
            f"pacs versions --json: not the listing of {sop_instance_uid}: {result.stdout[:300]}"
        assert isinstance(listing.get("versions"), list), listing
        assert isinstance(listing.get("missing"), dict), listing
        return listing

    def derive(self, *flags: str, timeout: float = TIMEOUT_SECONDS) -> tuple[int, int] | None:
        """Runs `pacs derive` to the end, which must succeed; returns its summary line's (instances
        derived, still queued), None when it printed none."""
        result = self.run("derive", *flags, timeout=timeout)
        assert result.returncode == 0, f"pacs derive {' '.join(flags)}: exit {result.returncode}\n" \
                                       f"{result.stdout}{result.stderr}"
        lines = result.stdout.strip().splitlines()
        summary = DERIVE_SUMMARY_LINE.fullmatch(lines[-1].strip()) if lines else None
        return (int(summary[1]), int(summary[2])) if summary else None


_ports_given: set[int] = set()


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (bind to port 0, read it back, close), and not one
    handed out before in this session (the kernel may offer the same free port twice in a row)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


@contextlib.contextmanager
def tmpfs(folder: Path, size: str):
    """A tmpfs of `size` mounted on `folder` for the block; skips when mounting is not permitted."""
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {result.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def remount(folder: Path, options: str) -> None:
    result = subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], capture_output=True, text=True)
    assert result.returncode == 0, f"mount -o remount,{options} {folder}: {result.stderr}"


def copy_policies(dest: Path) -> Path:
    """A private copy of the repository's Policies/ folder, for a test that edits or adds policy files."""
    shutil.copytree(POLICIES_DIR, dest)
    return dest


class PacsServer:
    """`pacs serve` running in the background; its stdout and stderr go to a log file.

    start() returns once the log shows `ready` (and fails with the log if the process exits first);
    stop() sends SIGTERM and returns the exit status.
    """

    def __init__(self, pacs: Pacs, *args, log: Path, env: dict[str, str] | None = None):
        self.pacs, self.args, self.log = pacs, args, log
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self, ready: str, timeout: float = 60) -> "PacsServer":
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(self.pacs.argv("serve", *self.args), cwd=self.pacs.cwd, env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while ready not in self.log_text():
            if self.process.poll() is not None:
                raise AssertionError(f"pacs serve exited with {self.process.returncode} before logging "
                                     f"{ready!r}:\n{self.log_text()[-4000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"pacs serve did not log {ready!r} within {timeout:.0f} s:\n"
                                     f"{self.log_text()[-4000:]}")
            time.sleep(0.05)
        return self

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_note(self) -> str:
        """For a failure message that the server may have caused: nothing while it runs, else how it ended."""
        if self.running:
            return ""
        return f"\npacs serve is not running (exit {self.process.returncode}):\n{self.log_text()[-3000:]}"

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then the exit status; a server still running after `timeout` is killed and fails."""
        assert self.process is not None, "pacs serve was never started"
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"pacs serve still running {timeout:.0f} s after SIGTERM:\n"
                                     f"{self.log_text()[-4000:]}")
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# --------------------------------------------------------------------------
# HTTP (DICOMweb, the API): multipart bodies, datasets compared element by element
# --------------------------------------------------------------------------

HTTP_READY_LINE = "HTTP listening on"


@dataclass
class Part:
    """One part of a multipart body: its headers (names lower-cased) and its bytes."""

    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def media_type_parameters(value: str) -> tuple[str, dict[str, str]]:
    """`multipart/related; type="application/dicom"; boundary=x` -> ("multipart/related", {"type": ..., ...})."""
    kind, *rest = [piece.strip() for piece in value.split(";")]
    parameters = {}
    for piece in rest:
        name, _, val = piece.partition("=")
        parameters[name.strip().lower()] = val.strip().strip('"')
    return kind.lower(), parameters


def multipart_parts(content_type: str, body: bytes) -> list[Part]:
    """The parts of a multipart body (RFC 2046), given the Content-Type that names its boundary; fails on a
    body that does not start with the boundary or never closes it."""
    kind, parameters = media_type_parameters(content_type)
    assert kind.startswith("multipart/"), f"not a multipart body: Content-Type {content_type!r}"
    boundary = parameters.get("boundary")
    assert boundary, f"no boundary in Content-Type {content_type!r}"
    delimiter = b"\r\n--" + boundary.encode()
    chunks = (b"\r\n" + body).split(delimiter)
    assert chunks[0] == b"", f"the body does not start with the boundary: {body[:80]!r}"
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts
        assert chunk.startswith(b"\r\n"), f"a delimiter is not followed by CRLF: {chunk[:40]!r}"
        if chunk.startswith(b"\r\n\r\n"):  # a part without headers
            head, content = b"", chunk[4:]
        else:
            head, blank, content = chunk[2:].partition(b"\r\n\r\n")
            assert blank, f"a part has no blank line after its headers: {chunk[:80]!r}"
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        parts.append(Part(headers, content))
    raise AssertionError(f"the multipart body never closes its boundary ({len(parts)} parts read)")


def multipart_body(parts: list[tuple[str, bytes]], boundary: str) -> bytes:
    """A multipart body of (Content-Type, bytes) parts, closed."""
    out = b""
    for content_type, data in parts:
        out += f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def element_diff(a: Dataset, b: Dataset, skip_pixels: bool = False) -> list[str]:
    """The top-level elements that differ (group lengths ignored; the pixel data group too if asked)."""
    def elements(ds: Dataset) -> dict:
        return {e.tag: e for e in ds if e.tag.element != 0x0000 and not (skip_pixels and e.tag.group == 0x7FE0)}
    ea, eb = elements(a), elements(b)
    diff = [f"{e.tag} {e.keyword}: only in the first" for t, e in ea.items() if t not in eb]
    diff += [f"{e.tag} {e.keyword}: only in the second" for t, e in eb.items() if t not in ea]
    diff += [f"{e.tag} {e.keyword}: {str(e.value)[:60]!r} != {str(eb[t].value)[:60]!r}"
             for t, e in ea.items() if t in eb and e != eb[t]]
    return diff


def by_key(rows: list[dict], key: str) -> dict[str, dict]:
    """Rows indexed by a key that must be unique."""
    keyed = {row[key]: row for row in rows}
    assert len(keyed) == len(rows), f"duplicate {key} values in listing: {[r[key] for r in rows]}"
    return keyed


def original_file(row: dict) -> dict:
    """The instance's original (V1) file entry."""
    entries = [f for f in row["files"] if f["version"] == "V1" and f["variant"] == "original"]
    assert len(entries) == 1, f"{row['sop_instance_uid']}: expected one V1 original, got {row['files']}"
    return entries[0]


def stored_file(pacs: Pacs, entry: dict) -> Path:
    """Where a listed file entry is on disk: its path is relative to its tier's folder, which the
    default policies put at <data>/<tier>."""
    path = pacs.data / entry["tier"] / entry["path"]
    assert path.is_file(), f"listed path {entry['path']!r} is not a file under {pacs.data / entry['tier']}"
    return path


def version_entry(entries: list[dict], version: str, variant: str | None = None) -> dict:
    """The one file entry of a version (and variant) among an instance's files or versions."""
    found = [e for e in entries if e["version"] == version and variant in (None, e["variant"])]
    assert len(found) == 1, f"expected one {version}{'/' + variant if variant else ''} entry, got {entries}"
    return found[0]


def assert_listed_file_intact(pacs: Pacs, entry: dict) -> Path:
    """The listed file exists with the listed size and SHA-256 (computed here); returns its path."""
    path = stored_file(pacs, entry)
    data = path.read_bytes()
    assert entry["size"] == len(data), f"{entry['path']}: listed size {entry['size']}, file has {len(data)}"
    assert entry["sha256"].lower() == sha256_hex(data), f"{entry['path']}: listed sha256 is not the file's"
    return path


def is_standard_part10(data: bytes) -> bool:
    return len(data) >= 132 and data[128:132] == b"DICM"


def assert_stored_original_is(pacs: Pacs, row: dict, source: Path) -> None:
    """The instance's stored original is on the fast tier and byte-identical to source; a source that
    is not a standard Part 10 file (no preamble or no meta) is stored as one holding the same dataset."""
    entry = original_file(row)
    expected = source.read_bytes()
    assert entry["tier"] == "fast", entry
    assert not Path(entry["path"]).is_absolute(), f"path must be relative to the tier folder: {entry}"
    if not is_standard_part10(expected):
        stored = stored_file(pacs, entry).read_bytes()
        assert is_standard_part10(stored), f"{source.name} was not stored as a standard Part 10 file"
        assert entry["sha256"].lower() == sha256_hex(stored)
        assert pydicom.dcmread(stored_file(pacs, entry)) == pydicom.dcmread(source, force=True), \
            f"{source.name}: the stored dataset differs from the source's"
        return
    size = len(expected)
    assert entry["size"] == size, f"{source.name}: listed size {entry['size']} != source size {size}"
    assert entry["sha256"].lower() == sha256_hex(expected), f"{source.name}: listed sha256 differs"
    stored = stored_file(pacs, entry).read_bytes()
    assert sha256_hex(stored) == sha256_hex(expected), f"{entry['path']} differs from {source}"
    assert stored == expected


# --------------------------------------------------------------------------
# Compression policy and fidelity: the oracle for derived versions
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class VersionTargets:
    """What the compression policy asks of one lossy version of one image."""

    ratio: float     # raw bytes : compressed bytes
    min_psnr: float  # dB, peak 2^BitsStored - 1


def compression_policy(policies: Path = POLICIES_DIR) -> dict:
    with (policies / "compression.yaml").open() as f:
        return yaml.safe_load(f)


def _rule_matches(rule: dict, ds: pydicom.Dataset) -> bool:
    checks = []
    if "modality" in rule:
        checks.append(str(ds.get("Modality", "")).upper() == str(rule["modality"]).upper())
    if "body_part" in rule:
        checks.append(str(ds.get("BodyPartExamined", "")).upper() == str(rule["body_part"]).upper())
    if "study_description" in rule:
        checks.append(str(rule["study_description"]).lower() in str(ds.get("StudyDescription", "")).lower())
    return bool(checks) and all(checks)


def version_targets(ds: pydicom.Dataset, version: str, policies: Path = POLICIES_DIR) -> VersionTargets:
    """The ratio and PSNR floor for `version` of the image `ds`, as Policies/compression.yaml says: for
    each setting, the first matching rule that names the version wins, else the defaults."""
    policy = compression_policy(policies)

    def setting(key: str) -> float:
        for rule in policy.get("rules") or []:
            if _rule_matches(rule, ds) and version in (rule.get(key) or {}):
                return float(rule[key][version])
        return float(policy["defaults"][key][version])

    return VersionTargets(ratio=setting("ratio"), min_psnr=setting("min_psnr"))


def native_pixel_bytes(ds: pydicom.Dataset) -> int:
    """The size of the image's pixels uncompressed: rows x columns x samples x bytes per cell x frames."""
    return (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1))
            * (int(ds.BitsAllocated) // 8) * int(ds.get("NumberOfFrames", 1) or 1))


def frames_of(pixels: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """pydicom's pixel_array as (frames, ...) whatever the number of frames."""
    return pixels if int(ds.get("NumberOfFrames", 1) or 1) > 1 else pixels[np.newaxis]


def worst_frame_psnr(original: np.ndarray, decoded: np.ndarray, bits_stored: int) -> float:
    """PSNR in dB of the worst frame (arrays shaped (frames, ...)), peak 2^BitsStored - 1."""
    peak = float(2 ** bits_stored - 1)
    worst = math.inf
    for a, b in zip(original.astype(np.float64), decoded.astype(np.float64)):
        mse = float(np.mean((a - b) ** 2))
        worst = min(worst, math.inf if mse == 0 else 10 * math.log10(peak * peak / mse))
    return worst


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test asking for `valid_file` or `malformed_file` runs once per fixture file."""
    for name, folder in (("valid_file", VALID_DIR), ("malformed_file", MALFORMED_DIR)):
        if name in metafunc.fixturenames:
            files = fixture_files(folder)
            metafunc.parametrize(name, files, ids=[p.name for p in files])


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES_DIR


def built_binary(variable: str, default: Path) -> Path:
    """A product of this package (env `variable`, else `default`), as an absolute path: the tests run it in their
    temporary folders, where a relative path would not resolve."""
    path = Path(os.environ.get(variable, default)).resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{path.name} executable not found at {path}: run `swift build` in {REPO_ROOT} "
                    f"or set {variable} to a built binary")
    return path


@pytest.fixture(scope="session")
def pacs_bin() -> Path:
    return built_binary("PACS_BIN", DEFAULT_PACS_BIN)


@pytest.fixture(scope="session")
def workstation_bin() -> Path:
    """The `workstation` client (env WORKSTATION_BIN, default .build/debug/workstation)."""
    return built_binary("WORKSTATION_BIN", DEFAULT_WORKSTATION_BIN)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh, not yet created, data directory for this test."""
    return tmp_path / "data"


@pytest.fixture
def run_pacs(pacs_bin: Path, data_dir: Path, tmp_path: Path):
    """run_pacs(*args, data=DIR, policies=DIR) -> CompletedProcess (text output).

    Runs in the test's temporary directory so a forgotten --data never
    writes into the repository.
    """
    def run(*args, data: Path = data_dir, policies: Path = POLICIES_DIR,
            timeout: float = TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
        return Pacs(pacs_bin, data, policies, tmp_path).run(*args, timeout=timeout)
    return run


@pytest.fixture
def pacs(pacs_bin: Path, data_dir: Path, tmp_path: Path) -> Pacs:
    """The pacs command line on this test's fresh data directory."""
    return Pacs(pacs_bin, data_dir, POLICIES_DIR, tmp_path)


@pytest.fixture
def valid_instances() -> tuple[SourceInstance, ...]:
    """What pydicom reads from each file in Fixtures/valid."""
    return valid_sources()


@dataclass(frozen=True)
class GeneratedSeries:
    """A CT series written by Fixtures/make_fixtures.py, with each file's SOP Instance UID."""
    folder: Path
    uids: dict[Path, str]  # source file -> SOP Instance UID


def generate_ct_series(folder: Path, length: int, size: int) -> GeneratedSeries:
    """Writes a `length`-slice CT series of `size` x `size` images into `folder`."""
    subprocess.run([sys.executable, str(FIXTURES_DIR / "make_fixtures.py"),
                    "--ct-series", str(length), "--out", str(folder), "--size", str(size)],
                   check=True, capture_output=True, timeout=300)
    files = fixture_files(folder)
    assert len(files) == length
    return GeneratedSeries(folder, {p.resolve(): read_source(p).sop_instance_uid for p in files})


def read_pgm(data: bytes) -> np.ndarray:
    """A binary PGM (P5, as opj_decompress writes it) as an array; 16-bit samples are big-endian."""
    tokens, pos = [], 0
    while len(tokens) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        tokens.append(data[pos:end])
        pos = end
    pos += 1
    assert tokens[0] == b"P5", f"opj_decompress wrote {tokens[0]!r}, expected a P5 PGM"
    width, height, maxval = int(tokens[1]), int(tokens[2]), int(tokens[3])
    dtype = np.dtype(">u2") if maxval > 255 else np.dtype("u1")
    return np.frombuffer(data[pos:pos + width * height * dtype.itemsize], dtype).reshape(height, width)


OPJ_DECOMPRESS = Path("/usr/bin/opj_decompress")


def opj_decode(codestream: bytes, reduce: int, workdir: Path, signed: bool = False, bits: int = 12) -> np.ndarray:
    """OpenJPEG's decoding of a J2K codestream, `reduce` resolution levels discarded, as sample values (int64).
    OpenJPEG writes a signed image to PGM shifted by 2^(bits-1); with `signed` that shift is undone."""
    if not OPJ_DECOMPRESS.is_file():
        pytest.fail(f"OpenJPEG's opj_decompress is not at {OPJ_DECOMPRESS}: run scripts/setup.sh --test")
    token = secrets.token_hex(6)
    source, pgm = workdir / f"{token}.j2c", workdir / f"{token}.pgm"
    source.write_bytes(codestream)
    result = subprocess.run([str(OPJ_DECOMPRESS), "-i", str(source), "-o", str(pgm), "-r", str(reduce)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and pgm.exists(), \
        f"opj_decompress -r {reduce} cannot decode the {len(codestream)} bytes (they end {codestream[-2:].hex()}; " \
        f"a codestream ends with the EOC marker ffd9):\n{(result.stdout + result.stderr)[-1500:]}"
    samples = read_pgm(pgm.read_bytes()).astype(np.int64)
    return samples - (1 << (bits - 1)) if signed else samples


def pacs_with_users(pacs_bin: Path, root: Path, users: dict[str, str]) -> tuple[Pacs, dict[str, str]]:
    """A pacs on a private data folder and copy of the policies, with `users` (name -> role) added, each with a
    random password (returned by name)."""
    pacs = Pacs(pacs_bin, root / "data", copy_policies(root / "Policies"), root)
    passwords = {name: f"pw-{secrets.token_urlsafe(10)}" for name in users}
    for name, role in users.items():
        pacs.user_add(name, role, passwords[name])
    return pacs, passwords


@pytest.fixture
def server_alive(request):
    """After each test of a module whose shared server is its module-scoped `site` fixture (modules opt in with
    `pytestmark = pytest.mark.usefixtures("server_alive")`): that server is still running."""
    yield
    if "site" in request.fixturenames:
        site = request.getfixturevalue("site")
        assert site.server.running, f"pacs serve died during this test{site.state()}"
