"""Exact search by a NumPy/BLAS scan: the recall-1.0 reference, with hard delete and insert."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from algorithms.exact import ExactIndex
from plugins.base import BasePlugin, as_ids, as_query, as_rows, check_deletable


class BruteForce(BasePlugin):
    """Adapter for `algorithms.exact.ExactIndex`."""

    deletion = "hard"

    def __init__(self, metric: str) -> None:
        super().__init__(metric)
        self.index: ExactIndex | None = None

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = as_rows(X)
        self.index = ExactIndex(self.metric, rows.shape[1])
        self.index.add(rows, as_ids(ids, len(rows)))

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(as_query(q, self.index.dimension), k)

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search_batch(as_rows(Q, self.index.dimension), k)

    def delete(self, ids: np.ndarray) -> None:
        self.index.remove(check_deletable(ids, self.index.row_of))

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        rows = as_rows(X, self.index.dimension)
        self.index.add(rows, as_ids(ids, len(rows)))

    def save(self, directory: str | Path) -> None:
        self.index.save(Path(directory))

    def memory_usage(self) -> int:
        return 0 if self.index is None else self.index.nbytes()

    def done(self) -> None:
        self.index = None
