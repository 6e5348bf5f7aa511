"""Which rows to delete: seeded `random` and `cluster` deletion sets over a dataset's train rows.

A cluster set is made of whole neighbourhoods (the m nearest neighbours of a few random
seeds): graph indices lose exactly the region around those seeds, the hard case for them.
The same (policy, delete count, seed) always gives the same ids, in the same order.
"""

from __future__ import annotations

import math

import numpy as np

from harness.core.request import DELETE_POLICIES
from harness.data.groundtruth import ground_truth

#: Neighbourhoods in a cluster set (and in the delete-clusters runbook, which deletes them
#: one step at a time).
CLUSTERS = 10


def rows_to_delete(delete_count: float, n: int) -> int:
    """How many rows `delete_count` means: an int is a number of rows, a float in (0, 1) a
    fraction of the `n` train rows."""
    if isinstance(delete_count, float) and not delete_count.is_integer():
        if not 0 < delete_count < 1:
            raise ValueError(f"a fraction to delete must lie in (0, 1), got {delete_count}")
        rows = round(delete_count * n)
    else:
        rows = int(delete_count)
    if not 1 <= rows < n:
        raise ValueError(
            f"cannot delete {rows} of {n} rows: at least one row must remain to search; give a "
            f"count from 1 to {n - 1} or a fraction"
        )
    return rows


def deletion_set(
    train: np.ndarray, metric: str, policy: str, delete_count: float, seed: int
) -> np.ndarray:
    """The row ids (int64, unique) to delete, in the order they are to be deleted."""
    n = rows_to_delete(delete_count, len(train))
    rng = np.random.default_rng(seed)
    if policy == "random":
        return rng.choice(len(train), size=n, replace=False).astype(np.int64)
    if policy == "cluster":
        return cluster_set(train, metric, n, rng)
    raise ValueError(f"unknown deletion policy {policy!r}: use one of {', '.join(DELETE_POLICIES)}")


def cluster_set(train: np.ndarray, metric: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` rows as whole neighbourhoods, one after the other."""
    return np.concatenate(neighbourhoods(train, metric, n, rng))


def neighbourhoods(
    train: np.ndarray, metric: str, n: int, rng: np.random.Generator, clusters: int = CLUSTERS
) -> list[np.ndarray]:
    """`n` rows as about `clusters` neighbourhoods: each seed's nearest rows not yet taken.

    Seeds are drawn from rows not yet taken until `n` rows are chosen, so overlapping
    neighbourhoods still add up to exactly `n`.
    """
    size = math.ceil(n / min(clusters, n))
    taken = np.zeros(len(train), dtype=bool)
    chosen: list[np.ndarray] = []
    remaining = n
    while remaining:
        seed = rng.choice(np.flatnonzero(~taken))
        k = min(len(train), 2 * size)
        neighbours = ground_truth(train, train[seed : seed + 1], metric, k)[0][0]
        fresh = neighbours[~taken[neighbours]][: min(size, remaining)]
        fresh = fresh if len(fresh) else np.array([seed])  # duplicates may hide the seed
        taken[fresh] = True
        chosen.append(fresh.astype(np.int64))
        remaining -= len(fresh)
    return chosen
