"""SIGTERM stops a busy `pacs serve` gracefully: it exits 0 within 15 s and loses nothing it acknowledged.

What an operator sees when they stop the server (systemctl stop, docker stop: SIGTERM) while it is busy:
- the process exits with status 0 within 15 s of the signal, with no crash in its log, and the codec worker
  processes it started end with it;
- every image it acknowledged before it stopped is kept: a C-STORE answered with a success (or warning)
  status, an instance a STOW-RS answer lists in ReferencedSOPSequence; each is in the index, its stored file
  is intact, and after a restart WADO-RS returns it (the very bytes posted for STOW-RS, the dataset sent for
  C-STORE); what was never acknowledged may be missing but, if present, is intact too;
- `pacs verify` right after the stop finds the store consistent and has nothing to recover (a graceful stop
  finishes or undoes its own steps: the tier mover's batch in hand, the derivation jobs in hand);
- after a restart the server derives every version still queued (no job is left stuck as in progress), and
  the store still verifies, every file on the tiers listed by the index and no staged file left behind.

"Busy" is everything at once: a 300-instance DCMTK storescu in one association, a STOW-RS body still being
uploaded, the derivation of a backlog of instances imported without their versions, and a pass of the tier
mover (POST /api/v1/admin/tier/run, bandwidth-limited so that the whole pass would take far longer than 15 s:
the server must stop it between batches rather than wait for it). The derivation then reads originals the pass has
already archived, so recalls of archived files (recall_on_read) are under way too.

Oracles independent of the server: the generated files (bytes, pydicom datasets), the clients' own record of
what was acknowledged (storescu's verbose output, the STOW-RS answer), the files on disk under the tiers, the
process's exit status and the wall clock.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
import requests
import yaml

from conftest import (HTTP_READY_LINE, SUMMARY_LINE, Pacs, PacsServer, assert_listed_file_intact, by_key,
                      copy_policies, element_diff, free_port, generate_ct_series, multipart_parts, sha256_hex)

HOST = "127.0.0.1"
DICOM_READY_LINE = "DICOM listening"
EXIT_BOUND = 15.0                    # seconds from SIGTERM to the process's exit (the product's promise)

# What the store holds before the server starts: tiny slices (3.2 KB files) imported with --no-derive, so the server
# starts with a derivation backlog, and many small files for the tier mover: it moves batches of 64 files, which at
# BANDWIDTH take ~1.6 s each, the whole pass ~20 s, so a server that lets the pass run to its end cannot exit within
# EXIT_BOUND, and one that stops it between batches can.
BACKLOG = (800, 32)                  # slices, image size
BANDWIDTH = "128KB/s"
SENT = (300, 256)                    # the storescu series: 300 slices of ~130 KB
POSTED = (60, 256)                   # the STOW-RS body: 60 parts of ~130 KB ...
PART_PAUSE = 0.05                    # ... uploaded one part every 50 ms (3 s for the body)
SIGTERM_AFTER_ACKS = 25              # SIGTERM once storescu has this many successes ...
SIGTERM_AFTER_PARTS = 10             # ... and this many STOW-RS parts are uploaded
FUTURE = "2040-01-01T00:00:00Z"      # the tier pass's clock: every original's retention has ended by then

ADMIN, READER = "admin", "reader"
CALLING_AE, SERVER_AE = "STORESCU", "STRATA"   # a modality AE in the shipped network.yaml, and the server's
STORESCU = Path("/usr/bin/storescu")           # DCMTK's (a pip package may shadow `storescu` on PATH)
DICOM = 'multipart/related; type="application/dicom"'
AS_STORED = f"{DICOM}; transfer-syntax=*"
STOW_BOUNDARY = "strata-graceful-stop-7d2a"
REFERENCED_SOP_SEQUENCE, FAILED_SOP_SEQUENCE, REFERENCED_SOP_INSTANCE_UID = "00081199", "00081198", "00081155"
DERIVED_FILES = {("V1", "jpegls"), ("V2", "j2k"), ("V3", "j2k")}
# A crash of the process (Swift runtime traps, signals, the backtracer) or a log entry at the critical level.
CRASH_LINE = re.compile(r"Fatal error|Program crashed|Segmentation fault|Illegal instruction|Bus error|"
                        r"Current stack trace|^\S+ critical ", re.M)


# --------------------------------------------------------------------------
# The images, and the site: a data folder, its policies, its users and the server on it
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Image:
    path: Path
    uid: str
    study: str
    series: str
    data: bytes
    how: str            # "backlog" (imported), "c-store" (storescu) or "stow" (STOW-RS)

    def dataset(self) -> pydicom.Dataset:
        return pydicom.dcmread(BytesIO(self.data))


def images_of(folder: Path, length: int, size: int, how: str) -> list[Image]:
    series = generate_ct_series(folder, length, size)
    result = []
    for path in sorted(series.uids):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        result.append(Image(path, series.uids[path], str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                            path.read_bytes(), how))
    return result


@dataclass
class Site:
    pacs: Pacs
    passwords: dict[str, str]
    server: PacsServer | None = None
    http_port: int = 0
    dicom_port: int = 0
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def start(self) -> PacsServer:
        """`pacs serve` on fresh ports with a log of its own (serve-N.log), once both listeners are up."""
        self.starts += 1
        self.http_port, self.dicom_port = free_port(), free_port()
        self.server = PacsServer(self.pacs, "--dicom-port", self.dicom_port, "--http-port", self.http_port,
                                 log=self.pacs.cwd / f"serve-{self.starts}.log").start(HTTP_READY_LINE)
        deadline = time.monotonic() + 30
        while DICOM_READY_LINE not in self.server.log_text():
            assert self.server.running, f"pacs serve exited during startup:\n{self.server.log_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {DICOM_READY_LINE!r} in 30 s:\n{self.server.log_text()[-3000:]}"
            time.sleep(0.05)
        return self.server

    def log_tail(self, lines: int = 30) -> str:
        """The server's last log entries and, if it crashed, the start of the crash report (a backtrace is long)."""
        if self.server is None:
            return ""
        state = "running" if self.server.running else f"exit {self.server.process.returncode}"
        text = self.server.log_text()
        crash = CRASH_LINE.search(text)
        at = text.rfind("\n", 0, crash.start()) + 1 if crash else len(text)
        entries, report = text[:at].splitlines()[-lines:], text[at:].splitlines()[:12]
        return f"\n--- {self.server.log.name} ({state}) ---\n" + "\n".join(line[:400] for line in entries + report)

    def request(self, method: str, path: str, user: str, **kwargs) -> requests.Response:
        return requests.request(method, self.base + path, auth=(user, self.passwords[user]), **kwargs)


@pytest.fixture
def site(pacs_bin: Path, tmp_path: Path):
    """A private data folder whose tiering policy throttles the mover to BANDWIDTH, with an admin (tier passes) and
    a reading user (STOW-RS)."""
    policies = copy_policies(tmp_path / "Policies")
    tiering = policies / "tiering.yaml"
    config = yaml.safe_load(tiering.read_text())
    config["bandwidth"] = BANDWIDTH
    tiering.write_text(yaml.safe_dump(config, sort_keys=False))
    pacs = Pacs(pacs_bin, tmp_path / "data", policies, tmp_path)
    passwords = {ADMIN: f"pw-{secrets.token_urlsafe(12)}", READER: f"pw-{secrets.token_urlsafe(12)}"}
    pacs.user_add(ADMIN, "admin", passwords[ADMIN])
    pacs.user_add(READER, "reading", passwords[READER])
    site = Site(pacs, passwords)
    try:
        yield site
    finally:
        if site.server is not None:
            site.server.kill()


# --------------------------------------------------------------------------
# The clients, each in the background, each keeping its own record of what the server acknowledged
# --------------------------------------------------------------------------

@dataclass
class StoreSCU:
    """DCMTK's storescu sending files in one association; `acknowledged` fills as its verbose output arrives."""

    process: subprocess.Popen
    by_path: dict[str, str]
    log: Path
    acknowledged: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)   # every Store Response line, success or not
    reader: threading.Thread | None = None

    @classmethod
    def start(cls, site: Site, images: list[Image]) -> "StoreSCU":
        if not STORESCU.is_file():
            pytest.fail(f"DCMTK's storescu is not at {STORESCU}: run scripts/setup.sh --test")
        process = subprocess.Popen([str(STORESCU), "-v", "-aet", CALLING_AE, "-aec", SERVER_AE, "-xe", "-R",
                                    HOST, str(site.dicom_port), *(str(i.path) for i in images)],
                                   env={**os.environ, "TCP_NODELAY": "1"}, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        scu = cls(process, {str(i.path): i.uid for i in images}, site.pacs.cwd / "storescu.log")
        scu.reader = threading.Thread(target=scu._read, daemon=True)
        scu.reader.start()
        return scu

    def _read(self) -> None:
        sending = None
        with self.log.open("w") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                if line.startswith("I: Sending file: "):
                    sending = line[len("I: Sending file: "):].strip()
                elif "Received Store Response" in line:
                    self.answers.append(line.strip())
                    # DCMTK names the status: "(Success)", "(Warning: ...)"; both mean the image was stored
                    if re.search(r"Received Store Response \((Success|Warning)", line) and sending is not None:
                        self.acknowledged.append(self.by_path[sending])
                    sending = None

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout)
        self.reader.join(timeout)
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Background(threading.Thread):
    """A request in a thread of its own: `response` or `error` once it ended."""

    def __init__(self, send):
        super().__init__(daemon=True)
        self.send = send
        self.response: requests.Response | None = None
        self.error: str | None = None

    def run(self) -> None:
        try:
            self.response = self.send()
        except requests.RequestException as error:  # the server went away mid-request: nothing acknowledged
            self.error = f"{type(error).__name__}: {str(error)[:300]}"

    @property
    def answered(self) -> bool:
        return self.response is not None


class PacedBody:
    """A STOW-RS multipart body uploaded one part every PART_PAUSE seconds (chunked), so that it is still arriving
    when the signal comes; `sent` counts the parts handed to the connection."""

    def __init__(self, images: list[Image]):
        self.images = images
        self.sent = 0

    def __iter__(self):
        for image in self.images:
            yield f"--{STOW_BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + image.data + b"\r\n"
            self.sent += 1
            time.sleep(PART_PAUSE)
        yield f"--{STOW_BOUNDARY}--\r\n".encode()


def sequence_uids(answer: dict, tag: str) -> list[str]:
    return [item[REFERENCED_SOP_INSTANCE_UID]["Value"][0] for item in (answer.get(tag) or {}).get("Value", [])]


def stow_acknowledged(post: Background, images: list[Image]) -> tuple[set[str], str]:
    """The instances the STOW-RS answer says were stored (none without an answer), and how it ended."""
    if post.response is None:
        return set(), f"no answer ({post.error})"
    response = post.response
    ending = f"answered {response.status_code}"
    if response.status_code not in (200, 202):  # 409 (every part failed) or a refusal: nothing acknowledged
        return set(), f"{ending}: {response.text[:300]}"
    answer = response.json()
    referenced = set(sequence_uids(answer, REFERENCED_SOP_SEQUENCE))
    failed = sequence_uids(answer, FAILED_SOP_SEQUENCE)
    strangers = referenced - {i.uid for i in images}
    assert not strangers, f"the STOW-RS answer references instances that were not posted: {sorted(strangers)[:5]}"
    return referenced, f"{ending}: {len(referenced)} referenced, {len(failed)} failed"


def child_processes(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid` (the codec workers), with their command lines."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == pid:
                children[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
    return children


def still_running(processes: dict[int, str]) -> dict[int, str]:
    alive = {}
    for pid, cmdline in processes.items():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") == cmdline and \
                    Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z":
                alive[pid] = cmdline
        except OSError:
            continue
    return alive


# --------------------------------------------------------------------------
# What the store must hold
# --------------------------------------------------------------------------

def assert_same_content(image: Image, got: bytes, what: str) -> None:
    """Imported and STOW-RS files are kept byte for byte; a C-STORE'd one as the dataset sent (the server writes
    its own file meta information)."""
    if image.how == "c-store":
        diff = element_diff(image.dataset(), pydicom.dcmread(BytesIO(got)))
        assert diff == [], f"{image.path.name} ({image.uid}): {what} differs from the dataset sent: {diff[:8]}"
    else:
        assert sha256_hex(got) == sha256_hex(image.data), \
            f"{image.path.name} ({image.uid}): {what} is not the file {image.how} stored ({len(got)} bytes, " \
            f"sent {len(image.data)})"


def assert_store_keeps(pacs: Pacs, images: dict[str, Image], acknowledged: dict[str, str], context: str) -> dict:
    """Every acknowledged instance is listed; every listed instance is one of ours; every listed file (each
    version, on each tier) is on disk with its listed size and SHA-256, and each original holds what was sent.
    Returns the listing by SOP Instance UID."""
    rows = by_key(pacs.ls("instances"), "sop_instance_uid")
    strangers = sorted(set(rows) - set(images))
    assert strangers == [], f"{context}: the index lists instances nobody sent: {strangers[:5]}"
    lost = sorted(uid for uid in acknowledged if uid not in rows)
    assert lost == [], f"{context}: {len(lost)} of {len(acknowledged)} acknowledged instances are not in the " \
                       f"index: {[(uid, acknowledged[uid]) for uid in lost[:5]]}"
    for uid, row in rows.items():
        originals = [e for e in row["files"] if (e["version"], e["variant"]) == ("V1", "original")]
        assert originals, f"{context}: {uid} is listed without an original: {row['files']}"
        for entry in row["files"]:
            path = assert_listed_file_intact(pacs, entry)
            if entry in originals:
                assert_same_content(images[uid], path.read_bytes(), f"{context}: its original on the {entry['tier']} tier")
    return rows


def assert_verify_clean(pacs: Pacs, context: str) -> None:
    """`pacs verify` exits 0, says consistent, and reports nothing: no problem, nothing it had to recover."""
    result = pacs.verify()
    lines = result.stdout.strip().splitlines()
    reported = lines[:-1]
    assert result.returncode == 0 and lines and lines[-1].endswith(": consistent") and reported == [], \
        f"{context}: pacs verify exit {result.returncode}\n{result.stdout[-3000:]}{result.stderr[-2000:]}"


def assert_disk_matches_index(pacs: Pacs, context: str) -> None:
    """With the server stopped: no staged file under any tier's dot folders (.incoming and the like), and the
    files under the tier folders are exactly the ones the index lists."""
    listed = {(e["tier"], e["path"]) for row in pacs.ls("instances") for e in row["files"]}
    on_disk, staged = set(), []
    for tier in ("fast", "archive"):
        root = pacs.data / tier
        for path in (p for p in root.rglob("*") if p.is_file()) if root.is_dir() else ():
            relative = path.relative_to(root)
            if relative.parts[0].startswith("."):
                if path.name != ".lock":
                    staged.append(str(path.relative_to(pacs.data)))
            else:
                on_disk.add((tier, relative.as_posix()))
    assert staged == [], f"{context}: staged files left behind: {staged[:5]}"
    assert sorted(on_disk - listed) == [], f"{context}: files on the tiers the index does not list: " \
                                           f"{sorted(on_disk - listed)[:5]}"
    assert sorted(listed - on_disk) == [], f"{context}: listed files missing from the tiers: {sorted(listed - on_disk)[:5]}"


def retrieve_as_stored(site: Site, image: Image) -> bytes:
    path = f"/dicom-web/studies/{image.study}/series/{image.series}/instances/{image.uid}"
    response = site.request("GET", path, ADMIN, headers={"Accept": AS_STORED}, timeout=60)
    assert response.status_code == 200, \
        f"WADO-RS {image.uid} ({image.how}): {response.status_code} {response.text[:300]}{site.log_tail()}"
    parts = multipart_parts(response.headers.get("Content-Type", ""), response.content)
    assert len(parts) == 1, f"WADO-RS {image.uid}: {len(parts)} parts"
    return parts[0].body


def underived(rows: dict[str, dict]) -> list[str]:
    """The listed instances still missing a derived version."""
    return sorted(uid for uid, row in rows.items()
                  if not DERIVED_FILES <= {(e["version"], e["variant"]) for e in row["files"]})


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------

@pytest.mark.slow
def test_sigterm_while_busy_exits_0_within_15_s_and_loses_nothing_acknowledged(site: Site, tmp_path: Path):
    """A server deriving a backlog of 800 instances and moving originals to the archive (an admin's tier pass,
    throttled to last ~20 s) while storescu sends 300 instances and a STOW-RS body of 60 is being uploaded gets
    SIGTERM once storescu has 25 successes and 10 parts are uploaded. It exits 0 within 15 s, with no crash in its
    log and no codec worker left running. With it stopped, `pacs verify` reports nothing, every acknowledged
    instance is listed with intact files, every listed one holds what was sent. Restarted, it serves every
    acknowledged instance over WADO-RS as sent, derives every version still missing, stops with 0 again, and the
    store verifies with no file the index does not list and nothing left queued for derivation."""
    backlog = images_of(tmp_path / "backlog", *BACKLOG, how="backlog")
    sent = images_of(tmp_path / "sent", *SENT, how="c-store")
    posted = images_of(tmp_path / "posted", *POSTED, how="stow")
    images = {i.uid: i for i in backlog + sent + posted}
    assert len(images) == len(backlog) + len(sent) + len(posted), "the three series share SOP Instance UIDs"
    pacs = site.pacs

    imported = pacs.run("import", "--no-derive", backlog[0].path.parent)
    summary = SUMMARY_LINE.search(imported.stdout)
    assert imported.returncode == 0 and summary and summary.groups() == (str(len(backlog)), "0", "0"), \
        f"pacs import --no-derive: exit {imported.returncode}\n{imported.stdout[-2000:]}{imported.stderr[-2000:]}"

    # --- everything at once -------------------------------------------------------------------------------
    server = site.start()  # the derivation of the backlog starts now
    tier_pass = Background(lambda: site.request("POST", "/api/v1/admin/tier/run", ADMIN, json={"now": FUTURE},
                                                timeout=120))
    body = PacedBody(posted)
    stow = Background(lambda: site.request("POST", "/dicom-web/studies", READER, data=iter(body), timeout=120,
                                           headers={"Content-Type": f"{DICOM}; boundary={STOW_BOUNDARY}",
                                                    "Accept": "application/dicom+json"}))
    tier_pass.start()
    scu = StoreSCU.start(site, sent)
    stow.start()

    deadline = time.monotonic() + 60
    while len(scu.acknowledged) < SIGTERM_AFTER_ACKS or body.sent < SIGTERM_AFTER_PARTS:
        assert server.running, f"pacs serve died before the signal{site.log_tail()}"
        assert scu.process.poll() is None, f"storescu ended before {SIGTERM_AFTER_ACKS} successes " \
                                           f"({len(scu.acknowledged)}):\n{scu.output()[-3000:]}{site.log_tail()}"
        assert time.monotonic() < deadline, f"after 60 s: {len(scu.acknowledged)} C-STOREs acknowledged, " \
                                            f"{body.sent} STOW-RS parts uploaded{site.log_tail()}"
        time.sleep(0.01)
    # the derivation is still working through the backlog (`pacs versions` of a few: quick, unlike a full listing)
    backlog_queued = [i.uid for i in backlog[::len(backlog) // 4] + backlog[-1:]
                      if pacs.versions(i.uid)["derivation"] != "done"]
    workers = child_processes(server.process.pid)
    at_signal = (f"at SIGTERM: {len(scu.acknowledged)}/{len(sent)} C-STOREs acknowledged, {body.sent}/{len(posted)} "
                 f"STOW-RS parts uploaded, tier pass {'answered' if tier_pass.answered else 'in progress'}, "
                 f"{len(backlog_queued)} of 5 backlog instances sampled not yet derived, {len(workers)} codec workers")
    # The scenario: each client still in the middle of its work, and the derivation too, when the signal comes.
    assert scu.process.poll() is None and not stow.answered and stow.error is None and tier_pass.is_alive() \
           and backlog_queued, \
        f"not everything was in flight {at_signal}: storescu exit {scu.process.poll()}, STOW-RS " \
        f"{stow.response or stow.error}, tier pass {tier_pass.response or tier_pass.error}"

    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        code = server.process.wait(EXIT_BOUND)
    except subprocess.TimeoutExpired:
        clients = (f"storescu {'running' if scu.process.poll() is None else 'exited'} "
                   f"({len(scu.acknowledged)} acknowledged), STOW-RS "
                   f"{'in flight' if stow.is_alive() else 'ended'} ({body.sent} parts uploaded), tier pass "
                   f"{'in flight' if tier_pass.is_alive() else 'ended'}")
        try:  # how it ends, for the report
            server.process.wait(45)
            ending = f"exit {server.process.returncode} {time.monotonic() - signalled:.1f} s after SIGTERM"
        except subprocess.TimeoutExpired:
            ending = f"still running {time.monotonic() - signalled:.0f} s after SIGTERM: killed"
        tail = site.log_tail()
        server.kill()
        pytest.fail(f"pacs serve still running {EXIT_BOUND:.0f} s after SIGTERM ({at_signal}; {EXIT_BOUND:.0f} s "
                    f"later: {clients}; in the end: {ending}){tail}")
    took = time.monotonic() - signalled
    log = server.log_text()
    context = f"{at_signal}; exit {code} {took:.1f} s after it"
    assert code == 0, f"pacs serve exited {code} on SIGTERM ({context}){site.log_tail()}"
    crashes = CRASH_LINE.findall(log)
    assert crashes == [], f"the log of the stop shows a crash ({context}): {crashes[:5]}{site.log_tail()}"
    time.sleep(1)  # a worker told to end at the stop has had time to do so
    left = still_running(workers)
    assert left == {}, f"{len(left)} of the server's {len(workers)} child processes still running after the stop " \
                       f"({context}): {left}"

    # --- what the clients were told -------------------------------------------------------------------------
    scu_exit = scu.wait(60)
    stow.join(60)
    tier_pass.join(60)
    assert not stow.is_alive() and not tier_pass.is_alive(), f"a request did not end after the server stopped ({context})"
    # (a C-STORE answered with a failure status is not acknowledged: a stopping server may refuse what it will not
    # finish, and the sender keeps the image)
    refused = [line for line in scu.answers if not re.search(r"\((Success|Warning)", line)]
    stowed, stow_ending = stow_acknowledged(stow, posted)
    acknowledged = {uid: "a C-STORE success" for uid in scu.acknowledged}
    acknowledged |= {uid: "listed in the STOW-RS answer" for uid in stowed}
    acknowledged |= {i.uid: "imported before the start" for i in backlog}
    context += (f"; then storescu exit {scu_exit} with {len(scu.acknowledged)} acknowledged and {len(refused)} "
                f"refused, STOW-RS {stow_ending}, "
                f"tier pass {('answered ' + str(tier_pass.response.status_code)) if tier_pass.answered else tier_pass.error}")

    # --- the store as the stop left it ----------------------------------------------------------------------
    assert_verify_clean(pacs, f"right after the stop ({context})")
    rows = assert_store_keeps(pacs, images, acknowledged, f"after the stop ({context})")
    archived = sum(any(e["tier"] == "archive" for e in row["files"]) for row in rows.values())
    context += f"; after it {archived} instances with files on the archive, {len(underived(rows))} not yet derived"

    # --- restarted: everything acknowledged served, the derivation finished ----------------------------------
    restarted = site.start()
    sampled_backlog = {i.uid for i in backlog[::40]}  # archived ones among them: served from the archive
    for uid in acknowledged:
        if images[uid].how != "backlog" or uid in sampled_backlog:
            assert_same_content(images[uid], retrieve_as_stored(site, images[uid]),
                                f"after the restart ({context}): WADO-RS of an instance {acknowledged[uid]}")
    deadline = time.monotonic() + 180
    while missing := underived(by_key(pacs.ls("instances"), "sop_instance_uid")):
        assert restarted.running, f"pacs serve died after the restart{site.log_tail()}"
        assert time.monotonic() < deadline, f"after the restart ({context}): {len(missing)} instances still " \
                                            f"without their derived versions after 180 s: {missing[:5]}{site.log_tail()}"
        time.sleep(2)  # a listing costs the deriving server CPU time: not too often
    for uid in [backlog_queued[0], *(scu.acknowledged[:1]), *sorted(stowed)[:1]]:
        state = pacs.versions(uid)["derivation"]
        assert state == "done", f"after the restart ({context}): {uid}'s derivation is {state!r}"
    assert restarted.stop() == 0, f"the restarted pacs serve did not exit 0 on SIGTERM{site.log_tail()}"
    assert CRASH_LINE.findall(restarted.log_text()) == [], f"the restarted server's log shows a crash{site.log_tail()}"

    # --- the store at rest ----------------------------------------------------------------------------------
    derive = pacs.derive()
    assert derive == (0, 0), f"`pacs derive` found derivation work the restarted server left ({context}): {derive}"
    assert_verify_clean(pacs, f"at the end ({context})")
    final = assert_store_keeps(pacs, images, acknowledged, f"at the end ({context})")
    assert set(final) == set(rows), f"the restart changed which instances are listed ({context})"
    assert_disk_matches_index(pacs, f"at the end ({context})")
