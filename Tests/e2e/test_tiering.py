"""Tiered storage: originals leave the fast tier for the archive when tiering.yaml says, and come back on demand.

What a user (an admin watching the storage, a radiologist reading priors) sees:
- with `pacs tier run --now T` as the clock, the V1 files (original and JPEG-LS copy) move to the archive exactly
  when their rule says (one second before: nothing; after: they move, V2/V3 stay fast), oldest first; a
  `since: status` rule counts from the moment each study reached the status and `modalities` restricts it;
- over the high watermark (a small fast.capacity) the oldest eligible objects move first until the fast tier is
  under the low watermark, no further; with nothing eligible it says so loudly (stderr and `tier status`
  warnings) and deletes nothing;
- each variant: move (fast copy gone, archive copy byte-identical to the source file), copy_at_ingest (copied on
  the first run, the fast copy dropped only when retention ends), keep_both (every version on both tiers);
- `pacs tier recall`, the admin HTTP API and a WADO-RS read bring archived originals back to fast; expired
  recalled copies are dropped again; a scheduled examination prefetches the patient's priors prefetch_lead
  before it, not earlier;
- kill -9 of a running mover loses nothing; a missing, read-only or full archive pauses migration with a clear
  error and deletes nothing from the fast tier, and a run after the fault is fixed completes;
- WADO-RS reads while objects move never fail; `pacs verify` covers both tiers and `pacs tier scrub` finds
  bit rot.

Oracles, independent of the server: the source files' bytes and SHA-256, pydicom, the wall clock read around
each command, the files found on disk under each tier's folder, and tiering.yaml as the test wrote it.
Set STRATA_CRASH_SEED to replay the kill delays of a failed crash run.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import secrets
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
import yaml

from conftest import (HTTP_READY_LINE, VALID_DIR, Pacs, PacsServer, copy_policies, free_port, generate_ct_series,
                      is_standard_part10, multipart_parts, read_source, remount, sha256_hex, tmpfs)

DAY = 86400
STEP_LINE = re.compile(r"(would )?(move|copy|drop) (\S+) (V\d) (\S+) \((\d+) bytes\) (\S+) -> (\S+): (.+)")
SUMMARY = re.compile(r"moved (\d+), copied (\d+), dropped (\d+), recalled (\d+), failed (\d+)")
PREFETCHED = re.compile(r"prefetched: patient (\S+): (\d+) files recalled")
AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
FUTURE = "2040-01-01T00:00:00Z"  # every default retention has ended by then

CT_A, CT_B, MR = "ct_explicit_le.dcm", "ct_implicit_le.dcm", "mr_explicit_le.dcm"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def tiering(policies: Path, **settings) -> dict:
    """Rewrites the copy's tiering.yaml with `settings` merged in (fast= / archive= merge one level down)."""
    path = policies / "tiering.yaml"
    config = yaml.safe_load(path.read_text())
    for key, value in settings.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def private_pacs(pacs_bin: Path, tmp_path: Path, **settings) -> Pacs:
    policies = copy_policies(tmp_path / "Policies")
    if settings:
        tiering(policies, **settings)
    return Pacs(Path(pacs_bin).resolve(), tmp_path / "data", policies, tmp_path)


class Pass:
    """What one `pacs tier run` printed: its step lines, summary, warnings."""

    def __init__(self, result: subprocess.CompletedProcess):
        self.result = result
        self.steps = [m.groups() for line in result.stdout.splitlines() if (m := STEP_LINE.fullmatch(line.strip()))]
        summary = [m for line in result.stdout.splitlines() if (m := SUMMARY.search(line))]
        self.summary = tuple(int(n) for n in summary[-1].groups()) if summary else None
        self.warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        self.prefetched = [m.groups() for line in result.stdout.splitlines()
                           if (m := PREFETCHED.search(line))]

    @property
    def returncode(self) -> int:
        return self.result.returncode

    def kinds(self, kind: str) -> list[tuple]:
        return [s for s in self.steps if s[1] == kind]

    def keys(self, kind: str) -> set[tuple[str, str, str]]:
        """(SOP Instance UID, version, variant) of each step of a kind."""
        return {(s[2], s[3], s[4]) for s in self.kinds(kind)}

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout ---\n{self.result.stdout[-4000:]}--- stderr ---\n" \
               f"{self.result.stderr[-4000:]}"


def tier_run(pacs: Pacs, *args: str, timeout: float = 120) -> Pass:
    return Pass(pacs.run("tier", "run", *args, timeout=timeout))


def tier_status(pacs: Pacs) -> dict:
    result = pacs.run("tier", "status", "--json")
    assert result.returncode == 0, f"pacs tier status --json: exit {result.returncode}\n{result.stderr}"
    return json.loads(result.stdout)


def copies(pacs: Pacs) -> dict[tuple[str, str, str], dict[str, dict]]:
    """(SOP, version, variant) -> {tier: file entry}, from `pacs ls instances --json`."""
    out: dict[tuple[str, str, str], dict[str, dict]] = {}
    for row in pacs.ls("instances"):
        for entry in row["files"]:
            out.setdefault((row["sop_instance_uid"], entry["version"], entry["variant"]), {})[entry["tier"]] = entry
    return out


def tiers_of(pacs: Pacs) -> dict[tuple[str, str, str], set[str]]:
    return {key: set(by_tier) for key, by_tier in copies(pacs).items()}


def disk_files(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under a tier folder, staging folders (dot folders) left out."""
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): sha256_hex(p.read_bytes()) for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)}


def assert_verify_clean(pacs: Pacs, context: str = "") -> None:
    result = pacs.verify()
    assert result.returncode == 0, f"pacs verify is not clean {context}:\n{result.stdout}{result.stderr}"
    assert "consistent" in result.stdout, result.stdout


def assert_originals_intact(pacs: Pacs, sources: dict[str, Path], roots: dict[str, Path] | None = None,
                            context: str = "") -> dict[str, set[str]]:
    """Every source's original is listed on at least one tier, and each listed copy on disk is the source's exact
    bytes; returns SOP -> tiers holding it."""
    roots = roots or {"fast": pacs.data / "fast", "archive": pacs.data / "archive"}
    listed = copies(pacs)
    where = {}
    for uid, source in sources.items():
        by_tier = listed.get((uid, "V1", "original"), {})
        assert by_tier, f"{source.name} ({uid}): no original listed on any tier {context}"
        expected = source.read_bytes()
        for tier, entry in by_tier.items():
            path = roots[tier] / entry["path"]
            assert path.is_file(), f"{source.name}: listed on {tier} as {entry['path']} but not on disk {context}"
            data = path.read_bytes()
            assert sha256_hex(data) == sha256_hex(expected) and data == expected, \
                f"{source.name}: the {tier} copy {path} is not the source's bytes {context}"
            assert entry["sha256"].lower() == sha256_hex(expected), f"{source.name}: listed sha256 differs"
        where[uid] = set(by_tier)
    return where


def sources_by_uid(*paths: Path) -> dict[str, Path]:
    return {read_source(p).sop_instance_uid: p for p in paths}


def valid(*names: str) -> list[Path]:
    paths = [VALID_DIR / n for n in names]
    assert all(is_standard_part10(p.read_bytes()) for p in paths)
    return paths


def import_timed(pacs: Pacs, *paths, derive: bool = True) -> tuple[float, float]:
    """Imports (which must succeed) and returns the wall-clock moments just before and just after."""
    before = time.time()
    report = pacs.import_(*paths, derive=derive)
    after = time.time()
    assert report.returncode == 0 and not report.failures, str(report)
    return before, after


# --------------------------------------------------------------------------
# Retention rules, as of an injected clock
# --------------------------------------------------------------------------

def test_v1_moves_exactly_when_retention_ends_oldest_first_and_lossy_versions_stay(pacs_bin, tmp_path):
    """Default rule (V1 365 days after ingest, variant move): at ingest + 365 d - 1 s nothing moves; after it,
    exactly the originals and JPEG-LS copies move, in ingest order, each archive copy the same bytes as the
    fast copy it replaces (the original: the source file's bytes); V2/V3 stay fast; verify is clean."""
    pacs = private_pacs(pacs_bin, tmp_path)
    files = valid(CT_A, MR, "cr_explicit_be.dcm")
    moments = []
    for path in files:  # one import each: three distinct ingest moments, in this order
        moments.append(import_timed(pacs, path))
        time.sleep(0.05)
    sources = sources_by_uid(*files)
    before = copies(pacs)
    fast_before = disk_files(pacs.data / "fast")
    assert all(set(t) == {"fast"} for t in before.values()), before
    for uid in sources:
        assert {(v, var) for (u, v, var) in before if u == uid} >= {("V1", "original"), ("V1", "jpegls"),
                                                                    ("V2", "j2k"), ("V3", "j2k")}

    early = tier_run(pacs, "--now", iso(math.floor(moments[0][0]) - 1 + 365 * DAY))
    assert early.returncode == 0 and early.steps == [], f"one second before retention ends:\n{early}"
    assert early.summary is not None and early.summary[:3] == (0, 0, 0), str(early)
    assert disk_files(pacs.data / "fast") == fast_before and disk_files(pacs.data / "archive") == {}

    dry = tier_run(pacs, "--dry-run", "--now", iso(math.ceil(moments[-1][1]) + 1 + 365 * DAY))
    assert dry.returncode == 0 and all(s[0] for s in dry.steps), str(dry)
    assert disk_files(pacs.data / "fast") == fast_before, "a dry run changed the fast tier"

    due = tier_run(pacs, "--now", iso(math.ceil(moments[-1][1]) + 1 + 365 * DAY))
    assert due.returncode == 0, str(due)
    v1 = {k for k in before if k[1] == "V1"}
    assert due.keys("move") == v1 and len(due.kinds("move")) == len(v1), str(due)
    assert due.keys("move") == dry.keys("move"), "the dry run announced other moves than the run made"
    assert not due.kinds("copy") and not due.kinds("drop"), str(due)
    assert due.summary[:3] == (len(v1), 0, 0) and due.summary[4] == 0, str(due)
    for step in due.kinds("move"):
        assert (step[6], step[7]) == ("fast", "archive"), step
        assert step[8].startswith("tiering.yaml rules[0]") and "365 days after ingest" in step[8], step
        assert int(step[5]) == before[(step[2], step[3], step[4])]["fast"]["size"], step
    # oldest first: for each variant, the instances move in the order they were ingested
    order = list(sources)
    for variant in ("original", "jpegls"):
        moved = [s[2] for s in due.kinds("move") if s[4] == variant]
        assert moved == order, f"{variant} moves not oldest first: {moved} (ingest order {order})"

    after = copies(pacs)
    for key, by_tier in after.items():
        expected_tier = "archive" if key[1] == "V1" else "fast"
        assert set(by_tier) == {expected_tier}, f"{key}: on {set(by_tier)}, expected {expected_tier} only"
        old = before[key]["fast"]
        assert by_tier[expected_tier]["sha256"] == old["sha256"] and by_tier[expected_tier]["size"] == old["size"]
        on_disk = pacs.data / expected_tier / by_tier[expected_tier]["path"]
        assert sha256_hex(on_disk.read_bytes()) == old["sha256"], f"{on_disk} is not the bytes that moved"
        if expected_tier == "archive":
            assert not (pacs.data / "fast" / old["path"]).exists(), f"{key}: the fast copy is still on disk"
    assert assert_originals_intact(pacs, sources) == {uid: {"archive"} for uid in sources}
    for uid in sources:
        listing = pacs.versions(uid)
        assert {(e["version"], e["tier"]) for e in listing["versions"]} == \
               {("V1", "archive"), ("V2", "fast"), ("V3", "fast")}, listing
    assert set(disk_files(pacs.data / "archive")) == {after[k]["archive"]["path"] for k in v1}
    assert_verify_clean(pacs)
    again = tier_run(pacs, "--now", FUTURE)
    assert again.returncode == 0 and again.steps == [], f"a second pass moved again:\n{again}"


def test_since_status_counts_from_each_studys_status_change_and_modalities_restrict(pacs_bin, tmp_path):
    """Rule V1 30 days after the study reached `diagnosed`, CT only: a CT study diagnosed at tA moves after
    tA + 30 d and not one second before; a CT study diagnosed 2.5 s later waits its own 30 days; an MR study
    diagnosed at tA and a CT study never diagnosed never move."""
    pacs = private_pacs(pacs_bin, tmp_path, rules=[
        {"versions": ["V1"], "after_days": 30, "since": "status", "status": "diagnosed", "modalities": ["CT"]}])
    files = valid(CT_A, CT_B, MR, "latin1_name.dcm", "odd_and_private.dcm")
    import_timed(pacs, *files, derive=False)
    src = {p.name: read_source(p) for p in files}
    study_a, study_b = src[CT_A].study_instance_uid, src["latin1_name.dcm"].study_instance_uid
    study_mr, study_unread = src[MR].study_instance_uid, src["odd_and_private.dcm"].study_instance_uid
    assert src[CT_B].study_instance_uid == study_a and len({study_a, study_b, study_mr, study_unread}) == 4
    uids_a = {src[CT_A].sop_instance_uid, src[CT_B].sop_instance_uid}
    uid_b = src["latin1_name.dcm"].sop_instance_uid

    def set_status(study: str) -> tuple[float, float]:
        t0 = time.time()
        result = pacs.run("status", "set", study, "2")
        assert result.returncode == 0, result.stdout + result.stderr
        return t0, time.time()

    a0, a1 = set_status(study_a)
    set_status(study_mr)
    time.sleep(2.5)
    b0, b1 = set_status(study_b)
    assert b0 - a1 > 2

    early = tier_run(pacs, "--now", iso(math.floor(a0) - 1 + 30 * DAY))
    assert early.returncode == 0 and early.steps == [], f"one second before study A's 30 days:\n{early}"
    only_a = tier_run(pacs, "--now", iso(math.ceil(a1) + 30 * DAY))
    assert only_a.returncode == 0, str(only_a)
    assert only_a.keys("move") == {(u, "V1", "original") for u in uids_a}, \
        f"at tA + 30 d exactly study A's CT originals must move:\n{only_a}"
    assert all("tiering.yaml rules[0]" in s[8] for s in only_a.steps), str(only_a)
    both = tier_run(pacs, "--now", iso(math.ceil(b1) + 1 + 30 * DAY))
    assert both.returncode == 0 and both.keys("move") == {(uid_b, "V1", "original")}, str(both)
    late = tier_run(pacs, "--now", FUTURE)
    assert late.returncode == 0 and late.steps == [], f"MR and undiagnosed studies must never move:\n{late}"
    where = assert_originals_intact(pacs, sources_by_uid(*files))
    assert {u for u, t in where.items() if t == {"archive"}} == uids_a | {uid_b}
    assert {u for u, t in where.items() if t == {"fast"}} == {src[MR].sop_instance_uid,
                                                              src["odd_and_private.dcm"].sop_instance_uid}
    assert_verify_clean(pacs)


# --------------------------------------------------------------------------
# Watermarks
# --------------------------------------------------------------------------

def test_over_the_high_watermark_the_oldest_eligible_move_until_under_the_low(pacs_bin, tmp_path):
    """Three CT series imported one after the other; fast.capacity chosen so the tier is far above 85% and
    reaching 70% needs all of the first series and part of the second: a pass (no rule due) moves all of the
    first, some of the second, none of the third, stops as soon as the tier is at or under 70%, and says why."""
    pacs = private_pacs(pacs_bin, tmp_path, rules=[{"versions": ["V1"], "after_days": 3650, "since": "ingest"}])
    series = [generate_ct_series(tmp_path / f"series{n}", n, 64) for n in (10, 11, 12)]
    for s in series:
        import_timed(pacs, s.folder, derive=False)
    sizes = {key[0]: by_tier["fast"]["size"] for key, by_tier in copies(pacs).items()}
    groups = [set(s.uids.values()) for s in series]
    total = sum(sizes.values())
    a, b = (sum(sizes[u] for u in g) for g in groups[:2])
    capacity_kb = int((total - a - b / 2) / 0.70 / 1024)
    tiering(pacs.policies, fast={"capacity": f"{capacity_kb}KB"})
    fill = tier_status(pacs)["fast_fill"]
    capacity = fill["capacity"]
    assert capacity == capacity_kb * 1024 and fill["used"] == total, fill
    assert total * 100 / capacity > 85

    result = tier_run(pacs)
    assert result.returncode == 0, str(result)
    moved = {s[2] for s in result.kinds("move")}
    assert len(moved) == len(result.kinds("move")) and not result.kinds("drop"), str(result)
    for step in result.kinds("move"):
        assert "above the 85% high watermark" in step[8] and "oldest eligible first" in step[8] \
            and "70%" in step[8], step
    assert groups[0] <= moved, f"not all of the oldest series moved:\n{result}"
    assert moved & groups[1] and not groups[1] <= moved, f"expected part of the second series to move:\n{result}"
    assert not moved & groups[2], f"the newest series moved before older ones:\n{result}"
    used_after = total - sum(sizes[u] for u in moved)
    limit = capacity * 0.70
    assert used_after <= limit, f"stopped at {used_after} bytes, above the low watermark ({limit:.0f})"
    assert used_after + min(sizes[u] for u in moved & groups[1]) > limit, "moved more than needed"
    status = tier_status(pacs)
    assert status["fast_fill"]["used"] == used_after and status["fast_fill"]["percent"] <= 70, status["fast_fill"]
    assert status["warnings"] == [], status["warnings"]
    where = assert_originals_intact(pacs, {u: p for s in series for p, u in s.uids.items()})
    assert {u for u, t in where.items() if t == {"archive"}} == moved
    assert_verify_clean(pacs)


def test_over_the_high_watermark_with_nothing_eligible_warns_and_deletes_nothing(pacs_bin, tmp_path):
    """fast.capacity 100KB under 346 KB of originals, but the only rule names NM, which nobody has: the pass
    moves nothing, warns on stderr, `tier status` lists the warning, and every file is still where it was."""
    pacs = private_pacs(pacs_bin, tmp_path, fast={"capacity": "100KB"},
                        rules=[{"versions": ["V1"], "after_days": 1, "since": "ingest", "modalities": ["NM"]}])
    files = [p for p in sorted(VALID_DIR.iterdir()) if is_standard_part10(p.read_bytes())]
    import_timed(pacs, *files, derive=False)
    fast_before = disk_files(pacs.data / "fast")
    result = tier_run(pacs, "--now", FUTURE)
    assert result.steps == [] and result.summary is not None and result.summary[:3] == (0, 0, 0), str(result)
    assert any("high watermark" in w for w in result.warnings), f"no watermark warning on stderr:\n{result}"
    status = tier_status(pacs)
    assert status["fast_fill"]["percent"] > 85, status["fast_fill"]
    assert any("high watermark" in w for w in status["warnings"]), status
    assert disk_files(pacs.data / "fast") == fast_before and disk_files(pacs.data / "archive") == {}
    assert_originals_intact(pacs, sources_by_uid(*files))
    assert_verify_clean(pacs)


# --------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------

def test_copy_at_ingest_archives_on_the_first_run_and_drops_the_fast_copy_at_retention(pacs_bin, tmp_path):
    """variant copy_at_ingest: the first pass copies V1 to the archive (both tiers, same bytes); until retention
    ends nothing is dropped; after it the fast V1 copies are dropped, the archive copies stay, V2/V3 stay fast."""
    pacs = private_pacs(pacs_bin, tmp_path, variant="copy_at_ingest")
    files = valid(CT_A, MR)
    t0, t1 = import_timed(pacs, *files)
    sources = sources_by_uid(*files)
    before = copies(pacs)
    v1 = {k for k in before if k[1] == "V1"}

    first = tier_run(pacs)
    assert first.returncode == 0 and first.keys("copy") == v1 and len(first.steps) == len(v1), str(first)
    assert all((s[6], s[7]) == ("fast", "archive") for s in first.steps), str(first)
    now = tiers_of(pacs)
    assert all(now[k] == ({"fast", "archive"} if k in v1 else {"fast"}) for k in now), now
    assert all(t == {"fast", "archive"} for t in assert_originals_intact(pacs, sources).values())
    for key in v1:
        entries = copies(pacs)[key]
        assert entries["fast"]["sha256"] == entries["archive"]["sha256"] == before[key]["fast"]["sha256"]
    assert_verify_clean(pacs)

    early = tier_run(pacs, "--now", iso(math.floor(t0) - 1 + 365 * DAY))
    assert early.returncode == 0 and early.steps == [], f"dropped before retention ended:\n{early}"
    due = tier_run(pacs, "--now", iso(math.ceil(t1) + 1 + 365 * DAY))
    assert due.returncode == 0 and due.keys("drop") == v1 and len(due.steps) == len(v1), str(due)
    assert all("rules[0]" in s[8] for s in due.steps), str(due)
    after = tiers_of(pacs)
    assert all(after[k] == ({"archive"} if k in v1 else {"fast"}) for k in after), after
    for key in v1:
        assert not (pacs.data / "fast" / before[key]["fast"]["path"]).exists(), f"{key}: fast file left behind"
    assert_originals_intact(pacs, sources)
    assert_verify_clean(pacs)


def test_keep_both_puts_every_version_on_both_tiers_and_never_drops(pacs_bin, tmp_path):
    """variant keep_both: the first pass copies every version (V1 original and JPEG-LS, V2, V3) to the archive,
    byte-identical; passes years later drop nothing."""
    pacs = private_pacs(pacs_bin, tmp_path, variant="keep_both")
    files = valid(CT_A, MR)
    import_timed(pacs, *files)
    before = copies(pacs)
    assert {k[1] for k in before} == {"V1", "V2", "V3"}
    first = tier_run(pacs)
    assert first.returncode == 0 and first.keys("copy") == set(before) and len(first.steps) == len(before), \
        str(first)
    for far in ("2031-06-01T00:00:00Z", FUTURE):
        later = tier_run(pacs, "--now", far)
        assert later.returncode == 0 and later.steps == [], f"keep_both moved or dropped at {far}:\n{later}"
    after = copies(pacs)
    assert set(after) == set(before)
    for key, by_tier in after.items():
        assert set(by_tier) == {"fast", "archive"}, f"{key} on {set(by_tier)}"
        for tier, entry in by_tier.items():
            data = (pacs.data / tier / entry["path"]).read_bytes()
            assert sha256_hex(data) == before[key]["fast"]["sha256"], f"{key}: {tier} copy differs"
    assert all(t == {"fast", "archive"} for t in assert_originals_intact(pacs, sources_by_uid(*files)).values())
    assert_verify_clean(pacs)


# --------------------------------------------------------------------------
# Recall, expiry, prefetch (command line)
# --------------------------------------------------------------------------

def moved_to_archive(pacs: Pacs, *files: Path, derive: bool = False) -> dict[str, Path]:
    """Imports `files` and moves their V1 files to the archive with `tier run --now FUTURE`."""
    import_timed(pacs, *files, derive=derive)
    result = tier_run(pacs, "--now", FUTURE)
    assert result.returncode == 0 and result.kinds("move"), str(result)
    sources = sources_by_uid(*files)
    assert assert_originals_intact(pacs, sources) == {uid: {"archive"} for uid in sources}
    return sources


def test_an_archived_instance_sent_again_is_a_duplicate_not_a_conflict(pacs_bin, tmp_path):
    """A modality re-sending an image whose original already left for the archive: the import compares it with
    the archived copy and reports a duplicate (exit 0), stores nothing new, and the original stays archived."""
    pacs = private_pacs(pacs_bin, tmp_path)
    sources = moved_to_archive(pacs, *valid(CT_A))
    again = pacs.import_(VALID_DIR / CT_A)
    assert again.returncode == 0 and again.summary == (0, 1, 0), str(again)
    assert assert_originals_intact(pacs, sources) == {uid: {"archive"} for uid in sources}
    assert_verify_clean(pacs)


def test_recall_brings_a_study_back_until_recall_ttl_then_it_is_archive_only_again(pacs_bin, tmp_path):
    """`pacs tier recall --study` copies exactly that study's archived files back to fast (same bytes, archive
    copies kept); a pass before recall time + 7 d keeps them; a pass after drops exactly them, "recalled copy
    expired", and the study is archive-only again."""
    pacs = private_pacs(pacs_bin, tmp_path)
    sources = moved_to_archive(pacs, *valid(CT_A, CT_B, MR))
    study = read_source(VALID_DIR / CT_A).study_instance_uid
    recalled_uids = {read_source(VALID_DIR / n).sop_instance_uid for n in (CT_A, CT_B)}

    r0 = time.time()
    result = pacs.run("tier", "recall", "--study", study)
    r1 = time.time()
    assert result.returncode == 0 and re.search(r"recalled 2 files", result.stdout), result.stdout + result.stderr
    where = assert_originals_intact(pacs, sources)
    assert where == {u: ({"fast", "archive"} if u in recalled_uids else {"archive"}) for u in sources}
    assert_verify_clean(pacs)

    kept = tier_run(pacs, "--now", iso(math.floor(r0) - 60 + 7 * DAY))
    assert kept.returncode == 0 and kept.steps == [], f"recalled copies dropped before recall_ttl:\n{kept}"
    expired = tier_run(pacs, "--now", iso(math.ceil(r1) + 60 + 7 * DAY))
    assert expired.returncode == 0, str(expired)
    assert expired.keys("drop") == {(u, "V1", "original") for u in recalled_uids} \
        and len(expired.steps) == 2, str(expired)
    assert all("recalled copy expired" in s[8] for s in expired.steps), str(expired)
    assert assert_originals_intact(pacs, sources) == {u: {"archive"} for u in sources}
    assert_verify_clean(pacs)


def test_prefetch_recalls_the_patients_priors_prefetch_lead_before_the_examination(pacs_bin, tmp_path):
    """An examination of patient P001 scheduled at T: a pass at T - 12 h - 60 s recalls nothing; a pass at
    T - 12 h + 60 s prints "prefetched: patient STRATA-P001: 2 files recalled" and both of P001's studies'
    originals are on fast (same bytes); P002's are not; the schedule is listed as done."""
    pacs = private_pacs(pacs_bin, tmp_path)
    files = valid(CT_A, "mf_rle.dcm", MR)
    sources = moved_to_archive(pacs, *files)
    src = {p.name: read_source(p) for p in files}
    assert src[CT_A].patient_id == src["mf_rle.dcm"].patient_id == "STRATA-P001"
    assert src[CT_A].study_instance_uid != src["mf_rle.dcm"].study_instance_uid
    at = math.floor(time.time()) + 3 * DAY
    result = pacs.run("tier", "prefetch", "--patient", "STRATA-P001", "--at", iso(at))
    assert result.returncode == 0, result.stdout + result.stderr
    listing = pacs.run("tier", "prefetch", "--list")
    assert "STRATA-P001" in listing.stdout and iso(at) in listing.stdout and "pending" in listing.stdout, \
        listing.stdout

    early = tier_run(pacs, "--now", iso(at - 12 * 3600 - 60))
    assert early.returncode == 0 and early.prefetched == [], f"prefetched too early:\n{early}"
    assert assert_originals_intact(pacs, sources) == {u: {"archive"} for u in sources}
    due = tier_run(pacs, "--now", iso(at - 12 * 3600 + 60))
    assert due.returncode == 0 and due.prefetched == [("STRATA-P001", "2")], str(due)
    p001 = {src[CT_A].sop_instance_uid, src["mf_rle.dcm"].sop_instance_uid}
    assert assert_originals_intact(pacs, sources) == \
           {u: ({"fast", "archive"} if u in p001 else {"archive"}) for u in sources}
    listing = pacs.run("tier", "prefetch", "--list")
    assert "STRATA-P001" in listing.stdout and "pending" not in listing.stdout, listing.stdout
    again = tier_run(pacs, "--now", iso(at - 12 * 3600 + 120))
    assert again.prefetched == [] and again.steps == [], f"prefetched twice:\n{again}"
    assert_verify_clean(pacs)


# --------------------------------------------------------------------------
# Verification and bit rot
# --------------------------------------------------------------------------

def test_verify_covers_the_archive_and_scrub_finds_bit_rot(pacs_bin, tmp_path):
    """With originals archived: scrub and verify are clean; one flipped bit in an archived original makes
    `pacs verify` fail naming the file and `pacs tier scrub` exit 1 with "BIT ROT" naming the instance; a
    deleted archived file and an orphan file in the archive also fail verify."""
    pacs = private_pacs(pacs_bin, tmp_path)
    files = valid(CT_A, CT_B, MR)
    sources = moved_to_archive(pacs, *files)
    clean = pacs.run("tier", "scrub")
    assert clean.returncode == 0 and re.search(r"checked 3, bit rot 0", clean.stdout), clean.stdout + clean.stderr
    assert_verify_clean(pacs)

    listed = copies(pacs)
    victim_uid = read_source(VALID_DIR / CT_B).sop_instance_uid
    victim = pacs.data / "archive" / listed[(victim_uid, "V1", "original")]["archive"]["path"]
    good = victim.read_bytes()
    rotten = bytearray(good)
    rotten[len(rotten) // 2] ^= 0x10
    victim.write_bytes(bytes(rotten))
    try:
        verify = pacs.verify()
        assert verify.returncode != 0 and victim.name in verify.stdout + verify.stderr, \
            f"verify missed the flipped bit in {victim}:\n{verify.stdout}{verify.stderr}"
        scrub = pacs.run("tier", "scrub")
        assert scrub.returncode == 1, scrub.stdout + scrub.stderr
        assert re.search(r"checked 3, bit rot 1", scrub.stdout), scrub.stdout
        rot_lines = [line for line in scrub.stderr.splitlines() if line.startswith("BIT ROT")]
        assert len(rot_lines) == 1 and victim_uid in rot_lines[0], scrub.stderr
        assert tier_status(pacs)["activity"]["bit_rot_found"] >= 1
    finally:
        victim.write_bytes(good)
    assert_verify_clean(pacs, "after repairing the file")

    other = pacs.data / "archive" / listed[(read_source(VALID_DIR / MR).sop_instance_uid, "V1", "original")][
        "archive"]["path"]
    kept = other.read_bytes()
    other.unlink()
    verify = pacs.verify()
    other.write_bytes(kept)
    assert verify.returncode != 0 and other.name in verify.stdout + verify.stderr, \
        f"verify missed a missing archived file:\n{verify.stdout}{verify.stderr}"
    orphan = pacs.data / "archive" / "ff" / "ff" / ("f" * 64 + ".original.dcm")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(good)
    verify = pacs.verify()
    orphan.unlink()
    assert verify.returncode != 0 and orphan.name in verify.stdout + verify.stderr, \
        f"verify missed an orphan in the archive:\n{verify.stdout}{verify.stderr}"
    assert_verify_clean(pacs)
    assert_originals_intact(pacs, sources)


# --------------------------------------------------------------------------
# Crash: kill -9 of a running mover
# --------------------------------------------------------------------------

@pytest.mark.slow
def test_kill_9_during_migration_loses_nothing(pacs_bin, tmp_path):
    """300 CT slices (bandwidth 2MB/s); `pacs tier run --now FUTURE` killed with SIGKILL at random moments, five times, each time
    followed by a clean `pacs tier run` (recovery) and `pacs verify`: verify is clean and every original is
    byte-identical to its source on whichever tier the index says; a final pass completes the migration."""
    seed = int(os.environ.get("STRATA_CRASH_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    pacs = private_pacs(pacs_bin, tmp_path, bandwidth="2MB/s")  # 10 MB to move: a pass lasts about 5 s
    series = generate_ct_series(tmp_path / "series", 300, 128)
    import_timed(pacs, series.folder, derive=False)
    sources = {uid: path for path, uid in series.uids.items()}
    rounds = []
    for n in range(5):
        delay = rng.uniform(0.05, 0.8)
        with subprocess.Popen(pacs.argv("tier", "run", "--now", FUTURE), cwd=pacs.cwd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) as process:
            try:
                process.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        context = f"STRATA_CRASH_SEED={seed}; round {n}: {delay:.2f}s, exit {process.returncode}"
        recovery = tier_run(pacs)
        assert recovery.returncode == 0, f"{context}\n{recovery}"
        assert_verify_clean(pacs, context)
        where = assert_originals_intact(pacs, sources, context=context)
        rounds.append((delay, process.returncode, sum(t == {"archive"} for t in where.values())))
    context = f"STRATA_CRASH_SEED={seed}; rounds (delay, exit, archived): {rounds}"
    assert any(r[1] == -9 for r in rounds), f"no mover was interrupted ({context})"
    final = tier_run(pacs, "--now", FUTURE)
    assert final.returncode == 0, f"{context}\n{final}"
    assert_verify_clean(pacs, context)
    assert assert_originals_intact(pacs, sources, context=context) == {u: {"archive"} for u in sources}, context
    assert disk_files(pacs.data / "fast") == {}, f"files left on fast ({context})"


# --------------------------------------------------------------------------
# Archive faults
# --------------------------------------------------------------------------

def assert_paused(result: Pass, sources: dict[str, Path], pacs: Pacs, archive: Path, fast_before: dict[str, str],
                  what: str) -> None:
    """Migration stopped with the clear error; nothing was lost; every fast file not copied is still there."""
    assert result.returncode == 1, f"{what}: expected exit 1\n{result}"
    paused = [line for line in result.result.stderr.splitlines() if "migration paused" in line]
    assert paused and "nothing was deleted from the fast tier" in paused[0], f"{what}: no clear error\n{result}"
    assert_verify_clean(pacs, what)
    assert_originals_intact(pacs, sources, {"fast": pacs.data / "fast", "archive": archive}, what)
    fast_now = disk_files(pacs.data / "fast")
    assert set(fast_now) <= set(fast_before) and all(fast_before[p] == h for p, h in fast_now.items()), \
        f"{what}: the fast tier gained or changed files"
    gone = {p for p in fast_before if p not in fast_now}
    moved = {e["archive"]["path"] for e in copies(pacs).values() if "archive" in e}
    assert gone <= moved, f"{what}: deleted from fast without an archive copy: {sorted(gone - moved)}"


def fault_setup(pacs_bin: Path, tmp_path: Path, archive: Path) -> tuple[Pacs, dict[str, Path], dict[str, str]]:
    pacs = private_pacs(pacs_bin, tmp_path, archive={"path": str(archive)})
    files = [p for p in sorted(VALID_DIR.iterdir()) if is_standard_part10(p.read_bytes())]
    import_timed(pacs, *files, derive=False)
    return pacs, sources_by_uid(*files), disk_files(pacs.data / "fast")


def assert_completes(pacs: Pacs, sources: dict[str, Path], archive: Path, what: str) -> None:
    done = tier_run(pacs, "--now", FUTURE)
    assert done.returncode == 0 and done.summary is not None and done.summary[4] == 0, \
        f"{what}: the run after the fault was fixed did not complete\n{done}"
    assert_verify_clean(pacs, what)
    assert assert_originals_intact(pacs, sources, {"fast": pacs.data / "fast", "archive": archive}, what) == \
           {u: {"archive"} for u in sources}, what
    assert disk_files(pacs.data / "fast") == {}, what


def test_missing_archive_pauses_migration_and_a_later_run_completes(pacs_bin, tmp_path):
    """archive.path is an absolute folder that does not exist (an unmounted NAS): exit 1, "migration paused ...
    nothing was deleted from the fast tier", every fast file untouched, verify clean; once the folder exists
    the next pass moves everything, byte-identical."""
    archive = tmp_path / "nas"
    pacs, sources, fast_before = fault_setup(pacs_bin, tmp_path, archive)
    result = tier_run(pacs, "--now", FUTURE)
    assert_paused(result, sources, pacs, archive, fast_before, "archive missing")
    assert "does not exist" in result.result.stderr, str(result)
    assert disk_files(pacs.data / "fast") == fast_before and not archive.exists()
    archive.mkdir()
    assert_completes(pacs, sources, archive, "archive created")


def test_read_only_archive_pauses_migration_and_a_later_run_completes(pacs_bin, tmp_path):
    """The archive is a tmpfs remounted read-only: exit 1 with the clear error, the fast tier untouched, verify
    clean; remounted read-write, the next pass moves everything."""
    archive = tmp_path / "nas"
    with tmpfs(archive, "4m"):
        pacs, sources, fast_before = fault_setup(pacs_bin, tmp_path, archive)
        remount(archive, "ro")
        result = tier_run(pacs, "--now", FUTURE)
        assert_paused(result, sources, pacs, archive, fast_before, "archive read-only")
        assert disk_files(pacs.data / "fast") == fast_before and disk_files(archive) == {}
        remount(archive, "rw")
        assert_completes(pacs, sources, archive, "archive writable again")


def test_full_archive_pauses_migration_and_a_later_run_completes(pacs_bin, tmp_path):
    """The archive is a 64 KB tmpfs and 346 KB of originals must move: the pass stops with the clear error,
    every original is still on some tier with its bytes, verify is clean; after the tmpfs grows to 4 MB the
    next pass moves the rest."""
    archive = tmp_path / "nas"
    with tmpfs(archive, "64k"):
        pacs, sources, fast_before = fault_setup(pacs_bin, tmp_path, archive)
        result = tier_run(pacs, "--now", FUTURE)
        assert_paused(result, sources, pacs, archive, fast_before, "archive full")
        fast_now = disk_files(pacs.data / "fast")
        assert fast_now, "everything left fast although the archive is too small"
        assert all(fast_before[p] == h for p, h in fast_now.items())
        remount(archive, "size=4m")
        assert_completes(pacs, sources, archive, "archive grown")


# --------------------------------------------------------------------------
# The server: admin API, read-triggered recall, reads while moving
# --------------------------------------------------------------------------

class Server:
    def __init__(self, pacs: Pacs, root: Path):
        self.pacs = pacs
        self.passwords = {"admin": f"pw-{secrets.token_urlsafe(9)}", "reader": f"pw-{secrets.token_urlsafe(9)}"}
        pacs.user_add("admin", "admin", self.passwords["admin"])
        pacs.user_add("reader", "reading", self.passwords["reader"])
        self.port = free_port()
        self.server = PacsServer(pacs, "--dicom-port", free_port(), "--http-port", self.port,
                                 log=root / "serve.log").start(HTTP_READY_LINE)
        self.base = f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, user: str = "admin", **kwargs) -> requests.Response:
        return requests.request(method, self.base + path, auth=(user, self.passwords[user]), timeout=60, **kwargs)

    def instance(self, source, session: requests.Session | None = None) -> requests.Response:
        path = (f"/dicom-web/studies/{source.study_instance_uid}/series/{source.series_instance_uid}"
                f"/instances/{source.sop_instance_uid}")
        return (session or requests).get(self.base + path, headers={"Accept": AS_STORED}, timeout=60,
                                         auth=("admin", self.passwords["admin"]))

    def stop(self) -> None:
        assert self.server.stop() == 0, f"pacs serve did not exit 0:\n{self.server.log_text()[-3000:]}"


def one_part(response: requests.Response) -> bytes:
    assert response.status_code == 200, f"{response.status_code}: {response.text[:300]}"
    parts = multipart_parts(response.headers["Content-Type"], response.content)
    assert len(parts) == 1, f"{len(parts)} parts"
    return parts[0].body


def test_reading_an_archived_original_serves_it_and_recalls_it_in_the_background(pacs_bin, tmp_path):
    """Originals moved to the archive before the server starts: WADO-RS returns each one byte for byte, and
    within a few seconds its fast copy exists (same bytes) while the archive copy stays."""
    pacs = private_pacs(pacs_bin, tmp_path)
    sources = moved_to_archive(pacs, *valid(CT_A, MR))
    web = Server(pacs, tmp_path)
    try:
        for uid, path in sources.items():
            assert one_part(web.instance(read_source(path))) == path.read_bytes(), f"{path.name} served wrong"
        deadline = time.monotonic() + 10
        while True:
            where = assert_originals_intact(pacs, sources)
            if all(t == {"fast", "archive"} for t in where.values()):
                break
            assert time.monotonic() < deadline, f"not recalled to fast 10 s after the read: {where}"
            time.sleep(0.2)
        for uid, path in sources.items():  # served again, now from fast
            assert one_part(web.instance(read_source(path))) == path.read_bytes()
    finally:
        web.stop()
    assert_verify_clean(pacs)


def test_admin_tier_api_runs_recalls_and_schedules_prefetches_for_admins_only(pacs_bin, tmp_path):
    """GET /api/v1/admin/tier shows the holdings; POST .../run (dry run, then a pass as of 2040) moves the
    originals; POST .../recall brings a study back; POST .../prefetch schedules and GET .../prefetch lists it;
    a reading user gets 403 on each."""
    pacs = private_pacs(pacs_bin, tmp_path)
    files = valid(CT_A, CT_B, MR)
    import_timed(pacs, *files)  # derived before the server starts: V1 is the original and its JPEG-LS copy
    sources = sources_by_uid(*files)
    v1 = {k: e["fast"] for k, e in copies(pacs).items() if k[1] == "V1"}
    assert len(v1) == 6
    web = Server(pacs, tmp_path)
    try:
        for method, path, body in (("GET", "/api/v1/admin/tier", None),
                                   ("POST", "/api/v1/admin/tier/run", {"dry_run": True}),
                                   ("POST", "/api/v1/admin/tier/recall", {"study": "1.2.3"}),
                                   ("POST", "/api/v1/admin/tier/prefetch",
                                    {"patient_id": "STRATA-P001", "scheduled_at": FUTURE}),
                                   ("GET", "/api/v1/admin/tier/prefetch", None)):
            answer = web.request(method, path, user="reader", json=body)
            assert answer.status_code == 403, f"{method} {path} as a reading user: {answer.status_code}"

        figures = web.request("GET", "/api/v1/admin/tier")
        assert figures.status_code == 200, figures.text
        holdings = {(h["tier"], h["version"]): h for h in figures.json()["holdings"]}
        assert holdings[("fast", "V1")]["objects"] == 6 and ("archive", "V1") not in holdings, holdings

        dry = web.request("POST", "/api/v1/admin/tier/run", json={"dry_run": True, "now": FUTURE})
        assert dry.status_code == 200 and len(dry.json()["steps"]) == 6, dry.text
        assert assert_originals_intact(pacs, sources) == {u: {"fast"} for u in sources}, "the dry run moved"
        run = web.request("POST", "/api/v1/admin/tier/run", json={"dry_run": False, "now": FUTURE})
        assert run.status_code == 200 and run.json()["moved"] == 6 and not run.json()["failures"], run.text
        assert {(s["sop_instance_uid"], s["version"], s["variant"]) for s in run.json()["steps"]} == set(v1), \
            run.text
        assert assert_originals_intact(pacs, sources) == {u: {"archive"} for u in sources}
        figures = web.request("GET", "/api/v1/admin/tier").json()
        holdings = {(h["tier"], h["version"]): h for h in figures["holdings"]}
        assert holdings[("archive", "V1")]["objects"] == 6 and ("fast", "V1") not in holdings, holdings
        assert holdings[("archive", "V1")]["bytes"] == sum(e["size"] for e in v1.values()), holdings

        study = read_source(VALID_DIR / CT_A).study_instance_uid
        recall = web.request("POST", "/api/v1/admin/tier/recall", json={"study": study})
        assert recall.status_code == 200 and recall.json()["recalled"] == 4, recall.text  # originals + JPEG-LS
        ct = {read_source(VALID_DIR / n).sop_instance_uid for n in (CT_A, CT_B)}
        assert assert_originals_intact(pacs, sources) == \
               {u: ({"fast", "archive"} if u in ct else {"archive"}) for u in sources}

        at = "2039-06-01T08:00:00Z"
        scheduled = web.request("POST", "/api/v1/admin/tier/prefetch",
                                json={"patient_id": "STRATA-P002", "scheduled_at": at})
        assert scheduled.status_code == 201, scheduled.text
        listed = web.request("GET", "/api/v1/admin/tier/prefetch")
        assert listed.status_code == 200, listed.text
        assert any(p["patient_id"] == "STRATA-P002" and p["scheduled_at"] == at and not p.get("done")
                   for p in listed.json()), listed.text
        assert web.request("GET", "/api/v1/admin/tier").json()["prefetches_pending"] == 1
        due = web.request("POST", "/api/v1/admin/tier/run", json={"now": "2039-06-01T00:00:00Z"})
        assert due.status_code == 200 and due.json()["prefetched"], due.text
        mr = read_source(VALID_DIR / MR).sop_instance_uid
        assert "fast" in assert_originals_intact(pacs, sources)[mr], "the prefetch did not recall P002's prior"
    finally:
        web.stop()
    assert_verify_clean(pacs)


@pytest.mark.slow
def test_wado_reads_while_the_mover_runs_never_fail(pacs_bin, tmp_path):
    """150 CT slices served by a running server; one thread reads them all over WADO-RS again and again
    (byte-compared with the source files) while POST /api/v1/admin/tier/run moves them to the archive
    (bandwidth-limited so the pass lasts seconds): not one read fails, and everything ends archived."""
    pacs = private_pacs(pacs_bin, tmp_path, bandwidth="1MB/s")
    series = generate_ct_series(tmp_path / "series", 150, 64)
    import_timed(pacs, series.folder, derive=False)
    sources = {uid: path for path, uid in series.uids.items()}
    instances = [(read_source(p), p.read_bytes()) for p in series.uids]
    web = Server(pacs, tmp_path)
    failures: list[str] = []
    reads = {"during": 0, "total": 0}
    moving = threading.Event()
    stop = threading.Event()

    def reader():
        with requests.Session() as session:
            while not stop.is_set():
                for source, expected in instances:
                    try:
                        if one_part(web.instance(source, session)) != expected:
                            failures.append(f"{source.sop_instance_uid}: bytes differ")
                    except (AssertionError, requests.RequestException) as error:
                        failures.append(f"{source.sop_instance_uid}: {str(error)[:200]}")
                    reads["total"] += 1
                    reads["during"] += moving.is_set()
                    if stop.is_set():
                        return

    thread = threading.Thread(target=reader, daemon=True)
    try:
        thread.start()
        time.sleep(0.5)
        moving.set()
        started = time.monotonic()
        run = web.request("POST", "/api/v1/admin/tier/run", json={"now": FUTURE})
        took = time.monotonic() - started
        moving.clear()
        time.sleep(0.5)
        stop.set()
        thread.join(timeout=60)
        assert reads["during"] >= 20, f"only {reads['during']} reads during a {took:.1f}s pass"
        assert failures == [], f"{len(failures)} of {reads['total']} reads failed: {failures[:5]}"
    finally:
        stop.set()
        web.stop()
    where = assert_originals_intact(pacs, sources)
    assert all("archive" in t for t in where.values()), where
    assert_verify_clean(pacs)
    # the pass moved everything (checked above on disk): its answer must say so, not 409 "another mover"
    assert run.status_code == 200 and not run.json()["failures"], \
        f"POST /api/v1/admin/tier/run answered {run.status_code} after moving every original: {run.text[:500]}"
    moved = {s["sop_instance_uid"] for s in run.json()["steps"] if s["variant"] == "original"}
    assert moved == set(sources), f"{len(moved)} of 150 originals moved"  # (+ JPEG-LS the server derived)
