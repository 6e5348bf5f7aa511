"""The field index (seed 000): retrieval by a weighted Gaussian-kernel field, deletion by
appending the same vector with weight -1 (destructive interference).

`deletion = "soft"`: after `delete` the id is never returned (its kernels cancel to exactly
0) but the log holds its vector twice and the HNSW graph once; `compact()` drops the
cancelled pairs and rebuilds the candidate index, after which no copy remains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from algorithms.field_index import MODES, FieldIndex
from plugins.base import (
    BasePlugin,
    as_ids,
    as_query,
    as_rows,
)


class FieldIndexPlugin(BasePlugin):
    """Build: `sigma` (None = median nearest-neighbour distance), `cutoff` (in sigmas),
    `candidates` (`hnsw` or `flat`), `M`, `efConstruction`. Query: `overfetch` (candidates
    per wanted id), `ef` (HNSW beam), `mode` (`contribution` or `gradient`)."""

    deletion = "soft"

    def __init__(
        self,
        metric: str,
        sigma: float | None = None,
        cutoff: float = 4.0,
        candidates: str = "hnsw",
        M: int = 16,
        efConstruction: int = 200,
    ) -> None:
        super().__init__(metric)
        self.build_args = {
            "sigma": sigma,
            "cutoff": cutoff,
            "candidates": candidates,
            "M": M,
            "ef_construction": efConstruction,
        }
        FieldIndex(metric, 1, **self.build_args)  # bad arguments fail here, before any data
        self.name = f"field-index({candidates})"
        self.index: FieldIndex | None = None
        self.query_args: dict[str, object] = {"overfetch": 8, "mode": "contribution"}

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = as_rows(X)
        self.index = FieldIndex(self.metric, rows.shape[1], **self.build_args)
        self.index.fit(rows, as_ids(ids, len(rows)))

    def set_query_arguments(
        self, overfetch: int = 8, ef: int = 10, mode: str = "contribution"
    ) -> None:
        if mode not in MODES or overfetch < 1:
            raise ValueError(f"need mode in {MODES} and overfetch >= 1, got {mode!r}, {overfetch}")
        self.index.set_ef(ef)
        self.query_args = {"overfetch": overfetch, "mode": mode}
        self.name = f"field-index({self.build_args['candidates']}, {mode}, x{overfetch}, ef={ef})"

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(as_query(q, self.index.dimension), k, **self.query_args)

    def delete(self, ids: np.ndarray) -> None:
        # FieldIndex checks the ids itself (unknown or repeated: KeyError, nothing changed)
        self.index.delete(np.asarray(ids, dtype=np.int64).reshape(-1))

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        rows = as_rows(X, self.index.dimension)
        self.index.insert(rows, as_ids(ids, len(rows)))  # FieldIndex refuses present ids

    def compact(self) -> None:
        self.index.compact()

    def save(self, directory: str | Path) -> None:
        self.index.save(Path(directory))

    def memory_usage(self) -> int:
        return 0 if self.index is None else self.index.nbytes()

    def done(self) -> None:
        self.index = None
