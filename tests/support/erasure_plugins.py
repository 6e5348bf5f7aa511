"""Plugins with known deletion behaviour, to show the erasure protocol tells them apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plugins.base import BasePlugin, as_ids, as_query, as_rows, check_deletable
from plugins.bruteforce.module import BruteForce


class Tombstones(BasePlugin):
    """An exact scan that keeps every row and hides deleted ones from answers (and save)."""

    deletion = "soft"
    filters = True

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        self.rows = as_rows(X).copy()
        self.ids = as_ids(ids, len(self.rows))
        self.dead = np.zeros(len(self.rows), dtype=bool)
        self.row_of = {int(i): r for r, i in enumerate(self.ids)}

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        q = as_query(q, self.rows.shape[1])
        distances = np.square(self.rows - q).sum(axis=1)
        if self.filters:
            distances[self.dead] = np.inf
        order = np.argsort(distances, kind="stable")[:k]
        return self.ids[order[np.isfinite(distances[order])]]

    def delete(self, ids: np.ndarray) -> None:
        rows = check_deletable(ids, {i: r for i, r in self.row_of.items() if not self.dead[r]})
        self.dead[[self.row_of[int(i)] for i in rows]] = True

    def save(self, directory: str | Path) -> None:
        np.save(Path(directory) / "rows.npy", self.rows)
        np.save(Path(directory) / "dead.npy", self.dead)


class Unfiltered(Tombstones):
    """Marks deleted rows but forgets to filter them out of answers."""

    filters = False


class Unsaveable(BruteForce):
    """Deletes properly but cannot persist itself: remanence cannot be checked."""

    save = BasePlugin.save


class Compacting(Tombstones):
    """Tombstones until `compact()`, which drops the deleted rows for good."""

    def compact(self) -> None:
        keep = ~self.dead
        self.rows, self.ids, self.dead = self.rows[keep], self.ids[keep], self.dead[keep]
        self.row_of = {int(i): r for r, i in enumerate(self.ids)}
