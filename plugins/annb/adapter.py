"""An ann-benchmarks algorithm object under this project's plugin contract.

ann-benchmarks algorithms (`BaseANN`) fit rows without ids, answer with row positions,
report memory in KiB and cannot delete or insert. The adapter validates rows and queries
at the edge (`plugins.base` helpers), maps positions to the external ids `fit` was given,
converts KiB to bytes, and offers `warmup` by fitting a throwaway copy on the warm-up
sample, so that JIT compilation (numba in pynndescent, say) is not timed as the build.
Deletion is `none`: the harness rebuilds on what remains, as for any such plugin.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from plugins.base import BasePlugin, as_ids, as_query, as_rows


class AnnBenchmarksPlugin(BasePlugin):
    """Wraps the object `make()` returns (an ann-benchmarks `BaseANN`)."""

    deletion = "none"

    def __init__(self, make: Callable[[], Any], metric: str | None = None) -> None:
        self.make = make
        self.inner = make()
        self.metric = metric
        self.name = type(self.inner).__name__
        self.ids = np.zeros(0, dtype=np.int64)
        self.dimension = 0

    def warmup(self, X: np.ndarray) -> None:
        """Fit and discard a copy on `X`; a copy that cannot be built on so few rows only
        means the build's time includes the one-time costs, so it is reported, not raised."""
        spare = self.make()
        try:
            spare.fit(as_rows(X))
        except Exception as error:
            print(f"warm-up skipped: {type(error).__name__}: {error}", file=sys.stderr)
        finally:
            if hasattr(spare, "done"):
                spare.done()

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = as_rows(X)
        self.ids = as_ids(ids, len(rows))
        self.dimension = rows.shape[1]
        self.inner.fit(rows)

    def set_query_arguments(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            self.inner.set_query_arguments(*args, **kwargs)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self._to_ids(self.inner.query(as_query(q, self.dimension), k), k)

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        self.inner.batch_query(as_rows(Q, self.dimension), k)
        out = np.full((len(Q), k), -1, dtype=np.int64)
        for i, found in enumerate(self.inner.get_batch_results()):
            ids = self._to_ids(found, k)
            out[i, : len(ids)] = ids
        return out

    def _to_ids(self, positions: Any, k: int) -> np.ndarray:
        """Row positions (any integer sequence, -1 padded) as the external ids, best first."""
        found = np.asarray(positions, dtype=np.int64).reshape(-1)[:k]
        found = found[found >= 0]
        outside = found[found >= len(self.ids)]
        if len(outside):
            raise ValueError(
                f"{self.name} answered with row {outside[0]}, but it was fitted on "
                f"{len(self.ids)} rows"
            )
        return self.ids[found]

    def memory_usage(self) -> int:
        """The algorithm's `get_memory_usage` (KiB) in bytes; the process RSS without it."""
        kib = self.inner.get_memory_usage() if hasattr(self.inner, "get_memory_usage") else None
        return super().memory_usage() if kib is None else int(kib * 1024)

    def done(self) -> None:
        if hasattr(self.inner, "done"):
            self.inner.done()

    def __str__(self) -> str:
        try:
            return str(self.inner)
        except Exception:  # an ann-benchmarks __str__ may read query arguments not yet set
            return self.name
