"""Clustered churn with drift: whole clusters in and out, our HNSW against hnswlib.

glove-100k-50-angular's rows are split into `--clusters` spherical k-means clusters, ordered
along the first principal axis of their centroids, so that a window sliding over them drifts
through the space. The index starts with the first `--window` clusters; each step inserts
the next cluster whole (one insert call) and deletes the oldest whole (one delete call), then
answers queries drawn from the held-out rows (2% of each cluster, never inserted) of the
live clusters, one at a time, at each `--ef`. Recall@10 is against the exact neighbours
among the live rows. Both libraries get the same M, efConstruction and operations, step by
step in turn (so both see the same machine load); ours deletes hard (repair, erase, slot
reuse), hnswlib tombstones (`mark_deleted`) and inserts into tombstoned slots
(`replace_deleted`). Single-threaded; times are CPU times of the process.

    python benchmarks/hnsw_churn.py [--data-dir data] [--clusters 20] [--window 5]
                                    [--ef 20 40 80] [--queries 300]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import faiss
import hnswlib
import numpy as np
from threadpoolctl import threadpool_limits

from algorithms.hnsw import HNSW
from harness.core.scoring import knn_recall
from harness.data.groundtruth import ground_truth
from harness.data.sources import get_dataset
from harness.protocols._measure import neighbor_distances

K = 10
HELD_OUT = 0.02
SEED = 5
#: Times are the process's CPU time: on a machine shared with other jobs, what the work cost.
clock = time.process_time


@dataclass
class Totals:
    """What one library spent and scored over the run."""

    build: float = 0.0
    insert: float = 0.0
    delete: float = 0.0
    search: dict[int, float] = field(default_factory=dict)
    queries: dict[int, int] = field(default_factory=dict)
    recalls: dict[int, list[float]] = field(default_factory=dict)


class Ours:
    name = "hnsw (ours)"

    def __init__(self, dim: int, M: int, ef_construction: int) -> None:
        self.index = HNSW(dim, "angular", M, ef_construction)
        self.ef = 10

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        self.index.add(X, ids)

    def delete(self, ids: np.ndarray) -> None:
        self.index.delete(ids)

    def search(self, q: np.ndarray) -> np.ndarray:
        return self.index.search(q, K, self.ef)[0]


class Theirs:
    name = "hnswlib"

    def __init__(self, dim: int, M: int, ef_construction: int, capacity: int) -> None:
        self.index = hnswlib.Index(space="cosine", dim=dim)
        self.index.init_index(
            max_elements=capacity,
            M=M,
            ef_construction=ef_construction,
            random_seed=100,
            allow_replace_deleted=True,
        )
        self.index.set_num_threads(1)

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        self.index.add_items(X, ids, replace_deleted=True)

    def delete(self, ids: np.ndarray) -> None:
        for label in ids.tolist():
            self.index.mark_deleted(label)

    def search(self, q: np.ndarray) -> np.ndarray:
        return self.index.knn_query(q, K)[0][0]

    @property
    def ef(self) -> int:
        return self.index.ef

    @ef.setter
    def ef(self, value: int) -> None:
        self.index.set_ef(value)


LIBRARIES = {
    "ours": lambda dim, M, ef_construction, capacity: Ours(dim, M, ef_construction),
    "hnswlib": Theirs,
}


def clusters(X: np.ndarray, count: int) -> list[np.ndarray]:
    """Row ids of `count` spherical k-means clusters, ordered along the centroids' first
    principal axis (the drift)."""
    kmeans = faiss.Kmeans(X.shape[1], count, niter=20, seed=SEED, spherical=True)
    kmeans.train(X)
    _, assignment = kmeans.index.search(X, 1)
    centroids = kmeans.centroids - kmeans.centroids.mean(axis=0)
    axis = np.linalg.svd(centroids, full_matrices=False)[2][0]
    order = np.argsort(centroids @ axis)
    return [np.flatnonzero(assignment[:, 0] == c) for c in order]


def timed(action: Callable[..., object], *args: np.ndarray) -> float:
    start = clock()
    action(*args)
    return clock() - start


def search_step(
    library: Ours | Theirs,
    totals: Totals,
    X: np.ndarray,
    Q: np.ndarray,
    live: np.ndarray,
    efs: list[int],
) -> None:
    truth = ground_truth(X, Q, "angular", K, live)[1]
    for ef in efs:
        library.ef = ef
        found = np.full((len(Q), K), -1, dtype=np.int64)
        start = clock()
        for i, q in enumerate(Q):
            answer = library.search(q)
            found[i, : len(answer)] = answer
        totals.search[ef] = totals.search.get(ef, 0.0) + clock() - start
        totals.queries[ef] = totals.queries.get(ef, 0) + len(Q)
        distances = neighbor_distances("angular", Q, X, found)
        distances[~np.isin(found, live)] = np.inf  # a deleted id is a miss
        recall = float(knn_recall(truth, distances, found, K).mean())
        totals.recalls.setdefault(ef, []).append(recall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--window", type=int, default=5, help="clusters live at once")
    parser.add_argument("--ef", type=int, nargs="+", default=[20, 40, 80])
    parser.add_argument("--queries", type=int, default=300, help="queries per search step")
    parser.add_argument(
        "--library", action="append", choices=sorted(LIBRARIES), help="repeatable; default both"
    )
    parser.add_argument("--M", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    args = parser.parse_args()

    X = get_dataset("glove-100k-50-angular", args.data_dir).train
    rng = np.random.default_rng(SEED)
    groups = clusters(X, args.clusters)
    held = [rng.random(len(g)) < HELD_OUT for g in groups]
    inserted = [g[~h] for g, h in zip(groups, held, strict=True)]
    probes = [g[h] for g, h in zip(groups, held, strict=True)]
    capacity = max(
        sum(len(g) for g in inserted[s : s + args.window + 1]) for s in range(len(groups))
    )
    libraries = [
        make(X.shape[1], args.M, args.ef_construction, capacity)
        for name, make in LIBRARIES.items()
        if name in (args.library or LIBRARIES)
    ]
    totals = {lib.name: Totals() for lib in libraries}
    start_rows = np.concatenate(inserted[: args.window])
    print(
        f"{args.clusters} clusters of {min(map(len, groups))}-{max(map(len, groups))} rows, "
        f"window {args.window}, {args.clusters - args.window} steps, M={args.M}, "
        f"efConstruction={args.ef_construction}",
        flush=True,
    )
    with threadpool_limits(1):
        for lib in libraries:
            totals[lib.name].build = timed(lib.insert, X[start_rows], start_rows)
        for step in range(args.clusters - args.window):
            incoming, outgoing = inserted[args.window + step], inserted[step]
            live = np.concatenate(inserted[step + 1 : args.window + step + 1])
            pool = np.concatenate(probes[step + 1 : args.window + step + 1])
            Q = X[rng.choice(pool, min(args.queries, len(pool)), replace=False)]
            for lib in libraries:
                t = totals[lib.name]
                t.insert += timed(lib.insert, X[incoming], incoming)
                t.delete += timed(lib.delete, outgoing)
                search_step(lib, t, X, Q, live, args.ef)
            print(
                f"step {step + 1}: "
                + ", ".join(
                    f"{name} recall@ef={args.ef[0]} {t.recalls[args.ef[0]][-1]:.3f}"
                    for name, t in totals.items()
                ),
                flush=True,
            )
    steps = args.clusters - args.window
    moved = sum(len(inserted[args.window + s]) for s in range(steps))
    print(f"\n{moved} rows inserted and as many deleted in {steps} steps\n")
    print(
        "| library | ef | mean recall@10 | QPS | build rows/s | insert rows/s under churn "
        "| delete s | total s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, t in totals.items():
        total = t.build + t.insert + t.delete + sum(t.search.values())
        for ef in args.ef:
            print(
                f"| {name} | {ef} | {np.mean(t.recalls[ef]):.4f} | "
                f"{t.queries[ef] / t.search[ef]:.0f} | {len(start_rows) / t.build:.0f} | "
                f"{moved / t.insert:.0f} | "
                f"{t.delete:.2f} | {total:.1f} |"
            )


if __name__ == "__main__":
    main()
