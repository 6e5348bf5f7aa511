"""hnswlib (Malkov & Yashunin's HNSW): soft deletion through `mark_deleted`.

A deleted element stays in the graph and in saved files as a tombstone; `insert` reuses
tombstoned slots through `replace_deleted`, which is when the old vector is overwritten.
`batch_query` runs on every core the process may use (hnswlib's own thread pool).
"""

from __future__ import annotations

import os
from pathlib import Path

import hnswlib
import numpy as np

from plugins.base import (
    BasePlugin,
    as_ids,
    as_rows,
    check_deletable,
    check_insertable,
    check_length,
)

SPACES = {"euclidean": "l2", "angular": "cosine", "ip": "ip"}


class Hnswlib(BasePlugin):
    """`M` and `efConstruction` at build time, `ef` at query time (names as ann-benchmarks)."""

    deletion = "soft"

    def __init__(self, metric: str, M: int = 16, efConstruction: int = 200, seed: int = 100):
        super().__init__(metric)
        if M < 2 or efConstruction < 1:
            raise ValueError(f"need M >= 2 and efConstruction >= 1, got {M}, {efConstruction}")
        self.M, self.ef_construction, self.seed = M, efConstruction, seed
        self.name = f"hnswlib(M={M}, efConstruction={efConstruction})"
        self.index: hnswlib.Index | None = None
        self.live: set[int] = set()

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = as_rows(X)
        labels = as_ids(ids, len(rows))
        self.dimension = rows.shape[1]
        self.index = hnswlib.Index(space=SPACES[self.metric], dim=self.dimension)
        self.index.init_index(
            max_elements=max(len(rows), 1),
            M=self.M,
            ef_construction=self.ef_construction,
            random_seed=self.seed,
            allow_replace_deleted=True,
        )
        self.index.set_num_threads(1)
        self.index.add_items(rows, labels)
        self.live = set(labels.tolist())

    def set_query_arguments(self, ef: int = 10) -> None:
        self.index.set_ef(ef)
        self.name = f"hnswlib(M={self.M}, efConstruction={self.ef_construction}, ef={ef})"

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        # The hot path: hnswlib converts the dtype itself but would silently misread a vector
        # of the wrong length, so only the length is checked here (not `as_query`'s copy).
        check_length(q, self.dimension)
        k = min(k, len(self.live))
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        labels, _ = self.index.knn_query(q, k)
        return labels[0].view(np.int64)

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        out = np.full((len(Q), k), -1, dtype=np.int64)
        kk = min(k, len(self.live))
        if kk:
            labels, _ = self.index.knn_query(
                as_rows(Q, self.dimension), k=kk, num_threads=len(os.sched_getaffinity(0))
            )
            out[:, :kk] = labels.view(np.int64)
        return out

    def delete(self, ids: np.ndarray) -> None:
        for label in check_deletable(ids, self.live):
            self.index.mark_deleted(int(label))
            self.live.discard(int(label))

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        rows = as_rows(X, self.dimension)
        labels = check_insertable(ids, len(rows), self.live)
        # A label deleted earlier still names its tombstone: it gets that slot back (unmark,
        # then update the vector). Given to `replace_deleted` instead, it would take another
        # tombstone while its old one kept the label, and reusing that one later would drop
        # the label from hnswlib's lookup table ("Label not found" on the next delete).
        revived = np.array([self._unmark(label) for label in labels], dtype=bool)
        if revived.any():
            self.index.add_items(rows[revived], labels[revived])
        fresh = ~revived
        tombstones = self.index.get_current_count() - len(self.live) - int(revived.sum())
        needed = self.index.get_current_count() + max(0, int(fresh.sum()) - tombstones)
        if needed > self.index.get_max_elements():
            self.index.resize_index(max(needed, 2 * self.index.get_max_elements()))
        if fresh.any():
            self.index.add_items(rows[fresh], labels[fresh], replace_deleted=True)
        self.live.update(labels.tolist())

    def _unmark(self, label: int) -> bool:
        """Undelete `label` if hnswlib still holds it as a tombstone."""
        try:
            self.index.unmark_deleted(int(label))
        except RuntimeError:  # hnswlib has no such label (any more)
            return False
        return True

    def save(self, directory: str | Path) -> None:
        self.index.save_index(str(Path(directory) / "hnswlib.bin"))

    def done(self) -> None:
        self.index = None
        self.live = set()
