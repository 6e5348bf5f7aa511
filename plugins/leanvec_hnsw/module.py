"""LeanVec-Sphering multi-step search over our HNSW graph (seed 003, sec. 3 and Algorithm 1).

The graph is built on the full vectors; a query traverses it scoring nodes with their reduced
vectors B x (d of the d_max stored dimensions, d chosen at search time, sec. 3.1), takes the
kappa best and re-ranks them with the full vectors, which is exact (Eq. 10).

Query-aware training: the harness calls `fit_queries(Q)` before `fit` when the dataset has
`learn_queries` (out-of-distribution sets); W is then learned from them. Without them the
data are their own query sample. The projection statistics stream (sec. 3.2): a delete
subtracts x x^T, and every `refresh_every` updates (and at `compact`) the projections are
recomputed and every stored reduced vector re-projected, so they stop depending on deleted
data. Delete is hard: the graph repairs around the node and zeroes its vector and reduced row
at once, and the full vector kept for the re-rank is overwritten; `compact()` shrinks the
graph and refreshes the projections if any update is pending.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from algorithms.hnsw import HNSW
from algorithms.leanvec import LeanVec
from algorithms.multistep import MultiStepIndex, prepared
from plugins.base import (
    BasePlugin,
    as_ids,
    as_query,
    as_rows,
    check_deletable,
    check_insertable,
)


class LeanVecHnsw(BasePlugin):
    """Build: `M`, `efConstruction`, `d_max` (stored dimensions, default all), `refresh_every`,
    `bits` (32: float32 reduced rows; 8: LVQ-8 codes, `algorithms.lvq`).

    Query: `ef`, `kappa` (candidates re-ranked in full precision), `d` (dimensions scored,
    chosen at search time, sec. 3.1).
    """

    deletion = "hard"
    label = "leanvec-hnsw"

    def __init__(
        self,
        metric: str,
        M: int = 16,
        efConstruction: int = 200,
        d_max: int | None = None,
        refresh_every: int = 10_000,
        bits: int = 8,
        seed: int = 0,
    ) -> None:
        super().__init__(metric)
        if M < 2 or efConstruction < 1:
            raise ValueError(f"need M >= 2 and efConstruction >= 1, got {M}, {efConstruction}")
        if bits not in (8, 32):
            raise ValueError(f"bits must be 8 (LVQ-8 reduced rows) or 32 (float32), got {bits}")
        if d_max is not None and d_max < 1:
            raise ValueError(f"d_max must be >= 1 dimension (or None for all), got {d_max}")
        self.M, self.ef_construction, self.d_max = M, efConstruction, d_max
        self.refresh_every, self.bits, self.seed = refresh_every, bits, seed
        self.learn_queries: np.ndarray | None = None
        self.index: MultiStepIndex | None = None
        self.ef, self.kappa, self.d = 10, 10, None
        self.name = f"{self.label}({self.build_description()})"

    def build_description(self) -> str:
        return (
            f"M={self.M}, efConstruction={self.ef_construction}, d_max={self.d_max}, "
            f"bits={self.bits}"
        )

    def fit_queries(self, Q: np.ndarray) -> None:
        """Learning queries for W (Algorithm 2); call before `fit`."""
        self.learn_queries = prepared(as_rows(Q), self.metric)

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = prepared(as_rows(X), self.metric)
        labels = as_ids(ids, len(rows))
        dimension = rows.shape[1]
        if self.learn_queries is not None and self.learn_queries.shape[1] != dimension:
            raise ValueError(
                f"dimension mismatch: fit_queries got {self.learn_queries.shape[1]}-d queries, "
                f"fit {dimension}-d rows; pass learning queries of the data's dimension"
            )
        d_max = dimension if self.d_max is None else min(self.d_max, dimension)
        graph = HNSW(
            dimension,
            metric=self.metric,
            M=self.M,
            ef_construction=self.ef_construction,
            seed=self.seed,
        )
        reducer = self.reducer(dimension, d_max, rows)
        self.index = MultiStepIndex(graph, reducer, self.metric, self.bits)
        self.index.build(rows, labels)
        self.dimension = dimension

    def reducer(self, dimension: int, d_max: int, rows: np.ndarray) -> LeanVec:
        """The dimensionality reduction; GleanVec's plugin overrides it."""
        return LeanVec(dimension, d_max, self.refresh_every, self.learn_queries)

    def set_query_arguments(self, ef: int = 10, kappa: int = 10, d: int | None = None) -> None:
        """`d` beyond the stored dimensions (d_max, at most D) scores all of them: one grid
        then serves datasets of any dimension."""
        d_max = self.index.reducer.d_max
        d = d_max if d is None else min(d, d_max)
        if d < 1 or ef < 1 or kappa < 1:
            raise ValueError(f"need d, ef and kappa >= 1, got {d}, {ef}, {kappa}")
        self.ef, self.kappa, self.d = ef, kappa, d
        self.name = f"{self.label}({self.build_description()}, ef={ef}, kappa={kappa}, d={d})"

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        index = self.index
        if len(index) == 0:
            return np.zeros(0, dtype=np.int64)
        d = index.reducer.d_max if self.d is None else self.d
        return index.search(as_query(q, self.dimension), k, self.ef, self.kappa, d)

    def delete(self, ids: np.ndarray) -> None:
        self.index.delete(check_deletable(ids, self.index))

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        rows = prepared(as_rows(X, self.dimension), self.metric)
        self.index.insert(rows, check_insertable(ids, len(rows), self.index))

    def compact(self) -> None:
        self.index.compact()

    def save(self, directory: str | Path) -> None:
        self.index.save(Path(directory))

    def memory_usage(self) -> int:
        return super().memory_usage() if self.index is None else self.index.nbytes()

    def done(self) -> None:
        self.index = None
