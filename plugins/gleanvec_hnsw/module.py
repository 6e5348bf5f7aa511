"""GleanVec multi-step search over our HNSW graph (seed 003, sec. 4, Algorithms 4 and 5).

As `leanvec-hnsw`, but the reduction is piecewise linear: spherical k-means learns C landmarks
on the data, every vector is reduced with its cluster's LeanVec-Sphering projection (one W
shared by all clusters), the graph stores (tag, reduced vector) per node, and a query is
projected eagerly into its C views once (Algorithm 4). `fit_queries(Q)`, the streaming
statistics (kept per cluster) and the deletion semantics are those of `leanvec-hnsw`.
"""

from __future__ import annotations

import numpy as np

from algorithms.gleanvec import GleanVec
from plugins.leanvec_hnsw.module import LeanVecHnsw


class GleanVecHnsw(LeanVecHnsw):
    """Build: `C` (clusters) besides `leanvec-hnsw`'s; query: `ef`, `kappa`, `d`."""

    label = "gleanvec-hnsw"

    def __init__(
        self,
        metric: str,
        M: int = 16,
        efConstruction: int = 200,
        C: int = 16,
        d_max: int | None = None,
        refresh_every: int = 10_000,
        bits: int = 8,
        seed: int = 0,
    ) -> None:
        if C < 1:
            raise ValueError(f"C (clusters) must be >= 1, got {C}")
        self.C = C
        super().__init__(
            metric, M, efConstruction, d_max, refresh_every=refresh_every, bits=bits, seed=seed
        )

    def build_description(self) -> str:
        return (
            f"M={self.M}, efConstruction={self.ef_construction}, C={self.C}, "
            f"d_max={self.d_max}, bits={self.bits}"
        )

    def reducer(self, dimension: int, d_max: int, rows: np.ndarray) -> GleanVec:
        reducer = GleanVec(dimension, self.C, d_max, self.refresh_every, self.learn_queries)
        reducer.learn_landmarks(rows, seed=self.seed)
        return reducer
