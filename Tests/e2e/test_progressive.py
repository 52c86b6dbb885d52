"""Progressive delivery, diagnosis status and the access matrix, over real HTTP and DIMSE.

What a user sees:
- every cell of the default access matrix (Policies/access.yaml): a reading, referring, teleradiology or admin
  user asking for V1, V2 or V3 of a study at each status (1 unread .. 5 report) gets the version's bytes (a
  JPEG-LS or JPEG 2000 codestream that decodes) or a 403 whose message names the rule that refused it; the
  versions API lists the same verdict and rule; the same holds for C-GET and C-MOVE by reading, referring and
  teleradiology workstations (their role's version, or a refusal whose Error Comment names the rule);
- V2 is served level by level: level k decodes (OpenJPEG, reduced by levels-1-k) to the level's size as the
  headers and the versions listing say, and to the very pixels of the full codestream reduced alike; the
  bytes that add level k+1 come with a Range request and, appended, give exactly the full codestream's
  prefix (at the top, the full codestream: the frame of the V2 DICOM object); ETags revalidate with 304;
- quality= and purpose= pick the version the listing says; a series or study frames request returns one
  multipart part per image, in instance order, all of the same version;
- with no selector the delivery policy (Policies/delivery.yaml) decides version and level from role, place,
  link, memory and display, and says which rule decided; a refusal names the access rule;
- the diagnosis status only moves forward for reading doctors, backwards only for admins with a reason;
  notes, annotations and the report are kept with authors and revisions, retractions stay in the history,
  and writing them raises the status (3, 4, 5), recorded in the status history.

One server for the module (read-only tests and the status walks share it; each study has one owner test
group): a private copy of Policies/ with one user per role and the remote AEs added by `pacs ae add`, the
CT, MR and CR fixtures and three generated CT series imported (and derived) before it starts. Oracles:
Policies/access.yaml and delivery.yaml read with PyYAML, pydicom (the fixtures' pixels and the V2 DICOM
objects' encapsulated frames), OpenJPEG's opj_decompress, pyjpegls, pynetdicom.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
import yaml
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000, JPEGLSLossless

from conftest import (pacs_with_users, opj_decode, HTTP_READY_LINE, VALID_DIR, GeneratedSeries, Pacs, PacsServer, free_port,
                      generate_ct_series, media_type_parameters, multipart_parts, read_source)

import jpeg_ls  # noqa: E402
import pynetdicom  # noqa: E402,F401
from pynetdicom import ALL_TRANSFER_SYNTAXES, AE, build_role, evt  # noqa: E402
from pynetdicom.sop_class import (CTImageStorage, StudyRootQueryRetrieveInformationModelGet,  # noqa: E402
                                  StudyRootQueryRetrieveInformationModelMove)

HOST = "127.0.0.1"
SERVER_AE = "STRATA"
USERS = {"reader": "reading", "referrer": "referring", "telerad": "teleradiology", "admin": "admin"}
USER_OF_ROLE = {role: user for user, role in USERS.items()}
ROLES = tuple(USERS.values())
VERSIONS = ("V1", "V2", "V3")
STATUS_NAMES = {1: "unread", 2: "diagnosed", 3: "notes", 4: "annotations", 5: "report"}
EOC = b"\xff\xd9"
SUCCESS, PENDING, PENDING_WARNING, CANCEL = 0x0000, 0xFF00, 0xFF01, 0xFE00

LEVEL_FIXTURES = ("ct_explicit_le.dcm", "mr_explicit_le.dcm", "cr_explicit_be.dcm")
MATRIX_FIXTURE = "cr_explicit_be.dcm"      # its study walks the HTTP access matrix (statuses 1..5)
WORKFLOW_FIXTURE = "ct_explicit_le.dcm"    # its study gets notes, annotations and a report
UNREAD_FIXTURE = "mr_explicit_le.dcm"      # its study stays unread throughout

# Remote AEs (added with `pacs ae add`) and the version each role's retrievals carry (network.yaml).
REMOTE_AES = {"READING": "reading", "REFERRING": "referring", "TELERAD": "teleradiology"}
ROLE_VERSION = {"reading": "V1", "referring": "V2", "teleradiology": "V3"}


# --------------------------------------------------------------------------
# Oracles: the policies as written, OpenJPEG, pyjpegls
# --------------------------------------------------------------------------

ACCESS = yaml.safe_load((Path(__file__).resolve().parents[2] / "Policies" / "access.yaml").read_text())
DELIVERY = yaml.safe_load((Path(__file__).resolve().parents[2] / "Policies" / "delivery.yaml").read_text())


def matrix_cell(role: str, status: int, version: str) -> tuple[bool, str]:
    """(allowed, the rule deciding) for one cell, as Policies/access.yaml says."""
    name = STATUS_NAMES[status]
    row = (ACCESS.get("roles") or {}).get(role)
    if row == "all":
        return True, f"access.yaml roles.{role}.{name}"
    if isinstance(row, dict) and name in row:
        return version in row[name], f"access.yaml roles.{role}.{name}"
    return version in ACCESS["default"][name], f"access.yaml default.{name}"


def delivery_rule(name: str) -> tuple[int, dict]:
    for index, rule in enumerate(DELIVERY["rules"]):
        if rule["name"] == name:
            return index, rule
    raise AssertionError(f"delivery.yaml has no rule {name!r}")


def jls_decode(data: bytes) -> np.ndarray:
    return jpeg_ls.decode(np.frombuffer(data, np.uint8))


def stored_values(ds: pydicom.Dataset) -> np.ndarray:
    """The fixture's pixels as stored values (two's complement of Bits Stored bits for a signed image), the
    way a JPEG-LS codestream of them decodes."""
    pixels = ds.pixel_array.astype(np.int64)
    if int(ds.PixelRepresentation):
        pixels &= (1 << int(ds.BitsStored)) - 1
    return pixels


# --------------------------------------------------------------------------
# The module's server
# --------------------------------------------------------------------------

@dataclass
class Site:
    pacs: Pacs
    server: PacsServer
    root: Path
    http_port: int
    dicom_port: int
    ae_ports: dict[str, int]
    passwords: dict[str, str]
    generated: dict[str, GeneratedSeries]
    work: Path = field(init=False)

    def __post_init__(self):
        self.work = self.root / "work"
        self.work.mkdir(exist_ok=True)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.http_port}/api/v1"

    def state(self) -> str:
        return self.server.exit_note()

    def request(self, method: str, path: str, user: str = "admin", **kwargs) -> requests.Response:
        try:
            return requests.request(method, self.base + path, auth=(user, self.passwords[user]), timeout=60, **kwargs)
        except requests.ConnectionError as error:
            time.sleep(0.5)
            pytest.fail(f"{method} {path[:200]}: no answer ({error}){self.state()}")

    def get(self, path: str, user: str = "admin", **kwargs) -> requests.Response:
        return self.request("GET", path, user, **kwargs)

    def json(self, path: str, user: str = "admin", **kwargs) -> dict:
        response = self.get(path, user, **kwargs)
        assert response.status_code == 200, f"GET {path} as {user}: {response.status_code} {response.text[:500]}"
        return response.json()

    def status(self, study: str) -> int:
        return self.json(f"/studies/{study}/status")["status"]

    def set_status(self, study: str, status: int) -> None:
        """`pacs status set` (the admin's command line), with a reason so going back is allowed too."""
        if self.status(study) == status:
            return
        result = self.pacs.run("status", "set", study, status, "--reason", "the test walks the access matrix")
        assert result.returncode == 0, f"pacs status set {study} {status}: exit {result.returncode}\n" \
                                       f"{result.stdout}{result.stderr}"
        assert self.status(study) == status, f"the server still reports status {self.status(study)} " \
                                             f"after `pacs status set {study} {status}`"

    def listing(self, sop: str, user: str = "admin") -> dict:
        """The versions API's entry of one instance."""
        found = self.json(f"/instances/{sop}/versions", user)
        entries = [e for e in found["instances"] if e["sop_instance_uid"] == sop]
        assert len(entries) == 1, f"/instances/{sop}/versions lists {len(entries)} entries for it: {found}"
        return entries[0]


def version_of(entry: dict, name: str) -> dict:
    """The served variant of a version in a versions-API listing (V1: the JPEG-LS copy when there is one)."""
    found = [v for v in entry["versions"] if v["name"] == name]
    assert found, f"{entry['sop_instance_uid']}: no {name} listed: {entry}"
    if name == "V1":
        found = [v for v in found if v["variant"] == "jpegls"] or found
    return found[0]


def fixture(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(VALID_DIR / name)


# Each test checks afterwards that the shared server is still running.
pytestmark = pytest.mark.usefixtures("server_alive")


@pytest.fixture(scope="module")
def site(pacs_bin: Path, tmp_path_factory) -> Site:
    root = tmp_path_factory.mktemp("progressive")
    pacs, passwords = pacs_with_users(pacs_bin, root, USERS)
    ae_ports = {title: free_port() for title in REMOTE_AES}
    for title, role in REMOTE_AES.items():
        result = pacs.run("ae", "add", title, "--host", HOST, "--port", ae_ports[title], "--role", role)
        assert result.returncode == 0, f"pacs ae add {title}: {result.stdout}{result.stderr}"
    generated = {
        "large": generate_ct_series(root / "gen-large", 2, 512),     # levels enough for display= and series
        "dimse": generate_ct_series(root / "gen-dimse", 1, 128),     # walks the matrix over DIMSE
        "workflow": generate_ct_series(root / "gen-workflow", 3, 128),  # status transitions over HTTP
    }
    pacs.import_ok(*(VALID_DIR / name for name in set(LEVEL_FIXTURES)), *(g.folder for g in generated.values()))
    http_port, dicom_port = free_port(), free_port()
    server = PacsServer(pacs, "--http-port", http_port, "--dicom-port", dicom_port,
                        log=root / "serve.log").start(HTTP_READY_LINE)
    site = Site(pacs, server, root, http_port, dicom_port, ae_ports, passwords, generated)
    yield site
    assert server.stop() == 0, f"pacs serve did not exit 0 on SIGTERM:\n{server.log_text()[-3000:]}"


def generated_study(site: Site, key: str) -> str:
    return read_source(next(iter(site.generated[key].uids))).study_instance_uid


def generated_sops(site: Site, key: str) -> list[str]:
    """The SOP Instance UIDs of a generated series in instance order."""
    sources = sorted((read_source(p) for p in site.generated[key].uids), key=lambda s: s.instance_number)
    return [s.sop_instance_uid for s in sources]


@pytest.fixture(scope="module")
def large(site: Site) -> tuple[str, str, list[str]]:
    """The generated 512x512 CT series (study, series, SOP UIDs in instance order), marked diagnosed."""
    study = generated_study(site, "large")
    site.set_status(study, 2)
    first = read_source(next(iter(site.generated["large"].uids)))
    return study, first.series_instance_uid, generated_sops(site, "large")


# --------------------------------------------------------------------------
# 1. Every cell of the default access matrix over HTTP
# --------------------------------------------------------------------------

MATRIX = [(status, role, version) for status in STATUS_NAMES for role in ROLES for version in VERSIONS]


def assert_refusal(response: requests.Response, rule: str, version: str, what: str) -> None:
    assert response.status_code == 403, f"{what}: {response.status_code}, expected 403 ({rule}): {response.text[:300]}"
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        pytest.fail(f"{what}: the 403 body is not {{\"error\": {{\"message\": ...}}}}: {response.text[:300]!r}")
    assert rule in message, f"{what}: the refusal {message!r} does not name the rule {rule!r}"
    assert version in message, f"{what}: the refusal {message!r} does not name the version {version}"


def assert_frame_is_version(site: Site, response: requests.Response, version: str, ds: pydicom.Dataset,
                            what: str) -> None:
    """A 200 carrying frame 1 of `version`: the JPEG-LS copy of the pixels for V1, a J2K codestream that
    OpenJPEG decodes to the image's size for V2 and V3."""
    assert response.status_code == 200, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers.get("X-Strata-Version") == version, f"{what}: X-Strata-Version " \
                                                                f"{response.headers.get('X-Strata-Version')}"
    assert response.content, f"{what}: an empty body"
    if version == "V1":
        assert response.headers["Content-Type"].startswith("image/jls"), response.headers["Content-Type"]
        assert np.array_equal(jls_decode(response.content), stored_values(ds)), f"{what}: pixels differ"
    else:
        assert response.headers["Content-Type"].startswith("image/j2c"), response.headers["Content-Type"]
        decoded = opj_decode(response.content, 0, site.work)
        assert decoded.shape == (int(ds.Rows), int(ds.Columns)), f"{what}: decoded to {decoded.shape}"


@pytest.mark.parametrize("status,role,version", MATRIX,
                         ids=[f"{s}-{STATUS_NAMES[s]}-{r}-{v}" for s, r, v in MATRIX])
def test_access_matrix_cell_over_http(site: Site, status: int, role: str, version: str):
    """A user of `role` asking for frame 1 of `version` of a study at `status` gets the bytes exactly when
    access.yaml allows it, else a 403 naming the rule; the versions API says the same for that user."""
    ds = fixture(MATRIX_FIXTURE)
    study, sop = str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)
    site.set_status(study, status)
    allowed, rule = matrix_cell(role, status, version)
    user = USER_OF_ROLE[role]
    what = f"{role} GET {version} at status {status} ({STATUS_NAMES[status]})"
    response = site.get(f"/instances/{sop}/frames/1?version={version}", user)
    if allowed:
        assert_frame_is_version(site, response, version, ds, what)
        assert response.headers.get("X-Strata-Delivery-Rule") == f"request version={version}", response.headers
    else:
        assert_refusal(response, rule, version, what)
    listed = version_of(site.listing(sop, user), version)
    assert listed["allowed"] is allowed and rule in listed["rule"], \
        f"{what}: the versions API says allowed={listed['allowed']} by {listed['rule']!r}, " \
        f"access.yaml says allowed={allowed} by {rule!r}"


def test_a_role_specific_row_added_live_names_its_rule(site: Site):
    """An admin adding `roles.teleradiology.diagnosed: [V3]` to the running server's access.yaml: within
    a few seconds teleradiology users are refused V2 of a diagnosed study naming
    roles.teleradiology.diagnosed, still get V3; removing it releases V2 again."""
    study, sop = generated_study(site, "large"), generated_sops(site, "large")[0]
    site.set_status(study, 2)
    access = site.pacs.policies / "access.yaml"
    original = access.read_text()
    edited = yaml.safe_load(original)
    edited["roles"]["teleradiology"] = {"diagnosed": ["V3"]}
    try:
        access.write_text(yaml.safe_dump(edited))
        deadline = time.monotonic() + 10
        while (response := site.get(f"/instances/{sop}/frames/1?version=V2", "telerad")).status_code == 200:
            assert time.monotonic() < deadline, "the access.yaml edit was not picked up within 10 s"
            time.sleep(0.25)
        assert_refusal(response, "access.yaml roles.teleradiology.diagnosed", "V2", "teleradiology V2 after the edit")
        assert site.get(f"/instances/{sop}/frames/1?version=V3", "telerad").status_code == 200
    finally:
        access.write_text(original)
    deadline = time.monotonic() + 10
    while site.get(f"/instances/{sop}/frames/1?version=V2", "telerad").status_code != 200:
        assert time.monotonic() < deadline, "restoring access.yaml was not picked up within 10 s"
        time.sleep(0.25)


# --------------------------------------------------------------------------
# 2. The same matrix through C-GET and C-MOVE
# --------------------------------------------------------------------------

@dataclass
class Receivers:
    """A pynetdicom storage SCP per remote AE title, on the port `pacs ae add` gave it."""
    received: dict[str, list[pydicom.Dataset]]
    servers: list


@pytest.fixture(scope="module")
def receivers(site: Site) -> Receivers:
    received: dict[str, list[pydicom.Dataset]] = {title: [] for title in REMOTE_AES}
    servers = []
    for title in REMOTE_AES:
        def on_store(event, title=title):
            ds = event.dataset
            ds.file_meta = event.file_meta
            received[title].append(ds)
            return SUCCESS
        ae = AE(ae_title=title)
        ae.add_supported_context(CTImageStorage, ALL_TRANSFER_SYNTAXES)
        servers.append(ae.start_server((HOST, site.ae_ports[title]), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, on_store)]))
    yield Receivers(received, servers)
    for server in servers:
        server.shutdown()


def retrieve_keys(study: str) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study
    return ds


@contextlib.contextmanager
def association(site: Site, calling: str, contexts, **kwargs):
    ae = AE(ae_title=calling)
    ae.acse_timeout, ae.dimse_timeout, ae.network_timeout = 15, 60, 60
    for context in contexts:
        ae.add_requested_context(*context) if isinstance(context, tuple) else ae.add_requested_context(context)
    assoc = ae.associate(HOST, site.dicom_port, ae_title=SERVER_AE, **kwargs)
    assert assoc.is_established, f"association {calling} -> {SERVER_AE} refused{site.state()}"
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def c_get(site: Site, calling: str, study: str) -> tuple[pydicom.Dataset, pydicom.Dataset | None, list]:
    model = StudyRootQueryRetrieveInformationModelGet
    received = []

    def on_store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return SUCCESS

    syntaxes = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000, JPEGLSLossless]
    final = identifier = None
    with association(site, calling, [model, (CTImageStorage, syntaxes)],
                     ext_neg=[build_role(CTImageStorage, scp_role=True)],
                     evt_handlers=[(evt.EVT_C_STORE, on_store)]) as assoc:
        for status, ident in assoc.send_c_get(retrieve_keys(study), model):
            assert "Status" in status, "the C-GET got no response (association aborted or timed out)"
            if status.Status not in (PENDING, PENDING_WARNING):
                final, identifier = status, ident
    assert final is not None, "no final C-GET response"
    return final, identifier, received


def c_move(site: Site, calling: str, destination: str, study: str) -> tuple[pydicom.Dataset, pydicom.Dataset | None]:
    model = StudyRootQueryRetrieveInformationModelMove
    final = identifier = None
    with association(site, calling, [model]) as assoc:
        for status, ident in assoc.send_c_move(retrieve_keys(study), destination, model):
            assert "Status" in status, "the C-MOVE got no response (association aborted or timed out)"
            if status.Status not in (PENDING, PENDING_WARNING):
                final, identifier = status, ident
    assert final is not None, "no final C-MOVE response"
    return final, identifier


DIMSE_CELLS = [(status, title, op) for status in STATUS_NAMES for title in REMOTE_AES for op in ("get", "move")]


@pytest.mark.parametrize("status,title,op", DIMSE_CELLS,
                         ids=[f"{s}-{STATUS_NAMES[s]}-{t}-{o}" for s, t, o in DIMSE_CELLS])
def test_access_matrix_cell_over_dimse(site: Site, receivers: Receivers, status: int, title: str, op: str):
    """C-GET by (C-MOVE to) a reading, referring or teleradiology workstation of a study at each status
    delivers its role's version (V1 the original, V2/V3 the lossy object the versions API lists, Lossy
    Image Compression 01) exactly when access.yaml allows it; otherwise nothing arrives and the final
    status is a failure listing the instance, whose Error Comment names the rule."""
    study, sop = generated_study(site, "dimse"), generated_sops(site, "dimse")[0]
    site.set_status(study, status)
    role = REMOTE_AES[title]
    version = ROLE_VERSION[role]
    allowed, rule = matrix_cell(role, status, version)
    receivers.received[title].clear()
    if op == "get":
        final, identifier, received = c_get(site, title, study)
    else:
        final, identifier = c_move(site, title, title, study)
        received = receivers.received[title]
    what = f"C-{op.upper()} {title} ({role}, {version}) at status {status} ({STATUS_NAMES[status]})"
    if allowed:
        assert final.Status == SUCCESS, f"{what}: final status 0x{final.Status:04X} {final.get('ErrorComment', '')}"
        assert len(received) == 1, f"{what}: {len(received)} instances received, expected 1"
        got = received[0]
        if version == "V1":
            assert got.SOPInstanceUID == sop, f"{what}: received {got.SOPInstanceUID}, not the original {sop}"
            assert got.get("LossyImageCompression", "00") != "01", f"{what}: the original arrived lossy"
        else:
            expected = version_of(site.listing(sop), version)["sop_instance_uid"]
            assert got.SOPInstanceUID == expected, f"{what}: received {got.SOPInstanceUID}, the {version} " \
                                                   f"object is {expected}"
            assert got.get("LossyImageCompression") == "01", f"{what}: Lossy Image Compression is not 01"
        return
    assert final.Status not in (SUCCESS, PENDING, PENDING_WARNING, CANCEL), \
        f"{what}: final status 0x{final.Status:04X}, expected a refusal by {rule}"
    assert received == [], f"{what}: {len(received)} instances arrived although {rule} refuses {version}"
    assert final.get("NumberOfCompletedSuboperations", 0) == 0, final
    assert final.get("NumberOfFailedSuboperations") == 1, f"{what}: {final}"
    failed = identifier.get("FailedSOPInstanceUIDList") if identifier is not None else None
    failed = set() if failed is None else {failed} if isinstance(failed, str) else set(failed)
    assert failed == {sop}, f"{what}: FailedSOPInstanceUIDList {failed}, expected {{{sop}}}"
    comment = str(final.get("ErrorComment", ""))
    assert rule in comment, f"{what}: Error Comment {comment!r} does not name the rule {rule!r}"


# --------------------------------------------------------------------------
# 3. Levels of V2: sizes, decoding, Range continuation, ETags
# --------------------------------------------------------------------------

def v2_frame(site: Site, sop: str) -> bytes:
    """Frame 1 of the V2 DICOM object (GET /instances/{sop}?version=V2) as encapsulated: the full
    codestream, whatever the frames route does with it (at most one trailing pad byte)."""
    response = site.get(f"/instances/{sop}?version=V2")
    assert response.status_code == 200, f"GET /instances/{sop}?version=V2: {response.status_code} {response.text[:300]}"
    ds = pydicom.dcmread(BytesIO(response.content))
    frame = next(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)))
    return frame[:-1] if frame.endswith(EOC + b"\x00") else frame


@pytest.fixture(scope="module")
def full_codestreams(site: Site) -> dict[str, bytes]:
    return {name: v2_frame(site, str(fixture(name).SOPInstanceUID)) for name in LEVEL_FIXTURES}


def check_level(site: Site, ds: pydicom.Dataset, full: bytes, levels: list[dict], level: int) -> None:
    """Everything one level of V2 must be (see the test below); fails naming the level."""
    sop = str(ds.SOPInstanceUID)
    top = len(levels) - 1
    entry = levels[level]
    reduce = top - level
    expected_size = (-(-int(ds.Columns) // 2 ** reduce), -(-int(ds.Rows) // 2 ** reduce))
    assert (entry["width"], entry["height"]) == expected_size, f"listed {entry}, expected {expected_size}"

    path = f"/instances/{sop}/frames/1?version=V2"
    response = site.get(f"{path}&level={level}")
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    headers, body = response.headers, response.content
    assert headers["Content-Type"].startswith("image/j2c"), headers["Content-Type"]
    assert headers.get("X-Strata-Level") == str(level) and headers.get("X-Strata-Levels") == str(len(levels)), headers
    assert headers.get("X-Strata-Level-Size") == f"{entry['width']}x{entry['height']}", headers
    assert headers.get("X-Strata-Level-Range") == f"bytes=0-{entry['end'] - 1}", headers
    assert headers.get("Accept-Ranges") == "bytes", headers
    link = headers.get("Link", "")
    assert f"</api/v1/studies/{ds.StudyInstanceUID}/diagnostic>" in link and 'rel="describedby"' in link, link

    if level < top:
        assert body == full[:entry["end"]] + EOC, \
            f"{len(body)} bytes served, expected the codestream's first {entry['end']} bytes + EOC"
    decoded = opj_decode(body, reduce, site.work)
    assert decoded.shape == (entry["height"], entry["width"]), f"decoded to {decoded.shape}"
    assert np.array_equal(decoded, opj_decode(full, reduce, site.work)), \
        "the served bytes decode to other pixels than the full V2 codestream reduced alike"

    if level == top:
        assert "X-Strata-Next-Level-Range" not in headers, headers
    else:
        nxt = levels[level + 1]
        assert headers.get("X-Strata-Next-Level-Range") == f"bytes={entry['end']}-{nxt['end'] - 1}", headers
        more = site.get(path, headers={"Range": headers["X-Strata-Next-Level-Range"]})
        assert more.status_code == 206, f"Range {headers['X-Strata-Next-Level-Range']}: {more.status_code}"
        total = headers.get("X-Strata-Codestream-Length")
        assert more.headers.get("Content-Range") == f"bytes {entry['end']}-{nxt['end'] - 1}/{total}", more.headers
        assert len(more.content) == nxt["end"] - entry["end"], \
            f"the continuation carried {len(more.content)} bytes, level {level + 1} adds {nxt['end'] - entry['end']}"
        continued = body[:-2] + more.content
        assert continued == full[:nxt["end"]], \
            f"level {level} + the continuation differs from the codestream's prefix through level {level + 1}"

    etag = headers.get("ETag")
    assert etag, "no ETag"
    again = site.get(f"{path}&level={level}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"", f"If-None-Match {etag}: {again.status_code}"


@pytest.mark.parametrize("name", LEVEL_FIXTURES)
def test_each_level_of_v2_decodes_to_its_size_and_continues_by_range(site: Site, full_codestreams, name: str):
    """For every level k of V2 (CT, MR and CR fixtures): the body is the full codestream's prefix through the
    level (plus EOC below the top); OpenJPEG decodes it, reduced by levels-1-k, to the size the versions
    listing and X-Strata-Level-Size give, pixel for pixel what the full codestream reduced alike decodes to;
    the Range in X-Strata-Next-Level-Range transfers exactly the bytes level k+1 adds, which appended give
    the full codestream's prefix through k+1; the ETag revalidates with 304. The full codestream is the V2
    DICOM object's frame: the top level ends at its end, and the top level is served as exactly it."""
    ds = fixture(name)
    sop = str(ds.SOPInstanceUID)
    full = full_codestreams[name]
    levels = version_of(site.listing(sop), "V2").get("levels")
    assert levels, f"{name}: the versions listing gives V2 no levels"
    assert [entry["level"] for entry in levels] == list(range(len(levels))), f"{name}: levels {levels}"
    assert len(levels) >= 2, f"{name}: only {len(levels)} level for a {ds.Columns}x{ds.Rows} image"
    failures = []
    for level in range(len(levels)):
        try:
            check_level(site, ds, full, levels, level)
        except AssertionError as error:
            failures.append(f"level {level} of {len(levels)}: {str(error).splitlines()[0]}")
    whole = site.get(f"/instances/{sop}/frames/1?version=V2")
    if whole.content != full:
        failures.append(f"the top level is served as {len(whole.content)} bytes ending {whole.content[-4:].hex()}, "
                        f"the V2 DICOM frame is {len(full)} bytes ending {full[-4:].hex()}")
    if whole.headers.get("X-Strata-Codestream-Length") != str(len(full)):
        failures.append(f"X-Strata-Codestream-Length {whole.headers.get('X-Strata-Codestream-Length')}, "
                        f"the codestream is {len(full)} bytes")
    # Level ends are where each level's data ends; the EOC marker (2 bytes) closes every level's body.
    if levels[-1]["end"] + 2 != len(full):
        failures.append(f"the listed top level's data ends at {levels[-1]['end']}, the codestream (with EOC) at {len(full)}")
    assert not failures, f"{name} V2 ({len(full)}-byte codestream, levels {levels}):\n" + "\n".join(failures)


@pytest.mark.parametrize("version", VERSIONS)
def test_ranges_on_every_representation_and_unsatisfiable_ones(site: Site, version: str):
    """A Range on V1 (JPEG-LS), V2 and V3 gives 206 with Content-Range and exactly those bytes of the
    whole representation; a range past its end gives 416."""
    sop = str(fixture("ct_explicit_le.dcm").SOPInstanceUID)
    path = f"/instances/{sop}/frames/1?version={version}"
    whole = site.get(path)
    assert whole.status_code == 200, whole.text[:300]
    total = len(whole.content)
    part = site.get(path, headers={"Range": f"bytes=10-{total // 2}"})
    assert part.status_code == 206, f"{version}: {part.status_code}"
    assert part.headers.get("Content-Range") == f"bytes 10-{total // 2}/{total}", part.headers
    assert part.content == whole.content[10:total // 2 + 1]
    beyond = site.get(path, headers={"Range": f"bytes={total + 10}-{total + 20}"})
    assert beyond.status_code == 416, f"{version}: a range past {total} bytes got {beyond.status_code}"


# --------------------------------------------------------------------------
# 4. quality=, purpose=, whole objects, series and study frames
# --------------------------------------------------------------------------

@pytest.mark.parametrize("selector", ["quality=1", "quality=25", "quality=30", "quality=50", "quality=51",
                                      "quality=100", "purpose=reference", "purpose=comparison", "purpose=diagnosis"])
def test_quality_and_purpose_select_the_listed_version(site: Site, large, selector: str):
    """quality=q gets the smallest version whose quality is at least q, purpose=p the version for p, as the
    versions listing describes them; the delivery rule header names the request."""
    _, _, sops = large
    entry = site.listing(sops[0], "referrer")
    key, _, value = selector.partition("=")
    candidates = {}
    for v in entry["versions"]:
        if (key == "quality" and v["quality"] >= int(value)) or (key == "purpose" and v["purpose"] == value):
            candidates[v["name"]] = min(candidates.get(v["name"], v["size"]), v["size"])
    assert candidates, f"no version fits {selector}: {entry['versions']}"
    expected = min(candidates, key=candidates.get)
    response = site.get(f"/instances/{sops[0]}/frames/1?{selector}", "referrer")
    assert response.status_code == 200, response.text[:300]
    assert response.headers.get("X-Strata-Version") == expected, \
        f"{selector}: got {response.headers.get('X-Strata-Version')}, the listing says {expected}"
    assert response.headers.get("X-Strata-Delivery-Rule") == f"request {selector}", response.headers
    plain = site.get(f"/instances/{sops[0]}/frames/1?version={expected}", "referrer")
    assert response.content == plain.content, f"{selector}: not the bytes of version={expected}"


def test_whole_objects_of_each_version(site: Site):
    """GET /instances/{sop}?version=V2 is the lossy DICOM object the listing names (its own SOP Instance
    UID, Lossy Image Compression 01); V1 is the original's dataset, and asked for in JPEG-LS the lossless
    copy with the same pixels."""
    ds = fixture("cr_explicit_be.dcm")
    sop = str(ds.SOPInstanceUID)
    listed = version_of(site.listing(sop), "V2")
    v2 = site.get(f"/instances/{sop}?version=V2")
    assert v2.status_code == 200 and v2.headers["Content-Type"].startswith("application/dicom"), v2.headers
    lossy = pydicom.dcmread(BytesIO(v2.content))
    assert lossy.SOPInstanceUID == listed["sop_instance_uid"] and lossy.SOPInstanceUID != sop
    assert lossy.get("LossyImageCompression") == "01"
    v1 = site.get(f"/instances/{sop}?version=V1")
    assert v1.status_code == 200, v1.text[:300]
    original = pydicom.dcmread(BytesIO(v1.content))
    assert original == ds, "V1 is not the original's dataset"
    jls = site.get(f"/instances/{sop}?version=V1",
                   headers={"Accept": "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.80"})
    assert jls.status_code == 200, jls.text[:300]
    copy = pydicom.dcmread(BytesIO(jls.content))
    assert str(copy.file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.4.80"
    assert copy.SOPInstanceUID == sop and np.array_equal(copy.pixel_array, ds.pixel_array)


@pytest.mark.parametrize("scope,version,level", [("series", "V2", 0), ("series", "V3", None), ("study", "V2", 2)])
def test_frames_of_a_series_or_study_come_in_instance_order_in_one_version(site: Site, large, scope: str,
                                                                            version: str, level: int | None):
    """/series/{uid}/frames and /studies/{uid}/frames: multipart/related; type="image/j2c" with one part
    per image in instance order, each the same bytes as that image's own frames request, with its
    Content-Location and level headers, all of the requested version."""
    study, series, sops = large
    query = f"version={version}" + ("" if level is None else f"&level={level}")
    path = f"/series/{series}/frames?{query}" if scope == "series" else f"/studies/{study}/frames?{query}"
    response = site.get(path, "referrer")
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
    kind, parameters = media_type_parameters(response.headers["Content-Type"])
    assert kind == "multipart/related" and parameters.get("type") == "image/j2c", response.headers["Content-Type"]
    parts = multipart_parts(response.headers["Content-Type"], response.content)
    assert [p.headers.get("content-location") for p in parts] == \
        [f"/api/v1/instances/{sop}/frames/1" for sop in sops], "parts are not one per image in instance order"
    for sop, part in zip(sops, parts):
        single = site.get(f"/instances/{sop}/frames/1?{query}", "referrer")
        assert part.body == single.content, f"{sop}: the part differs from the image's own frame"
        assert part.headers.get("x-strata-version") in (None, version), part.headers
        for header in ("x-strata-level", "x-strata-levels", "x-strata-level-size", "x-strata-level-range"):
            assert part.headers.get(header) == single.headers.get(header), f"{sop}: part {header} {part.headers}"


# --------------------------------------------------------------------------
# 5. The delivery policy
# --------------------------------------------------------------------------

def rule_header(name: str) -> str:
    index, _ = delivery_rule(name)
    return f"delivery.yaml rules[{index}] {name}"


def smallest_level_at_least(levels: list[dict], side: int) -> dict:
    fitting = [entry for entry in levels if max(entry["width"], entry["height"]) >= side]
    return fitting[0] if fitting else levels[-1]


DELIVERY_CASES = {  # id -> (user, query, headers, rule name or None for defaults, display cap or None)
    "referring-defaults": ("referrer", "", {}, None, None),
    "referring-home": ("referrer", "place=home", {}, "home or remote site", None),
    "referring-home-header": ("referrer", "", {"X-Strata-Place": "home"}, "home or remote site", None),
    "referring-display-64": ("referrer", "display=64", {}, None, 64),
    "referring-display-header-100": ("referrer", "", {"X-Strata-Display": "100"}, None, 100),
    "referring-slow-link": ("referrer", "link=2mbit", {}, "slow link", None),
    "referring-small-client": ("referrer", "", {"X-Strata-Memory": "512MB"}, "small client", None),
    "referring-icu-display-64": ("referrer", "place=icu&display=64", {}, "ICU and ER", 64),
    "reading": ("reader", "", {}, "reading doctors in the reading room", None),
}


@pytest.mark.parametrize("case", list(DELIVERY_CASES))
def test_delivery_policy_chooses_version_and_level(site: Site, large, case: str):
    """Without a selector, delivery.yaml decides: the first rule that matches (or the defaults) gives the
    versions in order, the first the access matrix allows is sent, capped at the smallest level at least
    as large as the rule's and the client's display; X-Strata-Delivery-Rule names the decision."""
    user, query, headers, rule, display = DELIVERY_CASES[case]
    _, _, sops = large
    sop = sops[0]
    status = 2
    chosen = delivery_rule(rule)[1] if rule else {}
    preference = chosen.get("versions") or DELIVERY["defaults"]["versions"]
    version = next(v for v in preference if matrix_cell(USERS[user], status, v)[0])
    caps = [c for c in (chosen.get("display"), DELIVERY["defaults"].get("display"), display) if c]
    response = site.get(f"/instances/{sop}/frames/1" + (f"?{query}" if query else ""), user, headers=headers)
    assert response.status_code == 200, f"{case}: {response.status_code} {response.text[:300]}"
    assert response.headers.get("X-Strata-Delivery-Rule") == (rule_header(rule) if rule else "delivery.yaml defaults"), \
        f"{case}: {response.headers.get('X-Strata-Delivery-Rule')}"
    assert response.headers.get("X-Strata-Version") == version, f"{case}: {response.headers.get('X-Strata-Version')}"
    if version == "V1":
        return
    levels = version_of(site.listing(sop), version)["levels"]
    expected = smallest_level_at_least(levels, min(caps)) if caps else levels[-1]
    assert response.headers.get("X-Strata-Level") == str(expected["level"]), \
        f"{case}: level {response.headers.get('X-Strata-Level')}, expected {expected} (caps {caps})"
    assert response.headers.get("X-Strata-Level-Size") == f"{expected['width']}x{expected['height']}"
    decoded = opj_decode(response.content, len(levels) - 1 - expected["level"], site.work)
    assert decoded.shape == (expected["height"], expected["width"]), f"{case}: decoded to {decoded.shape}"


def test_delivery_to_a_referring_user_of_an_unread_study_is_refused_naming_the_rule(site: Site):
    """No silent substitute: a referring user asking an unread study's frame without a selector gets 403
    naming access.yaml roles.referring.unread, not V1."""
    sop = str(fixture(UNREAD_FIXTURE).SOPInstanceUID)
    assert site.status(str(fixture(UNREAD_FIXTURE).StudyInstanceUID)) == 1
    response = site.get(f"/instances/{sop}/frames/1", "referrer")
    assert_refusal(response, "access.yaml roles.referring.unread", "V2", "referring, no selector, unread")


# --------------------------------------------------------------------------
# 6. Status workflow and diagnostic information
# --------------------------------------------------------------------------

def put_status(site: Site, study: str, user: str, status, reason: str | None = None) -> requests.Response:
    body = {"status": status} | ({} if reason is None else {"reason": reason})
    return site.request("PUT", f"/studies/{study}/status", user, json=body)


def error_message(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""


def test_status_transitions_are_checked_and_recorded(site: Site):
    """Forward moves by reading doctors; referring/teleradiology users may not (403); a reading doctor may
    not go back (403); an admin goes back only with a non-empty reason (409 without); the same status is
    409, statuses outside 1..5 are 400, an unknown study 404; every refusal says why, and the history
    records exactly the accepted changes with user and reason."""
    study = generated_study(site, "workflow")
    assert site.status(study) == 1
    refusals = [
        (put_status(site, study, "referrer", 2), 403),
        (put_status(site, study, "telerad", 2), 403),
        (put_status(site, study, "reader", 1), 409),
        (put_status(site, study, "reader", 0), 400),
        (put_status(site, study, "reader", 6), 400),
        (put_status(site, "1.2.3.999999", "reader", 2), 404),
    ]
    assert put_status(site, study, "reader", 2).status_code == 200
    assert put_status(site, study, "reader", 4).status_code == 200
    refusals += [
        (put_status(site, study, "reader", 2, "looked again"), 403),
        (put_status(site, study, "admin", 2), 409),
        (put_status(site, study, "admin", 2, ""), 409),
        (put_status(site, study, "admin", 4), 409),
    ]
    for index, (response, code) in enumerate(refusals):
        assert response.status_code == code, f"refusal {index}: {response.status_code}, expected {code}: " \
                                             f"{response.text[:300]}"
        assert error_message(response), f"refusal {index}: no reason given: {response.text[:300]!r}"
    back = put_status(site, study, "admin", 2, "second read needed")
    assert back.status_code == 200, back.text[:300]
    state = site.json(f"/studies/{study}/status", "referrer")
    assert (state["study"], state["status"], state["name"]) == (study, 2, "diagnosed"), state
    assert [(h["from"], h["to"], h["user"]) for h in state["history"]] == \
        [(1, 2, "reader"), (2, 4, "reader"), (4, 2, "admin")], state["history"]
    assert state["history"][-1].get("reason") == "second read needed", state["history"]


def item_ok(item: dict, kind: str, author: str, revision: int) -> None:
    assert item["kind"] == kind and item["author"] == author and item["revision"] == revision, item
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)", item["at"]), item["at"]


def status_history(site: Site, study: str) -> list[dict]:
    return site.json(f"/studies/{study}/status")["history"]


def test_notes_annotations_and_report_round_trip_and_raise_the_status(site: Site):
    """A note raises an unread study to 3, an annotation to 4, the report to 5, each recorded with its reason
    and author; later writes never lower it. Notes are edited (revision + 1, new author) and retracted
    (gone from "notes", kept in the history); annotations keep their shapes; the report gets a revision per
    PUT; referring and teleradiology users may not write (403)."""
    ds = fixture(WORKFLOW_FIXTURE)
    study, sop = str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)
    base = f"/studies/{study}"
    assert site.status(study) == 1
    for user in ("referrer", "telerad"):
        assert site.request("POST", f"{base}/notes", user, json={"text": "no"}).status_code == 403
        assert site.request("PUT", f"{base}/report", user, json={"text": "no"}).status_code == 403
        assert site.request("POST", f"{base}/annotations", user,
                            json={"instance": sop, "shapes": [{"type": "point", "x": 1, "y": 1}]}).status_code == 403
    assert site.status(study) == 1, "a refused write changed the status"

    created = site.request("POST", f"{base}/notes", "reader", json={"text": "hypodense lesion left"})
    assert created.status_code == 201, created.text[:300]
    note = created.json()
    item_ok(note, "note", "reader", 1)
    assert note["text"] == "hypodense lesion left" and note["retracted"] is False
    assert site.status(study) == 3
    assert status_history(site, study)[-1] | {"at": None} == \
        {"from": 1, "to": 3, "user": "reader", "reason": "reading note written", "at": None}

    shapes = [{"type": "point", "x": 10, "y": 20, "label": "a"},
              {"type": "line", "points": [[0, 0], [64.5, 64], [127, 127]]},
              {"type": "ellipse", "center": [64, 64], "radii": [10, 5]},
              {"type": "text", "x": 5, "y": 120, "text": "see note"}]
    annotated = site.request("POST", f"{base}/annotations", "reader", json={"instance": sop, "shapes": shapes})
    assert annotated.status_code == 201, annotated.text[:300]
    annotation = annotated.json()
    item_ok(annotation, "annotation", "reader", 1)
    assert annotation["instance"] == sop and annotation["shapes"] == shapes, annotation
    assert site.status(study) == 4
    assert status_history(site, study)[-1] | {"at": None} == \
        {"from": 3, "to": 4, "user": "reader", "reason": "annotation attached", "at": None}

    edited = site.request("PUT", f"{base}/notes/{note['id']}", "admin", json={"text": "hypodense lesion left, 8 mm"})
    assert edited.status_code == 200, edited.text[:300]
    item_ok(edited.json(), "note", "admin", 2)
    assert edited.json()["id"] == note["id"] and edited.json()["text"] == "hypodense lesion left, 8 mm"

    first = site.request("PUT", f"{base}/report", "reader", json={"text": "Draft: lesion."})
    assert first.status_code == 200, first.text[:300]
    item_ok(first.json(), "report", "reader", 1)
    assert first.json()["id"] == "report"
    assert site.status(study) == 5
    assert status_history(site, study)[-1] | {"at": None} == \
        {"from": 4, "to": 5, "user": "reader", "reason": "report drafted", "at": None}
    second = site.request("PUT", f"{base}/report", "admin", json={"text": "Final: 8 mm lesion."})
    assert second.status_code == 200
    item_ok(second.json(), "report", "admin", 2)

    retracted = site.request("DELETE", f"{base}/notes/{note['id']}", "reader")
    assert retracted.status_code == 200, retracted.text[:300]
    item_ok(retracted.json(), "note", "reader", 3)
    assert retracted.json()["retracted"] is True
    later = site.request("POST", f"{base}/notes", "reader", json={"text": "addendum"})
    assert later.status_code == 201
    assert site.status(study) == 5, "a note written at status 5 lowered it"
    assert len(status_history(site, study)) == 3, status_history(site, study)

    info = site.json(f"{base}/diagnostic", "referrer")
    assert (info["study"], info["status"], info["status_name"]) == (study, 5, "report"), info
    assert [n["text"] for n in info["notes"]] == ["addendum"], info["notes"]
    assert [a["id"] for a in info["annotations"]] == [annotation["id"]]
    assert info["report"]["text"] == "Final: 8 mm lesion." and info["report"]["revision"] == 2
    assert "history" not in info, "history without ?history=true"
    history = site.json(f"{base}/diagnostic?history=true", "referrer")["history"]
    revisions = [(h["revision"], h["author"], h["retracted"]) for h in history if h["id"] == note["id"]]
    assert revisions == [(1, "reader", False), (2, "admin", False), (3, "reader", True)], history
    assert [h["revision"] for h in history if h["id"] == "report"] == [1, 2], history


@pytest.mark.parametrize("case", ["x-off", "y-off", "negative", "line-one-point", "ellipse-no-radii",
                                  "unknown-type", "text-without-text", "no-shapes", "shapes-not-a-list",
                                  "other-study-instance", "unknown-instance"])
def test_malformed_or_off_image_annotations_are_refused_with_a_reason(site: Site, case: str):
    """An annotation with a shape off the image or malformed, or on an image of another study, is refused
    with 400 and a reason, and nothing is stored."""
    ds = fixture(WORKFLOW_FIXTURE)
    study, sop = str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)
    rows, columns = int(ds.Rows), int(ds.Columns)
    bodies = {
        "x-off": {"instance": sop, "shapes": [{"type": "point", "x": columns + 1, "y": 3}]},
        "y-off": {"instance": sop, "shapes": [{"type": "line", "points": [[1, 1], [5, rows + 1]]}]},
        "negative": {"instance": sop, "shapes": [{"type": "ellipse", "center": [-5, 10], "radii": [2, 2]}]},
        "line-one-point": {"instance": sop, "shapes": [{"type": "line", "points": [[1, 1]]}]},
        "ellipse-no-radii": {"instance": sop, "shapes": [{"type": "ellipse", "center": [5, 5]}]},
        "unknown-type": {"instance": sop, "shapes": [{"type": "polygon", "points": [[1, 1], [2, 2], [3, 1]]}]},
        "text-without-text": {"instance": sop, "shapes": [{"type": "text", "x": 3, "y": 3}]},
        "no-shapes": {"instance": sop},
        "shapes-not-a-list": {"instance": sop, "shapes": {"type": "point", "x": 1, "y": 1}},
        "other-study-instance": {"instance": str(fixture(UNREAD_FIXTURE).SOPInstanceUID),
                                 "shapes": [{"type": "point", "x": 1, "y": 1}]},
        "unknown-instance": {"instance": "1.2.3.4.5.6", "shapes": [{"type": "point", "x": 1, "y": 1}]},
    }
    before = site.json(f"/studies/{study}/diagnostic?history=true")["history"]
    response = site.request("POST", f"/studies/{study}/annotations", "reader", json=bodies[case])
    # an instance the store does not hold at all may also be 404 (a reference to nothing)
    codes = (400, 404) if case == "unknown-instance" else (400,)
    assert response.status_code in codes, f"{case}: {response.status_code} {response.text[:300]}"
    assert error_message(response), f"{case}: no reason: {response.text[:300]!r}"
    assert site.json(f"/studies/{study}/diagnostic?history=true")["history"] == before, f"{case}: something was stored"
