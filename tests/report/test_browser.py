"""The site in a real headless Chromium: no console errors, leaderboard rows, a chart that
draws, every internal link and anchor resolving, and a hostile name shown as text.

Needs Debian `chromium` and `chromium-driver` (`.ci/run` installs them); skipped without.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from harness.report.data import slug
from tests.report.test_website import DATASET, EVIL, OTHER, built_site

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Chromium and its driver: apt-get install chromium chromium-driver",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.add_argument("--allow-file-access-from-files")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    return built_site(tmp_path_factory)


def open_page(browser, path: Path) -> list[dict]:
    """Load a page; the console messages it logged."""
    browser.get(path.resolve().as_uri())
    browser.get_log("browser")  # drop anything left from the previous page
    browser.refresh()
    return browser.get_log("browser")


def test_index_loads_without_console_errors_and_shows_the_hostile_name_as_text(
    browser, site
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    _, out, _ = site
    for page in ("index.html", f"algorithms/{slug(EVIL)}.html", f"datasets/{slug(DATASET)}.html"):
        errors = [m for m in open_page(browser, out / page) if m["level"] == "SEVERE"]
        assert errors == [], f"{page}: {errors}"
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018 - reading it raises when none fired
    browser.get((out / "index.html").as_uri())
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table.leaderboard a")]
    assert EVIL in names
    browser.get((out / "algorithms" / f"{slug(EVIL)}.html").as_uri())
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Algorithm {EVIL}"
    assert browser.find_elements(By.XPATH, "//script[normalize-space(.)='alert(1)']") == []


def test_leaderboards_have_a_row_per_algorithm_and_every_run_is_listed(browser, site) -> None:
    from selenium.webdriver.common.by import By

    _, out, files = site
    browser.get((out / "index.html").as_uri())
    boards = browser.find_elements(By.CSS_SELECTOR, "table.leaderboard")
    rows = [len(b.find_elements(By.CSS_SELECTOR, "tbody tr")) for b in boards]
    assert rows == [1, 3]  # datasets sorted: OTHER (bruteforce), DATASET (3 algorithms)
    runs = 0
    for dataset in (OTHER, DATASET):
        browser.get((out / "datasets" / f"{slug(dataset)}.html").as_uri())
        runs += len(browser.find_elements(By.CSS_SELECTOR, "table.runs tbody tr"))
    assert runs == files
    # sorting by QPS (descending on the second click) puts the fastest algorithm first
    browser.get((out / "index.html").as_uri())
    board = browser.find_elements(By.CSS_SELECTOR, "table.leaderboard")[1]
    header = board.find_elements(By.CSS_SELECTOR, "th")[1]
    header.click()
    header.click()
    first = board.find_element(By.CSS_SELECTOR, "tbody tr td a").text
    assert first == "hnswlib" and header.get_attribute("aria-sort") == "descending"


def test_a_chart_draws(browser, site) -> None:
    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    _, out, _ = site
    browser.get((out / "datasets" / f"{slug(DATASET)}.html").as_uri())
    located = expected_conditions.presence_of_element_located
    WebDriverWait(browser, 20).until(located((By.CSS_SELECTOR, "#chart-0 .main-svg")))
    chart = browser.find_element(By.ID, "chart-0")
    traces = chart.find_elements(By.CSS_SELECTOR, ".scatterlayer .trace")
    assert len(traces) >= 3
    image = Image.open(io.BytesIO(chart.screenshot_as_png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20, "the chart screenshot is blank"
    white = max(colours)[0] / (image.width * image.height) if colours else 0
    assert white < 0.97


def test_every_internal_link_and_anchor_resolves(browser, site) -> None:
    _, out, _ = site
    todo, ids, links = [(out / "index.html").resolve()], {}, []
    while todo:  # crawl every page reachable from the index, as the browser resolves links
        page = todo.pop()
        if page in ids:
            continue
        browser.get(page.as_uri())
        ids[page] = set(browser.execute_script(
            "return Array.from(document.querySelectorAll('[id]')).map(e => e.id)"
        ))  # fmt: skip
        found = browser.execute_script(
            "return Array.from(document.querySelectorAll('[href],[src]'))"
            ".map(e => e.href || e.src).filter(u => !u.startsWith('data:'))"
        )
        for link in found:
            parts = urlsplit(link)
            assert parts.scheme == "file", f"{page.name}: external {link}"
            target = Path(unquote(parts.path)).resolve()
            assert target.exists(), f"{page.name} links to missing {target}"
            links.append((page, target, unquote(parts.fragment)))
            if target.suffix == ".html":
                todo.append(target)
    for page, target, fragment in links:
        assert not fragment or fragment in ids[target], f"{page.name}: no #{fragment} in {target}"
    assert len(ids) >= 7 and len(links) > 50
