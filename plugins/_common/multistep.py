"""The adapter of `algorithms.multistep.MultiStepIndex` (seed 003, Algorithm 1) that the
LeanVec and GleanVec plugins share: they differ only in the dimensionality reduction.

The graph is built on the full vectors; a query traverses it scoring nodes with their reduced
vectors (d of the d_max stored dimensions, d chosen at search time, sec. 3.1), takes the kappa
best and re-ranks them with the full vectors, which is exact (Eq. 10). `fit_queries(Q)`
(called by the harness before `fit` when the dataset has `learn_queries`) supplies the query
sample the projections learn from; without it the data are their own query sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from algorithms.hnsw import HNSW
from algorithms.multistep import MultiStepIndex, prepared
from algorithms.vectors import discard
from plugins.base import BasePlugin, as_ids, as_query, as_rows, check_insertable


class MultiStepPlugin(BasePlugin):
    """Build: `M`, `efConstruction`, `d_max` (stored dimensions, default all), `refresh_every`,
    `bits` (32: float32 reduced rows; 8: LVQ-8 codes, `algorithms.lvq`).

    Query: `ef`, `kappa` (candidates re-ranked in full precision), `d` (dimensions scored).
    Subclasses give `label`, `reducer` and the build arguments of their reduction.
    """

    deletion = "hard"
    label = "multistep"

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
        self.queried = False

    def build_arguments(self) -> dict[str, Any]:
        """The build arguments shown in the plugin's name."""
        return {
            "M": self.M,
            "efConstruction": self.ef_construction,
            "d_max": self.d_max,
            "bits": self.bits,
        }

    def reducer(self, dimension: int, d_max: int, rows: np.ndarray) -> Any:
        """The dimensionality reduction (a `algorithms.multistep.Reducer`) fitted on `rows`."""
        raise NotImplementedError

    def __str__(self) -> str:
        arguments = dict(self.build_arguments())
        if self.queried:
            arguments.update(ef=self.ef, kappa=self.kappa, d=self.d)
        return f"{self.label}({', '.join(f'{k}={v}' for k, v in arguments.items())})"

    def fit_queries(self, Q: np.ndarray) -> None:
        """Learning queries for W (Algorithm 2); call before `fit`."""
        self.learn_queries = prepared(as_rows(Q), self.metric)

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        given = as_rows(X)
        rows = prepared(given, self.metric)
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
        discard(rows, given)  # the graph holds its own copy
        self.dimension = dimension

    def set_query_arguments(self, ef: int = 10, kappa: int = 10, d: int | None = None) -> None:
        """`d` beyond the stored dimensions (d_max, at most D) scores all of them: one grid
        then serves datasets of any dimension."""
        d_max = self.index.reducer.d_max
        d = d_max if d is None else min(d, d_max)
        if d < 1 or ef < 1 or kappa < 1:
            raise ValueError(f"need d, ef and kappa >= 1, got {d}, {ef}, {kappa}")
        self.ef, self.kappa, self.d = ef, kappa, d
        self.queried = True

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        index = self.index
        if len(index) == 0:
            return np.zeros(0, dtype=np.int64)
        d = index.reducer.d_max if self.d is None else self.d
        return index.search(as_query(q, self.dimension), k, self.ef, self.kappa, d)

    def delete(self, ids: np.ndarray) -> None:
        # the graph checks the ids (unknown or repeated: KeyError naming them, nothing changed)
        self.index.delete(np.asarray(ids, dtype=np.int64).reshape(-1))

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        given = as_rows(X, self.dimension)
        rows = prepared(given, self.metric)
        self.index.insert(rows, check_insertable(ids, len(rows), self.index))
        discard(rows, given)

    def compact(self) -> None:
        self.index.compact()

    def save(self, directory: str | Path) -> None:
        self.index.save(Path(directory))

    def memory_usage(self) -> int:
        return 0 if self.index is None else self.index.nbytes()

    def done(self) -> None:
        self.index = None
