"""Static figures: the Pareto front, the figures written for each protocol, valid PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.core.results import load_results
from harness.report.data import erasure_rows, pareto_front, slug, train_size
from harness.report.figures import plot_all
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
