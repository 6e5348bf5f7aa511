"""GleanVec multi-step search over our HNSW graph (seed 003, sec. 4, Algorithms 4 and 5).

As `leanvec-hnsw`, but the reduction is piecewise linear: spherical k-means learns C landmarks
on the data, every vector is reduced with its cluster's LeanVec-Sphering projection (one W
shared by all clusters), the graph stores (tag, reduced vector) per node, and a query is
projected eagerly into its C views once (Algorithm 4). `fit_queries(Q)`, the streaming
statistics (kept per cluster) and the deletion semantics are those of `leanvec-hnsw`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from algorithms.gleanvec import GleanVec
from plugins._common.multistep import MultiStepPlugin


class GleanVecHnsw(MultiStepPlugin):
    """Build: `C` (clusters) besides the shared multi-step arguments; query: `ef`, `kappa`, `d`."""

    label = "gleanvec-hnsw"

    def __init__(self, metric: str, C: int = 16, **multistep_args: Any) -> None:
        super().__init__(metric, **multistep_args)
        if C < 1:
            raise ValueError(f"C (clusters) must be >= 1, got {C}")
        self.C = C

    def build_arguments(self) -> dict[str, Any]:
        return {**super().build_arguments(), "C": self.C}

    def reducer(self, dimension: int, d_max: int, rows: np.ndarray) -> GleanVec:
        reducer = GleanVec(dimension, self.C, d_max, self.refresh_every, self.learn_queries)
        reducer.learn_landmarks(rows, seed=self.seed)
        return reducer
