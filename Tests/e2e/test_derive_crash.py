"""`pacs derive` killed with SIGKILL at random moments leaves a store it can finish.

The derivation queue is persisted: after any number of kill -9s in the middle of deriving, the next
command's startup recovery leaves the store consistent for `pacs verify`, one more `pacs derive` makes
every version still missing, and in the end each instance has exactly one V1 JPEG-LS copy, one V2 and
one V3, each a complete file with the listed SHA-256, and no file under the fast tier is unlisted (no
half-written or orphaned version).

Set STRATA_CRASH_SEED to replay the kill delays of a failed run.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest

from conftest import (GeneratedSeries, generate_ct_series, JPEG_2000_LOSSY, JPEG_LS_LOSSLESS, LOSSY_VERSIONS,
                      SUMMARY_LINE, Pacs, assert_listed_file_intact, by_key, original_file, version_entry)

SERIES_LENGTH = 150
IMAGE_SIZE = 256
ROUNDS = 8
SHORTEST_DELAY = 0.05
STARTUP_ALLOWANCE = 0.2    # seconds a derive needs before its first instance, added to the aim
SAMPLE = 12                # instances whose versions are also read back with `pacs versions` and pydicom
EXPECTED_FILES = {("V1", "original"), ("V1", "jpegls"), ("V2", "j2k"), ("V3", "j2k")}


@dataclass(frozen=True)
class Round:
    """One `pacs derive` given `delay` seconds before kill -9."""

    delay: float
    done_before: int  # instances with all their versions when it started
    killed: bool
    returncode: int

    def __str__(self) -> str:
        ending = "killed" if self.killed else f"exited {self.returncode}"
        return f"{self.delay:.2f}s after {self.done_before} done: {ending}"


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> GeneratedSeries:
    """A CT series of SERIES_LENGTH slices, written by Fixtures/make_fixtures.py."""
    return generate_ct_series(tmp_path_factory.mktemp("ct_series"), SERIES_LENGTH, IMAGE_SIZE)


def import_without_deriving(pacs: Pacs, series: GeneratedSeries) -> None:
    result = pacs.run("import", "--no-derive", series.folder)
    summary = SUMMARY_LINE.fullmatch(result.stdout.strip().splitlines()[-1].strip()) if result.stdout.strip() else None
    assert result.returncode == 0 and summary and summary.groups() == (str(SERIES_LENGTH), "0", "0"), \
        f"import --no-derive: exit {result.returncode}\n{result.stdout}{result.stderr}"


def time_derive(pacs: Pacs, series: GeneratedSeries) -> float:
    """Seconds an uninterrupted `pacs derive` of the whole series takes, in a separate store."""
    scratch = Pacs(pacs.binary, pacs.cwd / "timing-data", pacs.policies, pacs.cwd)
    import_without_deriving(scratch, series)
    start = time.monotonic()
    summary = scratch.derive()
    seconds = time.monotonic() - start
    assert summary == (SERIES_LENGTH, 0), f"an uninterrupted derive: {summary}"
    return seconds


def completed_instances(pacs: Pacs) -> int:
    """How many instances have all their versions (only to aim the next kill)."""
    return sum({(f["version"], f["variant"]) for f in row["files"]} >= EXPECTED_FILES
               for row in pacs.ls("instances"))


def derive_until_killed(pacs: Pacs, delay: float, done_before: int, stderr_log: Path) -> Round:
    with stderr_log.open("w") as stderr, subprocess.Popen(
            pacs.argv("derive"), cwd=pacs.cwd, stdout=subprocess.DEVNULL, stderr=stderr) as process:
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.kill()  # SIGKILL
            process.wait()
    return Round(delay, done_before, process.returncode == -9, process.returncode)


def test_kill_9_during_derive_leaves_a_store_that_one_more_derive_completes(pacs: Pacs, series: GeneratedSeries):
    seed = int(os.environ.get("STRATA_CRASH_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    full = time_derive(pacs, series)
    import_without_deriving(pacs, series)

    rounds: list[Round] = []
    for n in range(ROUNDS):
        done = completed_instances(pacs)
        # aim anywhere in this run's expected time: startup, recovery, the instances still queued; until one
        # run has been interrupted, in its first half (a delay near the end may outlast the whole derive)
        expected = STARTUP_ALLOWANCE + full * (SERIES_LENGTH - done) / SERIES_LENGTH
        killed_yet = any(r.killed for r in rounds)
        delay = rng.uniform(SHORTEST_DELAY, max(SHORTEST_DELAY, expected if killed_yet else expected / 2))
        log = pacs.cwd / f"derive-round-{n}.stderr"
        outcome = derive_until_killed(pacs, delay, done, log)
        assert outcome.killed or outcome.returncode == 0, f"round {n}: {outcome}\n{log.read_text()}"
        rounds.append(outcome)
    context = (f"STRATA_CRASH_SEED={seed}; full derive {full:.2f}s; rounds: " + "; ".join(map(str, rounds)))
    assert any(r.killed for r in rounds), f"no derive was interrupted ({context})"

    # the store is consistent straight after the kills, before anything finishes the work
    verify = pacs.verify()
    assert verify.returncode == 0, f"{context}\n{verify.stdout}{verify.stderr}"

    final = pacs.derive()
    assert final is None or final[1] == 0, f"{context}\nthe last derive left {final[1]} queued"
    verify = pacs.verify()
    assert verify.returncode == 0, f"{context}\n{verify.stdout}{verify.stderr}"

    rows = by_key(pacs.ls("instances"), "sop_instance_uid")
    assert set(rows) == set(series.uids.values()), context
    listed_paths: set[Path] = set()
    lossy_uids: list[str] = []
    for uid, row in rows.items():
        kinds = Counter((f["version"], f["variant"]) for f in row["files"])
        assert set(kinds) == EXPECTED_FILES and max(kinds.values()) == 1, \
            f"{context}\n{uid}: files {sorted(kinds.items())}"
        for entry in row["files"]:
            listed_paths.add(assert_listed_file_intact(pacs, entry).resolve())
        assert version_entry(row["files"], "V1", "jpegls")["transfer_syntax_uid"] == JPEG_LS_LOSSLESS
        for version in LOSSY_VERSIONS:
            entry = version_entry(row["files"], version, "j2k")
            assert entry["transfer_syntax_uid"] == JPEG_2000_LOSSY
            lossy_uids.append(entry["sop_instance_uid"])
    assert len(set(lossy_uids)) == len(lossy_uids) == 2 * SERIES_LENGTH, f"{context}\nlossy SOP Instance UIDs repeat"
    assert set(lossy_uids).isdisjoint(rows), context

    on_disk = {p.resolve() for p in (pacs.data / "fast").rglob("*") if p.is_file()}
    assert sorted(map(str, on_disk - listed_paths)) == [], f"{context}\nunlisted files under the fast tier"

    # a sample read back through `pacs versions` and decoded: complete, and V1's copy still bit-exact
    for uid in rng.sample(sorted(rows), SAMPLE):
        listing = pacs.versions(uid)
        assert listing["missing"] == {}, f"{context}\n{uid}: {listing['missing']}"
        assert sorted(listing["versions"], key=lambda e: e["path"]) == \
            sorted(rows[uid]["files"], key=lambda e: e["path"]), f"{context}\n{uid}: versions and ls disagree"
        original = pydicom.dcmread(assert_listed_file_intact(pacs, original_file(rows[uid]))).pixel_array
        copy = pydicom.dcmread(assert_listed_file_intact(pacs, version_entry(listing["versions"], "V1", "jpegls")))
        assert np.array_equal(copy.pixel_array, original), f"{context}\n{uid}: the JPEG-LS copy is not bit-exact"
        for version in LOSSY_VERSIONS:
            lossy = pydicom.dcmread(assert_listed_file_intact(pacs, version_entry(listing["versions"], version)))
            assert lossy.pixel_array.shape == original.shape, f"{context}\n{uid} {version}"
