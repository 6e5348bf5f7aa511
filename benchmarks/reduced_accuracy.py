"""Accuracy in the reduced space: brute-force 10-recall@10 against d (seed 003, Figs. 5 and 8).

Every database vector is reduced to d dimensions and every test query scanned exhaustively
with the reduced scores alone (no re-rank), so the figure isolates the reduction: PCA (the
query-agnostic "SVD" baseline), LeanVec-Sphering (trained on the dataset's learn_queries when
it has them, else on the data) and GleanVec with C clusters. Targets: Sphering >= PCA on the
out-of-distribution set, GleanVec >= Sphering.

    python benchmarks/reduced_accuracy.py --dataset ood-s-64-euclidean --data-dir /tmp/dsdata
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from algorithms.gleanvec import GleanVec
from algorithms.leanvec import LeanVec, pca_projection, second_moment
from algorithms.multistep import prepared, reduced_scores
from harness.data.sources import get_dataset

K = 10


def top_k(views: np.ndarray, reduced: np.ndarray, tags, bias, k: int, chunk: int = 200):
    """Row indices of the k best reduced scores for every query (a chunked exact scan)."""
    out = np.empty((len(views), k), dtype=np.int64)
    for start in range(0, len(views), chunk):
        scores = reduced_scores(views[start : start + chunk], reduced, tags, bias)
        out[start : start + chunk] = np.argpartition(scores, k, axis=1)[:, :k]
    return out


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """10-recall@10: the fraction of the true top-k ids among the k found (seed 003, sec. 5)."""
    return float(
        np.mean([len(np.intersect1d(f, t)) for f, t in zip(found, truth, strict=True)]) / K
    )


def recalls(
    name: str, project, X: np.ndarray, Q: np.ndarray, truth: np.ndarray, dims, metric: str
) -> dict[int, float]:
    """Recall for every d; `project(X, Q, d)` returns (reduced rows, views, tags)."""
    bias = np.einsum("ij,ij->i", X, X) if metric == "euclidean" else None
    scale = 2.0 if metric == "euclidean" else 1.0
    out = {}
    for d in dims:
        reduced, views, tags = project(X, Q, d)
        out[d] = recall_at_k(top_k(scale * views, reduced, tags, bias, K), truth)
        print(f"  {name} d={d}: {out[d]:.4f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ood-s-64-euclidean")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--dims", type=int, nargs="+", default=None)
    parser.add_argument("--clusters", type=int, nargs="+", default=[16])
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()

    data = get_dataset(args.dataset, args.data_dir)
    metric = data.metric
    X, Q = prepared(data.train, metric), prepared(data.test[: args.queries], metric)
    truth = data.neighbors[: args.queries, :K]
    D = X.shape[1]
    dims = args.dims or [d for d in (4, 8, 16, 24, 32, 48, 64, 96, 128, 160) if d < D]
    learn = None if data.learn_queries is None else prepared(data.learn_queries, metric)
    print(f"{args.dataset}: n={len(X)} D={D} queries={len(Q)} learn_queries={learn is not None}")
    zeros = np.zeros(len(X), dtype=np.int32)

    start = time.perf_counter()
    P = pca_projection(second_moment(X)).astype(np.float32)
    print(f"PCA trained in {time.perf_counter() - start:.1f} s")

    def pca(X, Q, d):
        return X @ P[:d].T, (Q @ P[:d].T)[:, None, :], zeros

    table = {"PCA": recalls("PCA", pca, X, Q, truth, dims, metric)}
    methods: list[tuple[str, LeanVec]] = [("Sphering", LeanVec(D, learn_queries=learn))]
    methods += [(f"GleanVec C={c}", GleanVec(D, c, learn_queries=learn)) for c in args.clusters]
    for name, reducer in methods:
        start = time.perf_counter()
        if isinstance(reducer, GleanVec):
            reducer.learn_landmarks(X)
        tags = reducer.assign(X)
        reducer.add(X, tags)
        reducer.refit()
        print(f"{name} trained in {time.perf_counter() - start:.1f} s")
        full = reducer.project_data(X, tags)

        def project(X, Q, d, reducer=reducer, full=full, tags=tags):
            views = np.stack([reducer.project_query(q, d) for q in Q])
            return np.ascontiguousarray(full[:, :d]), views, tags

        table[name] = recalls(name, project, X, Q, truth, dims, metric)

    print(f"\n10-recall@10 in the reduced space (brute force), {args.dataset}")
    print("| d | " + " | ".join(table) + " |")
    print("|---" * (len(table) + 1) + "|")
    for d in dims:
        print(f"| {d} | " + " | ".join(f"{table[m][d]:.3f}" for m in table) + " |")


if __name__ == "__main__":
    main()
