"""DICOMweb: `pacs serve --http-port N` answers QIDO-RS, WADO-RS and STOW-RS under /dicom-web.

What a user sees:
- QIDO-RS finds exactly the studies, series and instances that match (keywords or hex tags, wildcards, date
  ranges, UID lists), pages with limit/offset, and adds the attributes includefield names;
- WADO-RS returns each instance as stored (`transfer-syntax=*`), as Explicit VR Little Endian when no syntax
  is named, in a syntax the store holds (the JPEG-LS copy of V1) as is, and 406 for one it does not hold;
  metadata is the dataset as DICOM JSON with the pixel data as a BulkDataURI; frames come native or as
  JPEG-LS codestreams, and all of them are the pixels pydicom decodes from the fixture;
- STOW-RS stores what it is sent (200), is idempotent, reports a conflicting object with failure reason
  0xC010 and is held aside (409), a partial success as 202, and refuses referring users (403);
- bad requests (malformed bodies, wrong content types, unknown UIDs, path traversal, non-UIDs) get a 4xx,
  store nothing and leave the server answering;
- every route but /health needs HTTP Basic or a bearer token from POST /auth/token, which expires;
- WADO passes the access gate of access.yaml; a refusal is a 403 naming the rule;
- <data>/access.log gets one JSON line per request, without patient data, credentials or query values.

Servers: one for the read-only tests (Fixtures/valid imported before it starts), one that starts empty for
STOW-RS, and short-lived ones for access policies. Each has a private copy of Policies/ with users added by
`pacs user add` and token_lifetime 2s. Oracles: pydicom (the fixtures' attributes and pixels), pyjpegls
(JPEG-LS codestreams), dicomweb-client (a standard client), the fixture files' bytes.
"""

from __future__ import annotations

import http.client
import io
import json
import secrets
import shutil
import subprocess
import time
from base64 import b64encode
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pydicom
import pytest
import requests
import yaml
from pydicom.datadict import tag_for_keyword
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from conftest import (HTTP_READY_LINE, MALFORMED_DIR, VALID_DIR, Pacs, PacsServer, SourceInstance, copy_policies,
                      element_diff, frames_of, free_port, is_standard_part10, media_type_parameters, multipart_body,
                      LOSSY_SYNTAXES, multipart_parts, sha256_hex, stored_file, valid_sources, version_entry, wildcard_match)

import dicomweb_client  # noqa: E402
import jpeg_ls  # noqa: E402
from dicomweb_client.api import DICOMwebClient  # noqa: E402

HOST = "127.0.0.1"
USERS = {"reader": "reading", "referrer": "referring", "telerad": "teleradiology", "admin": "admin"}
TOKEN_LIFETIME_SECONDS = 2
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
# Lossy JPEG decoders need not agree bit for bit (IDCT rounding, chroma upsampling, YCbCr->RGB): pixels of a
# lossy source are compared with pydicom's decoding within this many grey levels.
LOSSY_SYNTAXES = {JPEG_BASELINE, "1.2.840.10008.1.2.4.51"}
LOSSY_TOLERANCE = 4
DICOM = 'multipart/related; type="application/dicom"'
AS_STORED = f"{DICOM}; transfer-syntax=*"
STOW_BOUNDARY = "strata-test-boundary-7f3a"
STOW_TYPE = f'{DICOM}; boundary={STOW_BOUNDARY}'
FAILURE_REASON_CONFLICT = 0xC010  # another object under a stored SOP Instance UID: held aside

SOURCES: tuple[SourceInstance, ...] = valid_sources()
BY_NAME: dict[str, SourceInstance] = {s.path.name: s for s in SOURCES}


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------

@dataclass
class Web:
    """A running `pacs serve` with its HTTP port, its users and their passwords."""

    pacs: Pacs
    server: PacsServer
    root: Path
    http_port: int
    dicom_port: int
    passwords: dict[str, str]
    crashes: list[Path] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def access_log(self) -> Path:
        return self.pacs.data / "access.log"

    def auth(self, user: str = "reader") -> tuple[str, str]:
        return user, self.passwords[user]

    def session(self, user: str = "reader") -> requests.Session:
        session = requests.Session()
        session.auth = self.auth(user)
        return session

    def client(self, user: str = "reader") -> DICOMwebClient:
        return DICOMwebClient(f"{self.base}/dicom-web", session=self.session(user))

    def state(self) -> str:
        """What to add to a failure message when the server might be the cause: for a crash, the log from
        the fatal error through the crashed thread's first frames."""
        if self.server.running:
            return ""
        log = self.server.log_text()
        start = max((log.find(marker) for marker in ("Fatal error", "*** Program crashed")), default=-1)
        if start < 0:
            return (f"\npacs serve is not running (exit {self.server.process.returncode}); its log ends:\n"
                    f"{log[-3000:]}")
        start = log.rfind("\n", 0, log.find("Fatal error") if "Fatal error" in log else start) + 1
        return (f"\npacs serve crashed (exit {self.server.process.returncode}); its log says:\n"
                f"{log[start:start + 2500]}")

    def request(self, method: str, path: str, *, user: str | None = "reader", auth=None, **kwargs) -> requests.Response:
        """One request (Basic auth as `user` unless `auth` or user=None says otherwise); a server that does
        not answer fails the test with its log."""
        if auth is None and user is not None:
            auth = self.auth(user)
        try:
            return requests.request(method, self.base + path, auth=auth, timeout=60, **kwargs)
        except requests.ConnectionError as error:
            time.sleep(0.5)
            pytest.fail(f"{method} {path[:200]}: no answer ({error}){self.state()}")

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def ensure_running(self) -> None:
        """Restarts a server that died (keeping its log), so one crash fails one test, not the module."""
        if self.server.running:
            return
        kept = self.root / f"serve-crash-{len(self.crashes) + 1}.log"
        shutil.copy(self.server.log, kept)
        self.crashes.append(kept)
        self.server = PacsServer(self.pacs, *self.server.args, log=self.server.log).start(HTTP_READY_LINE)

    def instance_uids(self) -> set[str]:
        """The SOP Instance UIDs the index lists (`pacs ls instances`)."""
        return {row["sop_instance_uid"] for row in self.pacs.ls("instances")}


def with_token_lifetime(policies: Path, lifetime: str) -> None:
    users = policies / "users.yaml"
    settings = yaml.safe_load(users.read_text()) or {}
    assert "token_lifetime" in settings, f"{users} has no token_lifetime"
    lines = [f"token_lifetime: {lifetime}" if line.startswith("token_lifetime:") else line
             for line in users.read_text().splitlines()]
    users.write_text("\n".join(lines) + "\n")


def start_web(pacs_bin: Path, root: Path, *imports: Path, edit_policies=None) -> Web:
    """A server on a fresh data folder: private policies (token_lifetime 2s, `edit_policies` applied), one
    user per role, `imports` imported with `pacs import` (which derives) before it starts."""
    root.mkdir(parents=True, exist_ok=True)
    policies = copy_policies(root / "Policies")
    with_token_lifetime(policies, f"{TOKEN_LIFETIME_SECONDS}s")
    if edit_policies is not None:
        edit_policies(policies)
    pacs = Pacs(pacs_bin, root / "data", policies, root)
    passwords = {name: f"pw-{secrets.token_urlsafe(12)}" for name in USERS}
    for name, role in USERS.items():
        pacs.user_add(name, role, passwords[name])
    if imports:
        pacs.import_ok(*imports)
    http_port, dicom_port = free_port(), free_port()
    server = PacsServer(pacs, "--dicom-port", dicom_port, "--http-port", http_port,
                        log=root / "serve.log").start(HTTP_READY_LINE)
    return Web(pacs, server, root, http_port, dicom_port, passwords)


def stop_web(web: Web) -> None:
    assert web.server.stop() == 0, f"pacs serve did not exit 0 on SIGTERM:\n{web.server.log_text()[-3000:]}"


@pytest.fixture(scope="module")
def web(pacs_bin: Path, tmp_path_factory) -> Web:
    """The read-only server: everything in Fixtures/valid imported (and derived) before it starts."""
    web = start_web(pacs_bin, tmp_path_factory.mktemp("dicomweb"), VALID_DIR)
    yield web
    stop_web(web)


@pytest.fixture(scope="module")
def stow_web(pacs_bin: Path, tmp_path_factory) -> Web:
    """The server STOW-RS stores into: it starts empty."""
    web = start_web(pacs_bin, tmp_path_factory.mktemp("dicomweb-stow"))
    yield web
    stop_web(web)


@pytest.fixture(autouse=True)
def server_survives(request):
    """A module server that died earlier is restarted before the next test; one that dies during a test
    makes that test error with the server's log."""
    servers = [request.getfixturevalue(name) for name in ("web", "stow_web") if name in request.fixturenames]
    for server in servers:
        server.ensure_running()
    yield
    for server in servers:
        if not server.server.running:
            raise AssertionError(f"pacs serve died during this test{server.state()}")


# --------------------------------------------------------------------------
# What the fixtures hold (pydicom), and reading DICOM JSON
# --------------------------------------------------------------------------

def hex_tag(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return f"{tag:08X}"


def person_name(value: dict) -> str:
    groups = [value.get(group, "") for group in ("Alphabetic", "Ideographic", "Phonetic")]
    return "=".join(groups).rstrip("=")


def values(result: dict, keyword: str) -> list:
    """The values of an attribute in one DICOM JSON object (PN as text, as pydicom writes it)."""
    element = result.get(hex_tag(keyword)) or {}
    found = element.get("Value", [])
    return [person_name(v) if element.get("vr") == "PN" and isinstance(v, dict) else v for v in found]


def value(result: dict, keyword: str):
    found = values(result, keyword)
    assert len(found) <= 1, f"{keyword} has several values: {found}"
    return found[0] if found else None


def uid_of(result: dict, level: str) -> str:
    return value(result, {"studies": "StudyInstanceUID", "series": "SeriesInstanceUID",
                          "instances": "SOPInstanceUID"}[level])


def studies() -> dict[str, list[SourceInstance]]:
    found = defaultdict(list)
    for s in SOURCES:
        found[s.study_instance_uid].append(s)
    return dict(found)


def series() -> dict[str, list[SourceInstance]]:
    found = defaultdict(list)
    for s in SOURCES:
        found[s.series_instance_uid].append(s)
    return dict(found)


def header(source: SourceInstance) -> pydicom.Dataset:
    return pydicom.dcmread(source.path, force=True, stop_before_pixels=True)


def assert_study_result(result: dict, members: list[SourceInstance]) -> None:
    """One QIDO study result says what pydicom reads from the study's files."""
    first = members[0]
    uid = first.study_instance_uid
    assert value(result, "StudyInstanceUID") == uid
    assert value(result, "PatientName") == first.patient_name, uid
    assert value(result, "PatientID") == first.patient_id, uid
    assert value(result, "StudyDate") == first.study_date, uid
    assert value(result, "AccessionNumber") == first.accession_number, uid
    assert set(values(result, "ModalitiesInStudy")) == {m.modality for m in members}, uid
    assert int(value(result, "NumberOfStudyRelatedSeries")) == len({m.series_instance_uid for m in members}), uid
    assert int(value(result, "NumberOfStudyRelatedInstances")) == len(members), uid


def assert_series_result(result: dict, members: list[SourceInstance]) -> None:
    first = members[0]
    uid = first.series_instance_uid
    assert value(result, "SeriesInstanceUID") == uid
    assert value(result, "StudyInstanceUID") == first.study_instance_uid, uid
    assert value(result, "Modality") == first.modality, uid
    if first.series_number is not None:
        assert int(value(result, "SeriesNumber")) == first.series_number, uid
    if first.series_description:
        assert value(result, "SeriesDescription") == first.series_description, uid
    assert int(value(result, "NumberOfSeriesRelatedInstances")) == len(members), uid


def assert_instance_result(result: dict, source: SourceInstance) -> None:
    uid = source.sop_instance_uid
    ds = header(source)
    assert value(result, "SOPInstanceUID") == uid
    assert value(result, "SOPClassUID") == source.sop_class_uid, uid
    assert value(result, "StudyInstanceUID") == source.study_instance_uid, uid
    assert value(result, "SeriesInstanceUID") == source.series_instance_uid, uid
    if source.instance_number is not None:
        assert int(value(result, "InstanceNumber")) == source.instance_number, uid
    assert int(value(result, "Rows")) == int(ds.Rows), uid
    assert int(value(result, "Columns")) == int(ds.Columns), uid
    if "NumberOfFrames" in ds:
        assert int(value(result, "NumberOfFrames")) == int(ds.NumberOfFrames), uid


def qido(web: Web, path: str, params=None, user: str = "reader") -> list[dict]:
    """A QIDO-RS search with requests: 200 with a DICOM JSON array, or 204 for no match."""
    response = web.get(path, params=params, user=user, headers={"Accept": "application/dicom+json"})
    if response.status_code == 204:
        return []
    assert response.status_code == 200, f"GET {response.url}: {response.status_code} {response.text[:300]}"
    assert media_type_parameters(response.headers["Content-Type"])[0] == "application/dicom+json", \
        response.headers["Content-Type"]
    results = response.json()
    assert isinstance(results, list), results
    return results


# --------------------------------------------------------------------------
# Pixels
# --------------------------------------------------------------------------

def source_dataset(source: SourceInstance) -> pydicom.Dataset:
    ds = pydicom.dcmread(source.path, force=True)
    if "TransferSyntaxUID" not in ds.file_meta:  # a bare dataset: the syntax read_source detected
        ds.file_meta.TransferSyntaxUID = source.transfer_syntax_uid
    return ds


def reference_frames(source: SourceInstance) -> np.ndarray:
    """pydicom's decoding of the fixture, shaped (frames, rows, columns[, samples])."""
    ds = source_dataset(source)
    return frames_of(ds.pixel_array, ds)


def native_frame(data: bytes, ds: pydicom.Dataset) -> np.ndarray:
    """A native little-endian frame (pixel interleaved) as an array shaped like one of pixel_array's frames."""
    kind = "i" if int(ds.PixelRepresentation) else "u"
    dtype = np.dtype(f"<{kind}{int(ds.BitsAllocated) // 8}")
    samples = int(ds.get("SamplesPerPixel", 1))
    shape = (int(ds.Rows), int(ds.Columns)) + ((samples,) if samples > 1 else ())
    assert len(data) == int(np.prod(shape)) * dtype.itemsize, \
        f"a frame of {len(data)} bytes, expected {int(np.prod(shape)) * dtype.itemsize} for {shape} {dtype}"
    return np.frombuffer(data, dtype).reshape(shape)


def jpeg_ls_frame(data: bytes, ds: pydicom.Dataset) -> np.ndarray:
    """A JPEG-LS codestream decoded by pyjpegls; signed images carry Bits Stored wide two's complement."""
    decoded = jpeg_ls.decode(np.frombuffer(data, np.uint8)).astype(np.int64)
    if int(ds.PixelRepresentation):
        bits = int(ds.BitsStored)
        decoded &= (1 << bits) - 1
        decoded = np.where(decoded >= 1 << (bits - 1), decoded - (1 << bits), decoded)
    return decoded


def assert_pixels_equal(got: np.ndarray, source: SourceInstance, expected: np.ndarray, what: str) -> None:
    assert got.shape == expected.shape, f"{source.path.name} {what}: shape {got.shape} != {expected.shape}"
    difference = np.abs(got.astype(np.int64) - expected.astype(np.int64))
    if source.transfer_syntax_uid in LOSSY_SYNTAXES:
        assert difference.max() <= LOSSY_TOLERANCE, \
            f"{source.path.name} {what}: up to {difference.max()} grey levels from pydicom's decoding of a lossy source"
    else:
        assert difference.max() == 0, f"{source.path.name} {what}: {np.count_nonzero(difference)} pixels differ " \
                                      f"from pydicom's decoding (up to {difference.max()})"


def instance_path(source: SourceInstance) -> str:
    return (f"/dicom-web/studies/{source.study_instance_uid}/series/{source.series_instance_uid}"
            f"/instances/{source.sop_instance_uid}")


def dicom_parts(response: requests.Response, what: str) -> list[tuple[str | None, bytes]]:
    """(transfer-syntax parameter, bytes) of each application/dicom part of a WADO-RS answer."""
    assert response.status_code == 200, f"{what}: {response.status_code} {response.text[:300]}"
    kind, parameters = media_type_parameters(response.headers["Content-Type"])
    assert kind == "multipart/related" and parameters.get("type") == "application/dicom", \
        f"{what}: Content-Type {response.headers['Content-Type']}"
    found = []
    for part in multipart_parts(response.headers["Content-Type"], response.content):
        part_kind, part_parameters = media_type_parameters(part.content_type)
        assert part_kind == "application/dicom", f"{what}: a part of type {part.content_type!r}"
        found.append((part_parameters.get("transfer-syntax"), part.body))
    return found


def read_part(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data))


# --------------------------------------------------------------------------
# QIDO-RS
# --------------------------------------------------------------------------

STUDY_UIDS = sorted(studies())


def study_date_between(low: str, high: str):
    return lambda members: low <= members[0].study_date <= high


STUDY_FILTERS = [
    pytest.param({"PatientName": "Doe*"}, lambda m: wildcard_match("Doe*", m[0].patient_name), id="name-wildcard"),
    pytest.param({"PatientName": "M?ller*"}, lambda m: wildcard_match("M?ller*", m[0].patient_name),
                 id="name-question-mark-non-ascii"),
    pytest.param({"PatientID": "STRATA-P003"}, lambda m: m[0].patient_id == "STRATA-P003", id="patient-id"),
    pytest.param({"00100020": "STRATA-P002"}, lambda m: m[0].patient_id == "STRATA-P002", id="hex-tag"),
    pytest.param({"StudyDate": "20230101-20231231"}, study_date_between("20230101", "20231231"), id="date-range"),
    pytest.param({"StudyDate": "20250101-"}, study_date_between("20250101", "99991231"), id="date-from"),
    pytest.param({"StudyDate": "-20231231"}, study_date_between("00000000", "20231231"), id="date-until"),
    pytest.param({"AccessionNumber": "ACC-2024-0003"}, lambda m: m[0].accession_number == "ACC-2024-0003",
                 id="accession"),
    pytest.param({"ModalitiesInStudy": "MR"}, lambda m: "MR" in {s.modality for s in m}, id="modality"),
    pytest.param({"StudyInstanceUID": f"{STUDY_UIDS[0]},{STUDY_UIDS[1]}"},
                 lambda m: m[0].study_instance_uid in STUDY_UIDS[:2], id="uid-list-comma"),
    pytest.param({"StudyInstanceUID": f"{STUDY_UIDS[0]}\\{STUDY_UIDS[1]}"},
                 lambda m: m[0].study_instance_uid in STUDY_UIDS[:2], id="uid-list-backslash"),
    pytest.param({"PatientName": "Doe*", "ModalitiesInStudy": "CT"},
                 lambda m: wildcard_match("Doe*", m[0].patient_name) and "CT" in {s.modality for s in m},
                 id="name-and-modality"),
]


def test_search_for_all_studies_returns_each_study_once_with_its_attributes(web: Web):
    """GET /dicom-web/studies (dicomweb-client) lists every imported study once, with the patient, date,
    accession, modalities and counts that pydicom reads from its files."""
    results = web.client().search_for_studies()

    uids = [uid_of(r, "studies") for r in results]
    assert sorted(uids) == STUDY_UIDS
    for result in results:
        assert_study_result(result, studies()[uid_of(result, "studies")])


@pytest.mark.parametrize(("filters", "matches"), STUDY_FILTERS)
def test_study_filters_return_exactly_the_matching_studies(web: Web, filters: dict, matches):
    """Attribute filters (keyword or hex tag, wildcards, date ranges, UID lists) select exactly the studies
    whose files match all of them."""
    expected = sorted(uid for uid, members in studies().items() if matches(members))
    assert 0 < len(expected) < len(studies()), "the case must select some but not all studies"

    results = web.client().search_for_studies(search_filters=filters)

    assert sorted(uid_of(r, "studies") for r in results) == expected
    for result in results:
        assert_study_result(result, studies()[uid_of(result, "studies")])


def test_exact_matching_with_fuzzymatching_false(web: Web):
    """fuzzymatching=false with a full name finds exactly that patient's studies."""
    name = BY_NAME["mr_explicit_le.dcm"].patient_name
    expected = sorted(uid for uid, members in studies().items() if members[0].patient_name == name)

    results = qido(web, "/dicom-web/studies", {"PatientName": name, "fuzzymatching": "false"})

    assert sorted(uid_of(r, "studies") for r in results) == expected


def test_names_in_other_character_sets_come_back_as_utf8(web: Web):
    """Latin-1 and multi-group UTF-8 patient names are returned as the same text pydicom decodes."""
    for name in ("latin1_name.dcm", "utf8_name.dcm"):
        source = BY_NAME[name]
        (result,) = qido(web, "/dicom-web/studies", {"StudyInstanceUID": source.study_instance_uid})
        assert value(result, "PatientName") == source.patient_name, name


@pytest.mark.parametrize(("filters", "matches"), [
    pytest.param({"Modality": "CT"}, lambda m: m[0].modality == "CT", id="modality"),
    pytest.param({"00080060": "MR"}, lambda m: m[0].modality == "MR", id="hex-tag"),
    pytest.param({"SeriesInstanceUID": ",".join(sorted(series())[:3])},
                 lambda m: m[0].series_instance_uid in sorted(series())[:3], id="uid-list"),
])
def test_series_filters_return_exactly_the_matching_series(web: Web, filters: dict, matches):
    expected = sorted(uid for uid, members in series().items() if matches(members))
    assert 0 < len(expected) < len(series())

    results = web.client().search_for_series(search_filters=filters)

    assert sorted(uid_of(r, "series") for r in results) == expected
    for result in results:
        assert_series_result(result, series()[uid_of(result, "series")])


@pytest.mark.parametrize("study", STUDY_UIDS)
def test_series_and_instances_of_a_study(web: Web, study: str):
    """/studies/{study}/series and /studies/{study}/instances list exactly that study's series and
    instances; /studies/{study}/series/{series}/instances exactly that series' instances."""
    members = studies()[study]
    client = web.client()

    found_series = client.search_for_series(study_instance_uid=study)
    assert sorted(uid_of(r, "series") for r in found_series) == sorted({m.series_instance_uid for m in members})
    for result in found_series:
        assert_series_result(result, series()[uid_of(result, "series")])

    found_instances = client.search_for_instances(study_instance_uid=study)
    assert sorted(uid_of(r, "instances") for r in found_instances) == sorted(m.sop_instance_uid for m in members)

    for series_uid in {m.series_instance_uid for m in members}:
        results = client.search_for_instances(study_instance_uid=study, series_instance_uid=series_uid)
        assert sorted(uid_of(r, "instances") for r in results) == \
            sorted(s.sop_instance_uid for s in series()[series_uid])
        by_uid = {s.sop_instance_uid: s for s in series()[series_uid]}
        for result in results:
            assert_instance_result(result, by_uid[uid_of(result, "instances")])


def test_search_for_all_instances_and_by_sop_class(web: Web):
    """/instances lists every instance with its identifying attributes; SOPClassUID filters them."""
    results = qido(web, "/dicom-web/instances")
    by_uid = {s.sop_instance_uid: s for s in SOURCES}
    assert sorted(uid_of(r, "instances") for r in results) == sorted(by_uid)
    for result in results:
        assert_instance_result(result, by_uid[uid_of(result, "instances")])

    ct = BY_NAME["ct_explicit_le.dcm"].sop_class_uid
    results = qido(web, "/dicom-web/instances", {"SOPClassUID": ct})
    assert sorted(uid_of(r, "instances") for r in results) == \
        sorted(s.sop_instance_uid for s in SOURCES if s.sop_class_uid == ct)


@pytest.mark.parametrize("level", ["studies", "series", "instances"])
def test_limit_and_offset_page_through_the_results(web: Web, level: str):
    """Pages of `limit` results at successive offsets are the full result list cut in order: none lost,
    none repeated; an offset past the end gives nothing."""
    everything = [uid_of(r, level) for r in qido(web, f"/dicom-web/{level}")]
    assert len(everything) > 3
    page_size = 3

    pages = []
    for offset in range(0, len(everything), page_size):
        page = [uid_of(r, level) for r in qido(web, f"/dicom-web/{level}", {"limit": page_size, "offset": offset})]
        assert len(page) == min(page_size, len(everything) - offset), f"offset {offset}: {len(page)} results"
        pages += page

    assert pages == everything
    assert qido(web, f"/dicom-web/{level}", {"offset": len(everything)}) == []
    assert [uid_of(r, level) for r in qido(web, f"/dicom-web/{level}", {"limit": 1, "offset": len(everything) - 1})] \
        == everything[-1:]


@pytest.mark.parametrize("parameter", ["limit=-1", "limit=abc", "offset=-1", "offset=abc"])
def test_an_invalid_limit_or_offset_is_a_bad_request(web: Web, parameter: str):
    """A limit or offset that is not a non-negative integer is answered 400, and the server keeps
    answering."""
    response = web.get(f"/dicom-web/studies?{parameter}")

    assert response.status_code == 400, f"{parameter}: {response.status_code} {response.text[:200]}"
    assert web.get("/health", user=None).status_code == 200, web.state()


def test_an_unknown_attribute_is_a_bad_request(web: Web):
    for query in ("NoSuchKeyword=1", "includefield=NoSuchKeyword"):
        response = web.get(f"/dicom-web/studies?{query}")
        assert response.status_code == 400, f"{query}: {response.status_code} {response.text[:200]}"


@pytest.mark.parametrize("field_name", ["PatientID", "00100020"])
def test_includefield_adds_the_attribute_to_every_result(web: Web, field_name: str):
    """includefield (keyword or tag) returns a study attribute with each instance and series result."""
    by_uid = {s.sop_instance_uid: s for s in SOURCES}
    for result in qido(web, "/dicom-web/instances", {"includefield": field_name}):
        assert value(result, "PatientID") == by_uid[uid_of(result, "instances")].patient_id

    for result in web.client().search_for_series(fields=["StudyDate"]):
        assert value(result, "StudyDate") == series()[uid_of(result, "series")][0].study_date


def test_includefield_all_returns_study_series_and_instance_attributes(web: Web):
    by_uid = {s.sop_instance_uid: s for s in SOURCES}
    for result in qido(web, "/dicom-web/instances", {"includefield": "all"}):
        source = by_uid[uid_of(result, "instances")]
        assert value(result, "PatientName") == source.patient_name
        assert value(result, "StudyDate") == source.study_date
        assert value(result, "Modality") == source.modality
        assert_instance_result(result, source)


# --------------------------------------------------------------------------
# WADO-RS
# --------------------------------------------------------------------------

def source_of(valid_file: Path) -> SourceInstance:
    return BY_NAME[valid_file.name]


def test_instance_as_stored_is_the_imported_file(web: Web, valid_file: Path):
    """Accept transfer-syntax=* returns one part: the file byte for byte as imported (a file without
    preamble or meta as a standard Part 10 file holding the same dataset), labelled with its syntax."""
    source = source_of(valid_file)

    ((syntax, data),) = dicom_parts(web.get(instance_path(source), headers={"Accept": AS_STORED}), valid_file.name)

    assert syntax == source.transfer_syntax_uid
    expected = valid_file.read_bytes()
    if is_standard_part10(expected):
        assert data == expected, f"{valid_file.name}: the part is not the imported file byte for byte"
    else:
        assert is_standard_part10(data)
        assert read_part(data) == pydicom.dcmread(valid_file, force=True)


def test_instance_without_a_transfer_syntax_is_explicit_vr_little_endian(web: Web, valid_file: Path):
    """With no transfer-syntax asked, the instance comes as Explicit VR Little Endian (decompressed if
    stored compressed): the same attributes and the pixels pydicom decodes from the fixture."""
    source = source_of(valid_file)

    ((syntax, data),) = dicom_parts(web.get(instance_path(source), headers={"Accept": DICOM}), valid_file.name)

    assert syntax == ExplicitVRLittleEndian
    got = read_part(data)
    assert got.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    allowed = {"PhotometricInterpretation"} if source.transfer_syntax_uid in LOSSY_SYNTAXES else set()
    differences = [d for d in element_diff(source_dataset(source), got, skip_pixels=True)
                   if d.split(" ")[1].rstrip(":") not in allowed]
    assert differences == [], f"{valid_file.name}: attributes changed: {differences}"
    assert_pixels_equal(frames_of(got.pixel_array, got), source, reference_frames(source), "Explicit VR LE pixels")


def test_frames_are_the_native_pixels_in_the_order_asked(web: Web, valid_file: Path):
    """/frames/n,...,1 returns one application/octet-stream part per frame, in the order asked, each the
    native pixels of that frame."""
    source = source_of(valid_file)
    expected = reference_frames(source)
    numbers = list(range(len(expected), 0, -1))

    frames = web.client().retrieve_instance_frames(source.study_instance_uid, source.series_instance_uid,
                                                   source.sop_instance_uid, numbers)

    assert len(frames) == len(numbers)
    ds = header(source)
    for number, data in zip(numbers, frames):
        assert_pixels_equal(native_frame(bytes(data), ds), source, expected[number - 1], f"frame {number}")


def test_jpeg_ls_frames_decode_to_the_same_pixels(web: Web, valid_file: Path):
    """Accept multipart/related; type="image/jls" returns each frame as a JPEG-LS codestream that decodes
    to the native frame the server returns, and to pydicom's pixels; a lossy original (which gets no lossless
    copy: it is its own V1) is answered 406 with the reason."""
    source = source_of(valid_file)
    expected = reference_frames(source)
    numbers = list(range(1, len(expected) + 1))
    client = web.client()
    if source.transfer_syntax_uid in LOSSY_SYNTAXES:
        response = web.get(f"{instance_path(source)}/frames/1", headers={"Accept": 'multipart/related; type="image/jls"'})
        assert response.status_code == 406 and "JPEG-LS" in response.text, f"{response.status_code} {response.text[:300]}"
        return

    codestreams = client.retrieve_instance_frames(source.study_instance_uid, source.series_instance_uid,
                                                  source.sop_instance_uid, numbers, media_types=(("image/jls",),))
    native = client.retrieve_instance_frames(source.study_instance_uid, source.series_instance_uid,
                                             source.sop_instance_uid, numbers)

    assert len(codestreams) == len(numbers)
    ds = header(source)
    for number, data, raw in zip(numbers, codestreams, native):
        assert bytes(data[:2]) == b"\xff\xd8", f"frame {number} is not a JPEG-LS codestream"
        decoded = jpeg_ls_frame(bytes(data), ds)
        assert np.array_equal(decoded, native_frame(bytes(raw), ds).astype(np.int64)), \
            f"{valid_file.name} frame {number}: the JPEG-LS frame differs from the native one"
        assert_pixels_equal(decoded, source, expected[number - 1], f"JPEG-LS frame {number}")


def test_metadata_is_the_dataset_with_the_pixels_as_a_bulk_data_uri(web: Web, valid_file: Path):
    """/metadata is the instance's dataset in DICOM JSON: every attribute as pydicom reads it from the
    fixture, the pixel data replaced by a BulkDataURI to .../bulkdata/7FE00010."""
    source = source_of(valid_file)

    (metadata,) = web.get(instance_path(source) + "/metadata").json()

    pixel = metadata.get("7FE00010", {})
    assert set(pixel) <= {"vr", "BulkDataURI"} and pixel.get("BulkDataURI"), f"pixel data element: {pixel}"
    assert urlsplit(pixel["BulkDataURI"]).path == instance_path(source) + "/bulkdata/7FE00010"
    got = pydicom.Dataset.from_json(metadata, bulk_data_uri_handler=lambda *args: b"")
    assert element_diff(source_dataset(source), got, skip_pixels=True) == []


def test_bulk_data_is_the_native_pixel_data(web: Web, valid_file: Path):
    """The BulkDataURI of the metadata, dereferenced as given, returns the native pixels of every frame."""
    source = source_of(valid_file)
    (metadata,) = web.get(instance_path(source) + "/metadata").json()
    uri = metadata["7FE00010"]["BulkDataURI"]
    assert uri.startswith(web.base), f"BulkDataURI {uri} is not on this server ({web.base})"

    response = web.get(uri[len(web.base):])

    assert response.status_code == 200, response.text[:300]
    (part,) = multipart_parts(response.headers["Content-Type"], response.content)
    assert media_type_parameters(part.content_type)[0] == "application/octet-stream"
    expected = reference_frames(source)
    ds = header(source)
    size = len(part.body) // len(expected)
    assert size * len(expected) == len(part.body)
    got = np.stack([native_frame(part.body[i * size:(i + 1) * size], ds) for i in range(len(expected))])
    assert_pixels_equal(got, source, expected, "bulk data")


@pytest.mark.parametrize("study", STUDY_UIDS)
def test_a_study_as_stored_is_every_imported_file(web: Web, study: str):
    """/studies/{study} with transfer-syntax=* returns one part per instance of the study, each the imported
    file as it was."""
    members = {s.sop_instance_uid: s for s in studies()[study]}

    parts = dicom_parts(web.get(f"/dicom-web/studies/{study}", headers={"Accept": AS_STORED}), study)

    got = {str(read_part(data).SOPInstanceUID): data for _, data in parts}
    assert len(got) == len(parts) and sorted(got) == sorted(members)
    for uid, data in got.items():
        expected = members[uid].path.read_bytes()
        if is_standard_part10(expected):
            assert data == expected, f"{members[uid].path.name} differs from the imported file"


@pytest.mark.parametrize("series_uid", sorted(series()))
def test_a_series_retrieved_with_dicomweb_client_is_its_datasets(web: Web, series_uid: str):
    """dicomweb-client's retrieve_series returns the datasets of exactly that series' instances."""
    members = {s.sop_instance_uid: s for s in series()[series_uid]}
    study = next(iter(members.values())).study_instance_uid

    datasets = web.client().retrieve_series(study, series_uid, media_types=(("application/dicom", "*"),))

    assert sorted(str(ds.SOPInstanceUID) for ds in datasets) == sorted(members)
    for ds in datasets:
        source = members[str(ds.SOPInstanceUID)]
        assert element_diff(source_dataset(source), ds) == [], source.path.name


@pytest.mark.parametrize("level", ["study", "series"])
def test_study_and_series_metadata_describe_every_instance(web: Web, level: str):
    client = web.client()
    groups = studies() if level == "study" else series()
    for uid, members in groups.items():
        if level == "study":
            metadata = client.retrieve_study_metadata(uid)
        else:
            metadata = client.retrieve_series_metadata(members[0].study_instance_uid, uid)
        by_uid = {m.sop_instance_uid: m for m in members}
        assert sorted(value(m, "SOPInstanceUID") for m in metadata) == sorted(by_uid), uid
        for item in metadata:
            source = by_uid[value(item, "SOPInstanceUID")]
            assert urlsplit(item["7FE00010"]["BulkDataURI"]).path == instance_path(source) + "/bulkdata/7FE00010"
            got = pydicom.Dataset.from_json(item, bulk_data_uri_handler=lambda *args: b"")
            assert element_diff(source_dataset(source), got, skip_pixels=True) == [], source.path.name


def stored_entry(web: Web, uid: str, version: str, variant: str) -> dict:
    (row,) = [r for r in web.pacs.ls("instances") if r["sop_instance_uid"] == uid]
    return version_entry(row["files"], version, variant)


def test_a_held_syntax_is_returned_as_is(web: Web):
    """Asking for JPEG-LS returns the derived lossless V1 copy as stored; asking for a compressed original's
    own syntax returns the original."""
    source = BY_NAME["ct_explicit_le.dcm"]
    entry = stored_entry(web, source.sop_instance_uid, "V1", "jpegls")
    assert entry["transfer_syntax_uid"] == JPEG_LS_LOSSLESS

    jpeg_ls_accept = {"Accept": f"{DICOM}; transfer-syntax={JPEG_LS_LOSSLESS}"}
    ((syntax, data),) = dicom_parts(web.get(instance_path(source), headers=jpeg_ls_accept), "JPEG-LS")

    assert syntax == JPEG_LS_LOSSLESS
    assert data == stored_file(web.pacs, entry).read_bytes()
    got = read_part(data)
    assert_pixels_equal(frames_of(got.pixel_array, got), source, reference_frames(source), "JPEG-LS copy")

    jpeg = BY_NAME["xc_jpeg_baseline.dcm"]
    ((syntax, data),) = dicom_parts(web.get(instance_path(jpeg),
                                            headers={"Accept": f"{DICOM}; transfer-syntax={JPEG_BASELINE}"}), "JPEG")
    assert syntax == JPEG_BASELINE and data == jpeg.path.read_bytes()


@pytest.mark.parametrize("path_of", [instance_path, lambda s: f"/dicom-web/studies/{s.study_instance_uid}"],
                         ids=["instance", "study"])
@pytest.mark.parametrize("syntax", [JPEG_BASELINE, JPEG_2000_LOSSLESS])
def test_a_syntax_not_held_is_not_acceptable(web: Web, path_of, syntax: str):
    """A compressed syntax the store does not hold for the instance is answered 406."""
    source = BY_NAME["ct_explicit_le.dcm"]

    response = web.get(path_of(source), headers={"Accept": f"{DICOM}; transfer-syntax={syntax}"})

    assert response.status_code == 406, f"{response.status_code} {response.headers.get('Content-Type')}"


# --------------------------------------------------------------------------
# The access gate
# --------------------------------------------------------------------------

def wado_paths(source: SourceInstance) -> list[str]:
    """The WADO routes that send the original's pixels (gated on V1)."""
    study = f"/dicom-web/studies/{source.study_instance_uid}"
    instance = instance_path(source)
    return [study, f"{study}/series/{source.series_instance_uid}", instance, f"{instance}/frames/1", f"{instance}/bulkdata/7FE00010"]


def metadata_paths(source: SourceInstance) -> list[str]:
    """The metadata routes: no pixels, so any version the user may have of the study opens them."""
    study = f"/dicom-web/studies/{source.study_instance_uid}"
    return [f"{study}/metadata", f"{study}/series/{source.series_instance_uid}/metadata", f"{instance_path(source)}/metadata"]


def test_a_referring_user_gets_nothing_of_an_unread_study(web: Web):
    """With the shipped access.yaml an unread study never reaches a referring doctor: every WADO route, its
    metadata included, answers 403 naming `access.yaml roles.referring.unread`; a reading doctor gets them."""
    for path in wado_paths(BY_NAME["ct_explicit_le.dcm"]) + metadata_paths(BY_NAME["ct_explicit_le.dcm"]):
        response = web.get(path, user="referrer")
        assert response.status_code == 403, f"{path}: {response.status_code} {response.text[:200]}"
        assert "access.yaml roles.referring.unread" in json.dumps(response.json()), response.text
        assert web.get(path, user="reader").status_code == 200, path


def test_a_referring_user_is_refused_the_originals_once_the_report_is_drafted(pacs_bin: Path, tmp_path: Path):
    """At status 5 (report) the default access.yaml gives referring users V2/V3 only: every WADO route
    answers 403 with a JSON message naming `access.yaml default.report`; a reading user still gets V1."""
    source = BY_NAME["ct_explicit_le.dcm"]
    web = start_web(pacs_bin, tmp_path / "server", source.path)
    try:
        result = web.pacs.run("status", "set", source.study_instance_uid, "5")
        assert result.returncode == 0, result.stdout + result.stderr
        for path in wado_paths(source):
            response = web.get(path, user="referrer")
            assert response.status_code == 403, f"{path}: {response.status_code}"
            assert "access.yaml default.report" in json.dumps(response.json()), response.text
            assert web.get(path, user="reader").status_code == 200, path
        for path in metadata_paths(source):
            assert web.get(path, user="referrer").status_code == 200, f"{path}: metadata of a study whose V2 is released"
    finally:
        stop_web(web)


def referring_sees_of_unread(versions: list[str]):
    """A policy edit: referring users get only `versions` of unread studies."""
    def edit(policies: Path) -> None:
        access = policies / "access.yaml"
        matrix = yaml.safe_load(access.read_text())
        matrix.setdefault("roles", {})["referring"] = {"unread": versions}
        access.write_text(yaml.safe_dump(matrix))
    return edit


def test_a_role_whose_matrix_withholds_v1_is_refused_with_the_rule(pacs_bin: Path, tmp_path: Path):
    """With access.yaml giving referring users no V1 of unread studies, every WADO route answers them 403
    with a JSON message naming `access.yaml roles.referring.unread`; searching is still allowed, and
    reading users still get V1."""
    source = BY_NAME["ct_explicit_le.dcm"]
    web = start_web(pacs_bin, tmp_path / "server", source.path, edit_policies=referring_sees_of_unread(["V2", "V3"]))
    try:
        for path in wado_paths(source):
            response = web.get(path, user="referrer")
            assert response.status_code == 403, f"{path}: {response.status_code} {response.text[:200]}"
            assert "access.yaml roles.referring.unread" in json.dumps(response.json()), response.text
            assert web.get(path, user="reader").status_code == 200, path
        assert [uid_of(r, "studies") for r in qido(web, "/dicom-web/studies", user="referrer")] \
            == [source.study_instance_uid]
        for path in metadata_paths(source):
            assert web.get(path, user="referrer").status_code == 200, f"{path}: metadata of a study whose V2 is released"
    finally:
        stop_web(web)


def test_metadata_is_refused_when_no_version_of_the_study_is_released(pacs_bin: Path, tmp_path: Path):
    """A role given nothing of unread studies gets no metadata of one either: 403 naming the rule."""
    source = BY_NAME["ct_explicit_le.dcm"]
    web = start_web(pacs_bin, tmp_path / "server", source.path, edit_policies=referring_sees_of_unread([]))
    try:
        for path in metadata_paths(source):
            response = web.get(path, user="referrer")
            assert response.status_code == 403, f"{path}: {response.status_code} {response.text[:200]}"
            assert "access.yaml roles.referring.unread" in json.dumps(response.json()), response.text
            assert web.get(path, user="reader").status_code == 200, path
    finally:
        stop_web(web)


# --------------------------------------------------------------------------
# STOW-RS
# --------------------------------------------------------------------------

STOWED = ("ct_explicit_le.dcm", "ct_jpegls.dcm", "mr_rle.dcm", "us_rgb_explicit_le.dcm", "mf_deflated.dcm",
          "utf8_name.dcm")


def stow(web: Web, *payloads: bytes, path: str = "/dicom-web/studies", user: str = "reader") -> requests.Response:
    body = multipart_body([("application/dicom", data) for data in payloads], STOW_BOUNDARY)
    return web.post(path, user=user, data=body, headers={"Content-Type": STOW_TYPE, "Accept": "application/dicom+json"})


def sequence(answer: dict, keyword: str) -> list[dict]:
    element = answer.get(hex_tag(keyword)) or {}
    return element.get("Value", [])


def referenced(answer: dict) -> set[str]:
    return {value(item, "ReferencedSOPInstanceUID") for item in sequence(answer, "ReferencedSOPSequence")}


def failed(answer: dict) -> dict[str | None, int]:
    return {value(item, "ReferencedSOPInstanceUID"): value(item, "FailureReason")
            for item in sequence(answer, "FailedSOPSequence")}


def forged(source: SourceInstance, tmp_path: Path, *, new_uid: bool = False) -> bytes:
    """The fixture with one pixel changed (a conflict), or as a new instance with its own SOP Instance UID."""
    ds = pydicom.dcmread(source.path)
    if new_uid:
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    else:
        pixels = bytearray(ds.PixelData)
        pixels[len(pixels) // 2] ^= 0x01
        ds.PixelData = bytes(pixels)
    out = tmp_path / f"forged-{secrets.token_hex(4)}.dcm"
    ds.save_as(out)
    return out.read_bytes()


@pytest.fixture(scope="module")
def stowed(stow_web: Web) -> requests.Response:
    """The first STOW-RS into the empty server: the files of STOWED in one request."""
    return stow(stow_web, *(BY_NAME[name].path.read_bytes() for name in STOWED))


def test_stow_stores_every_instance_and_lists_them(stow_web: Web, stowed: requests.Response):
    """STOW-RS of several files into an empty server: 200, a DICOM JSON answer whose ReferencedSOPSequence
    names each instance with its SOP class, and no FailedSOPSequence."""
    assert stowed.status_code == 200, f"{stowed.status_code} {stowed.text[:500]}"
    assert media_type_parameters(stowed.headers["Content-Type"])[0] == "application/dicom+json"
    answer = stowed.json()
    assert failed(answer) == {}
    assert referenced(answer) == {BY_NAME[n].sop_instance_uid for n in STOWED}
    for item in sequence(answer, "ReferencedSOPSequence"):
        source = next(s for s in SOURCES if s.sop_instance_uid == value(item, "ReferencedSOPInstanceUID"))
        assert value(item, "ReferencedSOPClassUID") == source.sop_class_uid


def test_stowed_instances_are_searchable_and_retrievable_as_sent(stow_web: Web, stowed: requests.Response):
    """After STOW-RS each instance is in the index, found by QIDO-RS, and WADO-RS transfer-syntax=* returns
    the very bytes that were posted."""
    assert stowed.status_code == 200, stowed.text[:300]
    listed = {uid_of(r, "instances") for r in qido(stow_web, "/dicom-web/instances")}
    assert listed == stow_web.instance_uids()
    for name in STOWED:
        source = BY_NAME[name]
        assert source.sop_instance_uid in listed, name
        ((syntax, data),) = dicom_parts(stow_web.get(instance_path(source), headers={"Accept": AS_STORED}), name)
        assert syntax == source.transfer_syntax_uid
        assert data == source.path.read_bytes(), f"{name}: retrieved bytes differ from those posted"


def test_stowed_instances_are_derived_and_the_store_verifies(stow_web: Web, stowed: requests.Response):
    """The server derives the versions of what it received in the background; once done `pacs verify` is
    clean and the JPEG-LS frames of a received image decode to its pixels."""
    assert stowed.status_code == 200, stowed.text[:300]
    uids = [BY_NAME[name].sop_instance_uid for name in STOWED]
    stow_web.pacs.wait_until_derived(*uids)

    result = stow_web.pacs.verify()
    assert result.returncode == 0, result.stdout + result.stderr

    source = BY_NAME["ct_explicit_le.dcm"]
    (codestream,) = stow_web.client().retrieve_instance_frames(
        source.study_instance_uid, source.series_instance_uid, source.sop_instance_uid, [1],
        media_types=(("image/jls",),))
    assert_pixels_equal(jpeg_ls_frame(bytes(codestream), header(source)), source, reference_frames(source)[0],
                        "JPEG-LS frame of a received image")


def test_a_second_stow_of_the_same_files_succeeds_and_changes_nothing(stow_web: Web, stowed: requests.Response):
    assert stowed.status_code == 200, stowed.text[:300]
    before = stow_web.pacs.ls("instances")

    again = stow(stow_web, *(BY_NAME[name].path.read_bytes() for name in STOWED))

    assert again.status_code == 200, f"{again.status_code} {again.text[:500]}"
    assert referenced(again.json()) == {BY_NAME[n].sop_instance_uid for n in STOWED}
    assert failed(again.json()) == {}
    assert stow_web.pacs.ls("instances") == before


def test_a_conflicting_object_fails_with_c010_is_held_aside_and_409(stow_web: Web, stowed: requests.Response, tmp_path: Path):
    """An object with a stored SOP Instance UID but other pixels: 409, FailedSOPSequence naming it with
    FailureReason 0xC010; the stored instance is unchanged and the object is held aside, byte for byte."""
    assert stowed.status_code == 200, stowed.text[:300]
    source = BY_NAME["ct_explicit_le.dcm"]
    before = stow_web.pacs.ls("instances")

    response = stow(stow_web, forged(source, tmp_path))

    assert response.status_code == 409, f"{response.status_code} {response.text[:500]}"
    assert failed(response.json()) == {source.sop_instance_uid: FAILURE_REASON_CONFLICT}
    assert referenced(response.json()) == set()
    assert stow_web.pacs.ls("instances") == before
    ((_, data),) = dicom_parts(stow_web.get(instance_path(source), headers={"Accept": AS_STORED}), "after conflict")
    assert data == source.path.read_bytes()
    listing = stow_web.pacs.run("conflict", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    held = json.loads(listing.stdout)
    mine = [c for c in held if c["sop_instance_uid"] == source.sop_instance_uid and c["source"] == "STOW-RS"]
    assert len(mine) == 1 and "pixels" in mine[0]["difference"], held
    kept = stow_web.pacs.data / "conflicts" / mine[0]["file"]
    assert sha256_hex(kept.read_bytes()) == mine[0]["sha256"]


def test_a_partly_failed_stow_is_202_and_stores_the_rest(stow_web: Web, stowed: requests.Response, tmp_path: Path):
    assert stowed.status_code == 200, stowed.text[:300]
    new = BY_NAME["mr_explicit_le.dcm"]
    conflicting = BY_NAME["ct_jpegls.dcm"]

    response = stow(stow_web, new.path.read_bytes(), forged(conflicting, tmp_path))

    assert response.status_code == 202, f"{response.status_code} {response.text[:500]}"
    assert referenced(response.json()) == {new.sop_instance_uid}
    assert failed(response.json()) == {conflicting.sop_instance_uid: FAILURE_REASON_CONFLICT}
    assert new.sop_instance_uid in stow_web.instance_uids()


def test_stow_with_dicomweb_client(stow_web: Web):
    """dicomweb-client's store_instances stores a dataset it encodes itself; it comes back the same."""
    source = BY_NAME["cr_explicit_be.dcm"]
    dataset = pydicom.dcmread(source.path)

    answer = stow_web.client().store_instances([dataset])

    assert [str(item.ReferencedSOPInstanceUID) for item in answer.ReferencedSOPSequence] == [source.sop_instance_uid]
    assert "FailedSOPSequence" not in answer
    (retrieved,) = stow_web.client().retrieve_series(source.study_instance_uid, source.series_instance_uid)
    assert element_diff(dataset, retrieved, skip_pixels=True) == []
    assert np.array_equal(retrieved.pixel_array, dataset.pixel_array)


def test_stow_to_a_study_takes_only_instances_of_that_study(stow_web: Web):
    """POST /studies/{study}: an instance of that study is stored; one of another study is failed and not
    stored."""
    own = BY_NAME["sequences.dcm"]
    other = BY_NAME["latin1_name.dcm"]

    response = stow(stow_web, own.path.read_bytes(), other.path.read_bytes(),
                    path=f"/dicom-web/studies/{own.study_instance_uid}")

    assert response.status_code == 202, f"{response.status_code} {response.text[:500]}"
    assert referenced(response.json()) == {own.sop_instance_uid}
    assert set(failed(response.json())) == {other.sop_instance_uid}
    uids = stow_web.instance_uids()
    assert own.sop_instance_uid in uids and other.sop_instance_uid not in uids


def test_a_part_that_is_not_dicom_fails_and_nothing_is_stored(stow_web: Web):
    before = stow_web.instance_uids()

    response = stow(stow_web, (MALFORMED_DIR / "not_dicom.dcm").read_bytes())

    assert response.status_code == 409, f"{response.status_code} {response.text[:300]}"
    assert sequence(response.json(), "FailedSOPSequence"), response.text
    assert all(reason for reason in failed(response.json()).values())
    assert stow_web.instance_uids() == before


def test_referring_users_may_not_store(stow_web: Web):
    source = BY_NAME["odd_and_private.dcm"]

    response = stow(stow_web, source.path.read_bytes(), user="referrer")

    assert response.status_code == 403, f"{response.status_code} {response.text[:300]}"
    assert source.sop_instance_uid not in stow_web.instance_uids()


# --------------------------------------------------------------------------
# Bad requests
# --------------------------------------------------------------------------

def assert_still_serving(web: Web, before: set[str]) -> None:
    assert web.instance_uids() == before, "a refused request changed the stored instances"
    health = web.get("/health", user=None)
    assert health.status_code == 200 and health.json() == {"status": "ok"}, web.state()


MALFORMED_BODIES = {
    "not-multipart": lambda new: b"this is not a multipart body",
    "empty": lambda new: b"",
    "no-closing-boundary": lambda new: multipart_body([("application/dicom", new)], STOW_BOUNDARY)[:-30],
    "part-without-blank-line": lambda new: (f"--{STOW_BOUNDARY}\r\nContent-Type: application/dicom\r\n"
                                            f"--{STOW_BOUNDARY}--\r\n").encode(),
}


@pytest.mark.parametrize("case", MALFORMED_BODIES)
def test_a_malformed_multipart_body_is_400_and_stores_nothing(stow_web: Web, case: str, tmp_path: Path):
    """A body that is not a multipart/related body, or breaks off before any part is complete, is answered
    400 and nothing of it is stored."""
    before = stow_web.instance_uids()
    new = forged(BY_NAME["ct_explicit_le.dcm"], tmp_path, new_uid=True)

    response = stow_web.post("/dicom-web/studies", data=MALFORMED_BODIES[case](new),
                             headers={"Content-Type": STOW_TYPE})

    assert response.status_code == 400, f"{case}: {response.status_code} {response.text[:300]}"
    assert_still_serving(stow_web, before)


def test_a_body_cut_after_a_complete_part_keeps_that_part_and_says_so(stow_web: Web, tmp_path: Path):
    """Parts are stored as they arrive: when the body breaks off inside the second part, the first (complete)
    one is stored and reported (202 with a Warning header), and nothing of the broken part is kept."""
    before = stow_web.instance_uids()
    first = forged(BY_NAME["ct_explicit_le.dcm"], tmp_path, new_uid=True)
    second = forged(BY_NAME["mr_explicit_le.dcm"], tmp_path, new_uid=True)
    body = multipart_body([("application/dicom", first), ("application/dicom", second)], STOW_BOUNDARY)[:-2000]

    response = stow_web.post("/dicom-web/studies", data=body, headers={"Content-Type": STOW_TYPE})

    assert response.status_code == 202, f"{response.status_code} {response.text[:300]}"
    assert "closing boundary" in response.headers.get("Warning", "")
    stored = response.json()["00081199"]["Value"]
    assert [item["00081155"]["Value"][0] for item in stored] == [pydicom.dcmread(io.BytesIO(first)).SOPInstanceUID]
    assert stow_web.instance_uids() == before | {pydicom.dcmread(io.BytesIO(first)).SOPInstanceUID}


@pytest.mark.parametrize("content_type", [
    "application/dicom", "application/json", "text/plain",
    f'multipart/related; type="application/json"; boundary={STOW_BOUNDARY}',
    f'multipart/mixed; boundary={STOW_BOUNDARY}',
])
def test_a_wrong_content_type_is_415_and_stores_nothing(stow_web: Web, content_type: str, tmp_path: Path):
    before = stow_web.instance_uids()
    new = forged(BY_NAME["ct_explicit_le.dcm"], tmp_path, new_uid=True)
    body = new if "multipart" not in content_type else multipart_body([("application/dicom", new)], STOW_BOUNDARY)

    response = stow_web.post("/dicom-web/studies", data=body, headers={"Content-Type": content_type})

    assert response.status_code == 415, f"{content_type}: {response.status_code} {response.text[:300]}"
    assert_still_serving(stow_web, before)


KNOWN = BY_NAME["ct_jpegls.dcm"]
UNKNOWN_UID = "1.2.826.0.1.3680043.10.1453.999.999"
KNOWN_SERIES = f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/{KNOWN.series_instance_uid}"
UNKNOWN_PATHS = [
    f"/dicom-web/studies/{UNKNOWN_UID}",
    f"/dicom-web/studies/{UNKNOWN_UID}/metadata",
    f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/{UNKNOWN_UID}",
    f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/{UNKNOWN_UID}/metadata",
    f"{KNOWN_SERIES}/instances/{UNKNOWN_UID}",
    f"{KNOWN_SERIES}/instances/{UNKNOWN_UID}/metadata",
    f"{KNOWN_SERIES}/instances/{UNKNOWN_UID}/frames/1",
    f"{KNOWN_SERIES}/instances/{UNKNOWN_UID}/bulkdata/7FE00010",
    # a real series under the wrong study
    f"/dicom-web/studies/{BY_NAME['mr_explicit_le.dcm'].study_instance_uid}/series/{KNOWN.series_instance_uid}",
]


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_unknown_uids_are_404(web: Web, path: str):
    response = web.get(path)

    assert response.status_code == 404, f"{path}: {response.status_code} {response.text[:200]}"


def raw_request(web: Web, method: str, path: str, body: bytes | None = None, headers=None) -> tuple[int, bytes]:
    """A request with the path sent exactly as written (no client-side normalisation of `..`)."""
    connection = http.client.HTTPConnection(HOST, web.http_port, timeout=60)
    user, password = web.auth()
    try:
        connection.request(method, path, body=body, headers={
            "Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode(), **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    except (ConnectionError, http.client.HTTPException) as error:
        pytest.fail(f"{method} {path}: no answer ({error}){web.state()}")
    finally:
        connection.close()


HOSTILE_PATHS = [
    "/dicom-web/studies/..%2F..%2Fetc%2Fpasswd",
    "/dicom-web/studies/1.2/series/../../..",
    "/dicom-web/studies/../../../../etc/passwd",
    "/dicom-web/studies/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/dicom-web/studies/1.2/series/..%2F..%2F..%2Fetc/metadata",
    f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/{KNOWN.series_instance_uid}/instances/..%2F..%2F..%2Findex",
    f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/{KNOWN.series_instance_uid}/instances/"
    f"{KNOWN.sop_instance_uid}/bulkdata/..%2F..%2F..%2Fetc%2Fpasswd",
]
NON_UID_PATHS = [
    "/dicom-web/studies/not-a-uid",
    "/dicom-web/studies/1.2.3;ls",
    "/dicom-web/studies/1.2.3%00",
    "/dicom-web/studies/" + "1." * 40 + "1",  # longer than 64 characters
    "/dicom-web/studies/not-a-uid/metadata",
    f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/xyz",
    f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/{KNOWN.series_instance_uid}/instances/abc",
    f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/{KNOWN.series_instance_uid}/instances/"
    f"{KNOWN.sop_instance_uid}/frames/zero",
    f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/{KNOWN.series_instance_uid}/instances/"
    f"{KNOWN.sop_instance_uid}/frames/0",
    "/dicom-web/studies/not-a-uid/series",
    "/dicom-web/studies/not-a-uid/instances",
    f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/xyz/instances",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS + NON_UID_PATHS)
def test_hostile_and_non_uid_paths_are_refused(web: Web, path: str):
    """GET of a path traversal attempt, or of a path whose UID segments are not UIDs, gets a 4xx (never a
    file's content); the server keeps answering."""
    before = web.instance_uids()

    status, body = raw_request(web, "GET", path)

    assert 400 <= status < 500, f"GET {path}: {status} {body[:200]!r}"
    assert b"root:" not in body
    assert_still_serving(web, before)


@pytest.mark.parametrize("path", HOSTILE_PATHS + NON_UID_PATHS)
def test_stow_to_hostile_and_non_uid_paths_is_refused(stow_web: Web, path: str, tmp_path: Path):
    """POST of a valid new instance to such a path gets a 4xx and stores nothing."""
    before = stow_web.instance_uids()
    new = forged(BY_NAME["ct_explicit_le.dcm"], tmp_path, new_uid=True)

    status, body = raw_request(stow_web, "POST", path, multipart_body([("application/dicom", new)], STOW_BOUNDARY),
                               {"Content-Type": STOW_TYPE})

    assert 400 <= status < 500, f"POST {path}: {status} {body[:200]!r}"
    assert_still_serving(stow_web, before)


# --------------------------------------------------------------------------
# Authentication
# --------------------------------------------------------------------------

INSTANCE = instance_path(KNOWN)
ROUTES = [
    ("GET", "/dicom-web/studies"), ("GET", "/dicom-web/series"), ("GET", "/dicom-web/instances"),
    ("GET", f"/dicom-web/studies/{KNOWN.study_instance_uid}/series"),
    ("GET", f"/dicom-web/studies/{KNOWN.study_instance_uid}/instances"),
    ("GET", f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/{KNOWN.series_instance_uid}/instances"),
    ("GET", f"/dicom-web/studies/{KNOWN.study_instance_uid}"),
    ("GET", f"/dicom-web/studies/{KNOWN.study_instance_uid}/metadata"),
    ("GET", f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/{KNOWN.series_instance_uid}"),
    ("GET", f"/dicom-web/studies/{KNOWN.study_instance_uid}/series/{KNOWN.series_instance_uid}/metadata"),
    ("GET", INSTANCE), ("GET", f"{INSTANCE}/metadata"), ("GET", f"{INSTANCE}/frames/1"),
    ("GET", f"{INSTANCE}/bulkdata/7FE00010"),
    ("POST", "/dicom-web/studies"), ("POST", f"/dicom-web/studies/{KNOWN.study_instance_uid}"),
    ("POST", "/auth/token"),
    ("GET", "/dicom-web/no-such-route"),
]
WRONG_CREDENTIALS = {
    "none": {},
    "wrong-password": {"auth": ("reader", "not-the-password")},
    "unknown-user": {"auth": ("mallory", "whatever")},
    "garbage-bearer": {"headers": {"Authorization": "Bearer 0123456789abcdef"}},
    "malformed-basic": {"headers": {"Authorization": "Basic !!!not-base64!!!"}},
}


@pytest.mark.parametrize("credentials", WRONG_CREDENTIALS)
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p.split('/dicom-web')[-1][:60]}" for m, p in ROUTES])
def test_every_route_but_health_refuses_missing_or_wrong_credentials(web: Web, method: str, path: str,
                                                                     credentials: str):
    """Without valid credentials every route answers 401 with a WWW-Authenticate challenge."""
    options = dict(WRONG_CREDENTIALS[credentials])
    headers = dict(options.pop("headers", {}))
    data = None
    if method == "POST" and "dicom-web" in path:
        data = multipart_body([("application/dicom", KNOWN.path.read_bytes())], STOW_BOUNDARY)
        headers["Content-Type"] = STOW_TYPE

    response = web.request(method, path, user=None, data=data, headers=headers, **options)

    assert response.status_code == 401, f"{method} {path}: {response.status_code} {response.text[:200]}"
    assert response.headers.get("WWW-Authenticate"), "a 401 must carry a WWW-Authenticate challenge"


def test_health_needs_no_credentials(web: Web):
    response = web.get("/health", user=None)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_bearer_token_works_until_it_expires(web: Web):
    """POST /auth/token (Basic) gives a bearer token valid for token_lifetime (2 s in this policy copy);
    afterwards it is refused with 401."""
    response = web.post("/auth/token")
    issued = time.monotonic()

    assert response.status_code == 200, response.text[:200]
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == TOKEN_LIFETIME_SECONDS
    assert isinstance(token["access_token"], str) and len(token["access_token"]) >= 16
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert web.get("/dicom-web/studies", user=None, headers=bearer).status_code == 200
    assert web.get(f"{INSTANCE}/metadata", user=None, headers=bearer).status_code == 200
    assert time.monotonic() - issued < TOKEN_LIFETIME_SECONDS, "too slow to test the token before it expires"

    time.sleep(max(0.0, issued + TOKEN_LIFETIME_SECONDS + 1 - time.monotonic()))
    expired = web.get("/dicom-web/studies", user=None, headers=bearer)

    assert expired.status_code == 401, f"an expired token got {expired.status_code}"
    assert expired.headers.get("WWW-Authenticate")


def test_users_yaml_keeps_salted_hashes_not_passwords(pacs_bin: Path, tmp_path: Path):
    """`pacs user add` writes neither the password nor an unsalted hash: two users with the same password
    get different PBKDF2 hashes, and the password appears nowhere in users.yaml."""
    policies = copy_policies(tmp_path / "Policies")
    pacs = Pacs(pacs_bin, tmp_path / "data", policies, tmp_path)
    password = f"same-{secrets.token_urlsafe(10)}"
    pacs.user_add("first", "reading", password)
    pacs.user_add("second", "referring", password)

    text = (policies / "users.yaml").read_text()
    users = {u["name"]: u for u in yaml.safe_load(text)["users"]}

    assert password not in text
    assert b64encode(password.encode()).decode() not in text
    secrets_of = {name: [v for k, v in user.items() if k not in ("name", "role")] for name, user in users.items()}
    assert secrets_of["first"] and secrets_of["first"] != secrets_of["second"], "same password, same stored hash"
    for name, stored in secrets_of.items():
        assert any("pbkdf2" in str(v).lower() for v in stored), f"{name}: {stored} is not labelled as PBKDF2"
    assert {u["role"] for u in users.values()} == {"reading", "referring"}


# --------------------------------------------------------------------------
# The access log
# --------------------------------------------------------------------------

def log_entries(web: Web) -> list[dict]:
    lines = web.access_log.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]
    assert all(isinstance(e, dict) for e in entries)
    return entries


def wait_for_entries(web: Web, count: int) -> list[dict]:
    deadline = time.monotonic() + 5
    while len(entries := log_entries(web)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return entries


def test_the_access_log_has_one_line_per_request_with_user_and_status(web: Web):
    """Each request adds one JSON line: time, user and role (when authenticated), client, method, path,
    status, duration_ms; query parameters appear only as query_keys, without their values."""
    before = len(log_entries(web)) if web.access_log.exists() else 0
    web.get("/dicom-web/studies", params={"PatientName": "Doe*", "limit": 5}, user="referrer")
    web.get(f"{INSTANCE}/metadata", user="reader")
    web.get("/dicom-web/studies", auth=("reader", "wrong-password"), user=None)
    web.get("/health", user=None)

    entries = wait_for_entries(web, before + 4)

    assert len(entries) == before + 4, f"expected 4 new lines, got {entries[before:]}"
    search, metadata, refused, health = entries[before:]
    for entry in (search, metadata, refused, health):
        assert {"time", "client", "method", "path", "status", "duration_ms"} <= set(entry), entry
        assert entry["method"] == "GET" and entry["client"] == HOST, entry
        assert isinstance(entry["duration_ms"], (int, float)) and entry["duration_ms"] >= 0, entry
    assert (search["user"], search["role"], search["status"], search["path"]) == \
        ("referrer", "referring", 200, "/dicom-web/studies")
    assert sorted(search["query_keys"]) == ["PatientName", "limit"]
    assert "Doe" not in json.dumps(search, ensure_ascii=False)
    assert (metadata["user"], metadata["role"], metadata["status"], metadata["path"]) == \
        ("reader", "reading", 200, f"{INSTANCE}/metadata")
    assert refused["status"] == 401 and refused.get("user") in (None, "reader"), refused
    assert health["status"] == 200 and health["path"] == "/health"


def assert_log_reveals_nothing(web: Web) -> None:
    text = web.access_log.read_text(encoding="utf-8")
    readable = json.dumps(log_entries(web), ensure_ascii=False)
    for source in SOURCES:
        for part in source.patient_name_parts:
            if len(part) > 2 or not part.isascii():
                assert part not in text and part not in readable, f"patient name part {part!r} in the access log"
    for user, password in web.passwords.items():
        assert password not in text, f"{user}'s password is in the access log"
        assert b64encode(f"{user}:{password}".encode()).decode() not in text, "Basic credentials in the log"
    assert "Basic " not in text and "Bearer " not in text
    assert max(len(line) for line in text.splitlines()) < 2000, "an access log line is suspiciously long"


def test_the_access_log_reveals_no_patient_names_or_credentials(web: Web):
    """After searches by patient name, retrievals and metadata requests the log holds no patient name, no
    password or Authorization header, and no token."""
    client = web.client()
    client.search_for_studies(search_filters={"PatientName": "Doe*"})
    client.search_for_instances(search_filters={"PatientName": BY_NAME["utf8_name.dcm"].patient_name})
    token = web.post("/auth/token").json()["access_token"]
    web.get(f"{INSTANCE}/metadata", user=None, headers={"Authorization": f"Bearer {token}"})

    assert token not in web.access_log.read_text(encoding="utf-8")
    assert_log_reveals_nothing(web)


def test_the_stow_access_log_reveals_no_patient_names(stow_web: Web, stowed: requests.Response):
    assert stowed.status_code == 200, stowed.text[:300]
    assert any(e["method"] == "POST" and e["path"] == "/dicom-web/studies" and e.get("user") == "reader"
               for e in log_entries(stow_web))
    assert_log_reveals_nothing(stow_web)


# --------------------------------------------------------------------------
# Rendered and thumbnails
# --------------------------------------------------------------------------

def voi_lut(ds: pydicom.Dataset, center: float, width: float) -> np.ndarray:
    """The picture a viewer shows: Modality LUT, linear VOI window (PS3.3 C.11.2.1.2.1), MONOCHROME1 inverted."""
    values = ds.pixel_array.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1)) + float(getattr(ds, "RescaleIntercept", 0))
    lower, upper = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    levels = np.where(values <= lower, 0.0, np.where(values > upper, 255.0, ((values - (center - 0.5)) / (width - 1) + 0.5) * 255))
    picture = np.rint(levels).astype(np.uint8)
    return 255 - picture if ds.PhotometricInterpretation == "MONOCHROME1" else picture


@pytest.mark.parametrize("name, window", [("ct_explicit_le.dcm", (40, 400)), ("cr_explicit_be.dcm", (512, 1024)),
                                          ("mr_explicit_le.dcm", None)])
def test_rendered_png_equals_the_reference_rendering(web: Web, name: str, window):
    """/rendered as PNG applies the rescale, the window (asked for, else the dataset's own) and MONOCHROME1
    inversion: the pixels equal a rendering of pydicom's decoding within rounding."""
    from PIL import Image
    source = BY_NAME[name]
    ds = source_dataset(source)
    params = {"window": f"{window[0]},{window[1]},linear"} if window else {}
    response = web.get(f"{instance_path(source)}/rendered", params=params, headers={"Accept": "image/png"})
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "image/png"
    got = np.asarray(Image.open(io.BytesIO(response.content)))
    center, width = window if window else (float(ds.WindowCenter if not isinstance(ds.WindowCenter, pydicom.multival.MultiValue) else ds.WindowCenter[0]),
                                           float(ds.WindowWidth if not isinstance(ds.WindowWidth, pydicom.multival.MultiValue) else ds.WindowWidth[0]))
    expected = voi_lut(ds, center, width)
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_a_thumbnail_is_small_jpeg_made_from_a_small_level(web: Web):
    """/thumbnail is a JPEG no larger than 128 pixels; for a reading user on an unread study it comes from
    V1 (the only version released), and the response says which version and level it used."""
    from PIL import Image
    source = BY_NAME["cr_explicit_be.dcm"]
    response = web.get(f"{instance_path(source)}/thumbnail", params={"viewport": "64,64"})
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(response.content))
    assert max(picture.size) <= 64
    assert response.headers["X-Strata-Source"].startswith("V1")


def test_a_thumbnail_for_whom_lossy_versions_are_released_decodes_a_small_level_of_one(web: Web):
    """For a user who may have the lossy versions (an admin here), a thumbnail is decoded from a 64-128 pixel
    resolution level of V2 or V3, never from the original."""
    from PIL import Image
    source = BY_NAME["cr_explicit_be.dcm"]
    web.pacs.wait_until_derived(source.sop_instance_uid)
    response = web.get(f"{instance_path(source)}/thumbnail", params={"viewport": "64,64"}, user="admin")
    assert response.status_code == 200, response.text[:300]
    used = response.headers["X-Strata-Source"]
    assert used.split()[0] in ("V2", "V3") and "level" in used, used
    assert max(Image.open(io.BytesIO(response.content)).size) <= 64
