"""ann-benchmarks' algorithm interface (`ann_benchmarks/algorithms/base/module.py`), for
plugin folders copied from ann-benchmarks: their `from ..base.module import BaseANN`
resolves here. `plugins.annb.adapter` runs such an algorithm under this project's contract.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import psutil


class BaseANN:
    """The members ann-benchmarks' runner calls, with its defaults."""

    def done(self) -> None:
        """Release resources."""

    def get_memory_usage(self) -> float | None:
        """Memory in use, in KiB as ann-benchmarks counts it (default: the process RSS)."""
        return psutil.Process().memory_info().rss / 1024

    def fit(self, X: np.ndarray) -> None:
        """Build the index from the rows of `X`; answers are positions in `X`."""

    def query(self, q: np.ndarray, n: int) -> np.ndarray:
        """Positions in the fitted `X` of the `n` nearest rows to `q`, best first."""
        return np.zeros(0, dtype=np.int64)

    def batch_query(self, X: np.ndarray, n: int) -> None:
        """Answer every row of `X`; `get_batch_results` returns the answers. ann-benchmarks
        spreads the default over a thread pool; here it is one loop (workers are pinned to
        one thread)."""
        self.res = [self.query(q, n) for q in X]

    def get_batch_results(self) -> Any:
        return self.res

    def get_additional(self) -> dict[str, Any]:
        return {}

    def __str__(self) -> str:
        return getattr(self, "name", type(self).__name__)
