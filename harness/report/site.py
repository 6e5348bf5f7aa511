"""The static results site: `python run.py --website [--outputdir DIR]`.

Renders the Jinja2 templates of the `website` package over `harness.core.results`: an index
with a leaderboard per dataset, a page per dataset and per algorithm, an erasure page
explaining the checks, and a nightly page when `<results>/nightly/history.csv` exists (page
contexts: `harness.report.pages`). Charts are plotly.js, copied from the installed `plotly`
package into the site, with their data embedded in each page (no fetch, no CDN): the site
works from `file://` and from any static host. Names are data: Jinja2 autoescapes them, the
JSON in `<script>` escapes `<`, `>`, `&` and U+2028/9.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from harness.core.measures import (
    GAP_TOLERANCE,
    MEASURES,
    RECALL_TARGET,
    VERDICT_MEANINGS,
    VERDICTS,
    verdict_rank,
)
from harness.core.results import load_results
from harness.report import pages
from harness.report.data import finite, slug
from harness.report.figures import plot_all
from harness.report.outdir import site_folder
from harness.report.style import styles
from harness.suites.history import (
    history_path,
    read_history,
    read_timing,
    regressions,
    timing_path,
)

_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_SCRIPT_ESCAPES["\u2029"] = "\\u2029"


def site_files() -> Path:
    """The `website` package's folder (templates and static files), wherever it is installed."""
    return Path(str(resources.files("website")))


def build_site(results_root: str | Path, outdir: str | Path) -> Path:
    """Render the whole site into `outdir`, replacing a site a previous build left there but
    nothing else (`harness.report.outdir`); the index."""
    with site_folder(outdir, protected=[results_root]) as staging:
        render_site(results_root, staging)
    return Path(outdir) / "index.html"


def render_site(results_root: str | Path, outdir: str | Path) -> Path:
    """Render the whole site into the empty folder `outdir`; the index."""
    results_root, outdir = Path(results_root), Path(outdir)
    results = load_results(results_root)
    (outdir / "static").mkdir(parents=True)
    copy_static(outdir / "static")
    env = environment()
    history = nightly_history(results_root)
    runs = results[results["dataset"].notna()] if not results.empty else results
    datasets = sorted(runs["dataset"].unique()) if not runs.empty else []
    algorithms = sorted(runs["algorithm"].dropna().unique()) if not runs.empty else []
    looks = styles(algorithms)
    site = {
        "datasets": [{"name": d, "href": f"datasets/{slug(d)}.html"} for d in datasets],
        "algorithms": [{"name": a, "href": f"algorithms/{slug(a)}.html"} for a in algorithms],
        "nightly": history is not None,
        "results_root": str(results_root),
    }

    def render(template: str, path: str, **context: Any) -> None:
        root = "../" * path.count("/")
        text = env.get_template(template).render(site=site, root=root, **context)
        (outdir / path).parent.mkdir(parents=True, exist_ok=True)
        (outdir / path).write_text(text, encoding="utf-8")

    figures = plot_all(results_root, outdir / "plots") if datasets else []
    unreadable = results[results["dataset"].isna()] if not results.empty else results
    render(
        "index.html",
        "index.html",
        boards=[pages.board(runs[runs["dataset"] == d], d, looks) for d in datasets],
        unreadable=pages.records(unreadable, ["path", "failure_detail"]),
    )
    for dataset in datasets:
        render(
            "dataset.html",
            f"datasets/{slug(dataset)}.html",
            **pages.dataset_page(runs[runs["dataset"] == dataset], dataset, figures, looks),
        )
    for algorithm in algorithms:
        render(
            "algorithm.html",
            f"algorithms/{slug(algorithm)}.html",
            **pages.algorithm_page(runs[runs["algorithm"] == algorithm], algorithm),
        )
    render("erasure.html", "erasure.html", scorecards=pages.erasure_scorecards(runs, datasets))
    if history is not None:
        render("nightly.html", "nightly.html", **pages.nightly_page(*history, looks))
    return outdir / "index.html"


def script_json(value: Any) -> Markup:
    """JSON safe inside a `<script>` element: no `</script>`, no `<!--`, no line separators."""
    text = json.dumps(value, allow_nan=False)
    for character, escape in _SCRIPT_ESCAPES.items():
        text = text.replace(character, escape)
    return Markup(text)


def nightly_history(results_root: Path) -> tuple[pd.DataFrame, ...] | None:
    """The nightly history, its regressions and the nights' step times; None without a
    history file."""
    path = history_path(results_root)
    if not path.exists():
        return None
    history = read_history(path)
    return history, regressions(history), read_timing(timing_path(results_root))


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(site_files() / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["script_json"] = script_json
    env.filters["slug"] = slug
    env.filters["fmt"] = fmt
    env.filters["sortkey"] = sort_key
    env.globals.update(
        measures=MEASURES,
        verdict_rank=verdict_rank,
        verdicts=VERDICTS,
        verdict_meanings=VERDICT_MEANINGS,
        recall_target=RECALL_TARGET,
        gap_tolerance=GAP_TOLERANCE,
    )
    return env


def copy_static(target: Path) -> None:
    """Our CSS and JS, and the plotly.js bundle the `plotly` package ships."""
    import plotly  # imported here: only the site build needs it

    for path in (site_files() / "static").iterdir():
        shutil.copy2(path, target / path.name)
    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not bundle.exists():
        raise FileNotFoundError(
            f"{bundle} is missing: reinstall plotly (`pip install -r requirements.txt`)"
        )
    shutil.copy2(bundle, target / "plotly.min.js")


def fmt(value: Any, spec: str = ".4g") -> str:
    number = finite(value)
    return "-" if number is None else format(number, spec)


def sort_key(value: Any) -> str:
    """`data-sort` of a numeric cell: the number, or empty (sorted last by sortable.js)."""
    number = finite(value)
    return "" if number is None else repr(number)
