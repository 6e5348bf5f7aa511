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
    """Tombstones until `compact()`, which drops the deleted rows for good (and zeroes the
    buffer it lets go of, so that no copy stays in memory either)."""

    def compact(self) -> None:
        keep = ~self.dead
        old = self.rows
        self.rows, self.ids, self.dead = old[keep], self.ids[keep], self.dead[keep]
        old.fill(0)
        self.row_of = {int(i): r for r, i in enumerate(self.ids)}


class Opaque(BruteForce):
    """Deletes properly, but saves its rows in a form no scan reads (XOR with a key kept in
    memory): the saved state cannot be verified."""

    def save(self, directory: str | Path) -> None:
        rows = np.frombuffer(self.index._rows[: len(self.index)].tobytes(), dtype=np.uint8)
        key = np.random.default_rng(0).integers(0, 256, len(rows), dtype=np.uint8)
        (Path(directory) / "rows.xor").write_bytes((rows ^ key).tobytes())
