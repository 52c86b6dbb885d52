"""Importing files with `pacs import`, finding them with `pacs ls`, checking the store with `pacs verify`.

Every expectation is computed from the fixture files with pydicom, never
copied from the implementation.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest

from conftest import (LISTING_KINDS, MALFORMED_DIR, VALID_DIR, Pacs, assert_stored_original_is,
                      by_key, fixture_files, original_file, stored_file, wildcard_match)


@pytest.fixture
def imported(pacs: Pacs) -> Pacs:
    """A store holding everything in Fixtures/valid."""
    pacs.import_ok(VALID_DIR)
    return pacs


def canonical(rows: list[dict]) -> list[str]:
    """A listing in an order-independent form, for before/after comparisons."""
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


# --------------------------------------------------------------------------
# Importing valid files
# --------------------------------------------------------------------------

def test_import_of_a_folder_stores_every_valid_file(pacs: Pacs, valid_instances):
    """`pacs import Fixtures/valid` imports every file in the folder, reports each one with its
    SOP Instance UID, ends with the summary line and exits 0."""
    report = pacs.import_(VALID_DIR, verbose=True)

    assert report.returncode == 0, str(report)
    assert report.summary == (len(valid_instances), 0, 0), str(report)
    assert report.imported == {i.path: i.sop_instance_uid for i in valid_instances}
    assert report.duplicates == {} and report.failures == {}


def test_ls_instances_lists_every_imported_instance_in_its_series_and_study(imported: Pacs, valid_instances):
    """Every SOP Instance UID pydicom reads from Fixtures/valid is listed once, under the study and
    series its file names, with its SOP class, instance number and the file's transfer syntax."""
    rows = by_key(imported.ls("instances"), "sop_instance_uid")

    assert set(rows) == {i.sop_instance_uid for i in valid_instances}
    for source in valid_instances:
        row = rows[source.sop_instance_uid]
        listed = {k: row[k] for k in ("sop_class_uid", "series_instance_uid", "study_instance_uid",
                                      "instance_number", "transfer_syntax_uid")}
        assert listed == {
            "sop_class_uid": source.sop_class_uid,
            "series_instance_uid": source.series_instance_uid,
            "study_instance_uid": source.study_instance_uid,
            "instance_number": source.instance_number,
            "transfer_syntax_uid": source.transfer_syntax_uid,
        }, source.path.name


def test_ls_series_summarises_each_series(imported: Pacs, valid_instances):
    """`ls series` has one row per series with its study, modality, number, description and
    instance count."""
    expected: dict[str, dict] = {}
    for source in valid_instances:
        row = expected.setdefault(source.series_instance_uid, {
            "series_instance_uid": source.series_instance_uid,
            "study_instance_uid": source.study_instance_uid,
            "modality": source.modality,
            "series_number": source.series_number,
            "series_description": source.series_description,
            "instance_count": 0,
        })
        row["instance_count"] += 1

    rows = by_key(imported.ls("series"), "series_instance_uid")

    assert set(rows) == set(expected)
    for uid, want in expected.items():
        assert {k: rows[uid][k] for k in want} == want


def expected_studies(sources) -> dict[str, dict]:
    """The `ls studies` rows the sources should produce, keyed by Study Instance UID."""
    studies: dict[str, dict] = {}
    series: dict[str, set[str]] = defaultdict(set)
    for source in sources:
        row = studies.setdefault(source.study_instance_uid, {
            "study_instance_uid": source.study_instance_uid,
            "patient_id": source.patient_id,
            "patient_name": source.patient_name,
            "study_date": source.study_date,
            "accession_number": source.accession_number,
            "study_description": source.study_description,
            "modalities": set(),
            "instance_count": 0,
        })
        row["modalities"].add(source.modality)
        row["instance_count"] += 1
        series[source.study_instance_uid].add(source.series_instance_uid)
    for uid, row in studies.items():
        row["modalities"] = sorted(row["modalities"])
        row["series_count"] = len(series[uid])
    return studies


def test_ls_studies_summarises_each_study(imported: Pacs, valid_instances):
    """`ls studies` has one row per study with the patient, date, accession number, description
    (decoded from ISO-IR 100 and UTF-8 where the file says so), the set of modalities and the counts."""
    expected = expected_studies(valid_instances)

    rows = by_key(imported.ls("studies"), "study_instance_uid")

    assert set(rows) == set(expected)
    for uid, want in expected.items():
        got = {k: rows[uid][k] for k in want}
        got["modalities"] = sorted(got["modalities"])
        assert got == want


def test_stored_originals_are_byte_identical_to_the_imported_files(imported: Pacs, valid_instances):
    """Each instance's V1 original is on the fast tier, listed with the source file's size and
    SHA-256, and the stored bytes are exactly the bytes that were imported."""
    rows = by_key(imported.ls("instances"), "sop_instance_uid")

    for source in valid_instances:
        assert_stored_original_is(imported, rows[source.sop_instance_uid], source.path)


def test_stored_file_names_reveal_no_patient_identity(imported: Pacs, valid_instances):
    """No path in the store (listed or on disk) contains a patient's ID or any part of their name."""
    secrets = {s.casefold() for i in valid_instances
               for s in (i.patient_id, *i.patient_name_parts) if len(s) >= 2}
    listed = [original_file(row)["path"] for row in imported.ls("instances")]
    on_disk = [str(p.relative_to(imported.data)) for p in imported.data.rglob("*")]

    leaks = [(path, s) for path in listed + on_disk for s in secrets if s in path.casefold()]

    assert leaks == []


# --------------------------------------------------------------------------
# Failures, duplicates and conflicts
# --------------------------------------------------------------------------

def test_malformed_files_are_each_reported_and_nothing_is_stored(pacs: Pacs):
    """Importing Fixtures/malformed prints one `failed: <path>: <reason>` line per file, counts them
    all as failed, exits 1 and leaves nothing listed."""
    malformed = fixture_files(MALFORMED_DIR)

    report = pacs.import_(MALFORMED_DIR, verbose=True)

    assert report.returncode == 1, str(report)
    assert report.summary == (0, 0, len(malformed)), str(report)
    assert set(report.failures) == {p.resolve() for p in malformed}
    assert all(reason.strip() for reason in report.failures.values()), report.failures
    assert report.imported == {}
    for kind in LISTING_KINDS:
        assert pacs.ls(kind) == [], kind


def test_malformed_files_do_not_stop_the_valid_ones(pacs: Pacs, valid_instances):
    """A mixed import stores every valid file and fails every malformed one (exit 1); a truncated
    copy that shares a valid file's UID does not replace or spoil the valid file's stored bytes."""
    malformed = fixture_files(MALFORMED_DIR)

    report = pacs.import_(MALFORMED_DIR, VALID_DIR, verbose=True)

    assert report.returncode == 1, str(report)
    assert report.summary == (len(valid_instances), 0, len(malformed)), str(report)
    assert set(report.failures) == {p.resolve() for p in malformed}
    rows = by_key(pacs.ls("instances"), "sop_instance_uid")
    assert set(rows) == {i.sop_instance_uid for i in valid_instances}
    for source in valid_instances:
        assert_stored_original_is(pacs, rows[source.sop_instance_uid], source.path)


def test_reimport_counts_duplicates_and_changes_nothing(imported: Pacs, valid_instances):
    """Importing the same files again reports each as `duplicate: <path> <uid>`, imports nothing,
    exits 0, and every listing stays exactly as it was."""
    before = {kind: canonical(imported.ls(kind)) for kind in LISTING_KINDS}

    report = imported.import_(VALID_DIR, verbose=True)

    assert report.returncode == 0, str(report)
    assert report.summary == (0, len(valid_instances), 0), str(report)
    assert report.duplicates == {i.path: i.sop_instance_uid for i in valid_instances}
    assert report.imported == {}
    assert {kind: canonical(imported.ls(kind)) for kind in LISTING_KINDS} == before


def flip_one_pixel(ds: pydicom.Dataset) -> None:
    pixels = bytearray(ds.PixelData)
    pixels[len(pixels) // 2] ^= 0x01
    ds.PixelData = bytes(pixels)


def rename_patient(ds: pydicom.Dataset) -> None:
    ds.PatientName = "Impostor^Ivan"


@pytest.mark.parametrize("change", [flip_one_pixel, rename_patient], ids=["pixel", "patient-name"])
def test_a_different_object_with_a_stored_uid_is_refused_as_a_conflict(pacs: Pacs, tmp_path: Path, change):
    """A file whose SOP Instance UID is already stored but whose content differs (one pixel, or the
    patient's name) fails with a reason containing "conflict"; the stored copy and the listings
    stay unchanged."""
    source = VALID_DIR / "ct_explicit_le.dcm"
    pacs.import_ok(source)
    before = {kind: canonical(pacs.ls(kind)) for kind in LISTING_KINDS}
    forged = tmp_path / "forged.dcm"
    ds = pydicom.dcmread(source)
    change(ds)
    ds.save_as(forged)
    assert pydicom.dcmread(forged).SOPInstanceUID == ds.SOPInstanceUID
    assert forged.read_bytes() != source.read_bytes()

    report = pacs.import_(forged, verbose=True)

    assert report.returncode == 1, str(report)
    assert report.summary == (0, 0, 1), str(report)
    assert "conflict" in report.failures.get(forged.resolve(), "").lower(), str(report)
    assert {kind: canonical(pacs.ls(kind)) for kind in LISTING_KINDS} == before
    (row,) = pacs.ls("instances")
    assert_stored_original_is(pacs, row, source)


# --------------------------------------------------------------------------
# Study queries
# --------------------------------------------------------------------------

def study_date_in(low: str, high: str):
    return lambda s: low <= s["study_date"] <= high


FILTER_CASES = [
    pytest.param(["--patient-name", "Doe*"], lambda s: wildcard_match("Doe*", s["patient_name"]),
                 id="name-prefix"),
    pytest.param(["--patient-name", "smith*"], lambda s: wildcard_match("smith*", s["patient_name"]),
                 id="name-lower-case"),
    pytest.param(["--patient-name", "m?ller^*"], lambda s: wildcard_match("m?ller^*", s["patient_name"]),
                 id="name-question-mark-non-ascii"),
    pytest.param(["--patient-id", "STRATA-P003"], lambda s: s["patient_id"] == "STRATA-P003",
                 id="patient-id"),
    pytest.param(["--date", "20240101-20241231"], study_date_in("20240101", "20241231"),
                 id="date-range"),
    pytest.param(["--modality", "CT"], lambda s: "CT" in s["modalities"], id="modality-ct"),
    pytest.param(["--modality", "MR"], lambda s: "MR" in s["modalities"], id="modality-mr"),
    pytest.param(["--accession", "ACC-2024-0003"], lambda s: s["accession_number"] == "ACC-2024-0003",
                 id="accession"),
    pytest.param(["--patient-name", "doe*", "--modality", "CT"],
                 lambda s: wildcard_match("doe*", s["patient_name"]) and "CT" in s["modalities"],
                 id="name-and-modality"),
]


@pytest.mark.parametrize(("filters", "matches"), FILTER_CASES)
def test_study_filters_return_exactly_the_matching_studies(imported: Pacs, valid_instances, filters, matches):
    """`ls studies` with filters returns every study that matches all of them and no other."""
    studies = expected_studies(valid_instances)
    expected = sorted(uid for uid, study in studies.items() if matches(study))
    assert 0 < len(expected) < len(studies), "the case must select some but not all studies"

    rows = imported.ls("studies", *filters)

    assert sorted(row["study_instance_uid"] for row in rows) == expected


# --------------------------------------------------------------------------
# pacs verify
# --------------------------------------------------------------------------

def test_verify_is_clean_after_import(imported: Pacs):
    """Right after an import, `pacs verify` finds nothing and exits 0."""
    result = imported.verify()

    assert result.returncode == 0, result.stdout + result.stderr


def test_verify_reports_a_stored_file_whose_bytes_changed(imported: Pacs):
    """One flipped byte in a stored file makes `pacs verify` exit 1 and name that file."""
    entry = original_file(imported.ls("instances")[0])
    relative, stored = entry["path"], stored_file(imported, entry)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))

    result = imported.verify()

    assert result.returncode == 1, result.stdout + result.stderr
    assert relative in result.stdout + result.stderr


def test_verify_reports_an_orphan_file(imported: Pacs):
    """A file under <data>/fast/ that no index row points to makes `pacs verify` exit 1 and name it."""
    relative = "fast/zz/stray-orphan.dcm"
    (imported.data / relative).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(VALID_DIR / "ct_explicit_le.dcm", imported.data / relative)

    result = imported.verify()

    assert result.returncode == 1, result.stdout + result.stderr
    assert relative in result.stdout + result.stderr
