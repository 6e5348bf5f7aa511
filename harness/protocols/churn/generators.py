"""Built-in runbooks, generated for any dataset (tags are train rows; no replace).

- `sliding-window`: insert the first half, then delete the oldest 5% and insert the next
  5% per round, searching after each round.
- `delete-clusters`: insert everything, then delete one whole neighbourhood at a time (the
  `cluster` deletion policy's), searching after each.
- `clustered-rounds`: big-ann-benchmarks' `final_runbook_gen.py` (the NeurIPS'23 streaming
  track's final runbook) for any dataset: k-means clusters; in each of 5 rounds every
  cluster inserts its share of the round (Dirichlet proportions over the rounds, drawn per
  cluster), then every cluster deletes 50-90% of its oldest live points; a search after
  every insert and delete.

`max_pts` of each is the most points live at once.

The seeded ones (`delete-clusters`, `clustered-rounds`) give the same runbook for the same
seed and data.
"""

from __future__ import annotations

from collections.abc import Callable

import faiss
import numpy as np

from algorithms.vectors import unit_rows
from harness.protocols.churn.runbooks import NO_ROWS, Runbook, Step
from harness.protocols.deletion.sets import CLUSTERS, neighbourhoods

WINDOW = 0.05  # sliding-window: the share of the dataset deleted and inserted per round
CLUSTER_SHARE = 0.10  # delete-clusters: the share of the dataset deleted, in CLUSTERS steps
# clustered-rounds, as big-ann-benchmarks' final_runbook_gen.py:
ROUNDS = 5
ROUND_CLUSTERS = 64  # its final runbook's cluster count
MIN_CLUSTER_ROWS = 50  # fewer clusters on small sets, so that each has rows to share out
DIRICHLET_ALPHA = (100, 15, 10, 5, 3)  # a cluster's split of its rows over the rounds
DELETE_FRACTION = (0.5, 0.9)  # the share of a cluster's live points a round deletes
KMEANS_SAMPLE = 100_000  # rows the centroids are trained on
KMEANS_ITERATIONS = 10

Operation = tuple[str, np.ndarray]


def sliding_window(train: np.ndarray, metric: str, seed: int = 1) -> Runbook:
    """Insert the first half; then delete the oldest `WINDOW`, insert the next, search."""
    n = len(train)
    half, width = n // 2, max(1, round(WINDOW * n))
    steps = [_range("insert", 0, half), _search()]
    oldest, newest = 0, half
    while newest < n:
        steps += [
            _range("delete", oldest, oldest + width),
            _range("insert", newest, min(n, newest + width)),
            _search(),
        ]
        oldest, newest = oldest + width, newest + width
    return _numbered("sliding-window", steps)


def delete_clusters(
    train: np.ndarray, metric: str, seed: int = 1, share: float = CLUSTER_SHARE
) -> Runbook:
    """Insert everything, search; then delete one whole neighbourhood at a time, searching
    after each (the neighbourhoods of the `cluster` deletion policy, seeded)."""
    n = len(train)
    count = max(CLUSTERS, round(share * n))
    clusters = neighbourhoods(train, metric, count, np.random.default_rng(seed), CLUSTERS)
    steps = [_range("insert", 0, n), _search()]
    for ids in clusters:
        steps += [("delete", ids), _search()]
    return _numbered("delete-clusters", steps)


def clustered_rounds(train: np.ndarray, metric: str, seed: int = 1) -> Runbook:
    """big-ann-benchmarks' final runbook for this dataset (module docstring). Operations
    that would move no point (a tiny cluster's share rounding to 0) are left out with
    their search."""
    rng = np.random.default_rng(seed)
    count = min(ROUND_CLUSTERS, max(1, len(train) // MIN_CLUSTER_ROWS))
    members = clusters_of(train, metric, count, rng)
    shares = rng.dirichlet(DIRICHLET_ALPHA, len(members))
    for row in shares:
        rng.shuffle(row)
    inserted = np.zeros(len(members), dtype=np.int64)  # per cluster: rows inserted so far
    deleted = np.zeros(len(members), dtype=np.int64)  # the oldest of them deleted so far
    steps: list[Operation] = []
    for round_number in range(ROUNDS):
        for c, rows in enumerate(members):
            count = int(len(rows) * shares[c, round_number])
            steps += _with_search("insert", rows[inserted[c] : inserted[c] + count])
            inserted[c] += count
        for c, rows in enumerate(members):
            count = int(rng.uniform(*DELETE_FRACTION) * (inserted[c] - deleted[c]))
            steps += _with_search("delete", rows[deleted[c] : deleted[c] + count])
            deleted[c] += count
    return _numbered("clustered-rounds", steps)


def clusters_of(
    train: np.ndarray, metric: str, count: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """The train rows of each k-means cluster (centroids trained on a sample, every row
    assigned to its nearest), in row order; spherical k-means for angular data. One thread,
    so that every process (the runner validating, each worker replaying) gets the same
    clusters: sums in another order could move a row on a cluster boundary."""
    data = unit_rows(train) if metric == "angular" else np.ascontiguousarray(train, np.float32)
    sample = rng.choice(len(data), size=min(KMEANS_SAMPLE, len(data)), replace=False)
    kmeans = faiss.Kmeans(
        data.shape[1],
        count,
        niter=KMEANS_ITERATIONS,
        seed=int(rng.integers(2**31)),
        spherical=metric == "angular",
        verbose=False,
    )
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        kmeans.train(data[np.sort(sample)])
        labels = kmeans.index.search(data, 1)[1][:, 0]
    finally:
        faiss.omp_set_num_threads(threads)
    return [np.flatnonzero(labels == c) for c in range(count) if (labels == c).any()]


def _with_search(operation: str, ids: np.ndarray) -> list[Operation]:
    return [(operation, ids.astype(np.int64)), _search()] if len(ids) else []


def _range(operation: str, start: int, end: int) -> Operation:
    return operation, np.arange(start, end, dtype=np.int64)


def _search() -> Operation:
    return "search", NO_ROWS


def _numbered(name: str, operations: list[Operation]) -> Runbook:
    """Steps numbered from 1; `max_pts` the most points live at once."""
    steps = [
        Step(i, op, ids, ids if op == "insert" else NO_ROWS)
        for i, (op, ids) in enumerate(operations, 1)
    ]
    change = [len(ids) * {"insert": 1, "delete": -1}.get(op, 0) for op, ids in operations]
    return Runbook(name, int(np.max(np.cumsum(change))), steps)


#: The built-in runbooks by name (`harness.core.request.BUILT_IN_RUNBOOKS` lists the same).
GENERATORS: dict[str, Callable[[np.ndarray, str, int], Runbook]] = {
    "sliding-window": sliding_window,
    "delete-clusters": delete_clusters,
    "clustered-rounds": clustered_rounds,
}
