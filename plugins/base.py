"""The plugin contract every method implements (see the design, "The plugin contract").

A plugin adapts one index library to the harness. It implements what its method supports;
the harness checks which optional members a plugin overrides (`offers`) and verifies its
`deletion` claim instead of trusting it. Nothing here imports the harness.
"""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import psutil

METRICS = ("euclidean", "angular", "ip")
Deletion = Literal["hard", "soft", "none"]


class BasePlugin:
    """An index with `fit` / `query` and, where the method supports them, `delete` / `insert`.

    Subclasses set `deletion`, call `super().__init__(metric)` and override what they offer.
    """

    #: What the plugin claims `delete` does: `hard` (data removed), `soft` (tombstoned or
    #: hidden), `none` (no native delete: the harness rebuilds). Verified, never trusted.
    deletion: ClassVar[Deletion] = "none"

    def __init__(self, metric: str) -> None:
        self.metric = check_metric(metric)
        self.name = type(self).__name__

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        """Build the index from float32 rows; `ids` are external int64 ids (default 0..n-1)."""
        raise NotImplementedError

    def fit_queries(self, Q: np.ndarray) -> None:
        """Optional, called before `fit` when the dataset has `learn_queries`: a sample of
        queries for query-aware training (e.g. LeanVec-Sphering on out-of-distribution data).
        """
        raise NotImplementedError

    def set_query_arguments(self, **query_args: object) -> None:
        """Set search-time parameters (e.g. `ef=64`); called before each query group."""

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        """External ids (int64) of at most `k` neighbours of `q`, best first."""
        raise NotImplementedError

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        """Neighbours of every row of `Q` as int64 `(len(Q), k)`, padded with -1."""
        out = np.full((len(Q), k), -1, dtype=np.int64)
        for i, q in enumerate(Q):
            found = self.query(q, k)
            out[i, : len(found)] = found
        return out

    def delete(self, ids: np.ndarray) -> None:
        """Remove by external id. An unknown id raises `KeyError` naming it, index unchanged."""
        raise NotImplementedError

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        """Add rows after `fit` under the given external ids (an id deleted earlier may come
        back: a runbook's `replace` is a delete and an insert of the same ids)."""
        raise NotImplementedError

    def replace(self, X: np.ndarray, ids: np.ndarray) -> None:
        """Optional: point existing ids at new vectors in one operation (big-ann-benchmarks'
        `replace`). Without it the harness deletes the ids and inserts them again."""
        raise NotImplementedError

    def warmup(self, X: np.ndarray) -> None:
        """Optional: pay one-time costs of the process (JIT compilation, lazy imports) on `X`,
        the first rows of the training set, e.g. by building and discarding a small index.
        Called before the timed `fit`, so neither its time nor its memory is counted as the
        build's. Leave this object ready for `fit`."""
        raise NotImplementedError

    def compact(self) -> None:
        """Physically purge what `delete` left behind (optional)."""
        raise NotImplementedError

    def save(self, directory: str | Path) -> None:
        """Write the complete state, as the library persists it, to files in `directory`."""
        raise NotImplementedError

    def memory_usage(self) -> int:
        """Bytes held by the index.

        The default is the process's resident set size, so the harness's difference between
        after and before `fit` is the growth during the build, as in ann-benchmarks; what the
        process pays once (imports, JIT-compiled code) belongs in `warmup`, which runs before
        the first reading. Plugins that know their footprint exactly override this.
        """
        return int(psutil.Process().memory_info().rss)

    def done(self) -> None:
        """Release resources."""

    def __str__(self) -> str:
        return self.name


def offers(plugin: BasePlugin | type[BasePlugin], member: str) -> bool:
    """Whether a plugin overrides an optional member (`delete`, `insert`, `replace`,
    `compact`, `save`, `warmup`, `fit_queries`)."""
    cls = plugin if isinstance(plugin, type) else type(plugin)
    return getattr(cls, member) is not getattr(BasePlugin, member)


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    return metric


def as_rows(X: np.ndarray, dimension: int | None = None) -> np.ndarray:
    """`X` as C-contiguous float32 2-d rows, checked for shape and finiteness."""
    rows = np.ascontiguousarray(X, dtype=np.float32)
    if rows.ndim != 2:
        raise ValueError(f"expected a 2-d array of rows, got shape {rows.shape}")
    if dimension is not None and rows.shape[1] != dimension:
        raise ValueError(f"dimension mismatch: the index has {dimension}, got {rows.shape[1]}")
    finite = np.isfinite(rows).all(axis=1)
    if not finite.all():
        raise ValueError(f"row {int(np.argmin(finite))} has NaN or infinite values")
    return rows


def as_query(q: np.ndarray, dimension: int) -> np.ndarray:
    """One query as a C-contiguous float32 vector of the index's dimension."""
    vector = np.ascontiguousarray(q, dtype=np.float32).reshape(-1)
    check_length(vector, dimension)
    return vector


def check_length(q: np.ndarray, dimension: int) -> None:
    """Only the query's length: for libraries that convert the dtype themselves but would
    silently search a vector of the wrong length (no copy on the query's hot path)."""
    if len(q) != dimension:
        raise ValueError(f"dimension mismatch: the index has {dimension}, the query {len(q)}")


def as_ids(ids: np.ndarray | None, count: int) -> np.ndarray:
    """External ids as int64, defaulting to 0..count-1; duplicates are refused."""
    if ids is None:
        return np.arange(count, dtype=np.int64)
    out = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(out) != count:
        raise ValueError(f"got {len(out)} ids for {count} rows")
    if len(np.unique(out)) != len(out):
        raise ValueError("ids must be unique")
    return out


def missing_ids(ids: np.ndarray, present: Container[int]) -> list[int]:
    """The ids (in order, duplicates counted once) that `present` does not hold."""
    return [i for i in dict.fromkeys(int(x) for x in ids) if i not in present]


def check_deletable(ids: np.ndarray, present: Container[int]) -> np.ndarray:
    """The ids to delete as unique int64; `KeyError` naming any unknown or repeated id."""
    out = np.asarray(ids, dtype=np.int64).reshape(-1)
    unknown = missing_ids(out, present)
    if unknown:
        shown = ", ".join(map(str, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
        raise KeyError(f"unknown id(s), nothing deleted: {shown}")
    if len(np.unique(out)) != len(out):
        raise KeyError("an id is repeated in the deletion batch, nothing deleted")
    return out


def check_insertable(ids: np.ndarray | None, count: int, present: Container[int]) -> np.ndarray:
    """New external ids for `count` rows as int64; `ValueError` naming any already present."""
    out = as_ids(ids, count)
    clash = [int(i) for i in out if int(i) in present]
    if clash:
        raise ValueError(f"id(s) already in the index: {clash[:10]}")
    return out
