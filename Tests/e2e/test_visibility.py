"""Which studies a search shows each role, and which versions it says the caller may fetch now.

What a user sees:
- with `hidden: {referring: [unread]}` in access.yaml, a referring user's QIDO-RS (the studies, series and
  instances levels, the study-scoped routes and a search by PatientID) does not show an unread study at all, and
  shows it once its status becomes diagnosed (2) and at every status after; reading, teleradiology and admin
  users see it at every status. The same over C-FIND (Study Root STUDY and IMAGE levels, Patient Root PATIENT
  level) from a referring AE against reading and teleradiology AEs: a patient is found when any of their studies
  is shown, and counted by what is shown;
- with the shipped access.yaml (`hidden: {}`) every role's QIDO-RS lists every study, and each result's
  (0073,1010) in the private block "STRATA VERSIONS" ((0073,0010)) lists exactly the versions access.yaml allows
  the role at the study's status, V1 first in compression.yaml's order (when none is allowed, a referring user at
  unread, the element is still there as {"vr": "CS"}, without a Value);
- the event stream (/api/v1/events) announces a study only to a user who may fetch some version of it now and
  whose searches show it; a policy that would hide a study from a role yet let it fetch a version (whose events
  would then announce what searches hide) is refused by `pacs policy check`.

Two servers for the module: one with the shipped policies, one whose access.yaml hides unread studies from
referring users; each has one user per role, a remote AE per workstation role (`pacs ae add`), and small CT
studies made from one generated slice with fresh UIDs and patients, imported (and derived) before it starts. Oracles: the servers' copies of access.yaml and compression.yaml read with
PyYAML, pydicom, pynetdicom.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
import requests
import yaml
from pydicom.uid import generate_uid

from conftest import (HTTP_READY_LINE, Pacs, PacsServer, copy_policies, free_port, generate_ct_series,
                      media_type_parameters, multipart_body, pacs_with_users)

from pynetdicom import AE  # noqa: E402
from pynetdicom.sop_class import (PatientRootQueryRetrieveInformationModelFind,  # noqa: E402
                                  StudyRootQueryRetrieveInformationModelFind)

HOST = "127.0.0.1"
SERVER_AE = "STRATA"
USERS = {"reader": "reading", "referrer": "referring", "telerad": "teleradiology", "admin": "admin"}
USER_OF_ROLE = {role: user for user, role in USERS.items()}
ROLES = tuple(USERS.values())
# Remote AEs (added with `pacs ae add`); a C-FIND's role is its calling AE's.
REMOTE_AES = {"READING": "reading", "REFERRING": "referring", "TELERAD": "teleradiology"}
STATUS_NAMES = {1: "unread", 2: "diagnosed", 3: "notes", 4: "annotations", 5: "report"}
HIDDEN = {"referring": ["unread"]}
PENDING, PENDING_WARNING, SUCCESS = 0xFF00, 0xFF01, 0x0000
PATIENT_ROOT, STUDY_ROOT = PatientRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelFind

# The private block search results carry the fetchable versions in.
VERSIONS_CREATOR_TAG, VERSIONS_TAG, VERSIONS_CREATOR = "00730010", "00731010", "STRATA VERSIONS"
STOW_BOUNDARY = "strata-visibility-7c1e"


# --------------------------------------------------------------------------
# Oracles: the server's own copy of access.yaml and compression.yaml
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    access: dict
    versions: tuple[str, ...]  # V1, then compression.yaml's versions in its order

    @classmethod
    def read(cls, folder: Path) -> "Policy":
        access = yaml.safe_load((folder / "access.yaml").read_text())
        compression = yaml.safe_load((folder / "compression.yaml").read_text())
        return cls(access, ("V1", *(v["name"] for v in compression["versions"])))

    def allowed(self, role: str, status: int) -> list[str]:
        """The versions `role` may fetch of a study at `status`: the role's row if it lists the status (`all`:
        every version), else the default row; in compression.yaml's order."""
        name = STATUS_NAMES[status]
        row = (self.access.get("roles") or {}).get(role)
        if row == "all":
            allowed = set(self.versions)
        elif isinstance(row, dict) and name in row:
            allowed = set(row[name] or [])
        else:
            allowed = set(self.access["default"][name] or [])
        return [v for v in self.versions if v in allowed]

    def visible(self, role: str, status: int) -> bool:
        """Whether searches show `role` a study at `status` (access.yaml `hidden`)."""
        return STATUS_NAMES[status] not in ((self.access.get("hidden") or {}).get(role) or [])


# --------------------------------------------------------------------------
# Studies made from one generated CT slice
# --------------------------------------------------------------------------

@dataclass
class Study:
    uid: str
    series: str
    sops: list[str]
    patient_id: str
    files: list[Path]
    status: int = 1


def make_study(template: Path, folder: Path, patient_id: str, instances: int = 1) -> Study:
    """A one-series CT study of `instances` copies of the template slice, with fresh UIDs and its own patient."""
    folder.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    sops, files = [], []
    for number in range(1, instances + 1):
        ds = pydicom.dcmread(template)
        sop = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.InstanceNumber = number
        ds.PatientID, ds.PatientName = patient_id, f"Visibility^{patient_id}"
        ds.AccessionNumber = patient_id[-8:]
        path = folder / f"{number}.dcm"
        ds.save_as(path, enforce_file_format=True)
        sops.append(sop)
        files.append(path)
    return Study(study, series, sops, patient_id, files)


# --------------------------------------------------------------------------
# The module's servers
# --------------------------------------------------------------------------

@dataclass
class Site:
    pacs: Pacs
    server: PacsServer
    http_port: int
    dicom_port: int
    passwords: dict[str, str]
    policy: Policy
    template: Path
    root: Path
    studies: dict[str, Study] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def state(self) -> str:
        return self.server.exit_note()

    def request(self, method: str, path: str, user: str, **kwargs) -> requests.Response:
        try:
            return requests.request(method, self.base + path, auth=(user, self.passwords[user]), timeout=60, **kwargs)
        except requests.ConnectionError as error:
            pytest.fail(f"{method} {path[:200]}: no answer ({error}){self.state()}")

    def qido(self, path: str, role: str, params: dict | None = None) -> tuple[list[dict], str]:
        """A QIDO-RS search as the role's user: its DICOM JSON results and the body as text."""
        user = USER_OF_ROLE[role]
        response = self.request("GET", f"/dicom-web/{path}", user, params=params,
                                headers={"Accept": "application/dicom+json"})
        if response.status_code == 204:
            return [], ""
        assert response.status_code == 200, f"GET {response.url} as {user}: {response.status_code} " \
                                            f"{response.text[:300]}{self.state()}"
        assert media_type_parameters(response.headers["Content-Type"])[0] == "application/dicom+json", \
            response.headers["Content-Type"]
        results = response.json()
        assert isinstance(results, list), results
        return results, response.text

    def set_status(self, study: Study, status: int) -> None:
        """A reading doctor moves the study forward (PUT /api/v1/studies/{uid}/status)."""
        response = self.request("PUT", f"/api/v1/studies/{study.uid}/status", "reader", json={"status": status})
        assert response.status_code == 200, f"PUT status {status} of {study.uid}: {response.status_code} " \
                                            f"{response.text[:300]}{self.state()}"
        assert response.json()["status"] == status, response.text
        study.status = status

    def add(self, name: str, patient_id: str, instances: int = 1) -> Study:
        study = make_study(self.template, self.root / "studies" / name, patient_id, instances)
        self.studies[name] = study
        return study

    def c_find(self, calling: str, model, level: str, keys: dict[str, str]) -> list[pydicom.Dataset]:
        """The identifiers of one C-FIND's pending responses (its final status must be Success)."""
        ae = AE(ae_title=calling)
        ae.acse_timeout, ae.dimse_timeout, ae.network_timeout = 15, 30, 30
        ae.add_requested_context(model)
        query = pydicom.Dataset()
        query.QueryRetrieveLevel = level
        for keyword, value in keys.items():
            setattr(query, keyword, value)
        assoc = ae.associate(HOST, self.dicom_port, ae_title=SERVER_AE)
        assert assoc.is_established, f"association {calling} -> {SERVER_AE} refused{self.state()}"
        found, final = [], None
        try:
            for status, identifier in assoc.send_c_find(query, model):
                assert "Status" in status, f"{calling}: the C-FIND got no response{self.state()}"
                if status.Status in (PENDING, PENDING_WARNING):
                    found.append(identifier)
                else:
                    final = status.Status
        finally:
            if assoc.is_established:
                assoc.release()
        assert final == SUCCESS, f"{calling} C-FIND {level} {keys}: final status {final}"
        return found


def start_site(pacs_bin: Path, root: Path, hidden: dict | None, studies: dict[str, tuple[str, int, int]]) -> Site:
    """A server on a fresh data folder with one user per role and a remote AE per workstation role; its copy of
    access.yaml gets `hidden` (None: as shipped). `studies`: name -> (patient ID, instances, status), imported
    (and derived) before it starts, then moved to their status by a reading doctor."""
    pacs, passwords = pacs_with_users(pacs_bin, root, USERS)
    if hidden is not None:
        access = pacs.policies / "access.yaml"
        text = access.read_text()
        assert "\nhidden: {}\n" in text, "Policies/access.yaml no longer says `hidden: {}`, which this test replaces"
        access.write_text(text.replace("\nhidden: {}\n", "\nhidden: " + json.dumps(hidden) + "\n"))
    for title, role in REMOTE_AES.items():
        result = pacs.run("ae", "add", title, "--host", HOST, "--port", free_port(), "--role", role)
        assert result.returncode == 0, f"pacs ae add {title}: {result.stdout}{result.stderr}"
    template = next(iter(generate_ct_series(root / "template", 1, 64).uids))
    http_port, dicom_port = free_port(), free_port()
    site = Site(pacs, None, http_port, dicom_port, passwords, Policy.read(pacs.policies), template, root)
    for name, (patient, instances, _) in studies.items():
        site.add(name, patient, instances)
    pacs.import_ok(*(path for study in site.studies.values() for path in study.files))
    site.server = PacsServer(pacs, "--http-port", http_port, "--dicom-port", dicom_port,
                             log=root / "serve.log").start(HTTP_READY_LINE)
    for name, (_, _, status) in studies.items():
        if status != 1:
            site.set_status(site.studies[name], status)
    return site


def stop_site(site: Site) -> None:
    assert site.server.stop() == 0, f"pacs serve did not exit 0 on SIGTERM:\n{site.server.log_text()[-3000:]}"


@pytest.fixture(scope="module")
def hidden_site(pacs_bin: Path, tmp_path_factory) -> Site:
    """access.yaml hides unread studies from referring users. WALK walks 1..5 over QIDO-RS,
    FIND 1..2 over C-FIND; SHOWN is diagnosed; patient MIXED has a diagnosed and an unread study."""
    site = start_site(pacs_bin, tmp_path_factory.mktemp("visibility-hidden"), HIDDEN, {
        "walk": ("VIS-WALK", 2, 1), "find": ("VIS-FIND", 1, 1), "shown": ("VIS-SHOWN", 1, 2),
        "mixed-diagnosed": ("VIS-MIXED", 1, 2), "mixed-unread": ("VIS-MIXED", 1, 1),
    })
    yield site
    stop_site(site)


@pytest.fixture(scope="module")
def shipped_site(pacs_bin: Path, tmp_path_factory) -> Site:
    """The shipped access.yaml (nothing hidden); one study at each status 1..5."""
    site = start_site(pacs_bin, tmp_path_factory.mktemp("visibility-shipped"), None, {
        f"status-{status}": (f"VIS-S{status}", 2 if status == 1 else 1, status) for status in STATUS_NAMES
    })
    yield site
    stop_site(site)


@pytest.fixture
def alive():
    """After the test: every server the test used is still running."""
    used: list[Site] = []
    yield used.append
    for site in used:
        assert site.server.running, f"pacs serve died during this test{site.state()}"


# --------------------------------------------------------------------------
# DICOM JSON
# --------------------------------------------------------------------------

KEYWORD_TAGS = {"StudyInstanceUID": "0020000D", "SeriesInstanceUID": "0020000E", "SOPInstanceUID": "00080018",
                "PatientID": "00100020"}


def single(result: dict, tag: str):
    found = (result.get(tag) or {}).get("Value", [])
    assert len(found) == 1, f"{tag}: expected one value, got {found} in {json.dumps(result)[:400]}"
    return found[0]


def uids(results: list[dict], keyword: str) -> set[str]:
    found = [single(r, KEYWORD_TAGS[keyword]) for r in results]
    assert len(found) == len(set(found)), f"{keyword} listed twice: {sorted(found)}"
    return set(found)


# --------------------------------------------------------------------------
# 1. access.yaml `hidden`: QIDO-RS and C-FIND do not show a hidden study at all
# --------------------------------------------------------------------------

def shown(site: Site, role: str) -> list[Study]:
    return [s for s in site.studies.values() if site.policy.visible(role, s.status)]


def test_the_oracle_hides_unread_studies_from_referring_users_only(hidden_site: Site):
    """The hidden site's access.yaml, as the tests read it: unread studies hidden from referring users, nothing
    else hidden (so the other tests compare a non-trivial expectation), and no version of an unread study
    released to referring users (a hidden study is no one's to retrieve either)."""
    policy = hidden_site.policy
    assert policy.access["hidden"] == HIDDEN
    assert {(role, status) for role in ROLES for status in STATUS_NAMES if not policy.visible(role, status)} \
        == {("referring", 1)}
    assert policy.allowed("referring", 1) == []


def test_qido_does_not_show_a_hidden_role_an_unread_study_until_it_is_diagnosed(hidden_site: Site, alive):
    """WALK goes from unread to report. At each status every role's QIDO-RS studies, series and instances listings
    hold exactly the studies (series, instances) access.yaml shows that role; the study-scoped routes and a search
    by the study's PatientID find WALK exactly when it is shown; a referring user's answers do not even mention
    WALK's UID while it is unread; reading, teleradiology and admin users find it at every status."""
    site = hidden_site
    alive(site)
    walk = site.studies["walk"]
    for status in STATUS_NAMES:
        if status != walk.status:
            site.set_status(walk, status)
        for role in ROLES:
            what = f"{role} at {STATUS_NAMES[status]}"
            everyone = shown(site, role)
            studies, text = site.qido("studies", role)
            assert uids(studies, "StudyInstanceUID") == {s.uid for s in everyone}, f"{what}: /studies"
            series, _ = site.qido("series", role)
            assert uids(series, "SeriesInstanceUID") == {s.series for s in everyone}, f"{what}: /series"
            instances, _ = site.qido("instances", role)
            assert uids(instances, "SOPInstanceUID") == {sop for s in everyone for sop in s.sops}, f"{what}: /instances"
            visible = site.policy.visible(role, status)
            if not visible:
                assert walk.uid not in text, f"{what}: /studies mentions the hidden study"
            scoped = {
                "studies?PatientID": (site.qido("studies", role, {"PatientID": walk.patient_id}), "StudyInstanceUID",
                                      {walk.uid}),
                "studies?StudyInstanceUID": (site.qido("studies", role, {"StudyInstanceUID": walk.uid}),
                                             "StudyInstanceUID", {walk.uid}),
                "series?StudyInstanceUID": (site.qido("series", role, {"StudyInstanceUID": walk.uid}),
                                            "SeriesInstanceUID", {walk.series}),
                "studies/{study}/series": (site.qido(f"studies/{walk.uid}/series", role), "SeriesInstanceUID",
                                           {walk.series}),
                "instances?StudyInstanceUID": (site.qido("instances", role, {"StudyInstanceUID": walk.uid}),
                                               "SOPInstanceUID", set(walk.sops)),
                "studies/{study}/instances": (site.qido(f"studies/{walk.uid}/instances", role), "SOPInstanceUID",
                                              set(walk.sops)),
                "studies/{study}/series/{series}/instances": (
                    site.qido(f"studies/{walk.uid}/series/{walk.series}/instances", role), "SOPInstanceUID",
                    set(walk.sops)),
            }
            for route, ((results, body), keyword, expected) in scoped.items():
                assert uids(results, keyword) == (expected if visible else set()), f"{what}: {route}"
                if not visible:
                    assert walk.uid not in body, f"{what}: {route} mentions the hidden study"
    assert {role for role in ROLES if not site.policy.visible(role, 1)} == {"referring"}


def test_c_find_does_not_show_a_hidden_role_an_unread_study_until_it_is_diagnosed(hidden_site: Site, alive):
    """FIND goes from unread to diagnosed. At each status, a C-FIND from each workstation AE (its network.yaml
    role) finds exactly the studies access.yaml shows the role: Study Root STUDY level (every study, and FIND's
    patient), Study Root IMAGE level (FIND's instances) and Patient Root PATIENT level (a patient is found when
    any of their studies is shown: MIXED's diagnosed study shows MIXED to everyone)."""
    site = hidden_site
    alive(site)
    study = site.studies["find"]
    for status in (1, 2):
        if status != study.status:
            site.set_status(study, status)
        for calling, role in REMOTE_AES.items():
            what = f"{calling} ({role}) at {STATUS_NAMES[status]}"
            everyone = shown(site, role)
            visible = site.policy.visible(role, status)
            found = site.c_find(calling, STUDY_ROOT, "STUDY", {"StudyInstanceUID": "", "PatientID": ""})
            assert {str(ds.StudyInstanceUID) for ds in found} == {s.uid for s in everyone}, f"{what}: STUDY level"
            assert len(found) == len(everyone), f"{what}: STUDY level answered a study twice"
            found = site.c_find(calling, STUDY_ROOT, "STUDY", {"PatientID": study.patient_id, "StudyInstanceUID": ""})
            assert {str(ds.StudyInstanceUID) for ds in found} == ({study.uid} if visible else set()), \
                f"{what}: STUDY level by PatientID"
            found = site.c_find(calling, STUDY_ROOT, "IMAGE", {"StudyInstanceUID": study.uid,
                                                               "SeriesInstanceUID": study.series, "SOPInstanceUID": ""})
            assert {str(ds.SOPInstanceUID) for ds in found} == (set(study.sops) if visible else set()), \
                f"{what}: IMAGE level"
            found = site.c_find(calling, PATIENT_ROOT, "PATIENT", {"PatientID": "", "PatientName": ""})
            patients = [str(ds.PatientID) for ds in found]
            assert sorted(patients) == sorted({s.patient_id for s in everyone}), f"{what}: PATIENT level"
            assert (study.patient_id in patients) == visible, f"{what}: PATIENT level, FIND's patient"


def test_a_patient_level_c_find_does_not_count_a_hidden_study(hidden_site: Site, alive):
    """Patient MIXED has a diagnosed and an unread study. A referring AE finds MIXED (its diagnosed study is
    shown) but the patient's Number of Patient Related Studies/Series/Instances count only what it is shown, so
    they do not reveal the unread study; reading and teleradiology AEs' count both."""
    site = hidden_site
    alive(site)
    mixed = [s for s in site.studies.values() if s.patient_id == "VIS-MIXED"]
    assert sorted(s.status for s in mixed) == [1, 2]
    for calling, role in REMOTE_AES.items():
        found = site.c_find(calling, PATIENT_ROOT, "PATIENT", {
            "PatientID": "VIS-MIXED", "NumberOfPatientRelatedStudies": "", "NumberOfPatientRelatedSeries": "",
            "NumberOfPatientRelatedInstances": ""})
        assert len(found) == 1, f"{calling}: {len(found)} answers for patient VIS-MIXED"
        counted = [s for s in mixed if site.policy.visible(role, s.status)]
        assert (int(found[0].NumberOfPatientRelatedStudies), int(found[0].NumberOfPatientRelatedSeries),
                int(found[0].NumberOfPatientRelatedInstances)) \
            == (len(counted), len(counted), sum(len(s.sops) for s in counted)), \
            f"{calling} ({role}): patient counts include studies the role is not shown ({len(counted)} of {len(mixed)})"


# --------------------------------------------------------------------------
# 2. QIDO-RS results say which versions the caller may fetch now
# --------------------------------------------------------------------------

def versions_hint(result: dict, what: str) -> list[str]:
    """(0073,1010) of the "STRATA VERSIONS" private block: its values. The server sends the element even when the
    caller may fetch nothing now, then as {"vr": "CS"} without a Value (an empty CS), never absent."""
    creator = result.get(VERSIONS_CREATOR_TAG)
    assert creator == {"vr": "LO", "Value": [VERSIONS_CREATOR]}, f"{what}: private creator (0073,0010) is {creator}"
    element = result.get(VERSIONS_TAG)
    assert element is not None, f"{what}: no (0073,1010) in {json.dumps(result)[:400]}"
    assert element.get("vr") == "CS", f"{what}: (0073,1010) is {element}"
    assert set(element) <= {"vr", "Value"}, f"{what}: (0073,1010) is {element}"
    if "Value" in element:
        assert element["Value"], f"{what}: (0073,1010) has an empty Value list (PS3.18 F.2.5: leave it out)"
    else:
        assert element == {"vr": "CS"}, f"{what}: (0073,1010) is {element}"
    return element.get("Value", [])


def test_the_oracle_gives_each_role_a_different_set_of_versions(shipped_site: Site):
    """The shipped access.yaml as the tests read it: nothing hidden; V1..V3 in compression.yaml's order; and the
    expected versions differ by role and status (a referring user gets none of an unread study, an admin all)."""
    policy = shipped_site.policy
    assert (policy.access.get("hidden") or {}) == {}
    assert policy.versions == ("V1", "V2", "V3")
    assert policy.allowed("referring", 1) == []
    assert policy.allowed("admin", 1) == ["V1", "V2", "V3"]
    assert len({tuple(policy.allowed(role, status)) for role in ROLES for status in STATUS_NAMES}) >= 3


@pytest.mark.parametrize("role", ROLES)
def test_qido_results_list_exactly_the_versions_the_role_may_fetch_now(shipped_site: Site, role: str, alive):
    """With nothing hidden, the role's QIDO-RS studies, series and instances listings (and a search by each
    study's PatientID) hold every study, and each result's (0073,1010) in the "STRATA VERSIONS" block is exactly
    access.yaml's versions for the role at the study's status, V1 first; with none allowed (referring at
    unread) the element is there without a Value."""
    site = shipped_site
    alive(site)
    studies = list(site.studies.values())
    assert sorted(s.status for s in studies) == [1, 2, 3, 4, 5]
    by_uid = {s.uid: s for s in studies}
    for level, keyword, expected in (("studies", "StudyInstanceUID", {s.uid for s in studies}),
                                     ("series", "SeriesInstanceUID", {s.series for s in studies}),
                                     ("instances", "SOPInstanceUID", {sop for s in studies for sop in s.sops})):
        results, _ = site.qido(level, role)
        assert uids(results, keyword) == expected, f"{role}: /{level}"
        for result in results:
            study = by_uid[single(result, KEYWORD_TAGS["StudyInstanceUID"])]
            what = f"{role}: /{level} result of the study at {STATUS_NAMES[study.status]}"
            assert versions_hint(result, what) == site.policy.allowed(role, study.status), what
    for study in studies:
        results, _ = site.qido("studies", role, {"PatientID": study.patient_id})
        what = f"{role}: /studies?PatientID={study.patient_id} (status {study.status})"
        assert uids(results, "StudyInstanceUID") == {study.uid}, what
        assert versions_hint(results[0], what) == site.policy.allowed(role, study.status), what


def c_find_versions(site: Site, calling: str, model, level: str, keys: dict[str, str]) -> dict[str, list[str] | None]:
    """A C-FIND asking for (0073,1010) of the "STRATA VERSIONS" block: each result's key (its PatientID or
    StudyInstanceUID) with the versions it lists (None when the result has no such element)."""
    keys = {**keys, "QueryRetrieveLevel": level}
    ae = AE(ae_title=calling)
    ae.acse_timeout, ae.dimse_timeout, ae.network_timeout = 15, 30, 30
    ae.add_requested_context(model)
    query = pydicom.Dataset()
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    block = query.private_block(0x0073, VERSIONS_CREATOR, create=True)
    block.add_new(0x10, "CS", "")
    assoc = ae.associate(HOST, site.dicom_port, ae_title=SERVER_AE)
    assert assoc.is_established, f"association {calling} -> {SERVER_AE} refused{site.state()}"
    answers: dict[str, list[str] | None] = {}
    try:
        for status, identifier in assoc.send_c_find(query, model):
            if status.Status in (PENDING, PENDING_WARNING):
                key = str(identifier.PatientID if level == "PATIENT" else identifier.StudyInstanceUID)
                try:
                    element = identifier.private_block(0x0073, VERSIONS_CREATOR)[0x10]
                except KeyError:
                    answers[key] = None
                    continue
                answers[key] = [str(v) for v in (element.value if element.VM > 1 else [element.value] if element.value else [])]
    finally:
        if assoc.is_established:
            assoc.release()
    return answers


def test_c_find_results_list_the_versions_when_asked(shipped_site: Site, alive):
    """A C-FIND whose identifier asks for (0073,1010) of the "STRATA VERSIONS" block gets, for each study, exactly
    the versions access.yaml gives the calling AE's role at the study's status (as QIDO-RS results always carry);
    at PATIENT level a patient of one study gets that study's versions. A C-FIND that does not ask gets no block."""
    site = shipped_site
    alive(site)
    studies = list(site.studies.values())
    for calling, role in REMOTE_AES.items():
        answers = c_find_versions(site, calling, STUDY_ROOT, "STUDY", {"StudyInstanceUID": ""})
        assert answers == {s.uid: site.policy.allowed(role, s.status) for s in studies}, f"{calling} ({role}): STUDY level"
        answers = c_find_versions(site, calling, PATIENT_ROOT, "PATIENT", {"PatientID": ""})
        assert answers == {s.patient_id: site.policy.allowed(role, s.status) for s in studies}, f"{calling} ({role}): PATIENT level"
    plain = site.c_find("READING", STUDY_ROOT, "STUDY", {"StudyInstanceUID": ""})
    assert plain and all(0x00730010 not in ds and 0x00731010 not in ds for ds in plain), "a C-FIND that did not ask got the block"


def test_a_status_change_changes_the_versions_a_search_offers(shipped_site: Site, alive):
    """A new unread study: a referring user's search offers no version of it; once a reading doctor marks it
    diagnosed, the same search offers the diagnosed row (V1, V2, V3), and a teleradiology user's goes from V1 to
    the same."""
    site = shipped_site
    alive(site)
    study = site.add("moves", "VIS-MOVES")
    stow(site, study)
    for status in (1, 2):
        if status != study.status:
            site.set_status(study, status)
        for role in ("referring", "teleradiology", "reading"):
            results, _ = site.qido("studies", role, {"StudyInstanceUID": study.uid})
            what = f"{role} at {STATUS_NAMES[status]}"
            assert uids(results, "StudyInstanceUID") == {study.uid}, what
            assert versions_hint(results[0], what) == site.policy.allowed(role, status), what
    assert site.policy.allowed("referring", 1) != site.policy.allowed("referring", 2)


# --------------------------------------------------------------------------
# 3. Server-sent events reach only who may see and fetch the study
# --------------------------------------------------------------------------

class EventStream:
    """GET /api/v1/events read on a thread of its own: the `study` events' data (JSON) in arrival order."""

    def __init__(self, site: Site, user: str):
        self.user = user
        self.response = requests.get(f"{site.base}/api/v1/events", auth=(user, site.passwords[user]), stream=True,
                                     timeout=(10, 90))
        assert self.response.status_code == 200, f"events as {user}: {self.response.status_code} " \
                                                 f"{self.response.text[:300]}"
        assert self.response.headers["Content-Type"].startswith("text/event-stream"), self.response.headers
        self.events: list[dict] = []
        self.connected = False
        self.ended = False
        self.error: BaseException | None = None
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, name=f"events-{user}", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buffer = b""
        try:
            for chunk in self.response.iter_content(chunk_size=None):
                buffer += chunk.replace(b"\r\n", b"\n")
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    self._block(block.decode())
        except BaseException as error:  # noqa: BLE001 - reported by wait()
            self.error = error
        finally:
            with self.changed:
                self.ended = True
                self.changed.notify_all()

    def _block(self, block: str) -> None:
        kind, data = "message", []
        for line in block.split("\n"):
            if line.startswith(":"):
                with self.changed:
                    self.connected |= line[1:].strip() == "connected"
                    self.changed.notify_all()
            elif line.startswith("event:"):
                kind = line[len("event:"):].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:"):].strip())
        if data:
            assert kind == "study", f"an event of kind {kind!r}: {block!r}"
            with self.changed:
                self.events.append(json.loads("\n".join(data)))
                self.changed.notify_all()

    def wait(self, predicate, timeout: float, what: str) -> None:
        """Waits until predicate(events) holds; fails after `timeout` seconds or if the stream ends first."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                assert left > 0, f"{self.user}'s event stream: {what} not within {timeout:.0f} s; events: {self.events}"
                assert not self.ended, f"{self.user}'s event stream ended ({self.error!r}) before {what}; " \
                                       f"events: {self.events}"
                self.changed.wait(min(left, 0.5))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.response.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread at once
        with contextlib.suppress(Exception):
            self.response.close()
        self.thread.join(5)


def stow(site: Site, study: Study) -> None:
    """A reading doctor stores the study's files with STOW-RS; returns once the server has derived them."""
    body = multipart_body([("application/dicom", path.read_bytes()) for path in study.files], STOW_BOUNDARY)
    response = site.request("POST", "/dicom-web/studies", "reader", data=body, headers={
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={STOW_BOUNDARY}',
        "Accept": "application/dicom+json"})
    assert response.status_code == 200, f"STOW-RS: {response.status_code} {response.text[:300]}{site.state()}"
    # Its versions are made in the background: wait, so that no later test's event stream hears of them.
    site.pacs.wait_until_derived(*study.sops, timeout=90)


def expected_events(site: Site, role: str, study: Study) -> list[dict]:
    """What a role's stream says of a study stored unread (its images made: "images ready"), then marked
    diagnosed: each announcement the role may see (searches show it the study) and fetch something of."""
    events = []
    for status, reason in ((1, "images ready"), (2, "status changed to 2 (diagnosed)")):
        allowed = site.policy.allowed(role, status)
        if allowed and site.policy.visible(role, status):
            events.append({"study": study.uid, "status": status, "status_name": STATUS_NAMES[status],
                           "allowed": allowed, "reason": reason})
    return events


def store_and_diagnose_while_listening(site: Site, name: str) -> tuple[Study, dict[str, list[dict]]]:
    """Every role's user listens; a reading doctor stores a one-image study (STOW-RS) and, once the reading
    user's stream announced its images, marks it diagnosed. Returns each role's events once every stream has
    had the status change's (a stream hears announcements in order, so nothing about the study comes later)."""
    study = site.add(name, f"VIS-{name.upper()}")
    streams = {role: EventStream(site, USER_OF_ROLE[role]) for role in ROLES}
    try:
        for stream in streams.values():
            stream.wait(lambda _: stream.connected, 10, "the `: connected` comment")
        stow(site, study)
        streams["reading"].wait(lambda events: any(e["study"] == study.uid for e in events), 90,
                                "the stored study's images announced")
        site.set_status(study, 2)
        for role, stream in streams.items():
            stream.wait(lambda events: any(e["study"] == study.uid and e["status"] == 2 for e in events), 30,
                        "the status change announced")
        return study, {role: list(stream.events) for role, stream in streams.items()}
    finally:
        for stream in streams.values():
            stream.close()


def test_events_announce_a_study_only_to_users_who_may_fetch_some_version(shipped_site: Site, alive):
    """Nothing hidden. A study is stored and its images made while it is unread: the reading, teleradiology and
    admin streams announce it with the versions each may fetch (V1..V3, V1, V1..V3), the referring stream (no
    version of an unread study) does not. Marked diagnosed, it is announced to every role with V1..V3."""
    site = shipped_site
    alive(site)
    study, heard = store_and_diagnose_while_listening(site, "events")
    assert {role: heard[role] for role in ROLES} == {role: expected_events(site, role, study) for role in ROLES}
    assert [e["reason"] for e in heard["referring"]] == ["status changed to 2 (diagnosed)"]


def test_events_do_not_announce_an_unread_study_to_the_role_it_is_hidden_from(hidden_site: Site, alive):
    """Unread studies hidden from referring users. A study is stored and its images made while it is unread: the
    reading, teleradiology and admin streams announce it with the versions each may fetch; the referring stream
    does not. Marked diagnosed, it is announced to every role with V1..V3."""
    site = hidden_site
    alive(site)
    study, heard = store_and_diagnose_while_listening(site, "hidden-events")
    assert {role: heard[role] for role in ROLES} == {role: expected_events(site, role, study) for role in ROLES}
    assert [e["reason"] for e in heard["referring"]] == ["status changed to 2 (diagnosed)"]
    assert [e["reason"] for e in heard["teleradiology"]] == ["images ready", "status changed to 2 (diagnosed)"]


def hide_unread_from_teleradiology(policies: Path, its_row: list[str] | None) -> None:
    """access.yaml with `hidden: {teleradiology: [unread]}`; `its_row`: the unread row given teleradiology users
    (None: none of their own, so default.unread, which gives V1)."""
    access = yaml.safe_load((policies / "access.yaml").read_text())
    access["hidden"] = {"teleradiology": ["unread"]}
    if its_row is not None:
        access["roles"]["teleradiology"] = {"unread": its_row}
    (policies / "access.yaml").write_text(yaml.safe_dump(access, sort_keys=False))


def policy_check(pacs_bin: Path, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(pacs_bin), "policy", "check", str(folder)], capture_output=True, text=True, timeout=60)


def test_a_policy_hiding_a_study_from_a_role_that_may_fetch_it_is_refused(pacs_bin: Path, tmp_path: Path,
                                                                          hidden_site: Site):
    """Hiding unread studies from teleradiology users while default.unread still gives them V1 would let them
    retrieve (and hear announced on their event stream) a study their searches do not show: `pacs policy check`
    refuses it (exit 1) naming `hidden` and the row that gives the version. Giving teleradiology an empty unread
    row makes the same folder valid, and the hidden site's policy is valid."""
    refused = copy_policies(tmp_path / "refused")
    hide_unread_from_teleradiology(refused, None)
    assert Policy.read(refused).allowed("teleradiology", 1) == ["V1"]
    result = policy_check(pacs_bin, refused)
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"pacs policy check accepted hidden: {{teleradiology: [unread]}} with " \
                                   f"default.unread [V1] (exit {result.returncode}):\n{output}"
    assert "hidden" in output and "teleradiology" in output and "access.yaml default.unread" in output, output
    valid = copy_policies(tmp_path / "valid")
    hide_unread_from_teleradiology(valid, [])
    for folder in (valid, hidden_site.pacs.policies):
        result = policy_check(pacs_bin, folder)
        assert result.returncode == 0, f"{folder}: exit {result.returncode}\n{result.stdout}{result.stderr}"
