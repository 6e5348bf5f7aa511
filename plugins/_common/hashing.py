"""The adapter of `algorithms.lsh.index.LSHIndex` that USR-LSH, SimHash and super-bit share:
the plugins differ only in their hash function (seed 002, sec. 2 and 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from algorithms.lsh.hashing import Hasher
from algorithms.lsh.index import LSHIndex
from plugins.base import BasePlugin, as_ids, as_query, as_rows, check_deletable


class HashingPlugin(BasePlugin):
    """Adapter for `algorithms.lsh.index.LSHIndex`; subclasses choose the hasher.

    Query arguments: `probes` (0: rank all codes by Hamming distance; n > 0: the union of n
    buckets in multi-probe order, needs `tables >= 1`) and `kappa` (0: Hamming order; n > 0:
    re-rank the best n candidates by true distance).
    """

    deletion = "hard"
    metrics = ("euclidean", "angular")

    def __init__(self, metric: str, tables: int = 0, key_bits: int = 16, seed: int = 1) -> None:
        super().__init__(metric)
        if metric not in self.metrics:
            raise ValueError(f"{type(self).__name__} supports {self.metrics}, not {metric!r}")
        self.n_tables, self.key_bits, self.seed = tables, key_bits, seed
        self.index: LSHIndex | None = None
        self.probes, self.kappa = 0, 0

    def hasher(self, d: int) -> Hasher:
        raise NotImplementedError

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = as_rows(X)
        index = LSHIndex(self.metric, self.hasher(rows.shape[1]), self.n_tables, self.key_bits)
        index.add(rows, as_ids(ids, len(rows)))
        self.index = index

    def set_query_arguments(self, probes: int = 0, kappa: int = 0) -> None:
        if probes < 0 or kappa < 0:
            raise ValueError(f"probes and kappa must be >= 0, got {probes}, {kappa}")
        if probes and self.n_tables == 0:
            raise ValueError("probes > 0 needs hash tables: build with tables >= 1")
        self.probes, self.kappa = probes, kappa
        self.name = f"{self.label}(probes={probes}, kappa={kappa})"

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(as_query(q, self.index.dimension), k, self.probes, self.kappa)

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        if self.probes:
            return super().batch_query(Q, k)
        return self.index.search_batch(as_rows(Q, self.index.dimension), k, self.kappa)

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

    @property
    def label(self) -> str:
        return type(self).__name__
