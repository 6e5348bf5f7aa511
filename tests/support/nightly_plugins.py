"""Exact search with steady, known costs, and the same plugin planted with a 2x slowdown.

Each call does real exact work (an elementwise NumPy scan: no BLAS, whose threads stall for
milliseconds on a loaded machine), then sleeps until a fixed time per call has passed: a
query 5 ms, a delete call 1 ms, a fit 20 ms, well above the work and the harness's own
per-call overhead (a sleep needs no CPU, so it ends on time where a busy wait would be
preempted). The costs then hardly depend on the machine's load, so two nights of identical
code measure the same figures within their noise, and `Slowed2x` (every wait doubled) is a
true 2x slowdown of query, delete and build. The nightly tests give both the same algorithm
name. Euclidean only.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from plugins.base import BasePlugin, as_ids, as_query, as_rows, check_deletable, check_insertable

QUERY_S, DELETE_S, FIT_S = 5e-3, 1e-3, 2e-2


def wait_until(deadline: float) -> None:
    left = deadline - time.perf_counter()
    if left > 0:
        time.sleep(left)


class Steady(BasePlugin):
    deletion = "hard"
    slowdown = 1.0

    def __init__(self, metric: str) -> None:
        super().__init__(metric)
        self.rows = np.zeros((0, 0), dtype=np.float32)
        self.ids = np.zeros(0, dtype=np.int64)

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        start = time.perf_counter()
        self.rows = as_rows(X).copy()
        self.ids = as_ids(ids, len(self.rows)).copy()
        wait_until(start + FIT_S * self.slowdown)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        start = time.perf_counter()
        distances = ((self.rows - as_query(q, self.rows.shape[1])) ** 2).sum(axis=1)
        found = self.ids[np.argsort(distances, kind="stable")[:k]]
        wait_until(start + QUERY_S * self.slowdown)
        return found

    def delete(self, ids: np.ndarray) -> None:
        start = time.perf_counter()
        present = {int(i): row for row, i in enumerate(self.ids)}
        rows = [present[int(i)] for i in check_deletable(ids, present)]
        keep = np.ones(len(self.ids), dtype=bool)
        keep[rows] = False
        self.rows, self.ids = self.rows[keep], self.ids[keep]
        wait_until(start + DELETE_S * self.slowdown)

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        rows = as_rows(X, self.rows.shape[1])
        ids = check_insertable(ids, len(rows), set(self.ids.tolist()))
        self.rows, self.ids = np.vstack([self.rows, rows]), np.concatenate([self.ids, ids])

    def save(self, directory: str | Path) -> None:
        np.save(Path(directory) / "rows.npy", self.rows)
        np.save(Path(directory) / "ids.npy", self.ids)

    def memory_usage(self) -> int:
        return int(self.rows.nbytes + self.ids.nbytes)


class Slowed2x(Steady):
    slowdown = 2.0
