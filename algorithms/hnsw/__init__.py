"""Our HNSW graph (Malkov & Yashunin 2018) with deletion repair, compaction and multi-step search.

`HNSW` maps external int64 ids to the internal slots of the compiled core
(`algorithms/hnsw/_graph.pyx`) and owns validation and persistence; single searches go
straight to the core (bound methods, no Python frame in between), `batch_search` spreads
blocks of queries over threads, each searching without the GIL on its own scratch.

Deletion: `delete` marks the nodes, repairs the live nodes that linked to one, found through
the core's in-lists (FreshDiskANN delete consolidation, Singh et al. 2021, Algorithm 4, with
the HNSW heuristic as the prune), then overwrites the deleted vectors, links and reduced rows
with zeros: nothing of a deleted vector stays readable, only an empty slot, which the next
insert reuses. `compact` renumbers the live slots densely and shrinks every buffer, zeroing
the old ones before they are freed.

Saved layout (`save(directory)`): `meta.json` (parameters and counters) and one `.npy` per
buffer, row i = internal slot i: `vectors` (float32 count x dim; unit rows for angular),
`links0` (int32 count x (1+2M), neighbour count then slots, ascending: a list's order would
say how it was built), `levels` (int32, -1 = empty slot),
`upper_offsets` (int64, first row in `upper_links` of a node's layer 1, -1 if none),
`upper_links` (int32 rows x (1+M), one row per node and layer >= 1), `ids` (int64 external id,
-1 = empty slot) and, after `set_reduced`, `reduced` (float32, or uint8 codes with `lo` and
`step`), `tags`, `bias`, `has_reduced`. The in-lists are the links reversed: `load`
rebuilds them.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from algorithms.hnsw._graph import METRICS, Graph
from algorithms.vectors import unit_rows

__all__ = ["HNSW", "METRICS", "available_cores"]
FORMAT = 1
PARAMETERS = ("dim", "metric", "M", "ef_construction", "seed")
#: Queries a `batch_search` thread claims at a time: few enough to balance the threads'
#: loads, enough that claiming costs nothing against searching them.
BLOCK = 16


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), the default thread count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def canonical_order(links: np.ndarray) -> None:
    """Sort each row's links (count first, then slots) by slot, in place. The order a list
    was written in says how it was built (a repaired list appends its new links, a fresh one
    holds back-links in insertion order): the saved lists hold the set of links only."""
    if not links.size:
        return
    counts = links[:, :1]
    body = links[:, 1:]
    unused = np.arange(body.shape[1]) >= counts
    body[unused] = np.iinfo(links.dtype).max
    body.sort(axis=1)
    body[unused] = 0


class HNSW:
    """HNSW index over float32 vectors with external int64 ids.

    `metric`: `euclidean` (squared L2 inside, L2 returned), `angular` (rows and queries
    L2-normalised, 1 - cos returned) or `ip` (-inner product returned).
    """

    def __init__(
        self,
        dim: int,
        metric: str = "euclidean",
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 0,
    ) -> None:
        self.params = {
            "dim": int(dim),
            "metric": metric,
            "M": int(M),
            "ef_construction": int(ef_construction),
            "seed": int(seed),
        }
        self._graph = Graph(int(dim), metric, int(M), int(ef_construction), int(seed))
        self._slot_of: dict[int, int] = {}
        self._bind()

    def _bind(self) -> None:
        """Expose the core's searches as attributes: the per-query path is one C call."""
        self.search = self._graph.search
        self.search_reduced = self._graph.search_reduced
        self.search_multistep = self._graph.search_multistep

    def batch_search(
        self, Q: np.ndarray, k: int, ef: int, threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """`search` for every row of `Q` on `threads` threads (default: every core this
        process may use), each running the core without the GIL on its own scratch: `(nq, k)`
        ids padded with -1, distances with inf; the same answers for any thread count."""
        rows = Graph._matrix(Q, self.dim)
        threads = available_cores() if threads is None else int(threads)
        if k < 1 or threads < 1:
            raise ValueError(f"need k >= 1 and threads >= 1, got k={k}, threads={threads}")
        ids = np.full((len(rows), k), -1, dtype=np.int64)
        dists = np.full((len(rows), k), np.inf, dtype=np.float32)
        n, search = len(rows), self._graph.search_rows
        threads = min(threads, -(-n // BLOCK))
        if threads == 1:
            search(rows, k, ef, ids, dists, 0, n)
            return ids, dists
        blocks = iter(range(0, n, BLOCK))  # shared: the GIL hands each block to one thread

        def work() -> None:
            for start in blocks:
                search(rows, k, ef, ids, dists, start, min(start + BLOCK, n))

        with ThreadPoolExecutor(max_workers=threads) as pool:
            for running in [pool.submit(work) for _ in range(threads)]:
                running.result()
        return ids, dists

    @property
    def dim(self) -> int:
        return self._graph.dim

    @property
    def metric(self) -> str:
        return self.params["metric"]

    def __len__(self) -> int:
        return int(self._graph.live)

    def __contains__(self, external: int) -> bool:
        return int(external) in self._slot_of

    def add(self, X: np.ndarray, ids: np.ndarray) -> None:
        """Insert rows (build or insert after build). Duplicate or present id -> ValueError."""
        rows = np.ascontiguousarray(X, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"expected rows of shape (n, {self.dim}), got {rows.shape}")
        labels = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(labels) != len(rows):
            raise ValueError(f"got {len(labels)} ids for {len(rows)} rows")
        if len(rows) == 0:
            return
        if not np.isfinite(rows).all():
            raise ValueError(f"row {int(np.argmin(np.isfinite(rows).all(axis=1)))} is not finite")
        if len(np.unique(labels)) != len(labels):
            raise ValueError("ids must be unique within one add")
        if (labels < 0).any():
            raise ValueError("ids must be >= 0 (-1 marks an empty slot)")
        clash = [int(i) for i in labels if int(i) in self._slot_of]
        if clash:
            raise ValueError(f"id(s) already in the index: {clash[:10]}")
        if self.metric == "angular":
            rows = unit_rows(rows)
        slots = self._graph._add(rows)
        if self.metric == "angular":
            rows.fill(0)  # the normalised copy is ours: leave no stray copy in freed memory
        self._graph._set_ext(slots, labels)
        self._slot_of.update(zip(labels.tolist(), slots.tolist(), strict=True))

    def _slots(self, ids: np.ndarray) -> np.ndarray:
        """Internal slots of known ids; KeyError naming unknown or repeated ones."""
        labels = np.asarray(ids, dtype=np.int64).reshape(-1)
        unknown = [i for i in dict.fromkeys(labels.tolist()) if i not in self._slot_of]
        if unknown:
            shown = ", ".join(map(str, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
            raise KeyError(f"unknown or deleted id(s), nothing changed: {shown}")
        if len(np.unique(labels)) != len(labels):
            raise KeyError("an id is repeated in the batch, nothing changed")
        return np.fromiter((self._slot_of[i] for i in labels.tolist()), np.int64, len(labels))

    def delete(self, ids: np.ndarray) -> None:
        """Delete and repair in one batch; the vectors are overwritten at once."""
        slots = self._slots(ids)
        if len(slots) == 0:
            return
        self._graph._delete(slots)
        for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
            del self._slot_of[i]

    def compact(self) -> None:
        """Drop the empty slots left by `delete`: renumber densely, shrink every buffer."""
        self._graph._compact()
        arrays, _ = self._graph._state()
        ext = arrays.get("ids", np.zeros(0, np.int64))
        self._slot_of = dict(zip(ext.tolist(), range(len(ext)), strict=True))

    def set_reduced(
        self,
        ids: np.ndarray,
        reduced: np.ndarray,
        tags: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        lo: np.ndarray | None = None,
        step: np.ndarray | None = None,
    ) -> None:
        """Set the reduced rows that `search_reduced` and `search_multistep` score (seed 003,
        Algorithm 1): float32 values, or uint8 codes with their `lo` and `step`
        (`algorithms.lvq`). A new width or type drops every existing reduced row."""
        rows = np.asarray(reduced)
        if rows.ndim != 2 or rows.shape[1] < 1:
            raise ValueError(f"reduced must be a 2-d array (n, r), got shape {rows.shape}")
        if rows.dtype != np.uint8:
            rows = rows.astype(np.float32, copy=False)
        self._graph._set_reduced(self._slots(ids), rows, tags, bias, lo, step)

    def vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the stored vectors (unit rows for angular) and reduced-row tags of ids."""
        return self._graph._rows(self._slots(ids))

    def ids(self) -> np.ndarray:
        """The live external ids."""
        return np.fromiter(self._slot_of, dtype=np.int64, count=len(self._slot_of))

    def memory_usage(self) -> int:
        """Bytes of the graph's buffers plus the id map."""
        return int(self._graph.nbytes()) + sys.getsizeof(self._slot_of) + 64 * len(self._slot_of)

    def save(self, directory: str | Path) -> None:
        """Write the complete state (see the module docstring for the layout)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays, meta = self._graph._state()
        for name in ("links0", "upper_links"):
            if name in arrays:
                canonical_order(arrays[name])
        for name, array in arrays.items():
            np.save(directory / f"{name}.npy", array, allow_pickle=False)
        meta.update(self.params, format=FORMAT, arrays=sorted(arrays))
        (directory / "meta.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, directory: str | Path) -> HNSW:
        """Read what `save` wrote."""
        directory = Path(directory)
        meta_path = directory / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{meta_path} missing: not a directory written by HNSW.save")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{meta_path}: format {meta.get('format')}, this code reads {FORMAT}")
        index = cls(**{name: meta[name] for name in PARAMETERS})
        arrays = {name: np.load(directory / f"{name}.npy") for name in meta["arrays"]}
        index._graph._restore(arrays, meta)
        ext = arrays.get("ids", np.zeros(0, np.int64))
        live = np.flatnonzero(ext >= 0)
        index._slot_of = dict(zip(ext[live].tolist(), live.tolist(), strict=True))
        return index
