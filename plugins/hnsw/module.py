"""Our HNSW graph (`algorithms.hnsw`): delete repairs the graph and overwrites the vector.

`delete` marks the nodes, reconnects the live nodes that linked to one (found through the
graph's in-lists; FreshDiskANN delete consolidation with the HNSW heuristic), then zeroes
the deleted vectors and links in memory, so neither memory nor `save()` output holds them:
the claim is `hard`. Inserts reuse the emptied slots; `compact()` renumbers the live ones and
shrinks the buffers. `batch_query` searches on every core the process may use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from algorithms.hnsw import HNSW
from plugins.base import BasePlugin, as_ids, as_rows, check_insertable


class Hnsw(BasePlugin):
    """`M` and `efConstruction` at build time, `ef` at query time (names as hnswlib's plugin)."""

    deletion = "hard"

    def __init__(self, metric: str, M: int = 16, efConstruction: int = 200, seed: int = 0):
        super().__init__(metric)
        if M < 2 or efConstruction < 1:
            raise ValueError(f"need M >= 2 and efConstruction >= 1, got {M}, {efConstruction}")
        self.M, self.ef_construction, self.seed = M, efConstruction, seed
        self.name = f"hnsw(M={M}, efConstruction={efConstruction})"
        self.index: HNSW | None = None
        self.ef = 10

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = as_rows(X)
        self.index = HNSW(rows.shape[1], self.metric, self.M, self.ef_construction, self.seed)
        self.index.add(rows, as_ids(ids, len(rows)))

    def set_query_arguments(self, ef: int = 10) -> None:
        self.ef = int(ef)
        self.name = f"hnsw(M={self.M}, efConstruction={self.ef_construction}, ef={ef})"

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(q, k, self.ef)[0]  # the core checks dtype and dimension

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        """One search per row on a thread per core (`algorithms.hnsw.available_cores`)."""
        return self.index.batch_search(as_rows(Q, self.index.dim), k, self.ef)[0]

    def delete(self, ids: np.ndarray) -> None:
        # the core checks the ids (unknown or repeated: KeyError naming them, nothing changed)
        self.index.delete(np.asarray(ids, dtype=np.int64).reshape(-1))

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        rows = as_rows(X, self.index.dim)
        self.index.add(rows, check_insertable(ids, len(rows), self.index))

    def compact(self) -> None:
        self.index.compact()

    def save(self, directory: str | Path) -> None:
        self.index.save(directory)

    def memory_usage(self) -> int:
        return 0 if self.index is None else self.index.memory_usage()

    def done(self) -> None:
        self.index = None
