"""Amnesia's approximate k-NN over random-projection LSH tables (seed 004, sec. 3.2.3, Alg. 3).

H tables with b-bit keys `sgn(x Omega_h)`, Omega_h a d x b Gaussian matrix; a query takes the
union of its H buckets and ranks it exactly. `forget` removes an id from each of its H
buckets: O(H d b), no retraining.

Exact forgetting: the projections depend only on (seed, d), buckets are kept as sorted id
lists with empty ones dropped, and `save` writes everything in id order. After deleting D
the saved bytes therefore equal those of a fresh fit on X \\ D with the same seed.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np

from algorithms.lsh.tables import MAX_KEY_BITS

METRICS = ("euclidean", "angular")


class AmnesiaKNN:
    """H hash tables of b-bit random-projection keys over external ids, exact re-ranking."""

    def __init__(self, metric: str, dimension: int, H: int = 20, b: int = 8, seed: int = 0):
        if metric not in METRICS:
            raise ValueError(f"Amnesia LSH supports {', '.join(METRICS)}, not {metric!r}")
        if H < 1 or not 1 <= b <= MAX_KEY_BITS:
            raise ValueError(f"need H >= 1 and 1 <= b <= {MAX_KEY_BITS}, got H={H}, b={b}")
        self.metric, self.dimension, self.H, self.b, self.seed = metric, dimension, H, b, seed
        rng = np.random.default_rng(seed)
        # Omega_1 .. Omega_H side by side: one product gives all H keys of a row.
        self.omega = rng.standard_normal((dimension, H * b)).astype(np.float32)
        self.tables: list[dict[int, list[int]]] = [{} for _ in range(H)]
        self.vectors: dict[int, np.ndarray] = {}
        self._weights = np.left_shift(1, np.arange(b - 1, -1, -1, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.vectors)

    def keys(self, row: np.ndarray) -> list[int]:
        """The H bucket keys sgn(x Omega_h) of one prepared row, one b-bit integer per table.

        Computed row by row (never batched) so a row's keys do not depend on the batch it
        came in: fit, fresh fit and forget hash it identically.
        """
        bits = (row @ self.omega >= 0).reshape(self.H, self.b).astype(np.int64)
        return (bits @ self._weights).tolist()

    def partial_fit(self, X: np.ndarray, ids: np.ndarray) -> None:
        """PARTIAL-FIT: add each row to its bucket in every table."""
        clash = [int(i) for i in ids if int(i) in self.vectors]
        if clash:
            raise ValueError(f"id(s) already in the index: {clash[:10]}")
        for i, x in zip(ids.tolist(), X, strict=True):
            row = self._prepare(x)
            for table, key in zip(self.tables, self.keys(row), strict=True):
                bisect.insort(table.setdefault(key, []), i)
            self.vectors[i] = row

    def forget(self, ids: np.ndarray) -> None:
        """FORGET: remove each id from its bucket in every table, and its vector."""
        for i in ids.tolist():
            row = self.vectors.pop(i)
            for table, key in zip(self.tables, self.keys(row), strict=True):
                bucket = table[key]
                del bucket[bisect.bisect_left(bucket, i)]
                if not bucket:
                    del table[key]
            row.fill(0)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        """PREDICT's neighbour step: the k exact nearest ids in the union of the H buckets."""
        query = self._prepare(q)
        found: list[int] = []
        for table, key in zip(self.tables, self.keys(query), strict=True):
            found.extend(table.get(key, ()))
        if not found:
            return np.zeros(0, dtype=np.int64)
        candidates = np.unique(np.array(found, dtype=np.int64))
        rows = np.stack([self.vectors[i] for i in candidates.tolist()])
        if self.metric == "euclidean":
            scores = np.einsum("ij,ij->i", rows, rows) - 2.0 * (rows @ query)
        else:
            scores = -(rows @ query)
        order = np.argsort(scores, kind="stable")[:k]
        return candidates[order]

    def state(self) -> dict[str, np.ndarray]:
        """The complete state in canonical order (ids ascending, keys ascending per table)."""
        ids = sorted(self.vectors)
        out = {
            "config": np.array([self.dimension, self.H, self.b, self.seed], dtype=np.int64),
            "omega": self.omega,
            "ids": np.array(ids, dtype=np.int64),
            "vectors": np.stack([self.vectors[i] for i in ids])
            if ids
            else np.zeros((0, self.dimension), dtype=np.float32),
        }
        for h, table in enumerate(self.tables):
            keys = sorted(table)
            sizes = [len(table[key]) for key in keys]
            out[f"table{h}_keys"] = np.array(keys, dtype=np.int64)
            out[f"table{h}_offsets"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            out[f"table{h}_ids"] = np.array([i for key in keys for i in table[key]], np.int64)
        return out

    def save(self, directory: Path) -> None:
        """`state()` as `.npy` files: deterministic bytes (no timestamps, unlike `.npz`)."""
        for name, array in self.state().items():
            np.save(directory / f"{name}.npy", array)

    def nbytes(self) -> int:
        entries = sum(len(bucket) for table in self.tables for bucket in table.values())
        return self.omega.nbytes + len(self.vectors) * self.dimension * 4 + 8 * entries

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        """One row as a fresh float32 vector, L2-normalised for angular."""
        row = np.array(x, dtype=np.float32).reshape(-1)
        if self.metric == "angular":
            norm = np.linalg.norm(row)
            if norm > 0:
                row /= norm
        return row
