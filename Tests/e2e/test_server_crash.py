"""`pacs serve` killed with SIGKILL while images arrive loses nothing it acknowledged; on a full disk it
refuses what does not fit, saying why, and loses nothing either.

What a user sees: a server that dies abruptly (kill -9, a power cut of the process) in the middle of
receiving images comes back with its index and its files in agreement, and with every image it said it
had stored still there, bit for bit:
- STOW-RS: a body's answer lists in ReferencedSOPSequence what the server stored; once a client has that
  answer, each listed instance is retrievable with WADO-RS (transfer-syntax=*) as the very bytes posted;
- C-STORE: a success status is the acknowledgement; each acknowledged instance comes back as the dataset
  that was sent, element by element, pixels included (a received file is stored with the server's own
  file meta information);
- an image whose transfer never completed may be missing, but if it is there it is intact;
- after the restart (recovery runs at start) `pacs verify` finds the store consistent, no staged file is
  left behind, every file on the tiers is one the index lists, and sending everything again succeeds for
  every image (duplicates are successes);
- a fast tier that runs out of space: C-STORE answers Out of Resources with the reason, STOW-RS fails the
  part with that reason code, nothing half-stored stays behind, and the same images store once there is room.

Oracles independent of the server: the generated series' files (bytes and pydicom datasets), the files on
disk under the tier folders, the clients' own record of which transfers completed.

Set STRATA_CRASH_SEED to replay the kill delays and body groupings of a failed run.
"""

from __future__ import annotations

import os
import queue
import random
import re
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
import requests

from conftest import (HTTP_READY_LINE, GeneratedSeries, Pacs, PacsServer, by_key, copy_policies, element_diff,
                      free_port, generate_ct_series, multipart_body, multipart_parts, original_file, remount,
                      sha256_hex, stored_file, tmpfs)

HOST = "127.0.0.1"
DICOM_READY_LINE = "DICOM listening"
# The server stores a few hundred such slices a second: enough of them that each round is still sending when
# the kill comes (the test fails unless at least one round was interrupted).
SERIES_LENGTH = 600
IMAGE_SIZE = 256
ROUNDS = 4
KILL_WINDOW = (0.1, 1.0)     # seconds after the transfers start
PARALLEL_SENDERS = 3         # STOW-RS posts, or C-STORE associations, at once
BODY_SIZES = (10, 30)        # instances per STOW-RS body
FINAL_BODY_SIZE = 20
ADMIN = "admin"
CALLING_AE = "STORESCU"      # a modality AE in the shipped network.yaml
SERVER_AE = "STRATA"
DICOM = 'multipart/related; type="application/dicom"'
AS_STORED = f"{DICOM}; transfer-syntax=*"
STOW_BOUNDARY = "strata-crash-boundary-5c1e"
STOW_TYPE = f"{DICOM}; boundary={STOW_BOUNDARY}"
REFERENCED_SOP_SEQUENCE, FAILED_SOP_SEQUENCE, REFERENCED_SOP_INSTANCE_UID = "00081199", "00081198", "00081155"
SUCCESS = 0x0000


# --------------------------------------------------------------------------
# The series, and a site: a data folder, private policies, an admin, and the server on it
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Slice:
    path: Path
    uid: str
    study: str
    series: str
    data: bytes


@pytest.fixture(scope="module")
def slices(tmp_path_factory) -> list[Slice]:
    """A CT series of SERIES_LENGTH slices, written by Fixtures/make_fixtures.py."""
    generated: GeneratedSeries = generate_ct_series(tmp_path_factory.mktemp("ct_series"), SERIES_LENGTH, IMAGE_SIZE)
    result = []
    for path, uid in sorted(generated.uids.items()):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        result.append(Slice(path, uid, str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), path.read_bytes()))
    assert len({s.uid for s in result}) == SERIES_LENGTH
    return result


@dataclass
class Site:
    """One data folder with its own policies and admin user, and the `pacs serve` currently running on it
    (each start gets fresh ports and its own log, so a killed server's log is kept)."""

    pacs: Pacs
    password: str
    server: PacsServer | None = None
    http_port: int = 0
    dicom_port: int = 0
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def start(self) -> None:
        self.starts += 1
        self.http_port, self.dicom_port = free_port(), free_port()
        log = self.pacs.cwd / f"serve-{self.starts}.log"
        self.server = PacsServer(self.pacs, "--dicom-port", self.dicom_port, "--http-port", self.http_port,
                                 log=log).start(HTTP_READY_LINE)
        deadline = time.monotonic() + 30
        while DICOM_READY_LINE not in self.server.log_text():
            assert self.server.running, f"pacs serve exited during startup:\n{self.server.log_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {DICOM_READY_LINE!r} in 30 s:\n{self.server.log_text()[-3000:]}"
            time.sleep(0.05)

    def kill(self) -> bool:
        """SIGKILL; whether the server was still running to be killed."""
        running = self.server.running
        self.server.kill()
        return running

    def stop(self) -> int:
        return self.server.stop()

    def log_tail(self) -> str:
        if self.server is None:
            return ""
        state = "running" if self.server.running else f"exit {self.server.process.returncode}"
        return f"\n--- {self.server.log.name} ({state}) ends ---\n{self.server.log_text()[-2500:]}"


@pytest.fixture
def site(pacs_bin: Path, tmp_path: Path):
    policies = copy_policies(tmp_path / "Policies")
    pacs = Pacs(pacs_bin, tmp_path / "data", policies, tmp_path)
    password = f"pw-{secrets.token_urlsafe(12)}"
    pacs.user_add(ADMIN, "admin", password)
    site = Site(pacs, password)
    try:
        yield site
    finally:
        if site.server is not None and site.server.running:
            site.server.kill()


# --------------------------------------------------------------------------
# Checks after a restart: what the server must still hold, and what the disk holds
# --------------------------------------------------------------------------

def retrieve_as_stored(site: Site, s: Slice) -> bytes:
    """WADO-RS of one instance, transfer-syntax=*: the one part's bytes."""
    path = f"/dicom-web/studies/{s.study}/series/{s.series}/instances/{s.uid}"
    response = requests.get(site.base + path, auth=(ADMIN, site.password), headers={"Accept": AS_STORED}, timeout=60)
    assert response.status_code == 200, f"WADO-RS {s.uid}: {response.status_code} {response.text[:300]}{site.log_tail()}"
    parts = multipart_parts(response.headers.get("Content-Type", ""), response.content)
    assert len(parts) == 1, f"WADO-RS {s.uid}: {len(parts)} parts"
    return parts[0].body


def dataset_of(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(BytesIO(data))


def assert_same_file(s: Slice, got: bytes, what: str) -> None:
    assert sha256_hex(got) == sha256_hex(s.data), f"{s.path.name} ({s.uid}): {what} is not the file posted " \
                                                  f"({len(got)} bytes, posted {len(s.data)})"


def assert_same_dataset(s: Slice, sent: pydicom.Dataset, got: bytes, what: str) -> None:
    diff = element_diff(sent, dataset_of(got))
    assert diff == [], f"{s.path.name} ({s.uid}): {what} differs from the dataset sent: {diff[:8]}"


def check_after_restart(site: Site, slices: list[Slice], acknowledged: set[str], context: str,
                        compare) -> set[str]:
    """Every acknowledged instance is listed; every listed instance is one of ours and, through WADO-RS and
    on disk, intact (`compare(slice, bytes, what)`); `pacs verify` exits 0. Returns the listed UIDs."""
    by_uid = {s.uid: s for s in slices}
    rows = by_key(site.pacs.ls("instances"), "sop_instance_uid")
    strangers = sorted(set(rows) - set(by_uid))
    assert strangers == [], f"{context}: the index lists instances nobody sent: {strangers[:5]}"
    lost = sorted(acknowledged - set(rows))
    assert lost == [], f"{context}: {len(lost)} of {len(acknowledged)} acknowledged instances are not listed " \
                       f"after the restart: {lost[:5]}{site.log_tail()}"
    for uid, row in rows.items():
        s = by_uid[uid]
        how = "acknowledged" if uid in acknowledged else "present though never acknowledged"
        compare(s, retrieve_as_stored(site, s), f"{context}: WADO-RS of an instance {how}")
        compare(s, stored_file(site.pacs, original_file(row)).read_bytes(),
                f"{context}: the stored original of an instance {how}")
    verify = site.pacs.verify()
    assert verify.returncode == 0, f"{context}: pacs verify after the restart: exit {verify.returncode}\n" \
                                   f"{verify.stdout}{verify.stderr}{site.log_tail()}"
    return set(rows)


def assert_stops_clean(site: Site, context: str) -> None:
    """SIGTERM ends the server with 0, the files on disk are the index's, and `pacs verify` finds nothing."""
    assert site.stop() == 0, f"pacs serve did not exit 0 on SIGTERM{site.log_tail()}"
    assert_disk_matches_index(site)
    verify = site.pacs.verify()
    assert verify.returncode == 0, f"{context}: pacs verify with the server stopped: {verify.stdout}{verify.stderr}"


def assert_disk_matches_index(site: Site) -> None:
    """With the server stopped: no staged file is left under any tier's .incoming folder, and every file
    under the tier folders is one the index lists (no orphan), and vice versa."""
    rows = site.pacs.ls("instances")
    listed = {(entry["tier"], entry["path"]) for row in rows for entry in row["files"]}
    tiers = {tier for tier, _ in listed} | {"fast"}
    on_disk, staged = set(), []
    for tier in tiers:
        root = site.pacs.data / tier
        for path in (p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root)
            if relative.parts[0] == ".incoming":
                if path.name != ".lock":
                    staged.append(str(path.relative_to(site.pacs.data)))
            else:
                on_disk.add((tier, relative.as_posix()))
    assert staged == [], f"staged files left behind after recovery and a clean stop: {staged[:5]}"
    assert sorted(on_disk - listed) == [], f"files on the tiers the index does not list: {sorted(on_disk - listed)[:5]}"
    assert sorted(listed - on_disk) == [], f"listed files missing from the tiers: {sorted(listed - on_disk)[:5]}"


def seeded() -> tuple[int, random.Random]:
    seed = int(os.environ.get("STRATA_CRASH_SEED", random.randrange(2**32)))
    return seed, random.Random(seed)


def sending_order(slices: list[Slice], acknowledged: set[str], rng: random.Random) -> list[Slice]:
    """The whole series, what is not yet acknowledged first (so every kill can hit new images), shuffled."""
    fresh = [s for s in slices if s.uid not in acknowledged]
    old = [s for s in slices if s.uid in acknowledged]
    rng.shuffle(fresh)
    rng.shuffle(old)
    return fresh + old


@dataclass
class Round:
    delay: float
    killed: bool = False     # the server was still running when it was killed
    interrupted: bool = False  # and some transfer never got its answer
    completed: int = 0       # transfers (bodies, or C-STOREs) that got their answer
    acknowledged: int = 0    # instances those answers acknowledged
    errors: list[str] = field(default_factory=list)
    streams: list = field(default_factory=list)

    def __str__(self) -> str:
        ending = "killed mid-stream" if self.interrupted else "killed" if self.killed else "finished first"
        return f"{self.delay:.2f}s: {ending}, {self.completed} answered, {self.acknowledged} acknowledged"


# --------------------------------------------------------------------------
# STOW-RS
# --------------------------------------------------------------------------

def stow(site: Site, body: list[Slice]) -> requests.Response:
    data = multipart_body([("application/dicom", s.data) for s in body], STOW_BOUNDARY)
    return requests.post(f"{site.base}/dicom-web/studies", data=data, auth=(ADMIN, site.password), timeout=60,
                         headers={"Content-Type": STOW_TYPE, "Accept": "application/dicom+json"})


def sequence_uids(answer: dict, tag: str) -> list[str]:
    items = (answer.get(tag) or {}).get("Value", [])
    return [item[REFERENCED_SOP_INSTANCE_UID]["Value"][0] for item in items]


def assert_stored_entirely(response: requests.Response, body: list[Slice], what: str) -> list[str]:
    """A STOW-RS answer that stored every part of the body: 200, each UID referenced, nothing failed."""
    assert response.status_code == 200, f"{what}: {response.status_code} {response.text[:500]}"
    answer = response.json()
    referenced = sequence_uids(answer, REFERENCED_SOP_SEQUENCE)
    assert sequence_uids(answer, FAILED_SOP_SEQUENCE) == [], f"{what}: FailedSOPSequence in {response.text[:800]}"
    assert sorted(referenced) == sorted(s.uid for s in body), f"{what}: ReferencedSOPSequence is not the body"
    return referenced


def stow_until_killed(site: Site, bodies: list[list[Slice]], delay: float, acknowledged: set[str]) -> Round:
    """Posts the bodies, PARALLEL_SENDERS at a time, and kill -9s the server `delay` seconds after the first
    post started; the UIDs of each answered body's ReferencedSOPSequence go into `acknowledged`."""
    done = Round(delay)
    work: queue.Queue = queue.Queue()
    for body in bodies:
        work.put(body)
    answers: list[tuple[list[Slice], requests.Response]] = []
    lock = threading.Lock()

    def post_bodies() -> None:
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            try:
                response = stow(site, body)
            except requests.RequestException as error:  # the server went away mid-post: not acknowledged
                with lock:
                    done.errors.append(type(error).__name__)
                return
            with lock:
                answers.append((body, response))

    senders = [threading.Thread(target=post_bodies, daemon=True) for _ in range(PARALLEL_SENDERS)]
    for sender in senders:
        sender.start()
    time.sleep(delay)
    done.killed = site.kill()
    for sender in senders:
        sender.join(60)
    assert not any(sender.is_alive() for sender in senders), "a STOW-RS post did not end after the kill"
    for body, response in answers:
        # an answered body was stored entirely: its parts are new, or intact duplicates of ones stored before
        stored = assert_stored_entirely(response, body, f"a STOW-RS body answered before the kill ({delay:.2f}s)")
        acknowledged.update(stored)
        done.completed += 1
        done.acknowledged += len(stored)
    done.interrupted = done.killed and done.completed < len(bodies)
    return done


def split_into_bodies(order: list[Slice], rng: random.Random) -> list[list[Slice]]:
    bodies, at = [], 0
    while at < len(order):
        size = rng.randint(*BODY_SIZES)
        bodies.append(order[at:at + size])
        at += size
    return bodies


@pytest.mark.slow
def test_kill_9_during_stow_rs_keeps_every_acknowledged_instance(site: Site, slices: list[Slice]):
    """STOW-RS bodies of 10-30 slices posted three at a time into `pacs serve`, killed with SIGKILL 0.1-1.0 s
    after the posts start, ROUNDS times on the same data folder: after each restart `pacs verify` exits 0
    and every instance any answered body referenced comes back through WADO-RS as the bytes posted (and
    is so on disk); unacknowledged ones that are present are intact too. Posting the whole series once
    more then stores every slice, and the store still verifies."""
    seed, rng = seeded()
    acknowledged: set[str] = set()
    rounds: list[Round] = []
    compare = assert_same_file
    site.start()
    for n in range(ROUNDS):
        bodies = split_into_bodies(sending_order(slices, acknowledged, rng), rng)
        delay = rng.uniform(*KILL_WINDOW)
        rounds.append(stow_until_killed(site, bodies, delay, acknowledged))
        context = f"STRATA_CRASH_SEED={seed}; round {n}: {rounds[-1]}"
        site.start()  # recovery runs at start
        check_after_restart(site, slices, acknowledged, context, compare)
    context = f"STRATA_CRASH_SEED={seed}; rounds: " + "; ".join(map(str, rounds))
    assert any(r.interrupted for r in rounds), f"no round killed the server mid-stream ({context})"

    order = list(slices)
    for at in range(0, len(order), FINAL_BODY_SIZE):
        body = order[at:at + FINAL_BODY_SIZE]
        acknowledged.update(assert_stored_entirely(stow(site, body), body, f"{context}: the final STOW-RS"))
    assert acknowledged == {s.uid for s in slices}
    listed = check_after_restart(site, slices, acknowledged, f"{context}: after the final STOW-RS", compare)
    assert listed == acknowledged
    assert_stops_clean(site, context)


# --------------------------------------------------------------------------
# C-STORE
# --------------------------------------------------------------------------

@dataclass
class Stream:
    """What one C-STORE association got: the UIDs acknowledged with a success status, the C-STOREs answered
    with another status, and why it ended early (no answer, an exception)."""

    acknowledged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    ended: str = ""


def c_store(assoc, context_id: int, ds: pydicom.Dataset, message_id: int):
    """One C-STORE of `ds` (Explicit VR Little Endian) and its response, None when none came.

    As Association.send_c_store, but waiting a little longer for pynetdicom's reactor thread to pause: it
    can otherwise take a fast response off the DIMSE queue itself ("Received unexpected C-STORE service
    message") and leave the sender waiting for the DIMSE timeout (pynetdicom 3.0)."""
    from pynetdicom.dimse_primitives import C_STORE
    from pynetdicom.dsutils import encode

    request = C_STORE()
    request.MessageID, request.Priority = message_id, 2
    request.AffectedSOPClassUID, request.AffectedSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    request.DataSet = BytesIO(encode(ds, False, True))
    assoc._reactor_checkpoint.clear()
    for _ in range(2):  # paused, and still paused after a full turn of its loop
        while not assoc._is_paused:
            time.sleep(0.0001)
        time.sleep(0.003)
    try:
        assoc.dimse.send_msg(request, context_id)
        _, response = assoc.dimse.get_msg(block=True)
    finally:
        assoc._reactor_checkpoint.set()
    return response


def c_store_stream(site: Site, stream: list[tuple[Slice, pydicom.Dataset]], result: Stream) -> None:
    """One association (pynetdicom, calling AE STORESCU) sending the datasets one C-STORE at a time, until
    the end or the first C-STORE without a success status."""
    from pydicom.uid import ExplicitVRLittleEndian
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    ae = AE(ae_title=CALLING_AE)
    ae.acse_timeout, ae.dimse_timeout, ae.network_timeout = 15, 30, 30
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian])
    assoc = ae.associate(HOST, site.dicom_port, ae_title=SERVER_AE)
    if not assoc.is_established:
        result.ended = "association not established"
        return
    (context,) = assoc.accepted_contexts
    try:
        for message_id, (s, ds) in enumerate(stream, start=1):
            response = c_store(assoc, context.context_id, ds, message_id)
            code = getattr(response, "Status", None)
            if code is None:  # no answer: the server went away
                result.ended = f"no answer to the C-STORE of {s.uid}"
                return
            if code != SUCCESS:
                result.refused.append(f"{s.uid}: status 0x{int(code):04X}")
                return
            result.acknowledged.append(s.uid)
    except Exception as error:  # the server going away mid-send
        result.ended = repr(error)[:200]
    finally:
        if assoc.is_established:
            assoc.release()


def c_store_all(site: Site, streams: list[list[tuple[Slice, pydicom.Dataset]]], delay: float | None) -> Round:
    """One association per stream, all at once; with a `delay`, the server is killed with SIGKILL that many
    seconds after they start. Returns the round with each stream's outcome in `streams`."""
    done = Round(delay or 0.0)
    results = [Stream() for _ in streams]
    senders = [threading.Thread(target=c_store_stream, args=(site, stream, result), daemon=True)
               for stream, result in zip(streams, results)]
    for sender in senders:
        sender.start()
    if delay is not None:
        time.sleep(delay)
        done.killed = site.kill()
    for sender in senders:
        sender.join(120)
    assert not any(sender.is_alive() for sender in senders), "a C-STORE association did not end"
    done.streams = results
    done.completed = done.acknowledged = sum(len(r.acknowledged) for r in results)
    done.errors = [r.ended for r in results if r.ended]
    done.interrupted = done.killed and done.acknowledged < sum(map(len, streams))
    return done


def storescu_all(site: Site, slices: list[Slice]) -> set[str]:
    """DCMTK's storescu (calling AE STORESCU, Explicit VR Little Endian proposed first) sending every slice
    in one association; it must exit 0 with a success for each. Returns the UIDs acknowledged."""
    storescu = Path("/usr/bin/storescu")
    if not storescu.is_file():
        pytest.fail(f"DCMTK's storescu is not at {storescu}: run scripts/setup.sh --test")
    log = site.pacs.cwd / "storescu-final.log"
    with log.open("w") as out:
        result = subprocess.run([str(storescu), "-v", "-aet", CALLING_AE, "-aec", SERVER_AE, "-xe", "-R",
                                 HOST, str(site.dicom_port), *(str(s.path) for s in slices)],
                                env={**os.environ, "TCP_NODELAY": "1"}, stdout=out, stderr=subprocess.STDOUT,
                                timeout=300)
    text = log.read_text(errors="replace")
    assert result.returncode == 0 and not re.search(r"^E: ", text, re.M), \
        f"storescu: exit {result.returncode}\n{text[-3000:]}{site.log_tail()}"
    by_path = {str(s.path): s.uid for s in slices}
    acknowledged, sending = set(), None
    for line in text.splitlines():
        if line.startswith("I: Sending file: "):
            sending = line[len("I: Sending file: "):].strip()
        elif "Received Store Response (Success)" in line and sending is not None:
            acknowledged.add(by_path[sending])
            sending = None
    return acknowledged


@pytest.mark.slow
def test_kill_9_during_c_store_keeps_every_acknowledged_instance(site: Site, slices: list[Slice]):
    """Three C-STORE associations sending the series into `pacs serve`, killed with SIGKILL 0.1-1.0 s after
    they start, ROUNDS times on the same data folder: after each restart `pacs verify` exits 0 and every
    instance acknowledged with a success status comes back through WADO-RS (and is on disk) as the
    dataset that was sent, element by element; unacknowledged ones that are present are intact too.
    Sending the whole series once more gets a success for every slice, and the store still verifies."""
    seed, rng = seeded()
    datasets = {s.uid: pydicom.dcmread(BytesIO(s.data)) for s in slices}

    def compare(s: Slice, got: bytes, what: str) -> None:
        assert_same_dataset(s, datasets[s.uid], got, what)

    def streams_of(order: list[Slice]) -> list[list[tuple[Slice, pydicom.Dataset]]]:
        return [[(s, datasets[s.uid]) for s in order[k::PARALLEL_SENDERS]] for k in range(PARALLEL_SENDERS)]

    acknowledged: set[str] = set()
    rounds: list[Round] = []
    site.start()
    for n in range(ROUNDS):
        done = c_store_all(site, streams_of(sending_order(slices, acknowledged, rng)), rng.uniform(*KILL_WINDOW))
        rounds.append(done)
        context = f"STRATA_CRASH_SEED={seed}; round {n}: {done}"
        # a C-STORE answered with a failure status means the server refused an image it was able to store
        refused = [r for stream in done.streams for r in stream.refused]
        assert refused == [], f"{context}: C-STOREs refused before the kill: {refused[:5]}"
        acknowledged.update(uid for stream in done.streams for uid in stream.acknowledged)
        site.start()  # recovery runs at start
        check_after_restart(site, slices, acknowledged, context, compare)
    context = f"STRATA_CRASH_SEED={seed}; rounds: " + "; ".join(map(str, rounds))
    assert any(r.interrupted for r in rounds), f"no round killed the server mid-stream ({context})"

    # the final send, with DCMTK's storescu and no kill: every C-STORE a success, duplicates included
    stored = storescu_all(site, slices)
    assert stored == {s.uid for s in slices}, f"{context}: storescu did not get a success for every slice"
    listed = check_after_restart(site, slices, stored, f"{context}: after the final C-STOREs", compare)
    assert listed == stored
    assert_stops_clean(site, context)


# --------------------------------------------------------------------------
# A full disk
# --------------------------------------------------------------------------

OUT_OF_RESOURCES = 0xA700
FAILURE_REASON = "00081197"


def c_store_once(site: Site, s: Slice):
    """One C-STORE of a slice in an association of its own (pynetdicom): the response."""
    from pydicom.uid import ExplicitVRLittleEndian
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    ae = AE(ae_title=CALLING_AE)
    ae.acse_timeout, ae.dimse_timeout, ae.network_timeout = 15, 30, 30
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian])
    assoc = ae.associate(HOST, site.dicom_port, ae_title=SERVER_AE)
    assert assoc.is_established, f"association with {SERVER_AE} not established{site.log_tail()}"
    try:
        (context,) = assoc.accepted_contexts
        response = c_store(assoc, context.context_id, pydicom.dcmread(BytesIO(s.data)), 1)
    finally:
        assoc.release()
    assert response is not None and response.Status is not None, f"no answer to the C-STORE of {s.uid}{site.log_tail()}"
    return response


def test_a_full_fast_tier_refuses_what_does_not_fit_and_stores_it_once_there_is_room(site: Site, slices: list[Slice]):
    """The fast tier is a 64 KB tmpfs and a slice ~130 KB: a C-STORE is answered Out of Resources (A700) with an
    Error Comment saying there is no space, a STOW-RS body 409 with FailureReason A700 for its part (the log
    says why); nothing is indexed, no partial file is left, and the server keeps serving. Once the tier has
    grown to 4 MB the same C-STORE and STOW-RS succeed, both instances come back as sent, `pacs verify` is clean."""
    fast = site.pacs.cwd / "fast-tier"
    with tmpfs(fast, "64k"):
        tiering = site.pacs.policies / "tiering.yaml"
        tiering.write_text(tiering.read_text().replace("  path: fast\n", f"  path: {fast}\n", 1))
        site.start()
        by_c_store, by_stow = slices[0], slices[1]

        refused = c_store_once(site, by_c_store)
        assert refused.Status == OUT_OF_RESOURCES, f"C-STORE on a full disk: status 0x{refused.Status:04X}{site.log_tail()}"
        assert "no space" in (refused.ErrorComment or ""), f"Error Comment: {refused.ErrorComment!r}"
        response = stow(site, [by_stow])
        assert response.status_code == 409, f"STOW-RS on a full disk: {response.status_code} {response.text[:500]}"
        failed = [(item[REFERENCED_SOP_INSTANCE_UID]["Value"][0], item[FAILURE_REASON]["Value"][0])
                  for item in response.json()[FAILED_SOP_SEQUENCE]["Value"]]
        assert failed == [(by_stow.uid, OUT_OF_RESOURCES)], f"FailedSOPSequence: {response.text[:800]}"
        assert "STOW-RS part refused" in site.server.log_text() and "no space left" in site.server.log_text(), \
            f"the log does not say why the part was refused{site.log_tail()}"
        assert site.pacs.ls("instances") == [], "an instance that did not fit was indexed"
        leftovers = [str(p) for p in fast.rglob("*") if p.is_file() and p.name != ".lock"]
        assert leftovers == [], f"files left on the full tier: {leftovers}"

        remount(fast, "size=4m")
        stored = c_store_once(site, by_c_store)
        assert stored.Status == SUCCESS, f"C-STORE once there is room: status 0x{stored.Status:04X}{site.log_tail()}"
        assert_stored_entirely(stow(site, [by_stow]), [by_stow], "STOW-RS once there is room")
        assert_same_dataset(by_c_store, dataset_of(by_c_store.data), retrieve_as_stored(site, by_c_store),
                            "WADO-RS of the instance stored by C-STORE once there was room")
        assert_same_file(by_stow, retrieve_as_stored(site, by_stow), "WADO-RS of the instance stored by STOW-RS")
        assert site.stop() == 0, f"pacs serve did not exit 0 on SIGTERM{site.log_tail()}"
        verify = site.pacs.verify()
        assert verify.returncode == 0, f"pacs verify: {verify.stdout}{verify.stderr}"
