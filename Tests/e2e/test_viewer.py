"""The web viewer (Viewer/, served at /viewer/) in a real browser against a real server.

What a user sees, in headless Chromium driven by Selenium:
- a reading doctor logs in, the study table lists every study the archive holds (and a patient-name search
  narrows it to that patient's studies); opening a study shows its diagnosis status and one thumbnail per
  series (pictures that decoded); opening a series draws its middle image on the canvas coarse first and
  sharper level by level (64, 128, 256, 512), ending at the finest size: 512 for a 512-pixel CT, the image's
  own size (160) for a smaller CR; the picture is not blank, and a screenshot of it is kept as an artifact
  (Tests/e2e/artifacts/viewer.png);
- the arrow keys and the mouse wheel move through a five-image series (image 3 of 5 -> 4 -> 5 -> ...), each
  step drawing a different slice; dragging on the canvas changes the window and so the drawn pixels;
- a referring doctor opening a study that is still unread gets the server's refusal, naming the access rule
  that refused it, on the series tile and in the alert box, and no image is drawn; the same doctor sees the
  diagnosed study's thumbnails and images;
- a wrong password shows "Login failed" with the server's reason and keeps the login form.

One server for the module: a private copy of the shipped Policies/ (a referring doctor is offered V2 and V3 by
delivery.yaml, which access.yaml releases only once the study is diagnosed), a reading and a referring user, Fixtures/valid and a generated five-slice 512 x 512 CT series imported and derived
(`pacs derive`) before `pacs serve` starts. The generated CT study is set to status 2 (diagnosed) with
`pacs status set`; the MR study stays unread (status 1). Oracles: `pacs ls studies --json` for the table, the
policies as written for the refusal's rule, the canvas's own pixels (getImageData) for what was drawn.

Skipped when Chromium, its driver or Selenium is missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from conftest import (pacs_with_users, HTTP_READY_LINE, VALID_DIR, Pacs, PacsServer, free_port,
                      generate_ct_series, read_source)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from PIL import Image  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HOST = "127.0.0.1"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCREENSHOT = ARTIFACTS / "viewer.png"
WAIT_SECONDS = 30

USERS = {"reader": "reading", "referrer": "referring"}
CT_SLICES, CT_SIZE = 5, 512
UNREAD_FIXTURE = "mr_explicit_le.dcm"   # its study stays unread: the referring doctor is refused
SMALL_FIXTURE = "cr_explicit_be.dcm"    # 160 x 128: the viewer stops at the image's own size
SMALL_SIZE = 160
LEVELS = ("64", "128", "256", "512")


# --------------------------------------------------------------------------
# The module's server
# --------------------------------------------------------------------------

@dataclass
class Site:
    pacs: Pacs
    server: PacsServer
    http_port: int
    passwords: dict[str, str]
    studies: list[dict]        # `pacs ls studies --json`
    ct_study: str              # the generated CT series' study: diagnosed (2)
    ct_series: str
    ct_sops: list[str]         # in instance order
    unread_study: str          # the MR study: unread (1)
    small_study: str           # the CR study (unread; reading doctors may open it)
    referring_unread_rule: str

    @property
    def viewer_url(self) -> str:
        return f"http://{HOST}:{self.http_port}/viewer/"

    def state(self) -> str:
        return self.server.exit_note() or f"\n--- server log (tail) ---\n{self.server.log_text()[-2000:]}"


def status_of(pacs: Pacs, study: str) -> int:
    rows = [row for row in pacs.ls("studies") if row["study_instance_uid"] == study]
    assert len(rows) == 1, f"pacs ls studies lists {len(rows)} rows for {study}"
    return rows[0]["status"]


# Each test checks afterwards that the shared server is still running.
pytestmark = pytest.mark.usefixtures("server_alive")


@pytest.fixture(scope="module")
def site(pacs_bin: Path, tmp_path_factory) -> Site:
    root = tmp_path_factory.mktemp("viewer")
    pacs, passwords = pacs_with_users(pacs_bin, root, USERS)
    generated = generate_ct_series(root / "gen-ct", CT_SLICES, CT_SIZE)
    pacs.import_ok(VALID_DIR, generated.folder)
    derived = pacs.derive()
    assert derived is None or derived[1] == 0, f"pacs derive left {derived[1]} instances queued"

    sources = sorted((read_source(p) for p in generated.uids), key=lambda s: s.instance_number or 0)
    ct_study, ct_series = sources[0].study_instance_uid, sources[0].series_instance_uid
    unread_study = read_source(VALID_DIR / UNREAD_FIXTURE).study_instance_uid
    small_study = read_source(VALID_DIR / SMALL_FIXTURE).study_instance_uid
    result = pacs.run("status", "set", ct_study, 2)
    assert result.returncode == 0, f"pacs status set {ct_study} 2: exit {result.returncode}\n{result.stdout}{result.stderr}"
    assert status_of(pacs, ct_study) == 2
    assert status_of(pacs, unread_study) == 1

    http_port, dicom_port = free_port(), free_port()
    server = PacsServer(pacs, "--http-port", http_port, "--dicom-port", dicom_port,
                        log=root / "serve.log").start(HTTP_READY_LINE)
    yield Site(pacs, server, http_port, passwords, pacs.ls("studies"), ct_study, ct_series,
               [s.sop_instance_uid for s in sources], unread_study, small_study,
               "access.yaml roles.referring.unread")
    assert server.stop() == 0, f"pacs serve did not exit 0 on SIGTERM:\n{server.log_text()[-3000:]}"


# --------------------------------------------------------------------------
# The browser
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chrome():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(f"headless Chromium is not installed ({', '.join(missing)} missing): run scripts/setup.sh --test")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


@dataclass
class Browser:
    """The viewer page in Chromium, with waits that fail saying what the page showed."""

    driver: "webdriver.Chrome"
    site: Site

    def by_id(self, element_id: str):
        return self.driver.find_element(By.ID, element_id)

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def page_state(self) -> str:
        message = self.js("const m = document.getElementById('message'); return m.hidden ? '' : m.textContent;")
        try:
            console = [f"{e['level']} {e['message']}" for e in self.driver.get_log("browser")][-10:]
        except WebDriverException:
            console = []
        info = self.js("""const c = document.getElementById('image');
            return {info: document.getElementById('image-info').textContent, level: c.dataset.level || null,
                    busy: c.getAttribute('aria-busy'), status: document.getElementById('study-status').textContent,
                    rows: document.querySelectorAll('#studies tbody tr').length,
                    tiles: [...document.querySelectorAll('#series .series')].map(t => t.textContent)};""")
        return (f"\npage: {info}\nalert box: {message!r}\nbrowser console: {console}" + self.site.state())

    def wait(self, condition, what: str, timeout: float = WAIT_SECONDS):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(lambda _: condition())
        except TimeoutException:
            pytest.fail(f"after {timeout:.0f} s: {what}{self.page_state()}")

    def message(self) -> str:
        return self.js("const m = document.getElementById('message'); return m.hidden ? '' : m.textContent;")

    def login(self, user: str, password: str) -> None:
        self.driver.get(self.site.viewer_url)
        self.wait(lambda: self.js("return document.readyState") == "complete", "the viewer page loads")
        assert self.by_id("login-form").is_displayed() and not self.by_id("app").is_displayed()
        self.by_id("user").send_keys(user)
        self.by_id("password").send_keys(password)
        self.by_id("login-button").click()

    def login_ok(self, user: str) -> None:
        self.login(user, self.site.passwords[user])
        self.wait(lambda: self.by_id("app").is_displayed(), f"{user} is logged in (the app shows)")
        self.wait(lambda: len(self.study_rows()) > 0, "the study table lists studies after login")

    def study_rows(self) -> dict[str, list[str]]:
        """The table's rows: study UID -> the cells' texts."""
        return self.js("""const rows = {};
            for (const tr of document.querySelectorAll('#studies tbody tr'))
                rows[tr.dataset.study] = [...tr.cells].map(c => c.textContent);
            return rows;""")

    def open_study(self, study: str, status: str | None = None) -> None:
        """Opens a study from the list and, given a `status` (say "1 (unread)"), waits until it shows."""
        row = self.driver.find_element(By.CSS_SELECTOR, f'#studies tbody tr[data-study="{study}"]')
        row.click()
        self.wait(lambda: self.by_id("study").is_displayed(), "the study section shows")
        if status:
            self.wait(lambda: self.by_id("study-status").text == status, f"the study's status shows as {status}")

    def wait_for_tiles(self, count: int) -> None:
        """Waits until `count` series tiles each show a thumbnail that loaded or a refusal."""
        self.wait(lambda: self.js("""const tiles = [...document.querySelectorAll('#series .series')];
                return tiles.length === arguments[0] && tiles.every(t => t.querySelector('.refused') ||
                    (t.querySelector('img') && t.querySelector('img').complete));""", count),
                  f"{count} series tiles with a thumbnail or a refusal")

    def one_thumbnail(self) -> dict:
        """The study's only series tile, once its thumbnail loaded or was refused."""
        self.wait_for_tiles(1)
        [tile] = self.thumbnails()
        return tile

    def thumbnails(self) -> list[dict]:
        return self.js("""return [...document.querySelectorAll('#series .series')].map(t => {
                const img = t.querySelector('img'), refused = t.querySelector('.refused');
                return {series: t.dataset.series, width: img ? img.naturalWidth : null,
                        height: img ? img.naturalHeight : null, refused: refused ? refused.textContent : null};
            });""")

    def open_series(self, series: str) -> None:
        self.track_levels()
        self.driver.find_element(By.CSS_SELECTOR, f'#series .series[data-series="{series}"] img').click()
        self.wait(lambda: self.by_id("image-view").is_displayed(), "the image view shows")

    def track_levels(self) -> None:
        """Records every size the canvas is drawn at from now on (window.levelsDrawn)."""
        self.js("""window.levelsDrawn = [];
            const canvas = document.getElementById('image');
            if (!window.levelObserver) {
                window.levelObserver = new MutationObserver(() => window.levelsDrawn.push(canvas.dataset.level));
                window.levelObserver.observe(canvas, {attributes: true, attributeFilter: ['data-level']});
            }""")

    def levels_drawn(self) -> list[str]:
        return self.js("return window.levelsDrawn || [];")

    def wait_drawn(self, info: str, level: str) -> None:
        """Waits until the canvas shows `info` (image k of n), has finished loading, and was last drawn at `level`."""
        self.wait(lambda: self.by_id("image-info").text == info and self.js(
                      "const c = document.getElementById('image');"
                      "return c.getAttribute('aria-busy') === 'false' && c.dataset.level === arguments[0];", level),
                  f"the canvas shows {info!r}, done loading, drawn last at size {level}")

    def canvas(self) -> np.ndarray:
        """The canvas's pixels as luminance (height x width, 0..255), read with getImageData."""
        data = self.js("""const c = document.getElementById('image');
            const rgba = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const gray = new Array(c.width * c.height);
            for (let i = 0, j = 0; i < rgba.length; i += 4, j++)
                gray[j] = Math.round((rgba[i] * 299 + rgba[i + 1] * 587 + rgba[i + 2] * 114) / 1000 * rgba[i + 3] / 255);
            return [c.width, c.height, gray.join(',')];""")
        width, height, gray = data
        return np.array([int(v) for v in gray.split(",")], dtype=np.uint8).reshape(height, width)

    def canvas_instance(self) -> str | None:
        return self.js("return document.getElementById('image').dataset.instance || null;")


@pytest.fixture
def browser(chrome, site: Site) -> Browser:
    """A fresh viewer page (no token, nothing open) for each test."""
    chrome.delete_all_cookies()
    chrome.get("about:blank")
    try:
        chrome.get_log("browser")  # drop the previous test's console lines
    except WebDriverException:
        pass
    return Browser(chrome, site)


def assert_picture(pixels: np.ndarray, what: str) -> None:
    """Something was drawn: many pixels that are not black, and real contrast among them."""
    lit, total, spread = int(np.count_nonzero(pixels > 16)), int(pixels.size), float(pixels.std())
    assert lit > 0.05 * total, f"{what}: only {lit} of {total} pixels are not black"
    assert spread > 10, f"{what}: the picture is flat (standard deviation {spread:.1f})"


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def open_ct_series(browser: Browser) -> None:
    """As the reading doctor: log in, open the diagnosed CT study and its series, wait for the finest size."""
    site = browser.site
    browser.login_ok("reader")
    browser.open_study(site.ct_study)
    browser.wait_for_tiles(1)
    browser.open_series(site.ct_series)
    browser.wait_drawn(f"image {CT_SLICES // 2 + 1} of {CT_SLICES}", "512")


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------

def test_reading_doctor_finds_opens_and_sees_the_image_sharpen(browser: Browser, site: Site):
    """The reading doctor's way in: the table lists every study, the diagnosed CT study shows its status and a
    decoded thumbnail, its series draws the middle slice at 64, 128, 256 and then 512 pixels, not blank; the
    screenshot of that is kept as Tests/e2e/artifacts/viewer.png."""
    browser.login_ok("reader")
    assert browser.by_id("who").text == "reader"
    assert browser.message() == ""
    rows = browser.wait(lambda: (r := browser.study_rows()) and len(r) >= len(site.studies) and r,
                        f"the table lists all {len(site.studies)} studies")
    expected = {s["study_instance_uid"]: s for s in site.studies}
    assert set(rows) == set(expected), f"the table's studies differ from `pacs ls studies`: " \
                                       f"missing {set(expected) - set(rows)}, extra {set(rows) - set(expected)}"
    for uid, cells in rows.items():
        date, patient, patient_id, modalities, description = cells
        assert (date, patient_id, description) == (expected[uid]["study_date"], expected[uid]["patient_id"],
                                                  expected[uid]["study_description"]), f"row of {uid}: {cells}"
        assert set(modalities.split(",")) == set(expected[uid]["modalities"]), f"row of {uid}: {cells}"

    browser.open_study(site.ct_study, "2 (diagnosed)")
    assert expected[site.ct_study]["study_description"] in browser.by_id("study-title").text
    tile = browser.one_thumbnail()
    assert tile["series"] == site.ct_series and tile["refused"] is None, tile
    assert tile["width"] > 0 and tile["height"] > 0, f"the thumbnail did not decode: {tile}"

    browser.open_series(site.ct_series)
    browser.wait_drawn(f"image {CT_SLICES // 2 + 1} of {CT_SLICES}", "512")
    assert browser.levels_drawn() == list(LEVELS), \
        f"the image was drawn at sizes {browser.levels_drawn()}, expected coarse to fine {list(LEVELS)}"
    assert browser.canvas_instance() == site.ct_sops[CT_SLICES // 2], "the canvas does not show the middle slice"
    assert_picture(browser.canvas(), "the CT slice on the canvas")
    assert browser.message() == "", f"an alert shows: {browser.message()!r}"

    browser.js("document.getElementById('image-view').scrollIntoView({block: 'start'});")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    assert browser.driver.save_screenshot(str(SCREENSHOT)), "Chromium could not save a screenshot"
    assert SCREENSHOT.is_file() and SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{SCREENSHOT} is not a PNG"
    shot = np.asarray(Image.open(BytesIO(SCREENSHOT.read_bytes())).convert("L"))
    assert shot.shape[1] >= 1000, f"the screenshot is {shot.shape[1]} pixels wide"
    assert float(shot.std()) > 10 and len(np.unique(shot)) > 32, f"the screenshot {SCREENSHOT} looks blank"


def test_search_narrows_the_table_to_one_patient(browser: Browser, site: Site):
    """A patient-name search (with a wildcard) leaves exactly that patient's studies in the table."""
    browser.login_ok("reader")
    family = "Smith"
    expected = {s["study_instance_uid"] for s in site.studies if s["patient_name"].startswith(family + "^")}
    assert 0 < len(expected) < len(site.studies), "the fixtures no longer have a few studies of Smith"
    browser.by_id("patient-name").send_keys(f"{family}*")
    browser.by_id("search-button").click()
    rows = browser.wait(lambda: (r := browser.study_rows()) and set(r) == expected and r,
                        f"the table lists only {family}'s {len(expected)} studies")
    assert all(cells[1].startswith(family) for cells in rows.values()), rows
    assert browser.message() == ""


def test_a_small_image_ends_at_its_own_size(browser: Browser, site: Site):
    """A 160 x 128 CR image (its study unread: reading doctors still see it) is drawn at 64, 128, then its own
    160 pixels, and the viewer asks for no larger size."""
    browser.login_ok("reader")
    browser.open_study(site.small_study, "1 (unread)")
    tile = browser.one_thumbnail()
    assert tile["refused"] is None and tile["width"] > 0, tile
    browser.open_series(tile["series"])
    browser.wait_drawn("image 1 of 1", str(SMALL_SIZE))
    assert browser.levels_drawn() == ["64", "128", str(SMALL_SIZE)], browser.levels_drawn()
    assert_picture(browser.canvas(), "the CR image on the canvas")


def test_arrow_keys_and_wheel_move_through_the_series(browser: Browser, site: Site):
    """In the five-slice series the arrow keys and the mouse wheel step image by image (stopping at the ends),
    and each step draws that slice."""
    open_ct_series(browser)
    canvas = browser.by_id("image")
    seen = {browser.canvas_instance(): browser.canvas()}

    def check(info: str, index: int):
        browser.wait_drawn(info, "512")
        browser.wait(lambda: browser.canvas_instance() == site.ct_sops[index], f"the canvas shows slice {index + 1}")
        pixels = browser.canvas()
        assert_picture(pixels, info)
        for sop, other in seen.items():
            if sop != site.ct_sops[index]:
                changed = mean_difference(pixels, other)
                assert changed > 0.5, f"{info} draws the same picture as slice {sop} (mean difference {changed:.2f})"
        seen[site.ct_sops[index]] = pixels

    ActionChains(browser.driver).send_keys(Keys.ARROW_DOWN).perform()
    check("image 4 of 5", 3)
    ActionChains(browser.driver).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, 100).perform()
    check("image 5 of 5", 4)
    ActionChains(browser.driver).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, 100).perform()
    time.sleep(0.3)
    assert browser.by_id("image-info").text == "image 5 of 5", "scrolling past the last image moved"
    for _ in range(3):
        ActionChains(browser.driver).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, -100).perform()
        time.sleep(0.1)
    check("image 2 of 5", 1)
    ActionChains(browser.driver).send_keys(Keys.ARROW_UP).perform()
    check("image 1 of 5", 0)
    assert browser.message() == "", f"an alert shows: {browser.message()!r}"


def requested_window(browser: Browser) -> tuple[int, int] | None:
    """The window (center, width) of the last rendered image the page asked the server for, if any named one."""
    url = browser.js("return performance.getEntriesByType('resource').map(e => e.name)"
                     ".filter(n => n.includes('window=')).pop() || null")
    if url is None:
        return None
    center, width = parse_qs(urlparse(url).query)["window"][0].split(",")
    return int(center), int(width)


def test_dragging_changes_the_window(browser: Browser, site: Site):
    """Dragging right widens the window and dragging down raises its center (4 and 2 per pixel, from the CT
    default 40/400): the slice is drawn again, still at the finest size, rendered by the server with that window,
    with visibly different pixels; dragging back left and up narrows it and lowers the center again."""
    open_ct_series(browser)
    before = browser.canvas()
    canvas = browser.by_id("image")
    browser.track_levels()
    ActionChains(browser.driver).move_to_element(canvas).click_and_hold().move_by_offset(120, 60).release().perform()
    browser.wait(lambda: browser.levels_drawn()[-1:] == ["512"], "the slice is drawn again after the drag")
    browser.wait_drawn("image 3 of 5", "512")
    after = browser.canvas()
    assert_picture(after, "the slice after the drag")
    changed = mean_difference(before, after)
    assert changed > 5, f"the drawn pixels barely changed after the drag (mean difference {changed:.2f} of 255)"
    assert browser.levels_drawn() == list(LEVELS), f"after the drag the slice was drawn at {browser.levels_drawn()}"
    center, width = requested_window(browser) or (None, None)
    assert center is not None and abs(center - (40 + 2 * 60)) <= 8 and abs(width - (400 + 4 * 120)) <= 16, \
        f"dragging right and down asked for window center {center}, width {width}: expected about 160/880"

    browser.track_levels()
    ActionChains(browser.driver).move_to_element(canvas).click_and_hold().move_by_offset(-100, -90).release().perform()
    browser.wait(lambda: browser.levels_drawn()[-1:] == ["512"], "the slice is drawn again after the second drag")
    browser.wait_drawn("image 3 of 5", "512")
    again = browser.canvas()
    changed = mean_difference(after, again)
    assert changed > 5, f"a second drag barely changed the drawn pixels (mean difference {changed:.2f} of 255)"
    back = requested_window(browser)
    assert back is not None and back[0] < center - 100 and back[1] < width - 300, \
        f"dragging left and up asked for window {back}: the center and width should fall from {center}/{width}"
    assert browser.canvas_instance() == site.ct_sops[2], "dragging changed the slice"
    assert browser.message() == "", f"an alert shows: {browser.message()!r}"


def test_referring_doctor_is_refused_an_unread_study(browser: Browser, site: Site):
    """The referring doctor sees the unread MR study listed, but opening it shows the server's refusal naming
    the access rule on every series tile and in the alert box; nothing can be opened and nothing is drawn."""
    browser.login_ok("referrer")
    assert site.unread_study in browser.study_rows(), "the unread study is not listed for the referring doctor"
    browser.open_study(site.unread_study, "1 (unread)")
    series_count = next(s["series_count"] for s in site.studies if s["study_instance_uid"] == site.unread_study)
    browser.wait_for_tiles(series_count)
    for tile in browser.thumbnails():
        assert tile["width"] is None, f"a thumbnail of the unread study was shown to the referring doctor: {tile}"
        assert tile["refused"] and site.referring_unread_rule in tile["refused"] and "unread" in tile["refused"], \
            f"the tile does not give the server's reason naming {site.referring_unread_rule!r}: {tile}"
    browser.wait(lambda: browser.by_id("message").is_displayed(), "the alert box shows")
    alert = browser.by_id("message")
    assert alert.get_attribute("role") == "alert"
    assert site.referring_unread_rule in alert.text and "referring" in alert.text, alert.text

    browser.driver.find_element(By.CSS_SELECTOR, "#series .series .refused").click()
    time.sleep(0.5)
    assert not browser.by_id("image-view").is_displayed(), "a refused series opened the image view"
    assert browser.js("return document.getElementById('image').dataset.level || null") is None, \
        "an image was drawn for the referring doctor"


def test_referring_doctor_sees_the_diagnosed_study(browser: Browser, site: Site):
    """Once diagnosed, the CT study is the referring doctor's to see: a thumbnail, and the slice drawn."""
    browser.login_ok("referrer")
    browser.open_study(site.ct_study, "2 (diagnosed)")
    tile = browser.one_thumbnail()
    assert tile["refused"] is None and tile["width"] > 0, tile
    browser.open_series(site.ct_series)
    browser.wait_drawn("image 3 of 5", "512")
    assert_picture(browser.canvas(), "the CT slice the referring doctor sees")
    assert browser.message() == ""


def test_a_wrong_password_shows_login_failed(browser: Browser, site: Site):
    """A wrong password: the alert says "Login failed" with the server's reason; the login form stays."""
    browser.login("reader", site.passwords["reader"] + "-wrong")
    browser.wait(lambda: browser.by_id("message").is_displayed(), "the alert box shows")
    text = browser.by_id("message").text
    assert text.startswith("Login failed"), text
    assert "wrong user name or password" in text, f"the server's reason is not shown: {text!r}"
    assert browser.by_id("login-form").is_displayed() and not browser.by_id("app").is_displayed()
    assert browser.study_rows() == {}, "studies were listed without logging in"
