"""The `workstation` client against a real `pacs serve`, as its users see it.

What a user sees:
- `workstation find` lists the studies pydicom reads from the imported files (date, patient name and ID,
  accession, modalities, number of images, description), filtered by patient ID, name with wildcards, date
  range, modality and accession; as a table or as JSON;
- `workstation pull` by version, quality, purpose, level and display size gets the version and level those
  selectors mean (the cache manifests say so, and the held bytes with an EOC marker appended decode with
  OpenJPEG's opj_decompress to that level's size, and are the start of the server's full codestream); V1
  arrives whole as JPEG-LS whose pixels are pydicom's;
- a pull killed with SIGKILL half-way resumes without fetching again what it holds: the resumed run's bytes plus
  those held at the kill come to what one uninterrupted pull takes, the resumed run says how many images it
  already held, and it ends with the very bytes an uninterrupted pull holds;
- on a throttled link (--rate 2mbit) the whole series is viewable coarse long before any image is sharp: at a
  moment after level 0 and while the pull still runs, every image is in the cache and `workstation render`
  shows each at the level held;
- `workstation render` writes PNGs whose pixels are pydicom's rendering of the same image (rescale slope and
  intercept, the linear VOI window of PS3.3 C.11.2.1.2.1, MONOCHROME1 inverted, 8 bits) within rounding; for
  a lossy version, the rendering of what OpenJPEG decodes of the held bytes;
- a small --cache-limit evicts least recently used frames first, keeps the cache under the limit, and what it
  keeps still renders;
- a referring user pulling an unread study gets exit 3 and the access rule in the message, nothing cached;
- status, notes, annotations and the report round-trip through the server; `workstation watch` pulls a study
  the server announces after a status change; `workstation settings` never shows the password.

One `pacs serve` for the module: a private copy of Policies/ with one user per role, Fixtures/valid and three
generated CT series (20 slices 256x256, 60 slices 512x512, 3 slices 128x128) imported and derived before it
starts. The client runs with HOME pointing at an empty folder (no config file) and the connection in
STRATA_URL/STRATA_USER/STRATA_PASSWORD. Oracles: pydicom (source files), PyYAML-free hand-written
expectations of the default Policies, OpenJPEG's opj_decompress, pyjpegls, Pillow (reading the PNGs).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests

from pydicom.uid import ImplicitVRLittleEndian

from conftest import (pacs_with_users, opj_decode, HTTP_READY_LINE, VALID_DIR, GeneratedSeries, Pacs, PacsServer, free_port,
                      generate_ct_series, read_source, valid_sources, wildcard_match)

import jpeg_ls  # noqa: E402
from PIL import Image  # noqa: E402

HOST = "127.0.0.1"
USERS = {"reader": "reading", "referrer": "referring", "telerad": "teleradiology", "admin": "admin"}
EOC = b"\xff\xd9"
RUN_TIMEOUT = 120


# --------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------

def first_value(value):
    if value is None:
        return None
    return float(value[0]) if isinstance(value, pydicom.multival.MultiValue) else float(value)


def voi_render(stored: np.ndarray, ds: pydicom.Dataset, window: tuple[float, float] | None) -> np.ndarray:
    """pydicom-side rendering: Modality LUT (rescale), linear VOI (PS3.3 C.11.2.1.2.1) with the given window,
    else the dataset's first, else the image's range; MONOCHROME1 inverted; 8 bits."""
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    values = stored.astype(np.float64) * slope + intercept
    if window is None and ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        window = (first_value(ds.WindowCenter), first_value(ds.WindowWidth))
    if window is None:
        low, high = float(values.min()), float(values.max())
        window = ((low + high) / 2, max(1.0, high - low))
    c, w = window
    out = ((values - (c - 0.5)) / (w - 1) + 0.5) * 255
    out = np.where(values <= c - 0.5 - (w - 1) / 2, 0, np.where(values > c - 0.5 + (w - 1) / 2, 255, out))
    out = np.clip(np.rint(out), 0, 255)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        out = 255 - out
    return out.astype(np.int64)


def png_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.mode == "L", f"{path.name}: a {image.mode} PNG, expected 8-bit grey"
        return np.asarray(image, dtype=np.int64)


WINDOW_PRESETS = {"lung": (-600, 1500), "mediastinum": (50, 350), "bone": (400, 1800), "brain": (40, 80)}


# --------------------------------------------------------------------------
# The module's server and the client
# --------------------------------------------------------------------------

@dataclass
class Series:
    study: str
    series: str
    sops: list[str]              # instance order
    sources: dict[str, Path]     # SOP Instance UID -> source file


def series_of(generated: GeneratedSeries) -> Series:
    sources = sorted((read_source(p) for p in generated.uids), key=lambda s: s.instance_number)
    return Series(sources[0].study_instance_uid, sources[0].series_instance_uid, [s.sop_instance_uid for s in sources],
                  {s.sop_instance_uid: s.path for s in sources})


@dataclass
class Site:
    pacs: Pacs
    server: PacsServer
    root: Path
    http_port: int
    passwords: dict[str, str]
    workstation: Path
    ct20: Series
    ct60: Series
    ct3: Series

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def state(self) -> str:
        return self.server.exit_note()

    def env(self, user: str) -> dict[str, str]:
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        return {**os.environ, "HOME": str(home), "STRATA_URL": self.url, "STRATA_USER": user,
                "STRATA_PASSWORD": self.passwords[user]}

    def argv(self, *args) -> list[str]:
        return [str(self.workstation), *map(str, args)]

    def run(self, *args, user: str = "reader", timeout: float = RUN_TIMEOUT, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), cwd=self.root, env=env or self.env(user), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)

    def ok(self, *args, user: str = "reader", timeout: float = RUN_TIMEOUT) -> str:
        result = self.run(*args, user=user, timeout=timeout)
        assert result.returncode == 0, f"workstation {' '.join(map(str, args))} as {user}: exit {result.returncode}\n" \
                                       f"{result.stdout[-2000:]}{result.stderr[-2000:]}{self.state()}"
        return result.stdout

    def popen(self, *args, user: str = "reader") -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), cwd=self.root, env=self.env(user), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def pull(self, *args, user: str = "reader", timeout: float = RUN_TIMEOUT) -> dict:
        out = self.ok("pull", *args, "--json", user=user, timeout=timeout)
        return json.loads(out[out.index("{"):])

    def api(self, method: str, path: str, user: str = "admin", **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/api/v1{path}", auth=(user, self.passwords[user]), timeout=60, **kwargs)

    def status(self, study: str) -> int:
        response = self.api("GET", f"/studies/{study}/status")
        assert response.status_code == 200, response.text[:300]
        return response.json()["status"]


# Each test checks afterwards that the shared server is still running.
pytestmark = pytest.mark.usefixtures("server_alive")


@pytest.fixture(scope="module")
def site(pacs_bin: Path, workstation_bin: Path, tmp_path_factory) -> Site:
    root = tmp_path_factory.mktemp("workstation")
    pacs, passwords = pacs_with_users(pacs_bin, root, USERS)
    ct20 = generate_ct_series(root / "gen-ct20", 20, 256)
    ct60 = generate_ct_series(root / "gen-ct60", 60, 512)
    ct3 = generate_ct_series(root / "gen-ct3", 3, 128)
    pacs.import_ok(VALID_DIR, ct20.folder, ct60.folder, ct3.folder)
    http_port = free_port()
    server = PacsServer(pacs, "--http-port", http_port, "--dicom-port", free_port(),
                        log=root / "serve.log").start(HTTP_READY_LINE)
    site = Site(pacs, server, root, http_port, passwords, workstation_bin, series_of(ct20), series_of(ct60), series_of(ct3))
    try:
        pacs.wait_until_derived(*site.ct20.sops, *site.ct60.sops, *site.ct3.sops)
        # the reading doctor has looked at the two larger series: lossy versions may go out
        for series in (site.ct20, site.ct60):
            site.ok("status", series.study, 2, user="reader")
        yield site
    finally:
        assert server.stop() == 0, f"pacs serve did not exit 0 on SIGTERM:\n{server.log_text()[-3000:]}"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


# --------------------------------------------------------------------------
# The cache as the brief describes it
# --------------------------------------------------------------------------

def manifest(cache: Path, sop: str, version: str, frame: int = 1) -> dict | None:
    path = cache / sop / version / f"{frame}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:  # being replaced right now
        return None


def held(cache: Path, sop: str, version: str, frame: int = 1) -> bytes:
    entry = manifest(cache, sop, version, frame)
    assert entry is not None, f"no manifest {cache / sop / version / f'{frame}.json'}"
    data = (cache / sop / version / f"{frame}.bin").read_bytes()
    assert len(data) >= entry["heldBytes"], f"{sop}: the data file has {len(data)} bytes, the manifest says {entry['heldBytes']}"
    return data[:entry["heldBytes"]]


def cache_bin_bytes(cache: Path) -> int:
    return sum(p.stat().st_size for p in cache.rglob("*.bin"))


def full_codestream(site: Site, sop: str, version: str) -> bytes:
    response = site.api("GET", f"/instances/{sop}/frames/1?version={version}")
    assert response.status_code == 200, f"{sop} {version}: {response.status_code} {response.text[:200]}"
    return response.content


# --------------------------------------------------------------------------
# find
# --------------------------------------------------------------------------

def expected_studies(site: Site) -> dict[str, dict]:
    """Every study the store holds, as pydicom reads the imported files."""
    sources = list(valid_sources()) + [read_source(p) for s in (site.ct20, site.ct60, site.ct3) for p in s.sources.values()]
    studies: dict[str, dict] = {}
    for s in sources:
        row = studies.setdefault(s.study_instance_uid, {
            "study": s.study_instance_uid, "date": s.study_date, "patient_name": s.patient_name.split("=")[0],
            "patient_id": s.patient_id, "accession": s.accession_number, "modalities": set(), "instances": set(),
            "description": s.study_description})
        row["modalities"].add(s.modality)
        row["instances"].add(s.sop_instance_uid)
    for row in studies.values():
        row["instances"] = len(row["instances"])
    return studies


FIND_CASES = {  # id -> (flags, predicate on an expected row)
    "all": ([], lambda r: True),
    "patient": (["--patient", "STRATA-P002"], lambda r: r["patient_id"] == "STRATA-P002"),
    "name-wildcard": (["--name", "doe*"], lambda r: wildcard_match("doe*", r["patient_name"])),
    "date-range": (["--date", "20230101-20231231"], lambda r: "20230101" <= r["date"] <= "20231231"),
    "modality": (["--modality", "CT"], lambda r: "CT" in r["modalities"]),
    "accession": (["--accession", "ACC-2024-0001"], lambda r: r["accession"] == "ACC-2024-0001"),
    "name-and-modality": (["--name", "*smith*", "--modality", "MR"],
                          lambda r: wildcard_match("*smith*", r["patient_name"]) and "MR" in r["modalities"]),
}


@pytest.mark.parametrize("case", list(FIND_CASES))
def test_find_lists_the_matching_studies(site: Site, case: str):
    """`find --json` gives exactly the studies whose files match the filters, each with the date, patient,
    accession, modalities, image count and description pydicom reads; the table names the same studies."""
    flags, keep = FIND_CASES[case]
    expected = {uid: row for uid, row in expected_studies(site).items() if keep(row)}
    assert expected, f"{case}: the oracle matches nothing; the case tests nothing"
    rows = json.loads(site.ok("find", *flags, "--json"))
    assert isinstance(rows, list), rows
    got = {row["study"]: row for row in rows}
    assert len(got) == len(rows), f"{case}: a study listed twice: {[r['study'] for r in rows]}"
    assert sorted(got) == sorted(expected), f"{case}: studies {sorted(got)}, expected {sorted(expected)}"
    for uid, want in expected.items():
        row = dict(got[uid])
        assert set(row["modalities"]) == want["modalities"], f"{uid}: modalities {row['modalities']}"
        for key in ("date", "patient_name", "patient_id", "accession", "instances", "description"):
            assert row[key] == want[key], f"{case} {uid}: {key} {row[key]!r}, expected {want[key]!r}"
    table = site.ok("find", *flags)
    lines = table.strip().splitlines()
    assert lines and "study" in lines[0] and "patient" in lines[0], f"no table header: {table[:300]}"
    listed = {line.split()[-1] for line in lines[1:]}
    assert listed == set(expected), f"{case}: the table lists {sorted(listed)}"


# --------------------------------------------------------------------------
# pull by each selector
# --------------------------------------------------------------------------

# id -> (user, flags, version, finest level of a 256x256 image with 3 levels 64/128/256, rule substring)
PULL_CASES = {
    "version-V2": ("reader", ["--version", "V2"], "V2", 2, "version=V2"),
    "version-V3-level-0": ("reader", ["--version", "V3", "--level", "0"], "V3", 0, "version=V3"),
    "quality-40": ("reader", ["--quality", "40"], "V2", 2, "quality=40"),          # V2 ~50 %, V3 ~25 %
    "quality-20": ("reader", ["--quality", "20"], "V3", 2, "quality=20"),
    "purpose-reference": ("reader", ["--purpose", "reference"], "V2", 2, "purpose=reference"),
    "purpose-comparison": ("reader", ["--purpose", "comparison"], "V3", 2, "purpose=comparison"),
    "level-1": ("reader", ["--version", "V2", "--level", "1"], "V2", 1, "version=V2"),
    "display-100": ("reader", ["--version", "V2", "--display", "100"], "V2", 1, "version=V2"),  # 128 covers 100
    "display-200": ("reader", ["--version", "V3", "--display", "200"], "V3", 2, "version=V3"),  # 256 covers 200
    "display-64": ("referrer", ["--display", "64"], "V2", 0, "delivery.yaml defaults"),
    "referrer-home": ("referrer", ["--place", "home"], "V3", 2, "home or remote site"),
    "telerad-remote-level-1": ("telerad", ["--place", "remote", "--level", "1"], "V3", 1, "home or remote site"),
}
LEVEL_SIDES = {0: 64, 1: 128, 2: 256}


@pytest.mark.parametrize("case", list(PULL_CASES))
def test_pull_by_selector_caches_the_right_version_and_level(site: Site, work: Path, case: str):
    """Each selector gives the version and level it means, for every image of the series: the manifests say
    version, level, levels (3 for 256x256), size and complete; the held bytes are the start of the server's
    full codestream and, with EOC appended, decode with opj_decompress -r (levels-1-level) to the level's size
    and to the very pixels of the full codestream reduced alike."""
    user, flags, version, level, rule = PULL_CASES[case]
    series = site.ct20
    cache = work / "cache"
    report = site.pull(series.study, *flags, "--cache", cache, user=user)
    assert report["version"] == version and report["finest_level"] == level, f"{case}: {report}"
    assert rule in report["rule"], f"{case}: rule {report['rule']!r} does not say {rule!r}"
    assert report["frames"] == len(series.sops) and report["already_held"] == 0, report
    assert len(report["level_seconds"]) == level + 1, f"level_seconds {report['level_seconds']} for levels 0..{level}"
    assert report["level_seconds"] == sorted(report["level_seconds"]), report["level_seconds"]
    side = LEVEL_SIDES[level]
    for sop in series.sops:
        entry = manifest(cache, sop, version)
        assert entry is not None, f"{case}: {sop} has no {version} manifest; cache holds {sorted(p.name for p in (cache / sop).glob('*'))}"
        assert (entry["sopInstanceUID"], entry["frame"], entry["version"]) == (sop, 1, version), entry
        assert (entry["level"], entry["levels"], entry["width"], entry["height"], entry["complete"]) == \
            (level, 3, side, side, True), f"{case}: {entry}"
        assert entry["mediaType"].startswith("image/j2c") and entry["etag"], entry
        other = [v.name for v in (cache / sop).iterdir() if v.is_dir() and v.name != version]
        assert not other, f"{case}: {sop} also has {other} cached"
    checked = [series.sops[0], series.sops[len(series.sops) // 2]]
    signed = bool(pydicom.dcmread(series.sources[checked[0]], stop_before_pixels=True).PixelRepresentation)
    for sop in checked:
        data = held(cache, sop, version)
        full = full_codestream(site, sop, version)
        assert full.startswith(data), f"{case}: the {len(data)} bytes held are not the start of the {version} codestream"
        if level == 2:
            assert data + EOC == full or data == full[:-2], f"{case}: complete at the top level but {len(data)} of {len(full)} bytes held"
        reduce = 2 - level
        decoded = opj_decode(data + EOC, reduce, work, signed)
        assert decoded.shape == (side, side), f"{case}: level {level} decoded to {decoded.shape}"
        assert np.array_equal(decoded, opj_decode(full, reduce, work, signed)), \
            f"{case}: the held level decodes to other pixels than the full codestream reduced by {reduce}"


def test_pull_V1_arrives_whole_as_lossless_JPEG_LS(site: Site, work: Path):
    """A reading doctor asking for diagnosis gets V1: every frame whole (no levels), JPEG-LS decoding to
    exactly the stored values pydicom reads."""
    series = site.ct20
    cache = work / "cache"
    report = site.pull("--series", series.series, "--purpose", "diagnosis", "--cache", cache)
    assert report["version"] == "V1" and report.get("finest_level") is None, report
    assert len(report["level_seconds"]) == 1 and report["frames"] == len(series.sops), report
    for sop in series.sops[:3]:
        entry = manifest(cache, sop, "V1")
        assert entry is not None and entry["complete"] and entry.get("level") is None, entry
        assert "jls" in entry["mediaType"], f"V1 of a generated CT should be the JPEG-LS copy: {entry}"
        ds = pydicom.dcmread(series.sources[sop])
        decoded = jpeg_ls.decode(np.frombuffer(held(cache, sop, "V1"), np.uint8)).astype(np.int64)
        stored = ds.pixel_array.astype(np.int64)
        if int(ds.PixelRepresentation):  # JPEG-LS of signed data holds the two's complement in BitsStored bits
            decoded = np.where(decoded >= 1 << (int(ds.BitsStored) - 1), decoded - (1 << int(ds.BitsStored)), decoded)
        assert np.array_equal(decoded, stored), f"{sop}: V1 is not bit-exact"


def test_pull_a_series_that_is_held_fetches_nothing_again(site: Site, work: Path):
    """A second pull of what the cache holds reports every image already held and downloads no image data:
    only the series' versions listing and the one-byte probe that asks which version and level it gets."""
    cache = work / "cache"
    site.pull("--series", site.ct20.series, "--version", "V3", "--cache", cache)
    again = site.pull("--series", site.ct20.series, "--version", "V3", "--cache", cache)
    assert again["already_held"] == len(site.ct20.sops), again
    listing = site.api("GET", f"/series/{site.ct20.series}/versions", "reader")
    assert listing.status_code == 200, listing.text[:300]
    assert again["bytes_downloaded"] <= len(listing.content) + 64, \
        f"the second pull downloaded {again['bytes_downloaded']} bytes; the listing is {len(listing.content)}: {again}"


# --------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------

def test_a_referring_user_pulling_an_unread_study_gets_exit_3_with_the_rule(site: Site, work: Path):
    """The MR study is unread: a referring doctor's pull (no selector, and V2 asked) ends with exit 3 and
    "the server answered 403: ..." naming access.yaml roles.referring.unread; no image data reaches the cache."""
    mr = read_source(VALID_DIR / "mr_explicit_le.dcm")
    assert site.status(mr.study_instance_uid) == 1
    cache = work / "cache"
    for flags in ([], ["--version", "V2"]):
        result = site.run("pull", mr.study_instance_uid, *flags, "--cache", cache, user="referrer")
        assert result.returncode == 3, f"pull {flags}: exit {result.returncode}\n{result.stdout}{result.stderr}"
        assert "the server answered 403:" in result.stderr and "access.yaml roles.referring.unread" in result.stderr, result.stderr
    assert not list(cache.rglob("*.bin")), f"refused, yet cached: {list(cache.rglob('*.bin'))}"


def test_a_pull_with_a_wrong_password_fails_without_showing_it(site: Site, work: Path):
    env = site.env("reader") | {"STRATA_PASSWORD": "wrong-" + secrets.token_hex(4)}
    result = site.run("pull", site.ct20.study, "--version", "V3", "--cache", work / "c", env=env)
    assert result.returncode != 0 and "401" in result.stderr, f"exit {result.returncode}: {result.stderr}"
    assert env["STRATA_PASSWORD"] not in result.stdout + result.stderr


# --------------------------------------------------------------------------
# interrupted, resumed; throttled
# --------------------------------------------------------------------------

def held_at_kill(cache: Path, series: Series, version: str) -> tuple[int, int]:
    """(bytes held plus the EOC each level answer carried, frames complete) of a series in a cache."""
    total, complete = 0, 0
    for sop in series.sops:
        entry = manifest(cache, sop, version)
        if entry is None:
            continue
        total += entry["heldBytes"] + (len(EOC) if entry.get("level") is not None and entry["level"] < entry["levels"] - 1 else 0)
        complete += bool(entry["complete"])
    return total, complete


@pytest.mark.slow
def test_an_interrupted_pull_resumes_without_fetching_again(site: Site, work: Path):
    """A 60-slice 512x512 V2 pull at 4 Mbit/s killed (SIGKILL) once some images are complete, then run
    again: the resumed run reports the complete images as already held, its bytes plus those held at the
    kill come to about an uninterrupted pull's bytes (not the held bytes twice), and the cache ends with
    exactly the bytes of an uninterrupted pull, which decode to 512x512."""
    series = site.ct60
    reference_cache, cache = work / "reference", work / "cache"
    reference = site.pull("--series", series.series, "--version", "V2", "--cache", reference_cache)
    total = reference["bytes_downloaded"]
    assert reference["finest_level"] == 3, reference  # 64, 128, 256, 512

    process = site.popen("pull", "--series", series.series, "--version", "V2", "--rate", "4mbit", "--cache", cache, "--json")
    deadline = time.monotonic() + 90
    try:
        while True:
            got, complete = held_at_kill(cache, series, "V2")
            if complete >= 5 or process.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert process.poll() is None, f"the throttled pull ended (exit {process.returncode}) before it could be " \
                                       f"interrupted: {process.communicate()}"
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    got, complete = held_at_kill(cache, series, "V2")
    assert complete >= 5 and got < total * 0.95, f"killed at {got} of {total} bytes with {complete} complete"

    resumed = site.pull("--series", series.series, "--version", "V2", "--cache", cache)
    assert resumed["already_held"] >= complete, f"resumed: {resumed}; {complete} images were complete at the kill"
    assert resumed["version"] == "V2" and resumed["finest_level"] == 3, resumed
    overhead = 0.03 * total + 16_384  # listings, the level probe, multipart framing
    combined = resumed["bytes_downloaded"] + got
    assert combined <= total + overhead, \
        f"resumed {resumed['bytes_downloaded']} + held at the kill {got} = {combined} bytes, an uninterrupted pull " \
        f"takes {total}: the resumed run fetched again what was held"
    assert combined >= total * 0.9, f"{combined} bytes in all, fewer than the {total} of one pull: counting is off"
    for sop in series.sops:
        entry = manifest(cache, sop, "V2")
        assert entry is not None and entry["complete"] and entry["level"] == 3, f"{sop}: {entry}"
        assert held(cache, sop, "V2") == held(reference_cache, sop, "V2"), \
            f"{sop}: the resumed pull holds other bytes than an uninterrupted one"
    decoded = opj_decode(held(cache, series.sops[30], "V2") + EOC, 0, work, True)
    assert decoded.shape == (512, 512)


@pytest.mark.slow
def test_a_throttled_pull_shows_the_whole_series_coarse_first(site: Site, work: Path):
    """The teleradiologist at a remote site on 2 Mbit/s: the server picks V3 (home or remote site rule); every
    image is held at level 0 (64x64) long before any is sharp; at that moment, while the pull still runs,
    `workstation render --series` shows all 60 images at the level held; the pull honours the rate."""
    series = site.ct60
    cache, out = work / "cache", work / "png"
    process = site.popen("pull", "--series", series.series, "--place", "remote", "--rate", "2mbit", "--cache", cache, "--json",
                         user="telerad")
    rendered = None
    try:
        deadline = time.monotonic() + 90
        while process.poll() is None and time.monotonic() < deadline:
            if all(manifest(cache, sop, "V3") is not None for sop in series.sops):
                break
            time.sleep(0.05)
        still_running = process.poll() is None
        rendered = site.run("render", "--series", series.series, "--out", out, "--cache", cache)
        assert still_running and process.poll() is None, \
            f"the pull ended (exit {process.returncode}) before level 0 of every image was seen in the cache"
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, f"throttled pull: exit {process.returncode}\n{stdout}{stderr}"
    report = json.loads(stdout[stdout.index("{"):])
    assert report["version"] == "V3" and "home or remote site" in report["rule"], report
    seconds = report["level_seconds"]
    assert len(seconds) == 4 and report["finest_level"] == 3, report
    assert seconds[0] < 0.4 * seconds[-1], f"coarse at {seconds[0]:.2f} s, sharp at {seconds[-1]:.2f} s: not well before"
    floor = report["bytes_downloaded"] * 8 / 2e6
    assert report["seconds"] >= 0.8 * floor, f"{report['bytes_downloaded']} bytes in {report['seconds']:.2f} s: faster than 2 Mbit/s"

    assert rendered.returncode == 0, f"render during the pull: exit {rendered.returncode}\n{rendered.stdout}{rendered.stderr}"
    lines = rendered.stdout.strip().splitlines()
    assert len(lines) == len(series.sops), f"render during the pull printed {len(lines)} lines:\n{rendered.stdout[-1500:]}"
    for sop, line in zip(series.sops, lines):
        m = re.fullmatch(rf"{re.escape(sop)}\.png\s+V3 level (\d) (\d+)x(\d+)", line.strip())
        assert m, f"render line {line!r}"
        level, width, height = int(m[1]), int(m[2]), int(m[3])
        assert (width, height) == (64 << level, 64 << level), line
        with Image.open(out / f"{sop}.png") as image:
            assert image.size == (width, height), f"{sop}.png is {image.size}, the line says {width}x{height}"
    assert any(int(re.search(r"level (\d)", line)[1]) < 3 for line in lines), \
        "every image was already at full resolution when rendered: the moment tested nothing"


# --------------------------------------------------------------------------
# render
# --------------------------------------------------------------------------

RENDER_CASES = {  # id -> (fixture file, --window or None)
    "ct-own-window": ("ct_explicit_le.dcm", None),
    "ct-lung": ("ct_explicit_le.dcm", "lung"),
    "ct-bone": ("ct_implicit_le.dcm", "bone"),
    "ct-c-w": ("no_preamble_implicit.dcm", "40,400"),
    "cr-monochrome1-no-window": ("cr_explicit_be.dcm", None),
    "cr-monochrome1-c-w": ("cr_explicit_be.dcm", "500,800"),
    "mr-own-window": ("mr_explicit_le.dcm", None),
    "mr-brain": ("mr_explicit_le.dcm", "brain"),
}


def window_of(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    if text in WINDOW_PRESETS:
        return WINDOW_PRESETS[text]
    c, w = text.split(",")
    return float(c), float(w)


@pytest.mark.parametrize("case", list(RENDER_CASES))
def test_render_of_V1_matches_pydicom(site: Site, work: Path, case: str):
    """V1 pulled whole and rendered: the PNG is the image's size and, pixel by pixel within 1, pydicom's
    pixel_array through rescale, the window (preset, C,W or the dataset's own, else the image's range) and
    MONOCHROME1 inversion."""
    name, window = RENDER_CASES[case]
    source = read_source(VALID_DIR / name)
    ds = pydicom.dcmread(VALID_DIR / name, force=True)
    if "TransferSyntaxUID" not in ds.file_meta:  # a bare dataset (no meta): implicit VR little endian
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    cache, out = work / "cache", work / "png"
    report = site.pull("--series", source.series_instance_uid, "--version", "V1", "--cache", cache)
    assert report["version"] == "V1", report
    args = ["render", source.sop_instance_uid, "--out", out, "--cache", cache] + ([f"--window={window}"] if window else [])
    printed = site.ok(*args)
    assert re.fullmatch(rf"{re.escape(source.sop_instance_uid)}\.png\s+V1.*", printed.strip()), printed
    pixels = png_pixels(out / f"{source.sop_instance_uid}.png")
    expected = voi_render(ds.pixel_array, ds, window_of(window))
    assert pixels.shape == expected.shape, f"{case}: PNG {pixels.shape}, image {expected.shape}"
    diff = np.abs(pixels - expected)
    assert diff.max() <= 1, f"{case}: {int((diff > 1).sum())} pixels differ by more than 1 (max {int(diff.max())})"
    assert len(np.unique(expected)) > 2, f"{case}: the expected rendering is flat; the case tests nothing"


@pytest.mark.parametrize("window", [None, "lung", "mediastinum", "-100,700"])
def test_render_of_a_lossy_level_matches_the_rendering_of_its_decoding(site: Site, work: Path, window: str | None):
    """V2 pulled up to level 1 (128x128 of 256x256): `render` says "V2 level 1 128x128" and its PNG is, within 1,
    the rendering (rescale and window from pydicom's reading of the source) of what opj_decompress decodes of
    the held bytes."""
    series = site.ct20
    cache, out = work / "cache", work / "png"
    site.pull("--series", series.series, "--version", "V2", "--level", "1", "--cache", cache)
    sops = series.sops[:4]
    printed = site.ok("render", *sops, "--out", out, "--cache", cache, *([f"--window={window}"] if window else []))
    lines = printed.strip().splitlines()
    assert [line.split()[0] for line in lines] == [f"{sop}.png" for sop in sops], printed
    for sop, line in zip(sops, lines):
        assert line.split()[1:] == ["V2", "level", "1", "128x128"], line
        ds = pydicom.dcmread(series.sources[sop], stop_before_pixels=True)
        decoded = opj_decode(held(cache, sop, "V2") + EOC, 1, work, bool(ds.PixelRepresentation))
        expected = voi_render(decoded, ds, window_of(window))
        pixels = png_pixels(out / f"{sop}.png")
        assert pixels.shape == (128, 128)
        diff = np.abs(pixels - expected)
        assert diff.max() <= 1, f"{sop} window {window}: max difference {int(diff.max())}"


def test_render_of_what_is_not_held_fails_saying_so(site: Site, work: Path):
    result = site.run("render", site.ct3.sops[0], "--out", work / "png", "--cache", work / "empty")
    assert result.returncode != 0 and "pull it first" in result.stderr, f"exit {result.returncode}: {result.stderr}"


# --------------------------------------------------------------------------
# cache eviction
# --------------------------------------------------------------------------

def test_a_small_cache_limit_evicts_least_recently_used_frames_first(site: Site, work: Path):
    """V3 of the 20-slice series pulled, five of its images then viewed (rendered), then V2 pulled with a
    --cache-limit of V2's size plus the five viewed V3 frames plus less than any other V3 frame: the fifteen V3
    frames nobody looked at leave, the five viewed and every V2 frame stay, the cache is under the limit, and
    every image whose frames stay still renders."""
    series = site.ct20
    cache, out = work / "cache", work / "png"
    site.pull("--series", series.series, "--version", "V3", "--cache", cache)
    v3 = {sop: len(held(cache, sop, "V3")) for sop in series.sops}
    viewed = series.sops[5:10]
    time.sleep(0.05)
    site.ok("render", *viewed, "--out", out, "--cache", cache)
    time.sleep(0.05)
    scratch = work / "scratch"
    site.pull("--series", series.series, "--version", "V2", "--cache", scratch)
    v2_size = cache_bin_bytes(scratch)
    others = [size for sop, size in v3.items() if sop not in viewed]
    limit = v2_size + sum(v3[sop] for sop in viewed) + min(others) // 2
    site.pull("--series", series.series, "--version", "V2", "--cache", cache, "--cache-limit", limit)
    size = cache_bin_bytes(cache)
    assert size <= limit, f"the cache holds {size} bytes of frames, the limit is {limit}"
    kept_v3 = sorted(sop for sop in series.sops if manifest(cache, sop, "V3") is not None)
    assert kept_v3 == sorted(viewed), f"V3 frames kept: {kept_v3}; expected the five viewed: {sorted(viewed)}"
    lost_v2 = [sop for sop in series.sops if manifest(cache, sop, "V2") is None]
    assert not lost_v2, f"V2 frames just pulled were evicted before older ones: {lost_v2}"
    for sop in series.sops:
        assert not (cache / sop / "V3" / "1.bin").exists() or sop in viewed, f"{sop}: V3 data left without its manifest"
    rendered = site.run("render", "--series", series.series, "--out", work / "after", "--cache", cache)
    assert rendered.returncode == 0 and len(rendered.stdout.strip().splitlines()) == len(series.sops), \
        f"after eviction the images still held do not render: exit {rendered.returncode}\n{rendered.stdout[-800:]}{rendered.stderr[-800:]}\n" \
        f"render parameters left: {len(list(cache.glob('*/image.json')))} of {len(series.sops)}"


# --------------------------------------------------------------------------
# diagnosis: status, notes, annotations, report
# --------------------------------------------------------------------------

def test_status_notes_annotations_and_report_round_trip(site: Site):
    """On the CR study: a note (status 3), an annotation with a point, a line, an ellipse and a text (status
    4), a report (status 5), each printed as the server stored it and read back through `notes`; the history
    has every revision; a referring user may not change the status (exit 3); `status` shows the history."""
    cr = read_source(VALID_DIR / "cr_explicit_be.dcm")
    study, sop = cr.study_instance_uid, cr.sop_instance_uid
    shown = json.loads(site.ok("status", study, user="referrer"))
    assert (shown["study"], shown["status"]) == (study, 1), shown

    refused = site.run("status", study, 2, user="referrer")
    assert refused.returncode == 3 and "403" in refused.stderr, f"exit {refused.returncode}: {refused.stderr}"
    assert site.status(study) == 1

    note = json.loads(site.ok("notes", study, "--add", "opacity right lower lobe"))
    assert note["kind"] == "note" and note["text"] == "opacity right lower lobe" and note["author"] == "reader", note
    assert site.status(study) == 3

    annotation = json.loads(site.ok("annotate", study, "--instance", sop, "point:10,20", "line:1,2,30,40",
                                    "ellipse:100,60,10,5", "text:5,6,see note"))
    assert annotation["kind"] == "annotation" and annotation["instance"] == sop, annotation
    shapes = annotation["shapes"]
    assert [s["type"] for s in shapes] == ["point", "line", "ellipse", "text"], shapes
    assert (shapes[0]["x"], shapes[0]["y"]) == (10, 20), shapes[0]
    assert shapes[1]["points"] == [[1, 2], [30, 40]], shapes[1]
    assert shapes[2]["center"] == [100, 60] and shapes[2]["radii"] == [10, 5], shapes[2]
    assert (shapes[3]["x"], shapes[3]["y"], shapes[3]["text"]) == (5, 6, "see note"), shapes[3]
    assert site.status(study) == 4

    off = site.run("annotate", study, "--instance", sop, "point:5000,5")
    assert off.returncode != 0 and "400" in off.stderr, f"a point off the image: exit {off.returncode} {off.stderr}"

    report = json.loads(site.ok("report", study, "--text", "Pneumonia right lower lobe."))
    assert report["kind"] == "report" and report["revision"] == 1 and report["text"] == "Pneumonia right lower lobe.", report
    revised = json.loads(site.ok("report", study, "--text", "Final: pneumonia.", user="admin"))
    assert revised["revision"] == 2 and revised["author"] == "admin", revised
    assert site.status(study) == 5

    info = json.loads(site.ok("notes", study, user="referrer"))
    assert info["status"] == 5 and [n["text"] for n in info["notes"]] == ["opacity right lower lobe"], info
    assert [a["id"] for a in info["annotations"]] == [annotation["id"]], info["annotations"]
    assert info["report"]["text"] == "Final: pneumonia." and info["report"]["revision"] == 2, info["report"]
    history = json.loads(site.ok("notes", study, "--history", user="referrer"))["history"]
    assert [h["revision"] for h in history if h["id"] == "report"] == [1, 2], history
    status = json.loads(site.ok("status", study))
    assert [(h["from"], h["to"], h["user"]) for h in status["history"]] == [(1, 3, "reader"), (3, 4, "reader"), (4, 5, "reader")], status


# --------------------------------------------------------------------------
# watch
# --------------------------------------------------------------------------

def test_watch_pulls_a_study_announced_after_a_status_change(site: Site, work: Path):
    """A referring doctor's `watch --count 1 --level 0` hears nothing of the unread 3-slice study; when a
    reading doctor marks it diagnosed (PUT /api/v1/studies/{study}/status) it is announced ("study UID ready")
    and pulled ("pulled 3 images of UID as V2: B bytes"), and the cache holds every image at level 0."""
    series = site.ct3
    assert site.status(series.study) == 1
    cache = work / "cache"
    process = site.popen("watch", "--count", "1", "--level", "0", "--cache", cache, user="referrer")
    try:
        time.sleep(2)  # connect and subscribe
        assert process.poll() is None, f"watch exited at once: {process.communicate()}"
        response = site.api("PUT", f"/studies/{series.study}/status", "reader", json={"status": 2})
        assert response.status_code == 200, response.text[:300]
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"watch did not pull the study within 60 s of the status change:\n{stdout}{stderr}{site.state()}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, f"watch: exit {process.returncode}\n{stdout}{stderr}"
    lines = stdout.strip().splitlines()
    assert lines and lines[0].startswith(f"study {series.study} ready ("), stdout
    m = re.fullmatch(rf"pulled 3 images of {re.escape(series.study)} as (V\d): (\d+) bytes", lines[-1].strip())
    assert m and m[1] == "V2", f"last line {lines[-1]!r}"
    for sop in series.sops:
        entry = manifest(cache, sop, "V2")
        assert entry is not None and entry["level"] == 0 and (entry["width"], entry["height"]) == (64, 64), f"{sop}: {entry}"


def test_stopping_the_server_ends_an_event_stream_cleanly_and_logs_no_error(pacs_bin: Path, tmp_path: Path):
    """SIGTERM while a workstation watches: its event stream ends as a finished response (not a cut connection),
    the server exits 0 within seconds, and its log has no error line."""
    pacs, passwords = pacs_with_users(pacs_bin, tmp_path, {"reader": "reading"})
    http_port = free_port()
    server = PacsServer(pacs, "--http-port", http_port, "--dicom-port", free_port(), log=tmp_path / "serve.log").start(HTTP_READY_LINE)
    try:
        response = requests.get(f"http://{HOST}:{http_port}/api/v1/events", auth=("reader", passwords["reader"]),
                                stream=True, timeout=30)
        assert response.status_code == 200, response.text[:300]
        chunks = response.iter_content(chunk_size=None)
        assert b"connected" in next(chunks)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # A connection cut before the chunked body's end raises here (requests' ChunkedEncodingError).
        assert b"".join(chunks) == b""
        code = server.process.wait(30)
        elapsed = time.monotonic() - started
    finally:
        server.kill()
    log = server.log_text()
    assert code == 0, f"pacs serve exited {code}:\n{log[-3000:]}"
    assert elapsed < 8, f"the stop took {elapsed:.1f} s:\n{log[-3000:]}"
    errors = [line for line in log.splitlines() if " error " in line or " critical " in line]
    assert not errors, "\n".join(errors)


# --------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------

def test_settings_show_server_and_user_never_the_password(site: Site):
    out = site.ok("settings")
    assert site.url in out and "reader" in out, out
    assert site.passwords["reader"] not in out
    flags = site.ok("settings", "--url", "http://example.invalid:9/", "--user", "someone")
    assert "http://example.invalid:9/" in flags and "someone" in flags and site.passwords["reader"] not in flags, flags


def test_settings_and_cache_follow_the_xdg_base_directories(site: Site, work: Path):
    """Without flags or STRATA_URL, the server comes from $XDG_CONFIG_HOME/strata/workstation.conf, else from
    $HOME/.config/strata/workstation.conf (the HOME given, not the account's passwd home); a pull with no --cache
    fills $XDG_CACHE_HOME/strata/workstation, else $HOME/.cache/strata/workstation."""
    home, xdg_config, xdg_cache = work / "home", work / "xdg-config", work / "xdg-cache"
    for folder, url in ((home / ".config", "http://from-home.invalid:1/"), (xdg_config, site.url)):
        (folder / "strata").mkdir(parents=True)
        (folder / "strata" / "workstation.conf").write_text(f"url = {url}\nuser = reader\n")
    base = {key: value for key, value in site.env("reader").items()
            if key not in ("STRATA_URL", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")} | {"HOME": str(home)}

    by_home = site.run("settings", env=base)
    assert by_home.returncode == 0 and "http://from-home.invalid:1/" in by_home.stdout, by_home.stdout + by_home.stderr
    xdg = base | {"XDG_CONFIG_HOME": str(xdg_config), "XDG_CACHE_HOME": str(xdg_cache)}
    by_xdg = site.run("settings", env=xdg)
    assert by_xdg.returncode == 0 and site.url in by_xdg.stdout, by_xdg.stdout + by_xdg.stderr

    pulled = site.run("pull", "--series", site.ct20.series, "--version", "V3", env=xdg)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert any((xdg_cache / "strata" / "workstation").rglob("*.bin")), "the pull cached nothing under $XDG_CACHE_HOME"
    assert not (home / ".cache").exists(), "the pull wrote under $HOME/.cache although XDG_CACHE_HOME is set"
