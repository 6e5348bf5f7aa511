"""Recall@k with ann-benchmarks' distance threshold, where ties at the k-th distance count."""

from __future__ import annotations

import numpy as np

from harness.core.scoring import knn_recall, latency_summary


def test_recall_counts_ties_at_the_kth_distance() -> None:
    true = np.array([[0.1, 0.2, 0.3, 0.3, 0.3, 0.9]], dtype=np.float32)
    # a different point at the tied 3rd distance is as good as the true 3rd neighbour
    run_ids = np.array([[7, 8, 42]])
    run_distances = np.array([[0.1, 0.2, 0.3]], dtype=np.float32)
    assert knn_recall(true, run_distances, run_ids, k=3)[0] == 1.0


def test_recall_rejects_points_beyond_the_threshold() -> None:
    true = np.array([[0.1, 0.2, 0.3, 0.5]], dtype=np.float32)
    run_ids = np.array([[1, 2, 3]])
    run_distances = np.array([[0.1, 0.2, 0.302]], dtype=np.float32)  # > 0.3 + 1e-3
    assert np.isclose(knn_recall(true, run_distances, run_ids, k=3)[0], 2 / 3)


def test_padding_and_repeated_ids_do_not_count() -> None:
    true = np.zeros((2, 3), dtype=np.float32)
    run_ids = np.array([[5, 5, 5], [4, -1, -1]])
    run_distances = np.array([[0, 0, 0], [0, np.inf, np.inf]], dtype=np.float32)
    assert np.allclose(knn_recall(true, run_distances, run_ids, k=3), [1 / 3, 1 / 3])


def test_latency_summary_percentiles() -> None:
    summary = latency_summary(np.arange(1, 101) / 1000)
    assert np.isclose(summary["p50_latency"], 0.0505)
    assert summary["p99_latency"] > summary["p95_latency"] > summary["p50_latency"]
