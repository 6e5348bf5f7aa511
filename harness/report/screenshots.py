"""Screenshots of a built site in headless Chromium, one per page type, and the site's size.

    python -m harness.report.screenshots website-out docs/screenshots [--width 1280]

Opens the index, the first dataset page, the first algorithm page, the erasure page and
(when built) the nightly page, waits until every chart has drawn, and saves a full-page PNG
of each. Needs Chromium and its driver (Debian `chromium`, `chromium-driver`) and selenium.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Chromium flags: headless, no sandbox (containers), and nothing that reaches the network.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--allow-file-access-from-files",
)
CHART_TIMEOUT_S = 30
MAX_HEIGHT = 12_000  # a page taller than this is cut: the screenshot is for reading


def chromium() -> tuple[str, str] | None:
    """The Chromium binary and its driver, or None when either is missing."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


@contextmanager
def browser(width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium driven by selenium; its console log is kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = chromium()
    if found is None:
        raise RuntimeError(
            "needs Chromium and its driver: apt-get install chromium chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in (*FLAGS, f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(found[1]))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def page_types(site: Path) -> dict[str, Path]:
    """One page of each type the site has: index, dataset, algorithm, erasure, nightly."""
    pages = {"index": site / "index.html", "erasure": site / "erasure.html"}
    for kind, folder in (("dataset", "datasets"), ("algorithm", "algorithms")):
        found = sorted((site / folder).glob("*.html"))
        if found:
            pages[kind] = found[0]
    if (site / "nightly.html").exists():
        pages["nightly"] = site / "nightly.html"
    return pages


def wait_for_charts(driver: Any) -> int:
    """Wait until every chart div of the page has drawn its plot; how many there are."""
    from selenium.webdriver.support.ui import WebDriverWait

    script = (
        "const c = document.querySelectorAll('div.chart[data-chart]');"
        "return [c.length, Array.from(c).filter(d => d.querySelector('.main-svg')).length];"
    )
    WebDriverWait(driver, CHART_TIMEOUT_S).until(lambda d: len(set(d.execute_script(script))) == 1)
    return int(driver.execute_script(script)[0])


def screenshot(driver: Any, page: Path, target: Path) -> int:
    """Load a page, wait for its charts, save a full-page PNG; the number of charts."""
    driver.get(page.resolve().as_uri())
    charts = wait_for_charts(driver)
    width = driver.execute_script("return document.documentElement.scrollWidth")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(max(width, 1280), min(height + 100, MAX_HEIGHT))
    wait_for_charts(driver)  # a resize redraws responsive charts
    target.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(target))
    shrink(target)
    driver.set_window_size(1280, 1000)
    return charts


def shrink(png: Path) -> None:
    """Re-save a screenshot with a 256-colour palette: a third of the bytes, for docs/."""
    from PIL import Image

    with Image.open(png) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(png, optimize=True)


def site_size(site: Path) -> tuple[int, int]:
    """Total bytes and number of files of a built site."""
    files = [p for p in site.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="a folder built by `python run.py --website`")
    parser.add_argument("outdir", type=Path, help="where the PNGs go")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    if not (args.site / "index.html").exists():
        print(f"error: {args.site} has no index.html: build it with python run.py --website")
        return 2
    with browser(args.width) as driver:
        for kind, page in page_types(args.site).items():
            target = args.outdir / f"{kind}.png"
            charts = screenshot(driver, page, target)
            print(f"{kind:10} {page.relative_to(args.site)}: {charts} chart(s) -> {target}")
    size, files = site_size(args.site)
    print(f"site: {files} files, {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
