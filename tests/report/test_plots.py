"""Static figures: the Pareto front, the figures written for each protocol, valid PNG and SVG."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex

from harness.cli import main
from harness.core.results import load_results
from harness.report.charts import qps_recall_chart
from harness.report.data import erasure_rows, pareto_front, slug, train_size
from harness.report.figures import plot_all, qps_recall_figure
from harness.report.style import MARKERS, compact_number, log_ticks, styles
from tests.report.test_website import DATASET, EVIL, _write, built_site


def test_pareto_front_keeps_only_undominated_points_in_recall_order() -> None:
    runs = pd.DataFrame(
        {"recall": [0.5, 0.6, 0.7, 0.9, 0.95, 0.8], "qps": [100, 300, 200, 150, 50, 120]}
    )
    front = pareto_front(runs)
    assert list(zip(front["recall"], front["qps"], strict=True)) == [
        (0.6, 300), (0.7, 200), (0.9, 150), (0.95, 50),
    ]  # fmt: skip


def test_train_size_is_the_stored_rows_before_deletion() -> None:
    assert train_size(pd.Series({"deleted": 1000, "rows_before": 100_000})) == 100_000
    assert pd.isna(train_size(pd.Series({"deleted": 1000})))  # a file without the figure


@pytest.fixture
def figures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root, site, _ = built_site(tmp_path_factory)  # its plots/ are `plot_all`'s output
    return root, sorted((site / "plots").iterdir())


def test_every_protocol_gets_its_figures_in_png_and_svg(figures) -> None:
    _, written = figures
    names = {p.name for p in written}
    stem = slug(DATASET)
    expected = [
        f"{stem}-qps-recall",
        f"{stem}-{slug('hnswlib')}-points",
        f"{stem}-{slug(EVIL)}-points",
        f"{stem}-deletion-{slug('random 0.01 (seed 1)')}",
        f"{stem}-churn-{slug('sliding-window')}",
        f"{stem}-erasure",
        "delete-latency",
    ]
    for name in expected:
        assert {f"{name}.png", f"{name}.svg"} <= names, name
    for path in written:
        head = path.read_bytes()[:200]
        assert head.startswith(b"\x89PNG") if path.suffix == ".png" else b"<svg" in head
        assert path.stat().st_size > 5000


def test_hostile_names_are_drawn_as_text_in_svg(figures) -> None:
    _, written = figures
    svg = next(p for p in written if p.name == f"{slug(DATASET)}-qps-recall.svg").read_text()
    assert "<script" not in svg  # the name is text (glyph paths), never markup


def test_erasure_scorecard_keeps_the_worst_query_group_per_state(figures) -> None:
    root, _ = figures
    erasure = load_results(root, protocols=["erasure"])
    rows = erasure_rows(erasure)
    assert list(zip(rows["algorithm"], rows["state"], rows["verdict"], strict=True)) == [
        ("bruteforce", "deleted", "erased"),
        ("hnswlib", "compacted", "erased"),
        ("hnswlib", "deleted", "hidden"),
    ]
    assert rows["recall_gap"].round(3).tolist() == [-0.01, -0.01, -0.01]


def test_plot_flag_writes_figures_and_stops(tmp_path: Path, capsys) -> None:
    root = tmp_path / "results"
    _write(root, DATASET, "solo", "qps-recall", "a", measures={"recall": 0.9, "qps": 10.0})
    assert main(["--plot", "--results", str(root), "--outputdir", str(tmp_path)]) == 0
    assert "wrote 4 figure file(s)" in capsys.readouterr().out  # the front and the raw points
    assert (tmp_path / "plots" / f"{slug(DATASET)}-qps-recall.svg").exists()
    assert not (tmp_path / "index.html").exists()


def test_no_results_no_figures(tmp_path: Path) -> None:
    assert plot_all(tmp_path / "none", tmp_path / "out") == []


def many_algorithms(count: int) -> pd.DataFrame:
    """Three query groups of each of `count` algorithms, QPS spanning four decades."""
    rows = []
    for i in range(count):
        for j, recall in enumerate((0.5, 0.8, 0.95)):
            rows.append(
                {"algorithm": f"algorithm-{i:02d}", "recall": recall - i * 0.005,
                 "qps": 10.0 ** (1 + 3 * (i / count)) / (j + 1), "count": 10}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_every_algorithm_has_its_own_look_up_to_70() -> None:
    looks = styles(f"a{i}" for i in range(70))
    assert len({(s.colour, s.marker) for s in looks.values()}) == 70
    assert len({(s.colour, s.symbol) for s in looks.values()}) == 70
    ordered = [looks[name] for name in sorted(looks)]
    assert all(a.colour != b.colour and a.marker != b.marker for a, b in pairwise(ordered))


def test_a_figure_of_25_algorithms_tells_them_apart_with_plain_ticks_and_a_fitting_title():
    long_name = "a-dataset-with-a-rather-long-name-that-would-run-off-the-canvas-otherwise-1m"
    figure = qps_recall_figure(many_algorithms(25), long_name)
    FigureCanvasAgg(figure).draw()
    axes = figure.axes[0]
    lines = [line for line in axes.get_lines() if line.get_label().startswith("algorithm-")]
    assert len({(line.get_color(), line.get_marker()) for line in lines}) == 25
    ticks = [t.get_text() for t in axes.get_yticklabels() if t.get_text()]
    assert ticks and all(re.fullmatch(r"[0-9.]+[kMG]?", t) for t in ticks), ticks
    assert {"100", "1k"} <= set(ticks)
    title = axes.title
    assert "\n" in title.get_text()  # wrapped, not clipped
    box = title.get_window_extent(figure.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= figure.bbox.width
    legend = axes.get_legend()
    assert len(legend.get_texts()) == 25
    frame = legend.get_window_extent(figure.canvas.get_renderer())
    assert frame.x1 <= figure.bbox.width + 1  # beside the axes, inside the figure


def test_static_and_interactive_charts_share_each_algorithms_look() -> None:
    runs = many_algorithms(12)
    looks = styles(runs["algorithm"])
    figure = qps_recall_figure(runs, "d", looks)
    static = {
        line.get_label(): (to_hex(line.get_color()), line.get_marker())
        for line in figure.axes[0].get_lines()
        if line.get_label().startswith("algorithm-")
    }
    chart = qps_recall_chart(runs, "d", looks)
    symbols = dict(MARKERS)
    for trace in chart["data"]:
        if trace.get("showlegend", True):
            colour, marker = static[trace["name"]]
            assert trace["marker"]["color"] == colour
            assert symbols[marker] == trace["marker"]["symbol"]
    ticks = chart["layout"]["yaxis"]["ticktext"]  # plain numbers, as the static figure's
    assert "1k" in ticks and all(re.fullmatch(r"[0-9.]+[kMG]?", t) for t in ticks)


def test_compact_numbers_on_log_axes() -> None:
    assert [compact_number(v) for v in (0.02, 0.5, 1, 20, 3000, 1e4, 2.5e6)] == [
        "0.02", "0.5", "1", "20", "3k", "10k", "2.5M",
    ]  # fmt: skip


def test_log_ticks_are_one_two_five_or_powers_of_ten() -> None:
    assert log_ticks(300, 30_000) == [500, 1000, 2000, 5000, 10_000, 20_000]
    assert log_ticks(0.5, 2e7) == [1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7]
    assert log_ticks(0.0173, 0.037) == [0.02, 0.03]  # one of 1, 2, 5 only: every digit
    assert log_ticks(2.1, 3.9) == []  # not two ticks even so: the renderer chooses
    assert log_ticks(0, 10) == []
