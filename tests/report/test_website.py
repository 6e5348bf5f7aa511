"""The static site: leaderboard figures, escaping, pages and links, the empty and nightly cases.

`write_fixture_results` writes result files with `harness.core.results.write_result` in the
layout every protocol writes (also used by the plot and browser tests).
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.core.identity import canonical
from harness.core.results import result_path, write_result
from harness.report.data import slug
from harness.report.pages import nightly_page
from harness.report.site import build_site, script_json
from harness.report.style import styles
from harness.suites.history import (
    append_history,
    history_path,
    read_timing,
    regressions,
)

EVIL = "<script>alert(1)</script>"
DATASET = "tiny-50-angular"
OTHER = "other & <b>set</b>"
BUILD = {"M": 16, "efConstruction": 200}


def _write(root: Path, dataset: str, algorithm: str, protocol: str, label: str, **kw) -> None:
    attrs = {
        "status": "ok",
        "algorithm": algorithm,
        "dataset": dataset,
        "count": 10,
        "distance": "angular",
        "protocol": protocol,
        "build_args": kw.pop("build_args", BUILD),
        "query_args": kw.pop("query_args", {}),
        "build_time": kw.pop("build_time", 1.0),
        "index_size": 1000,
        "protocol_args": kw.pop("protocol_args", None),
        "identity": canonical(  # one per file, as every run has its own
            {"dataset": dataset, "dataset_sha256": "fixture", "algorithm": algorithm,
             "protocol": protocol, "label": label}
        ),
    }  # fmt: skip
    attrs.update(kw.pop("attrs", {}))
    write_result(  # the folders name them too, `/` aside; the attributes are what the site shows
        result_path(
            root, dataset.replace("/", "|"), 10, algorithm.replace("/", "|"), protocol, label
        ),
        attrs,
        {"times": np.full(5, 1e-3)},
        protocol,
        kw.pop("measures", {}),
        kw.pop("measure_arrays", {}),
        {"cpu": "test"},
    )


def write_fixture_results(root: Path) -> int:
    """Runs of every protocol on two datasets, a failure and a hostile name; the file count."""
    files = 0
    for ef, recall, qps in ((10, 0.70, 9000.0), (40, 0.91, 5000.0), (80, 0.97, 3000.0)):
        for m, scale in ((16, 1.0), (8, 1.2)):
            _write(
                root, DATASET, "hnswlib", "qps-recall", f"M={m}__ef={ef}",
                build_args={"M": m, "efConstruction": 200}, query_args={"ef": ef},
                build_time=10.0 / scale, measures={"recall": recall / scale**0.1, "qps": qps},
            )  # fmt: skip
            files += 1
    _write(
        root, DATASET, "bruteforce", "qps-recall", "exact", build_args=[], query_args=[],
        build_time=0.2, measures={"recall": 1.0, "qps": 450.0},
    )  # fmt: skip
    _write(
        root, DATASET, EVIL, "qps-recall", "a", build_args={"x": EVIL}, query_args={"q": 1},
        measures={"recall": 0.95, "qps": 100.0},
    )  # fmt: skip
    _write(root, OTHER, "bruteforce", "qps-recall", "exact", measures={"recall": 0.8, "qps": 9.0})
    files += 3
    _write(
        root, DATASET, "hnswlib", "qps-recall", "M=64__failed", build_args={"M": 64},
        attrs={"status": "failed", "failure_cause": "memory", "failure_detail": "RSS over 1 GiB"},
    )  # fmt: skip
    files += 1
    options = {"policy": "random", "delete_count": 0.01, "delete_seed": 1, "singles": 100}
    for algorithm, p50, speedup in (("hnswlib", 2e-5, 500.0), ("bruteforce", 4e-4, 2.0)):
        for ef, recall in ((40, 0.93), (80, 0.98)):
            _write(
                root, DATASET, algorithm, "deletion", f"ef={ef}__random", query_args={"ef": ef},
                protocol_args=options, measures={
                    "recall": recall, "qps": 4000.0 / ef, "single_p50": p50,
                    "single_p99": 3 * p50, "delete_time": 0.1, "rebuild_time": 0.1 * speedup,
                    "speedup": speedup, "deleted": 1000, "rows_before": 100_000,
                    "deleted_returned": 0,
                },
            )  # fmt: skip
            files += 1
    _write(
        root, DATASET, "hnswlib", "churn", "ef=40__sliding", query_args={"ef": 40},
        measures={"runbook": "sliding-window", "recall": 0.9, "mean_recall": 0.9, "qps": 1.0},
        measure_arrays={"search_step": np.array([1, 3, 5]),
                        "search_recall": np.array([0.95, 0.9, 0.85])},
    )  # fmt: skip
    files += 1
    for algorithm, state, verdict, gap in (
        ("hnswlib", "deleted", "hidden", 0.12),
        ("hnswlib", "compacted", "erased", 0.01),
        ("bruteforce", "deleted", "erased", 0.02),
    ):
        _write(
            root, DATASET, algorithm, "erasure", f"ef=40__state={state}", query_args={"ef": 40},
            protocol_args=options, measures={
                "recall": 0.95, "qps": 100.0, "state": state, "deleted": 1000, "leaks": 0,
                "leak_queries": 0, "recall_retrain": 0.96, "overlap": 0.9,
                "remanent_fraction": 1.0 if verdict == "hidden" else 0.0, "auc_before": 0.8,
                "auc_after": 0.5 + gap, "auc_retrain": 0.5, "unlearning_gap": gap,
                "verdict": verdict, "verdict_reason": f"because {verdict}",
            },
        )  # fmt: skip
        files += 1
    return files


def built_site(factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """The fixture results and their site, built once per session (plots and browser tests
    reuse them): results folder, site folder, number of result files."""
    base = factory.getbasetemp() / "fixture-site"
    root, out = base / "results", base / "site"
    if not (out / "index.html").exists():
        shutil.rmtree(base, ignore_errors=True)
        files = write_fixture_results(root)
        (base / "files").write_text(str(files))
        build_site(root, out)
    return root, out, int((base / "files").read_text())


@pytest.fixture
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    _, out, files = built_site(tmp_path_factory)
    return out, files


class Page(HTMLParser):
    """Links, ids, table rows and script bodies of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.rows: dict[str, int] = {}
        self.scripts: list[str] = []
        self._table: list[str] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        for name in ("href", "src"):
            if values.get(name):
                self.links.append(values[name])
        if tag == "table":
            self._table.append((values.get("class") or "").split(" ")[-1])
        if tag == "tr" and self._table:
            self.rows[self._table[-1]] = self.rows.get(self._table[-1], 0) + 1
        self._script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table.pop()
        self._script = False

    def handle_data(self, data: str) -> None:
        if self._script:
            self.scripts.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_every_internal_link_and_anchor_resolves(site: tuple[Path, int]) -> None:
    out, _ = site
    pages = sorted(out.rglob("*.html"))
    assert len(pages) >= 6  # index, erasure, 2 datasets, 3 algorithms
    parsed = {p.resolve(): parse(p) for p in pages}
    for path, page in parsed.items():
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme == "data":
                continue
            assert not parts.scheme and not parts.netloc, f"{path}: external {link}"
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            assert target.exists(), f"{path.name} links to missing {link}"
            if parts.fragment:
                assert parts.fragment in parsed[target].ids, f"{path.name}: no #{parts.fragment}"


def leaderboard_rows(html: str, kind: str = "headline") -> list[tuple[str, str]]:
    """The first leaderboard's headline rows (or build rows) of a page, with their
    algorithm (or build)."""
    board = html.split('class="sortable leaderboard"')[1].split("</table>")[0]
    rows = [r.split("</tr>")[0] for r in board.split(f'<tr class="{kind}"')[1:]]
    if kind == "headline":
        return [(re.search(r">([^<]+)</a>", r).group(1), r) for r in rows]
    return [(re.findall(r"<td>([^<]*)</td>", r)[0], r) for r in rows]


def test_leaderboard_figures(site: tuple[Path, int]) -> None:
    out, _ = site
    html = (out / "datasets" / f"{slug(DATASET)}.html").read_text()
    rows = dict(leaderboard_rows(html))
    assert set(rows) == {"bruteforce", "hnswlib", "&lt;script&gt;alert(1)&lt;/script&gt;"}
    hnsw = rows["hnswlib"]
    # best QPS with recall >= 0.9: M=16 ef=40 (recall 0.91, 5000 QPS); M=8 at ef=40 misses 0.9
    assert 'data-sort="5000.0">5000.0<' in hnsw and "<td>M=16 efConstruction=200</td>" in hnsw
    assert "<td>ef=40</td>" in hnsw
    assert 'data-sort="10.0">10.00<' in hnsw  # the build time of that setting
    assert ">0.0200<" in hnsw and ">500.0<" in hnsw  # delete p50 ms, speed-up: the same build
    assert 'data-verdict="hidden"' in hnsw and 'data-verdict="erased"' in hnsw
    assert ">0.120<" in hnsw  # the unlearning gap after delete, not after compact
    assert "(1 failed)" in hnsw and 'class="from"' not in hnsw  # nothing borrowed
    # bruteforce's QPS build ([]) has no deletion or erasure runs: borrowed, and labelled
    brute = rows["bruteforce"]
    assert brute.count("from M=16 efConstruction=200") == 3  # delete p50, speed-up, verdict
    assert 'data-verdict="erased"' in brute


def test_every_build_has_its_own_row_and_the_best_is_marked(site: tuple[Path, int]) -> None:
    out, _ = site
    page = (out / "datasets" / f"{slug(DATASET)}.html").read_text()
    builds = leaderboard_rows(page, "build")
    # the hostile name has one build (no build rows); bruteforce: [] and the deletion runs'
    # build; hnswlib: M=8, M=16 and M=64 (failed) in numeric order (not M=16 < M=8)
    assert [b for b, _ in builds] == [
        "-", "M=16 efConstruction=200", "M=8 efConstruction=200", "M=16 efConstruction=200",
        "M=64",
    ]  # fmt: skip
    m8, m16 = builds[2][1], builds[3][1]
    assert "best" in m16 and "best" not in m8
    assert 'data-sort="3000.0">3000.0<' in m8  # M=8 reaches recall 0.9 only at ef=80
    assert ">-<" in m8.split("<td>ef=80</td>")[1].split("</tr>")[0]  # no deletion runs of M=8


def test_names_are_escaped_in_markup_and_in_embedded_json(site: tuple[Path, int]) -> None:
    out, _ = site
    for page in out.rglob("*.html"):
        text = page.read_text()
        assert EVIL not in text, page
        assert "<b>set</b>" not in text, page
        for script in parse(page).scripts:
            if script.strip():
                json.loads(script)  # valid JSON, no raw `<` that could close the element
                assert "<" not in script and ">" not in script and "&" not in script
    charts = (out / "datasets" / f"{slug(DATASET)}.html").read_text()
    data = json.loads(parse_charts(charts))
    names = [trace["name"] for chart in data for trace in chart["data"]]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in names  # plotly shows entities as text
    assert not any("&quot;" in n or "&#x27;" in n for n in names)  # ... but not these two


def test_a_quote_in_a_name_is_not_an_entity_in_a_chart() -> None:
    from harness.report.charts import escaped

    assert escaped('say "hi" & <go>') == 'say "hi" &amp; &lt;go&gt;'


def parse_charts(html: str) -> str:
    return html.split('id="chart-data">')[1].split("</script>")[0]


def test_hover_shows_each_points_parameters(site: tuple[Path, int]) -> None:
    out, _ = site
    data = json.loads(parse_charts((out / "datasets" / f"{slug(DATASET)}.html").read_text()))
    qps = data[0]
    hnsw = [t for t in qps["data"] if t["name"] == "hnswlib"]
    points = sum(len(t["x"]) for t in hnsw)
    assert points == 6  # the front plus the faint rest: every successful hnswlib point
    texts = [text for t in hnsw for text in t["text"]]
    assert any("M = 8" in t and "ef = 80" in t for t in texts)
    assert qps["layout"]["yaxis"]["type"] == "log"
    titles = [c["title"] for c in data]
    assert any("recall after deleting random 0.01" in t for t in titles)
    assert any("churn (sliding-window)" in t for t in titles)


def test_script_json_escapes_what_could_end_the_script_element() -> None:
    text = str(script_json({"a": "</script><!-- & \u2028\u2029"}))
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(text) == {"a": "</script><!-- & \u2028\u2029"}
    with pytest.raises(ValueError):
        script_json({"nan": float("nan")})


def test_empty_results_render_a_helpful_page(tmp_path: Path) -> None:
    index = build_site(tmp_path / "missing", tmp_path / "site")
    text = index.read_text()
    assert 'id="no-results"' in text and "python run.py" in text
    assert (tmp_path / "site" / "erasure.html").exists()
    assert (tmp_path / "site" / "static" / "plotly.min.js").stat().st_size > 1_000_000


def test_failed_runs_are_listed_with_cause_and_detail(site: tuple[Path, int]) -> None:
    out, _ = site
    text = (out / "algorithms" / f"{slug('hnswlib')}.html").read_text()
    assert "memory" in text and "RSS over 1 GiB" in text and 'class="run status-failed"' in text


def test_website_flag_and_the_default_suite_render_the_site(
    tmp_path: Path, data_dir: Path, tiny_dataset: Path, capsys
) -> None:
    algos = tmp_path / "algos.yaml"
    algos.write_text(
        "bruteforce:\n  module: plugins.bruteforce.module\n  constructor: BruteForce\n"
        "  docker_image: x\n  base_args: ['@metric']\n  run_groups:\n"
        "    exact: {default: true}\n"
    )
    results, out = tmp_path / "results", tmp_path / "site"
    common = ["--results", str(results), "--outputdir", str(out)]
    assert main(["--website", *common]) == 0  # nothing yet: the helpful page
    assert 'id="no-results"' in (out / "index.html").read_text()
    suite = ["--dataset", str(tiny_dataset), "--definitions", str(algos), "--runs", "1"]
    assert main([*suite, *common, "--data-dir", str(data_dir)]) == 0  # no --algorithm
    printed = capsys.readouterr().out
    assert f"website of {results}: {(out / 'index.html').resolve().as_uri()}" in printed
    board = (out / "index.html").read_text()
    assert "tiny-8-euclidean" in board and ">bruteforce</a>" in board


def nightly_fixture() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A history of three nights in the `harness.suites.history` columns, and its
    regressions (QPS down 40 %, erased -> hidden)."""
    rows = []
    for night, qps, verdict in (
        ("2026-01-01T02:00", 5000.0, "erased"),
        ("2026-01-02T02:00", 5000.0, "erased"),
        ("2026-01-03T02:00", 3000.0, "hidden"),
    ):
        common = {"night": night, "repeat": 0, "dataset": DATASET, "git_revision": "abc"}
        rows.append(
            {**common, "algorithm": EVIL, "protocol": "qps-recall", "best_qps": qps,
             "max_recall": 0.99}
        )  # fmt: skip
        rows.append(
            {**common, "algorithm": "hnswlib", "protocol": "erasure", "verdict": verdict,
             "unlearning_gap": 0.01}
        )  # fmt: skip
    history = pd.DataFrame(rows)
    return history, regressions(history)


def test_nightly_page_charts_each_figure_and_lists_regressions(tmp_path: Path) -> None:
    history, found = nightly_fixture()
    looks = styles(["bruteforce"])  # the site's algorithms: the history's are not among them
    context = nightly_page(history, found, read_timing(tmp_path / "none.csv"), looks)
    titles = [c["title"] for c in context["charts"]]
    assert titles == [
        "best_qps (QPS) over nights",
        "max_recall (recall) over nights",
        "unlearning_gap (gap) over nights",
    ]
    assert context["charts"][0]["data"][0]["y"] == [5000.0, 5000.0, 3000.0]
    best_qps = next(r for r in context["regressions"] if r["figure"].startswith("best_qps"))
    assert best_qps["current"] == "3000.0 [3000.0 .. 3000.0]"  # formatted by the registry
    assert best_qps["previous"] == "5000.0 [5000.0 .. 5000.0]"
    assert best_qps["change"] == "x0.60 (-40%)"
    assert "flagged beyond x/÷1.57" in best_qps["evidence"]  # 3 x the QPS noise floor 0.15
    assert [v["verdict"] for v in context["verdicts"]] == ["hidden"]


def test_a_nightly_history_adds_the_nightly_page(tmp_path: Path) -> None:
    root = tmp_path / "results"  # a history and no runs: the site still has its nightly page
    history, _ = nightly_fixture()
    append_history(history_path(root), history)
    build_site(root, tmp_path / "site")
    text = (tmp_path / "site" / "nightly.html").read_text()
    assert "best_qps (QPS) over nights" in text and EVIL not in text
    regressions = text.split('class="sortable regressions"')[1].split("</table>")[0]
    assert regressions.count('class="regression"') == 2  # best_qps fell 40%, erased -> hidden
    assert 'href="nightly.html"' in (tmp_path / "site" / "index.html").read_text()
