"""The site of real protocol output (not hand-made measures): every figure and chart of
every protocol appears, PR-AUC is shown where measured, and the tables carry their columns."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.core.results import load_results
from harness.report.data import slug

DATASET = "tiny-8-euclidean"


def charts_of(page: Path) -> list[dict]:
    text = page.read_text()
    return json.loads(text.split('id="chart-data">')[1].split("</script>")[0])


def test_every_figure_of_every_protocol_is_on_the_dataset_page(real_site) -> None:
    results, site = real_site
    runs = load_results(results)
    assert set(runs["protocol"]) == {"qps-recall", "deletion", "churn", "erasure"}
    assert (runs["status"] == "ok").all(), runs.loc[runs["status"] != "ok", "failure_detail"]
    page = site / "datasets" / f"{slug(DATASET)}.html"
    titles = [c["title"] for c in charts_of(page)]
    assert any("QPS against recall" in t for t in titles)
    assert any("recall after deleting random 0.1 (seed 1)" in t for t in titles)
    assert any("recall under churn (sliding-window)" in t for t in titles)
    for chart in charts_of(page):
        assert chart["data"], chart["title"]
        assert all(any(v is not None for v in trace["y"]) for trace in chart["data"])
    stem = slug(DATASET)
    expected = [
        f"{stem}-qps-recall",
        f"{stem}-{slug('bruteforce')}-points",
        f"{stem}-{slug('hnsw')}-points",
        f"{stem}-deletion-{slug('random 0.1 (seed 1)')}",
        f"{stem}-churn-{slug('sliding-window')}",
        f"{stem}-erasure",
    ]
    html = page.read_text()
    for name in expected:
        assert f'src="../plots/{name}.png"' in html, name
        for suffix in (".png", ".svg"):
            assert (site / "plots" / f"{name}{suffix}").stat().st_size > 5000, name
    assert (site / "plots" / "delete-latency.png").exists()
    assert 'id="erasure"' in html and 'data-verdict="' in html
    assert 'id="deletion"' in html


def test_the_index_has_the_chart_and_a_leaderboard_of_builds(real_site) -> None:
    _, site = real_site
    index = site / "index.html"
    [chart] = charts_of(index)
    names = {t["name"] for t in chart["data"]}
    assert names == {"bruteforce", "hnsw", "steady"}  # steady: the nightly suite's runs
    html = index.read_text()
    board = html.split('class="sortable leaderboard"')[1].split("</table>")[0]
    assert board.count('<tr class="headline"') == 3
    assert board.count('<tr class="build"') == 2  # hnsw's M=6 and M=12
    assert board.count('class="best-mark"') == 1
    headline = board.split('<tr class="headline"')[2]  # hnsw
    assert re.search(r"<td>M=(6|12) efConstruction=40</td>", headline)
    assert 'class="from"' not in headline  # every protocol ran every build: nothing borrowed


def test_pr_auc_is_shown_where_measured(real_site) -> None:
    results, site = real_site
    qps = load_results(results, algorithms=["bruteforce", "hnsw"], protocols=["qps-recall"])
    assert qps["pr_auc"].between(0, 1).all()  # the nightly's steady runs did not measure it
    page = (site / "datasets" / f"{slug(DATASET)}.html").read_text()
    runs = page.split('class="sortable filterable runs"')[1].split("</table>")[0]
    assert ">PR-AUC</th>" in runs
    assert ">PR-AUC</th>" in page.split('class="sortable leaderboard"')[1].split("</table>")[0]
    rows = runs.split('<tr class="run')[1:]
    shown = [r for r in rows if "<td>qps-recall</td>" in r and ">steady<" not in r]
    assert len(shown) == len(qps)
    for row in shown:  # the last cell is PR-AUC, three decimals
        assert re.search(r'data-sort="[0-9.]+">[01]\.\d{3}</td>\s*$', row.split("</tr>")[0])


def test_the_runs_table_tells_erasure_states_apart_and_sorts_parameters_numerically(
    real_site,
) -> None:
    _, site = real_site
    page = (site / "algorithms" / f"{slug('hnsw')}.html").read_text()
    runs = page.split('class="sortable filterable runs"')[1].split("</table>")[0]
    erasure = [r for r in runs.split('<tr class="run')[1:] if "<td>erasure</td>" in r]
    states = [re.findall(r"<td>([^<]*)</td>", r)[4] for r in erasure]
    assert sorted(set(states)) == ["compacted", "deleted"]  # our HNSW compacts
    qps = [r for r in runs.split('<tr class="run')[1:] if "<td>qps-recall</td>" in r]
    order = [re.findall(r"<td>([^<]*)</td>", r)[1:3] for r in qps]
    efs = (10, 20, 40, 80, 120, 200)
    assert order[:6] == [["M=6 efConstruction=40", f"ef={ef}"] for ef in efs]
    assert order[6][0] == "M=12 efConstruction=40"  # M=6 < M=12, ef=40 < ef=120
