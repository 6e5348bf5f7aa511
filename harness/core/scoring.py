"""Quality and speed measures with ann-benchmarks semantics."""

from __future__ import annotations

import numpy as np

#: ann-benchmarks' tolerance: a returned point counts as a true neighbour when its distance
#: is at most the k-th true distance plus this, so ties at the k-th distance count.
RECALL_EPSILON = 1e-3


def knn_recall(
    true_distances: np.ndarray,
    run_distances: np.ndarray,
    run_ids: np.ndarray,
    k: int,
    epsilon: float = RECALL_EPSILON,
) -> np.ndarray:
    """Per-query recall@k: the fraction of the first k distinct answers within the threshold.

    `true_distances` holds each query's exact distances in ascending order (at least k
    columns); `run_distances` the distances of the returned ids (`inf` for padding).
    A repeated id counts once.
    """
    ids = run_ids[:, :k]
    distances = run_distances[:, :k]
    threshold = true_distances[:, k - 1 : k] + epsilon
    hits = (distances <= threshold) & (ids >= 0) & ~_repeated(ids)
    return hits.sum(axis=1) / k


#: big-ann-benchmarks' tie tolerance: true neighbours past the k-th whose distance is within
#: this of the k-th distance join the set the answers are matched against.
BIGANN_TIE_TOLERANCE = 1e-6


def knn_recall_bigann(
    true_ids: np.ndarray,
    true_distances: np.ndarray,
    run_ids: np.ndarray,
    k: int,
    tolerance: float = BIGANN_TIE_TOLERANCE,
) -> np.ndarray:
    """Per-query recall@k as big-ann-benchmarks computes it, by id.

    Its `compute_recall_with_distance_ties` (benchmark/plotting/metrics.py): the true set is
    the first k true ids, extended by the run of neighbours right after the k-th whose
    distance is within `tolerance` of the k-th (this needs ground truth deeper than k; with
    exactly k columns there is no extension); recall = |true set ∩ answers| / k. `-1` marks
    padding on either side; a repeated answer counts once.
    """
    ids = run_ids[:, :k]
    kth = true_distances[:, k - 1 : k]
    tied = np.abs(true_distances[:, k:] - kth) < tolerance
    extended = np.cumprod(tied, axis=1).astype(bool)  # the run of ties right after the k-th
    members = np.concatenate([np.ones_like(kth, dtype=bool).repeat(k, axis=1), extended], 1)
    truth = np.where(members & (true_ids >= 0), true_ids, -2)  # -2 matches no answer
    hits = (ids[:, :, None] == truth[:, None, :]).any(axis=2) & (ids >= 0) & ~_repeated(ids)
    return hits.sum(axis=1) / k


def _repeated(ids: np.ndarray) -> np.ndarray:
    """True where an id already appeared earlier in its row."""
    order = np.argsort(ids, axis=1, kind="stable")
    ranked = np.take_along_axis(ids, order, axis=1)
    duplicate_sorted = np.zeros_like(ranked, dtype=bool)
    duplicate_sorted[:, 1:] = ranked[:, 1:] == ranked[:, :-1]
    repeated = np.zeros_like(duplicate_sorted)
    np.put_along_axis(repeated, order, duplicate_sorted, axis=1)
    return repeated


def latency_summary(times: np.ndarray) -> dict[str, float]:
    """Mean and tail latencies (seconds) of per-query times."""
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    return {
        "mean_latency": float(np.mean(times)),
        "p50_latency": float(p50),
        "p95_latency": float(p95),
        "p99_latency": float(p99),
    }


def pr_curve(
    true_ids: np.ndarray, run_ids: np.ndarray, relevant: int = 10, max_k: int = 100
) -> tuple[np.ndarray, np.ndarray, float]:
    """Precision and recall at k' = 1..max_k against the `relevant` true neighbours, and the
    area under the curve (the USR-LSH paper's Experiment 2, seed 002 sec. 4.5).

    `true_ids` holds each query's exact neighbours best first (at least `relevant` columns);
    `run_ids` the answers to a `max_k` query (-1 padded). precision@k' = |Y^ ∩ Y| / k' and
    recall@k' = |Y^ ∩ Y| / |Y| with |Y| = `relevant` (eq. 15, 16), averaged over queries; the
    area is the trapezoidal rule over the max_k (recall, precision) points, as
    `sklearn.metrics.auc`. A repeated id counts once.
    """
    if run_ids.shape[1] < max_k or true_ids.shape[1] < relevant:
        raise ValueError(
            f"need {max_k} answers and {relevant} true neighbours per query, got "
            f"{run_ids.shape[1]} and {true_ids.shape[1]}: query with k={max_k}"
        )
    ids = run_ids[:, :max_k]
    truth = true_ids[:, :relevant]
    hits = (ids[:, :, None] == truth[:, None, :]).any(axis=2) & (ids >= 0) & ~_repeated(ids)
    found = np.cumsum(hits, axis=1)
    precision = (found / np.arange(1, max_k + 1)).mean(axis=0)
    recall = (found / relevant).mean(axis=0)
    return precision, recall, float(np.trapezoid(precision, recall))
