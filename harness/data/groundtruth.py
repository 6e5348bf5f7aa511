"""Exact k-nearest-neighbour ground truth, computed with FAISS in bounded-memory chunks.

Distances follow the ann-benchmarks conventions, so smaller is always better:
euclidean is the L2 distance, angular is 1 - cosine similarity, ip is the negated inner product.
"""

import faiss
import numpy as np

from algorithms.vectors import unit_rows
from tqdm import tqdm

from plugins.base import METRICS


def distances_to(metric: str, q: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Distances of query `q` to each row of `X`, in float64 arithmetic for a stable reference."""
    _check_metric(metric)
    q = np.asarray(q, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if metric == "euclidean":
        return np.sqrt(np.square(X - q).sum(axis=1)).astype(np.float32)
    dots = X @ q
    if metric == "ip":
        return (-dots).astype(np.float32)
    norms = np.linalg.norm(X, axis=1) * np.linalg.norm(q)
    cosine = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return (1.0 - cosine).astype(np.float32)


def ground_truth(
    train: np.ndarray,
    queries: np.ndarray,
    metric: str,
    k: int = 100,
    rows: np.ndarray | None = None,
    chunk: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k ids (rows of `train`, -1 padded) and ascending distances (+inf padded).

    `rows` restricts the scan to the rows that still exist, e.g. after deletions.
    """
    _check_metric(metric)
    if k < 1 or chunk < 1:
        raise ValueError(f"k and chunk must be positive, got k={k}, chunk={chunk}")
    base, rows, queries = _checked_inputs(train, queries, rows)
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    dists = np.full((len(queries), k), np.inf, dtype=np.float32)
    found = min(k, len(base))
    if found == 0:
        return ids, dists
    search_base = unit_rows(base) if metric == "angular" else base
    starts = range(0, len(queries), chunk)
    for start in tqdm(starts, desc="ground truth", unit="chunk", disable=len(starts) < 5):
        block = queries[start : start + chunk]
        local = _knn_ids(metric, search_base, block, found)
        ids[start : start + chunk, :found], dists[start : start + chunk, :found] = _exact_order(
            metric, base, block, local, rows
        )
    return ids, dists


def _checked_inputs(
    train: np.ndarray, queries: np.ndarray, rows: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 contiguous rows to scan, their ids in `train`, and the queries, all validated."""
    subset = train if rows is None else np.asarray(train)[np.asarray(rows, dtype=np.int64)]
    base = np.ascontiguousarray(subset, dtype=np.float32)
    rows = np.arange(len(base), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    _check_shapes(base, queries)
    _check_finite("train", base, rows)
    _check_finite("queries", queries, np.arange(len(queries)))
    return base, rows, queries


def _knn_ids(metric: str, base: np.ndarray, block: np.ndarray, k: int) -> np.ndarray:
    """Positions in `base` of the top-k of each query, as FAISS's exact scan finds them."""
    if metric == "euclidean":
        return faiss.knn(block, base, k, faiss.METRIC_L2)[1]
    query = unit_rows(block) if metric == "angular" else block
    return faiss.knn(query, base, k, faiss.METRIC_INNER_PRODUCT)[1]


def _exact_order(
    metric: str, base: np.ndarray, block: np.ndarray, local: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Recompute the found distances with `distances_to` and re-sort them.

    FAISS computes distances via BLAS (|x|^2 + |y|^2 - 2xy), which loses precision; the harness
    scores returned ids with `distances_to`, so ground truth must use the very same numbers.
    """
    dists = np.stack([distances_to(metric, q, base[i]) for q, i in zip(block, local, strict=True)])
    order = np.argsort(dists, axis=1, kind="stable")
    return rows[np.take_along_axis(local, order, axis=1)], np.take_along_axis(dists, order, axis=1)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")


def _check_shapes(base: np.ndarray, queries: np.ndarray) -> None:
    if base.ndim != 2 or queries.ndim != 2:
        raise ValueError(f"train and queries must be 2-d, got {base.ndim}-d and {queries.ndim}-d")
    if base.shape[1] != queries.shape[1]:
        raise ValueError(
            f"dimension mismatch: train has {base.shape[1]} dimensions, "
            f"queries have {queries.shape[1]}"
        )


def _check_finite(name: str, X: np.ndarray, row_ids: np.ndarray) -> None:
    """Reject NaN/inf early: FAISS would silently rank them anywhere."""
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} row {row_ids[np.argmax(bad)]} has NaN or infinite values")
