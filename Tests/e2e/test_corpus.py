"""Every real file of the corpus (pydicom's test files and pydicom-data: files no one here wrote) is stored,
given back exactly and derived faithfully, checked against pydicom's own reading of each original:

- `pacs import` stores each file (each into an archive where its SOP Instance UID is new);
- V1 is bit-exact: the JPEG-LS copy decodes in pydicom to exactly the samples pydicom reads from the original,
  or there is no copy and `pacs versions` says why (a lossy original is its own V1);
- every lossy version that is made is at or above its policy's PSNR floor against pydicom's reading of the
  original (colours as displayed), and one that is not made says why;
- nothing crashes.
The per-file table is printed (run with -s to see it)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import corpus
from conftest import POLICIES_DIR, Pacs, stored_file, version_targets, worst_frame_psnr

pytestmark = pytest.mark.slow


@dataclass
class Outcome:
    """What Strata made of one corpus file."""
    path: Path
    import_line: str
    sop_instance_uid: str | None = None
    listing: dict = field(default_factory=dict)
    data: Path | None = None
    notes: list[str] = field(default_factory=list)


def batches(files: tuple[Path, ...]) -> list[list[Path]]:
    """Files grouped so that no two in a group share a SOP Instance UID: each group goes into one fresh archive,
    where every file is new, as if imported alone."""
    groups: list[tuple[set[str], list[Path]]] = []
    for path in files:
        uid = str(corpus.read(path).SOPInstanceUID)
        for uids, members in groups:
            if uid not in uids:
                uids.add(uid)
                members.append(path)
                break
        else:
            groups.append(({uid}, [path]))
    return [members for _, members in groups]


@pytest.fixture(scope="module")
def outcomes(pacs_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    files = corpus.corpus_files()
    assert len(files) == corpus.EXPECTED_CORPUS_SIZE, \
        f"pydicom decodes {len(files)} corpus files, expected {corpus.EXPECTED_CORPUS_SIZE}: " \
        "are pydicom, pydicom-data and the pixel plugins of Tests/e2e/requirements.txt installed?"
    results: dict[str, Outcome] = {}
    for number, group in enumerate(batches(files)):
        root = tmp_path_factory.mktemp(f"corpus{number}")
        pacs = Pacs(pacs_bin, root / "data", POLICIES_DIR, root)
        report = pacs.import_(*group)
        assert report.summary is not None, f"pacs import printed no summary (crashed?):\n{report}"
        for path in group:
            outcome = Outcome(path, "imported" if path in report.imported else
                              "duplicate" if path in report.duplicates else
                              f"failed: {report.failures.get(path, 'no line')}", data=pacs.data)
            uid = report.imported.get(path)
            if uid:
                outcome.sop_instance_uid = uid
                outcome.listing = pacs.versions(uid)
            results[path.name] = outcome
    print_table(results)
    return results


def entry(outcome: Outcome, version: str, variant: str) -> dict | None:
    found = [e for e in outcome.listing.get("versions", []) if e["version"] == version and e["variant"] == variant]
    return found[0] if found else None


def stored(outcome: Outcome, file_entry: dict) -> Path:
    return stored_file(Pacs(Path("pacs"), outcome.data, POLICIES_DIR, outcome.data), file_entry)


def v1_verdict(outcome: Outcome) -> str:
    """'exact', 'no copy: REASON', or what is wrong."""
    original = corpus.read(outcome.path)
    copy = entry(outcome, "V1", "jpegls")
    if copy is None and corpus.syntax_of(original) == "1.2.840.10008.1.2.4.80":
        return "exact: the original is JPEG-LS lossless"
    if copy is None:
        reason = outcome.listing.get("missing", {}).get("V1")
        return f"no copy: {reason}" if reason else "no copy and no reason"
    mine = corpus.pixels(corpus.read(stored(outcome, copy)))
    theirs = corpus.pixels(original)
    if mine.shape != theirs.shape:
        return f"shape {mine.shape} != original {theirs.shape}"
    if not np.array_equal(mine.astype(np.int64), theirs.astype(np.int64)):
        difference = np.abs(mine.astype(np.int64) - theirs.astype(np.int64))
        return f"differs: {np.count_nonzero(difference)} samples, by up to {difference.max()}"
    return "exact"


def lossy_verdict(outcome: Outcome, version: str) -> tuple[bool, str]:
    """(acceptable, text): made and above its floor, or not made with a reason."""
    original = corpus.read(outcome.path)
    made = entry(outcome, version, "j2k")
    if made is None:
        reason = outcome.listing.get("missing", {}).get(version)
        return bool(reason), f"not made: {reason}" if reason else "not made, no reason"
    floor = version_targets(original, version).min_psnr
    derived = corpus.read(stored(outcome, made))
    mine = corpus.pixels(derived)
    theirs = corpus.displayed_colour(original)
    if mine.shape != theirs.shape:
        return False, f"shape {mine.shape} != original {theirs.shape}"
    bits = int(derived.BitsStored) if original.get("PhotometricInterpretation") == "PALETTE COLOR" else int(original.BitsStored)
    psnr = worst_frame_psnr(theirs, mine, bits)
    ratio = made.get("achieved_ratio") or made.get("achieved_ratio")
    text = f"1:{ratio:.1f} {'exact' if math.isinf(psnr) else f'{psnr:.1f} dB'} (floor {floor:g})"
    return psnr >= floor, text


def print_table(results: dict[str, Outcome]) -> None:
    print(f"\n{'file':42} {'stored':9} {'V1':40} {'V2':28} {'V3':28}")
    for name, outcome in sorted(results.items()):
        if outcome.sop_instance_uid is None:
            print(f"{name:42} {outcome.import_line}")
            continue
        cells = [v1_verdict(outcome)[:40]] + [lossy_verdict(outcome, v)[1][:28] for v in ("V2", "V3")]
        print(f"{name:42} {'stored':9} {cells[0]:40} {cells[1]:28} {cells[2]:28}")


@pytest.mark.parametrize("name", [p.name for p in corpus.corpus_files()])
def test_every_corpus_file_is_stored_with_v1_exact_and_faithful_versions(outcomes: dict[str, Outcome], name: str):
    outcome = outcomes[name]
    assert outcome.sop_instance_uid, f"{name} was not stored: {outcome.import_line}"
    original = corpus.read(outcome.path)
    v1 = v1_verdict(outcome)
    if corpus.is_lossy_original(original) and corpus.syntax_of(original) in corpus.LOSSY_SYNTAXES:
        # A lossy original is its own V1: a lossless copy would keep one decoder's rounding of it.
        assert v1.startswith("no copy: ") and "lossy" in v1, f"{name}: V1 {v1}"
    elif int(original.BitsAllocated) not in (8, 16):
        assert v1.startswith("no copy: ") and f"{int(original.BitsAllocated)}-bit" in v1, f"{name}: V1 {v1}"
    else:
        assert v1.startswith("exact"), f"{name}: V1 {v1}"
    for version in ("V2", "V3"):
        acceptable, text = lossy_verdict(outcome, version)
        assert acceptable, f"{name}: {version} {text}"
