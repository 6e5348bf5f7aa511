"""The site in a real headless Chromium: every page type of a site built from real protocol
output renders (no console error, a screenshot that is not blank, no raw mathtext or literal
entity anywhere, every chart drawn with its points), tables filter, page and sort, build rows
open, every internal link resolves, and a hostile name is shown as text.

Needs Debian `chromium` and `chromium-driver` (`.ci/run` installs them); skipped without.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from harness.report import screenshots
from harness.report.data import slug
from tests.report.test_website import DATASET, EVIL, built_site

pytestmark = pytest.mark.skipif(
    screenshots.chromium() is None,
    reason="needs Chromium and its driver: apt-get install chromium chromium-driver",
)
#: Text a reader must never see: mathtext source, or an entity shown as text.
RAW = ("mathdefault", "$\\", "\\mathdefault", "&quot;", "&amp;", "&lt;", "&gt;", "&#")
PAGE_TYPES = ("index", "dataset", "algorithm", "erasure", "nightly")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with screenshots.browser() as driver:
        yield driver


@pytest.fixture
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    return built_site(tmp_path_factory)


def open_page(browser, path: Path) -> list[dict]:
    """Load a page and wait for its charts; the console messages it logged."""
    browser.get(path.resolve().as_uri())
    browser.get_log("browser")  # drop anything left from the previous page
    browser.refresh()
    screenshots.wait_for_charts(browser)
    return browser.get_log("browser")


def visible_text(browser) -> str:
    """The page's text and every SVG text of its charts."""
    return browser.execute_script(
        "return document.body.innerText + ' ' + Array.from(document.querySelectorAll("
        "'svg text')).map(t => t.textContent).join(' ')"
    )


def not_blank(png: bytes) -> bool:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 16)
    if colours is None:
        return True  # more than 65536 colours
    white = max(colours)[0] / (image.width * image.height)
    return len(colours) > 20 and white < 0.97


@pytest.mark.parametrize("kind", PAGE_TYPES)
def test_every_page_type_renders_from_real_output(browser, real_site, tmp_path, kind) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, site = real_site
    page = screenshots.page_types(site)[kind]
    errors = [m for m in open_page(browser, page) if m["level"] == "SEVERE"]
    assert errors == [], f"{page}: {errors}"
    text = visible_text(browser)
    assert not [raw for raw in RAW if raw in text], f"{kind}: raw text shown"
    for chart in browser.find_elements(By.CSS_SELECTOR, "div.chart[data-chart]"):
        points = chart.find_elements(By.CSS_SELECTOR, ".scatterlayer .trace .points path")
        assert points, f"{kind}: chart {chart.get_attribute('id')} drew no points"
        ticks = [t.text for t in chart.find_elements(By.CSS_SELECTOR, ".ytick text")]
        assert ticks and all(t and "$" not in t for t in ticks), ticks
    loaded = "return arguments[0].complete && arguments[0].naturalWidth"
    for image in browser.find_elements(By.CSS_SELECTOR, "img"):  # lazy: scroll each in
        browser.execute_script("arguments[0].scrollIntoView()", image)
        WebDriverWait(browser, 10).until(lambda d, image=image: d.execute_script(loaded, image))
    charts = screenshots.screenshot(browser, page, tmp_path / f"{kind}.png")
    assert not_blank((tmp_path / f"{kind}.png").read_bytes()), kind
    if kind in ("index", "dataset", "algorithm", "nightly"):
        assert charts >= 1, kind


def test_the_screenshot_command_writes_every_page_type_and_the_site_size(
    real_site, tmp_path, capsys
) -> None:
    _, site = real_site
    assert screenshots.main([str(site), str(tmp_path)]) == 0
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == sorted(PAGE_TYPES)
    printed = capsys.readouterr().out
    size, files = screenshots.site_size(site)
    assert f"site: {files} files, {size / 2**20:.1f} MiB" in printed
    assert 4 < size / 2**20 < 50  # plotly.js alone is about 4.5 MiB


def test_the_runs_table_filters_and_pages(browser, real_site) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _, site = real_site
    open_page(browser, site / "algorithms" / f"{slug('hnsw')}.html")
    table = browser.find_element(By.CSS_SELECTOR, "table.runs")
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    shown = [r for r in rows if r.is_displayed()]
    assert len(rows) > 50 and len(shown) == 50  # the first page
    tools = table.find_element(By.XPATH, "preceding-sibling::div[@class='table-tools'][1]")
    tools.find_element(By.CSS_SELECTOR, "button.next").click()
    assert len([r for r in rows if r.is_displayed()]) == len(rows) - 50
    protocol = Select(
        tools.find_element(By.CSS_SELECTOR, "select[aria-label='filter by protocol']")
    )
    protocol.select_by_visible_text("erasure")
    shown = [r for r in rows if r.is_displayed()]
    assert shown and all(r.find_elements(By.TAG_NAME, "td")[1].text == "erasure" for r in shown)
    state = Select(tools.find_element(By.CSS_SELECTOR, "select[aria-label='filter by state']"))
    state.select_by_visible_text("compacted")
    assert all(
        r.find_elements(By.TAG_NAME, "td")[5].text == "compacted" for r in rows if r.is_displayed()
    )
    assert "filtered from" in tools.text


def test_sorting_is_numeric_and_build_rows_open(browser, real_site) -> None:
    from selenium.webdriver.common.by import By

    _, site = real_site
    open_page(browser, site / "algorithms" / f"{slug('hnsw')}.html")
    table = browser.find_element(By.CSS_SELECTOR, "table.runs")
    query = table.find_elements(By.CSS_SELECTOR, "th")[3]
    query.click()  # ascending, naturally: ef=10 < ef=40 < ef=120
    cells = [
        r.find_elements(By.TAG_NAME, "td")[3].text
        for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    values = [int(c.split("=")[1]) for c in cells if c.startswith("ef=")]
    assert values == sorted(values)
    open_page(browser, site / "index.html")
    toggle = browser.find_element(By.CSS_SELECTOR, "button.builds-toggle")
    group = toggle.find_element(By.XPATH, "./ancestor::tbody")
    builds = group.find_elements(By.CSS_SELECTOR, "tr.build")
    assert builds and not any(b.is_displayed() for b in builds)
    toggle.click()
    assert all(b.is_displayed() for b in builds) and toggle.text.startswith("hide")
    assert len(group.find_elements(By.CSS_SELECTOR, ".best-mark")) == 1
    # sorting the leaderboard by QPS moves whole groups: build rows stay under their algorithm
    board = browser.find_element(By.CSS_SELECTOR, "table.leaderboard")
    header = board.find_elements(By.CSS_SELECTOR, "th")[2]
    for direction in ("ascending", "descending"):
        header.click()
        assert header.get_attribute("aria-sort") == direction
        groups = board.find_elements(By.CSS_SELECTOR, "tbody.group")
        qps = [g.find_element(By.CSS_SELECTOR, "tr.headline td:nth-child(3)").text for g in groups]
        numbers = [float(q) for q in qps if q not in ("none", "-")]
        assert numbers == sorted(numbers, reverse=direction == "descending")
        for g in groups:  # each group still starts with its headline row
            assert g.find_elements(By.TAG_NAME, "tr")[0].get_attribute("class") == "headline"


def test_the_hostile_name_is_shown_as_text(browser, site) -> None:
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
    legend = " ".join(t.text for t in browser.find_elements(By.CSS_SELECTOR, ".legendtext"))
    assert EVIL in legend  # the chart's legend shows it literally too
    browser.get((out / "algorithms" / f"{slug(EVIL)}.html").as_uri())
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Algorithm {EVIL}"
    assert browser.find_elements(By.XPATH, "//script[normalize-space(.)='alert(1)']") == []


def test_every_internal_link_and_anchor_resolves(browser, real_site) -> None:
    _, out = real_site
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
