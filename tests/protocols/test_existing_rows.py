"""Fewer rows than k: recall is scored against the rows that exist, not against padding; and a
deletion that would leave nothing to search is refused before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.core.results import read_result
from harness.data.datasets import write_dataset
from harness.protocols._measure import recall_of_existing

K = 10


@pytest.fixture(scope="module")
def six_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A set of six train rows (fewer than k) and 15 queries."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(21, 4)).astype(np.float32)
    path = tmp_path_factory.mktemp("small") / "six-4-euclidean.hdf5"
    write_dataset(path, X[:6], X[6:], "euclidean")
    return path


def run(dataset: Path, results: Path, *extra: str) -> int:
    arguments = ["--dataset", str(dataset), "--results", str(results), "--runs", "1"]
    return main([*arguments, "--algorithm", "bruteforce", "-k", str(K), *extra])


def only_result(results: Path) -> dict:
    [path] = results.rglob("*.hdf5")
    return read_result(path)


def test_exact_search_of_a_set_smaller_than_k_has_recall_one(six_rows: Path, tmp_path) -> None:
    assert run(six_rows, tmp_path / "results") == 0
    result = only_result(tmp_path / "results")
    assert result["attrs"]["status"] == "ok"
    assert result["measures"]["recall"] == 1.0  # 6 of the 6 rows there are, not 6 / 10


def test_exact_search_after_deleting_nearly_everything_has_recall_one(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    assert run(tiny_dataset, results, "--protocol", "deletion", "--delete-count", "497") == 0
    result = only_result(results)
    assert result["attrs"]["status"] == "ok"
    assert result["measures"]["recall"] == 1.0  # the 3 rows left, all found
    assert result["measures"]["deleted_returned"] == 0


def test_deleting_every_row_is_refused_before_work(tiny_dataset: Path, tmp_path, capsys) -> None:
    results = tmp_path / "results"
    code = run(tiny_dataset, results, "--protocol", "deletion", "--delete-count", "500")
    assert code == 2
    assert "at least one row must remain" in capsys.readouterr().err
    assert not list(results.rglob("*.hdf5"))


def test_a_churn_step_with_fewer_live_points_than_k_is_scored_on_them(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    runbook = tmp_path / "few.yaml"
    runbook.write_text(
        f"{tiny_dataset.stem}:\n  max_pts: 500\n"
        "  1: {operation: insert, start: 0, end: 20}\n"
        "  2: {operation: search}\n"
        "  3: {operation: delete, start: 0, end: 16}\n"
        "  4: {operation: search}\n"
    )
    results = tmp_path / "results"
    assert run(tiny_dataset, results, "--protocol", "churn", "--runbook", str(runbook)) == 0
    result = only_result(results)
    assert result["measure_arrays"]["search_recall"].tolist() == [1.0, 1.0]


def test_recall_of_existing_counts_misses_among_the_rows_there_are() -> None:
    truth = np.array([[0.1, 0.2, 0.3, np.inf, np.inf]])  # three rows exist, k = 5
    ids = np.array([[4, 7, -1, -1, -1]])
    distances = np.array([[0.1, 0.3, np.inf, np.inf, np.inf]])
    assert recall_of_existing(truth, distances, ids, 5, 3).tolist() == [2 / 3]
    wrong = np.array([[0.1, 0.5, np.inf, np.inf, np.inf]])  # a row past the third distance
    assert recall_of_existing(truth, wrong, ids, 5, 3).tolist() == [1 / 3]
    full = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    assert recall_of_existing(full, full, np.array([[1, 2, 3, 4, 5]]), 5, 100).tolist() == [1.0]
    with pytest.raises(ValueError, match="no rows exist"):
        recall_of_existing(truth, distances, ids, 5, 0)
