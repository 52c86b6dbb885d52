"""`pacs import` killed with SIGKILL at random moments loses nothing it acknowledged.

An `imported: <path> <uid>` line is the import's acknowledgement: pacs prints it
only once the instance is durable and indexed. So after any number of kill -9s
every acknowledged instance must be listed with its exact bytes, the next
command's startup recovery must leave the store consistent for `pacs verify`,
and a final import must complete the series without duplicating anything.

Set STRATA_CRASH_SEED to replay the kill delays of a failed run.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import (GeneratedSeries, generate_ct_series, Pacs, assert_stored_original_is, by_key,
                      parse_import_line)

SERIES_LENGTH = 300
IMAGE_SIZE = 128
ROUNDS = 8
SHORTEST_DELAY = 0.05


@dataclass(frozen=True)
class Round:
    """One `pacs import --verbose` that was given `delay` seconds before kill -9."""

    delay: float
    killed: bool
    returncode: int
    imported: dict[Path, str]  # acknowledged before the kill: source file -> SOP Instance UID

    def __str__(self) -> str:
        ending = "killed" if self.killed else f"exited {self.returncode}"
        return f"{self.delay:.2f}s: {ending} after {len(self.imported)} imported"


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> GeneratedSeries:
    """A CT series of SERIES_LENGTH small slices, written by Fixtures/make_fixtures.py."""
    return generate_ct_series(tmp_path_factory.mktemp("ct_series"), SERIES_LENGTH, IMAGE_SIZE)


@dataclass(frozen=True)
class ImportTimes:
    """How long importing the series takes, for aiming the kills."""

    fresh: float       # into an empty store
    duplicates: float  # again, every file already stored

    def expected(self, done: float) -> float:
        """Expected run time when a fraction `done` of the series is already stored."""
        return self.duplicates * done + self.fresh * (1 - done)

    def __str__(self) -> str:
        return f"full import {self.fresh:.2f}s, re-import {self.duplicates:.2f}s"


def time_imports(pacs: Pacs, series: GeneratedSeries) -> ImportTimes:
    """Times an uninterrupted import of the series, and a re-import, into a separate store."""
    scratch = Pacs(pacs.binary, pacs.cwd / "timing-data", pacs.policies, pacs.cwd)
    seconds = []
    for expected_summary in ((SERIES_LENGTH, 0, 0), (0, SERIES_LENGTH, 0)):
        start = time.monotonic()
        report = scratch.import_(series.folder, verbose=False, derive=False)
        seconds.append(time.monotonic() - start)
        assert report.returncode == 0 and report.summary == expected_summary, str(report)
    return ImportTimes(*seconds)


def import_until_killed(pacs: Pacs, folder: Path, delay: float, stderr_log: Path) -> Round:
    """Runs `pacs import FOLDER --verbose`, kill -9s it after `delay` seconds unless it finished,
    and collects the `imported:` lines it printed before it died."""
    lines: list[str] = []
    with stderr_log.open("w") as stderr, subprocess.Popen(
            pacs.argv("import", folder, "--verbose", "--no-derive"), cwd=pacs.cwd, text=True,
            stdout=subprocess.PIPE, stderr=stderr) as process:
        # read while it runs, so a full pipe never blocks the import
        reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
        reader.start()
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.kill()  # SIGKILL
            process.wait()
        reader.join(timeout=30)
    imported = {}
    for line in lines:
        if not line.endswith("\n"):
            continue  # cut off by the kill: never fully reported
        parsed = parse_import_line(line, pacs.cwd)
        if parsed and parsed[0] == "imported":
            imported[parsed[1]] = parsed[2]
    return Round(delay, process.returncode == -9, process.returncode, imported)


def test_kill_9_during_import_loses_nothing_that_was_acknowledged(pacs: Pacs, series: GeneratedSeries):
    """After several imports killed with SIGKILL at random moments: `pacs verify` exits 0, every
    instance acknowledged with `imported:` is listed and stored byte-identical to its source, and
    one more import stores exactly the rest of the series."""
    seed = int(os.environ.get("STRATA_CRASH_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    times = time_imports(pacs, series)

    rounds: list[Round] = []
    acknowledged: dict[Path, str] = {}
    for n in range(ROUNDS):
        # aim anywhere in this run's expected time: startup, the duplicates, the new files; until one run has
        # been interrupted, in its first half (a delay near the end may outlast the whole import)
        expected = times.expected(done=len(acknowledged) / SERIES_LENGTH)
        killed_yet = any(r.killed for r in rounds)
        delay = rng.uniform(SHORTEST_DELAY, max(SHORTEST_DELAY, expected if killed_yet else expected / 2))
        log = pacs.cwd / f"round-{n}.stderr"
        done = import_until_killed(pacs, series.folder, delay, log)
        assert done.killed or done.returncode == 0, f"round {n}: {done}\n{log.read_text()}"
        rounds.append(done)
        acknowledged.update(done.imported)
    context = (f"STRATA_CRASH_SEED={seed}; {times}; rounds: "
               + "; ".join(map(str, rounds)))
    assert any(r.killed for r in rounds), f"no import was interrupted ({context})"

    verify = pacs.verify()
    assert verify.returncode == 0, f"{context}\n{verify.stdout}{verify.stderr}"

    assert {path: series.uids.get(path) for path in acknowledged} == acknowledged, context
    rows = by_key(pacs.ls("instances"), "sop_instance_uid")
    lost = sorted(uid for uid in acknowledged.values() if uid not in rows)
    assert lost == [], context
    for path, uid in acknowledged.items():
        assert_stored_original_is(pacs, rows[uid], path)

    final = pacs.import_(series.folder, verbose=False, derive=False)
    assert final.returncode == 0, f"{context}\n{final}"
    assert final.summary == (SERIES_LENGTH - len(rows), len(rows), 0), f"{context}\n{final}"
    rows = by_key(pacs.ls("instances"), "sop_instance_uid")
    assert set(rows) == set(series.uids.values())
    for path, uid in series.uids.items():
        assert_stored_original_is(pacs, rows[uid], path)
    verify = pacs.verify()
    assert verify.returncode == 0, f"{context}\n{verify.stdout}{verify.stderr}"
