"""PR curve and PR-AUC (seed 002, sec. 4.5) and the qps-recall `pr_auc` option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.core.scoring import pr_curve
from harness.data.datasets import load_dataset
from harness.protocols import qps_recall
from tests.support.jobs import make_job


def test_a_perfect_ranking_has_precision_one_up_to_ten_then_recall_one() -> None:
    truth = np.tile(np.arange(100), (3, 1))
    precision, recall, area = pr_curve(truth, truth.copy())
    assert np.allclose(precision[:10], 1) and np.allclose(recall[9:], 1)
    assert precision[99] == pytest.approx(0.1) and recall[0] == pytest.approx(0.1)
    assert area == pytest.approx(np.trapezoid(precision, recall))
    assert area == pytest.approx(0.9)  # recall 0.1 .. 1 at precision 1, flat afterwards


def test_a_hand_computed_curve() -> None:
    truth = np.array([[5, 7, 9]])
    run = np.array([[7, 1, 5, 5]])  # hit, miss, hit, repeat (counts once)
    precision, recall, area = pr_curve(truth, run, relevant=2, max_k=4)
    assert np.allclose(precision, [1, 1 / 2, 2 / 3, 2 / 4])
    assert np.allclose(recall, [0.5, 0.5, 1, 1])
    assert area == pytest.approx(0.5 * (1 / 2 + 2 / 3) / 2)


def test_too_few_answers_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="k=100"):
        pr_curve(np.zeros((2, 100), dtype=np.int64), np.zeros((2, 10), dtype=np.int64))


def test_qps_recall_option_stores_the_curve_without_changing_paths(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path)
    plain_path = job.result_path([])
    job.protocol_args = {"pr_auc": True}
    assert job.result_path([]) == plain_path
    record = next(qps_recall.run(job, load_dataset(tiny_dataset)))
    assert record.measures["pr_auc"] == pytest.approx(0.9)  # exact search
    assert record.measure_arrays["pr_precision"].shape == (100,)
    assert record.measure_arrays["pr_recall"][9] == pytest.approx(1.0)
    job.protocol_args = {}
    assert "pr_auc" not in next(qps_recall.run(job, load_dataset(tiny_dataset))).measures
