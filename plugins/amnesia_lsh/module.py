"""Amnesia's LSH k-NN (seed 004, sec. 3.2.3): H random-projection tables, exact forget."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from algorithms.lsh.amnesia import METRICS, AmnesiaKNN
from plugins.base import BasePlugin, as_ids, as_query, as_rows, check_deletable


class AmnesiaLsh(BasePlugin):
    """`H` tables of `b`-bit keys; delete = FORGET (the id leaves each of its H buckets)."""

    deletion = "hard"

    def __init__(self, metric: str, H: int = 20, b: int = 8, seed: int = 1) -> None:
        super().__init__(metric)
        if metric not in METRICS:
            raise ValueError(f"amnesia-lsh supports {METRICS}, not {metric!r}")
        self.H, self.b, self.seed = H, b, seed
        self.name = f"amnesia-lsh(H={H}, b={b})"
        self.index: AmnesiaKNN | None = None

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = as_rows(X)
        index = AmnesiaKNN(self.metric, rows.shape[1], self.H, self.b, self.seed)
        index.partial_fit(rows, as_ids(ids, len(rows)))
        self.index = index

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(as_query(q, self.index.dimension), k)

    def delete(self, ids: np.ndarray) -> None:
        self.index.forget(check_deletable(ids, self.index.vectors))

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        rows = as_rows(X, self.index.dimension)
        self.index.partial_fit(rows, as_ids(ids, len(rows)))

    def save(self, directory: str | Path) -> None:
        self.index.save(Path(directory))

    def memory_usage(self) -> int:
        return 0 if self.index is None else self.index.nbytes()

    def done(self) -> None:
        self.index = None
