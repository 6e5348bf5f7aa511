"""Exact k-NN by a BLAS scan over a dense row store with hard deletion.

Rows live in one contiguous float32 buffer with spare capacity, so inserts are amortised
O(d). A delete moves the last live row into the hole and zeroes the vacated slot, and every
copy the index makes of a row (the normalised rows of an angular `add`, a grown buffer's old
one) is zeroed before it is released, so a deleted vector leaves no copy behind in memory or
in saved files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from algorithms.vectors import discard, unit_rows


class ExactIndex:
    """Exact search for `euclidean`, `angular` (1 - cosine) and `ip` (-inner product)."""

    def __init__(self, metric: str, dimension: int) -> None:
        self.metric = metric
        self.dimension = dimension
        self._rows = np.zeros((0, dimension), dtype=np.float32)
        self._ids = np.zeros(0, dtype=np.int64)
        self._sq_norms = np.zeros(0, dtype=np.float32)
        self._count = 0
        self.row_of: dict[int, int] = {}

    def __len__(self) -> int:
        return self._count

    def add(self, X: np.ndarray, ids: np.ndarray) -> None:
        """Append rows (float32, C order) under new external ids."""
        clash = [int(i) for i in ids if int(i) in self.row_of]
        if clash:
            raise ValueError(f"id(s) already in the index: {clash[:10]}")
        rows = self._prepare(X)
        start, stop = self._count, self._count + len(rows)
        self._reserve(stop)
        self._rows[start:stop] = rows
        self._ids[start:stop] = ids
        self._sq_norms[start:stop] = np.einsum("ij,ij->i", rows, rows)
        discard(rows, X)
        self.row_of.update((int(i), r) for r, i in enumerate(ids, start))
        self._count = stop

    def remove(self, ids: np.ndarray) -> None:
        """Remove known ids: swap the last live row into each hole and zero the tail."""
        for external in ids:
            row = self.row_of.pop(int(external))
            last = self._count - 1
            if row != last:
                self._rows[row] = self._rows[last]
                self._ids[row] = self._ids[last]
                self._sq_norms[row] = self._sq_norms[last]
                self.row_of[int(self._ids[row])] = row
            self._rows[last] = 0.0
            self._ids[last] = 0
            self._sq_norms[last] = 0.0
            self._count = last

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        """External ids of the k best rows for one query, best first."""
        scores = self._scores(q)
        k = min(k, len(scores))
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        top = np.argpartition(scores, k - 1)[:k] if k < len(scores) else np.arange(k)
        top = top[np.argsort(scores[top], kind="stable")]
        return self._ids[top]

    def search_batch(self, Q: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
        """`search` for every row of Q, a matrix product per chunk of queries; -1 padded."""
        out = np.full((len(Q), k), -1, dtype=np.int64)
        n = self._count
        kk = min(k, n)
        if kk == 0:
            return out
        for start in range(0, len(Q), chunk):
            scores = self._scores_batch(Q[start : start + chunk])
            top = (
                np.argpartition(scores, kk - 1, axis=1)[:, :kk]
                if kk < n
                else np.broadcast_to(np.arange(n), scores.shape)
            )
            order = np.argsort(np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
            out[start : start + chunk, :kk] = self._ids[np.take_along_axis(top, order, axis=1)]
        return out

    def save(self, directory: Path) -> None:
        """The live rows and their ids, as `.npy` files."""
        np.save(directory / "rows.npy", self._rows[: self._count])
        np.save(directory / "ids.npy", self._ids[: self._count])

    def nbytes(self) -> int:
        return self._rows.nbytes + self._ids.nbytes + self._sq_norms.nbytes

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        if self.metric != "angular":
            return X
        return unit_rows(X)

    def _scores(self, q: np.ndarray) -> np.ndarray:
        """Smaller is better; a monotone transform of the metric's distance."""
        rows = self._rows[: self._count]
        dots = rows @ self._prepare(q[None, :])[0]
        if self.metric == "euclidean":
            return self._sq_norms[: self._count] - 2.0 * dots
        return -dots

    def _scores_batch(self, Q: np.ndarray) -> np.ndarray:
        rows = self._rows[: self._count]
        dots = self._prepare(Q) @ rows.T
        if self.metric == "euclidean":
            return self._sq_norms[: self._count][None, :] - 2.0 * dots
        return -dots

    def _reserve(self, size: int) -> None:
        capacity = len(self._rows)
        if size <= capacity:
            return
        capacity = max(size, 2 * capacity, 1024)
        for name in ("_rows", "_ids", "_sq_norms"):
            old = getattr(self, name)
            grown = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            grown[: self._count] = old[: self._count]
            old.fill(0)  # the released buffer must not keep copies of rows deleted later
            setattr(self, name, grown)
