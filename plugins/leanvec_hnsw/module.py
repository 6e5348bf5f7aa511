"""LeanVec-Sphering multi-step search over our HNSW graph (seed 003, sec. 3 and Algorithm 1).

Traversal scores nodes with LeanVec-Sphering reduced vectors (a linear, query-aware projection
from two SVDs, Algorithm 2); the kappa best are re-ranked with the full vectors (the shared
adapter: `plugins._common.multistep`). The projection statistics stream (sec. 3.2): a delete
subtracts x x^T, and every `refresh_every` updates (and at `compact`) the projections are
recomputed and every stored reduced vector re-projected, so they stop depending on deleted
data. Delete is hard: the graph repairs around the node and zeroes its vector and reduced row
at once, and the full vector kept for the re-rank is overwritten; `compact()` shrinks the
graph and refreshes the projections if any update is pending.
"""

from __future__ import annotations

import numpy as np

from algorithms.leanvec import LeanVec
from plugins._common.multistep import MultiStepPlugin


class LeanVecHnsw(MultiStepPlugin):
    """Build and query arguments: those of `MultiStepPlugin`."""

    label = "leanvec-hnsw"

    def reducer(self, dimension: int, d_max: int, rows: np.ndarray) -> LeanVec:
        return LeanVec(dimension, d_max, self.refresh_every, self.learn_queries)
