"""Multi-step search (seed 003, Algorithm 1) over a graph built on the full vectors.

Preprocessing turns the query into its reduced views (A_c q for every group c); the main step
traverses the graph scoring each node with its stored reduced vector and returns kappa
candidates; postprocessing re-ranks them with the full vectors, which is exact (Eq. 10), so
only the candidate set, never the final order, depends on the reduction.

Scores are "lower is better": for inner product -<A q, B x>; for euclidean
||x||^2 - 2 <A q, B x> (the exact ||q - x||^2 - ||q||^2 up to the reduction), so the graph
gets bias ||x||^2 and the view 2 A q; angular is inner product on unit vectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from algorithms.leanvec import LeanVec


class ReducedGraph(Protocol):
    """What the multi-step search needs from a graph (`algorithms.hnsw.HNSW` provides it)."""

    def add(self, X: np.ndarray, ids: np.ndarray) -> None: ...
    def delete(self, ids: np.ndarray) -> None: ...
    def compact(self) -> None: ...
    def save(self, directory: str) -> None: ...
    def memory_usage(self) -> int: ...
    def set_reduced(
        self, ids: np.ndarray, reduced: np.ndarray, tags: np.ndarray, bias: np.ndarray | None
    ) -> None: ...
    def search_reduced(
        self, query: np.ndarray, kappa: int, ef: int, dims: int
    ) -> tuple[np.ndarray, np.ndarray]: ...


def prepared(X: np.ndarray, metric: str) -> np.ndarray:
    """Rows as the metric compares them: unit length for angular, unchanged otherwise."""
    if metric != "angular":
        return X
    norms = np.linalg.norm(X, axis=-1, keepdims=True)
    return (X / np.where(norms == 0, 1, norms)).astype(np.float32)


def reduced_scores(
    views: np.ndarray, reduced: np.ndarray, tags: np.ndarray, bias: np.ndarray | None
) -> np.ndarray:
    """Brute-force reduced scores, (queries, rows): bias - <views[:, tag], reduced>.

    The exact scan of what the graph evaluates per node; `views` is (queries, groups, d) and
    `reduced` (rows, d).
    """
    scores = np.empty((len(views), len(reduced)), dtype=np.float32)
    for g in np.unique(tags):
        rows = tags == g
        scores[:, rows] = -(views[:, g] @ reduced[rows].T)
    if bias is not None:
        scores += bias[None, :]
    return scores


class VectorStore:
    """Full vectors by external id for the re-rank; a delete leaves no copy behind.

    A removed row is overwritten by the last live row and the vacated slot zeroed, as in
    `algorithms.exact`; growing the buffer zeroes the released one.
    """

    def __init__(self, dimension: int) -> None:
        self.rows = np.zeros((0, dimension), dtype=np.float32)
        self.ids = np.zeros(0, dtype=np.int64)
        self.tags = np.zeros(0, dtype=np.int32)
        self.sq_norms = np.zeros(0, dtype=np.float32)
        self.count = 0
        self.row_of: dict[int, int] = {}

    def add(self, X: np.ndarray, ids: np.ndarray, tags: np.ndarray) -> None:
        start, stop = self.count, self.count + len(X)
        self._reserve(stop)
        self.rows[start:stop], self.ids[start:stop], self.tags[start:stop] = X, ids, tags
        self.sq_norms[start:stop] = np.einsum("ij,ij->i", X, X)
        self.row_of.update((int(i), r) for r, i in enumerate(ids, start))
        self.count = stop

    def positions(self, ids: np.ndarray) -> np.ndarray:
        row_of = self.row_of
        return np.fromiter((row_of[int(i)] for i in ids), np.int64, len(ids))

    def remove(self, ids: np.ndarray) -> None:
        for external in ids:
            row, last = self.row_of.pop(int(external)), self.count - 1
            if row != last:
                for array in (self.rows, self.ids, self.tags, self.sq_norms):
                    array[row] = array[last]
                self.row_of[int(self.ids[row])] = row
            for array in (self.rows, self.ids, self.tags, self.sq_norms):
                array[last] = 0
            self.count = last

    def _reserve(self, size: int) -> None:
        if size <= len(self.rows):
            return
        capacity = max(size, 2 * len(self.rows), 1024)
        for name in ("rows", "ids", "tags", "sq_norms"):
            old = getattr(self, name)
            grown = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            grown[: self.count] = old[: self.count]
            old.fill(0)  # the released buffer must not keep copies of rows deleted later
            setattr(self, name, grown)


class MultiStepIndex:
    """Algorithm 1: reduced-space graph traversal, kappa candidates, full-precision re-rank.

    `reducer` (LeanVec or GleanVec) owns the projections and their streaming statistics; this
    class keeps the graph's reduced vectors in step with them: a refresh (every
    `reducer.refresh_every` updates, and at `compact`) re-projects every live vector.
    """

    def __init__(self, graph: ReducedGraph, reducer: LeanVec, metric: str) -> None:
        self.graph, self.reducer, self.metric = graph, reducer, metric
        self.store = VectorStore(reducer.dimension)
        self._query_matrices: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.store.count

    def build(self, X: np.ndarray, ids: np.ndarray) -> None:
        """Learn the projections on X (Algorithm 2 / 5), build the graph, store the reductions."""
        tags = self.reducer.assign(X)
        self.reducer.add(X, tags)
        self.reducer.refit()
        self.graph.add(X, ids)
        self.store.add(X, ids, tags)
        self._publish(X, ids, tags)

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        """Add rows; the statistics take +x x^T and the projections refresh when due."""
        tags = self.reducer.assign(X)
        self.reducer.add(X, tags)
        self.graph.add(X, ids)
        self.store.add(X, ids, tags)
        if self.reducer.due:
            self.refresh()
        else:
            self._publish(X, ids, tags)  # Eq. 13: new vectors with the current projection

    def delete(self, ids: np.ndarray) -> None:
        """Remove known ids: the graph repairs around them, the statistics take -x x^T."""
        positions = self.store.positions(ids)
        self.graph.delete(ids)
        self.reducer.remove(self.store.rows[positions], self.store.tags[positions])
        self.store.remove(ids)
        if self.reducer.due:
            self.refresh()

    def compact(self) -> None:
        """Purge deleted nodes from the graph and refresh, so nothing depends on them."""
        self.graph.compact()
        if self.reducer.pending:
            self.refresh()

    def refresh(self) -> None:
        """Recompute the projections and re-project every live vector (sec. 3.2, Eq. 12)."""
        self.reducer.refit()
        self._query_matrices.clear()
        live = slice(0, self.store.count)
        self._publish(self.store.rows[live], self.store.ids[live], self.store.tags[live])

    def search(self, q: np.ndarray, k: int, ef: int, kappa: int, d: int) -> np.ndarray:
        """External ids of the k best, best first (Algorithm 1)."""
        matrix = self._query_matrices.get(d)
        if matrix is None:
            matrix = self.reducer.query_matrix(d) * (2.0 if self.metric == "euclidean" else 1.0)
            self._query_matrices[d] = matrix
        views = (matrix @ q).reshape(self.reducer.groups, d)  # Algorithm 4: all C views
        kappa = max(kappa, k)
        candidates, _ = self.graph.search_reduced(views, kappa, max(ef, kappa), d)
        return self.rerank(candidates, q, k)

    def rerank(self, candidates: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
        """The k candidates nearest in full precision (Algorithm 1, postprocessing)."""
        positions = self.store.positions(candidates)
        dots = self.store.rows[positions] @ q
        if self.metric == "euclidean":
            dots = 2.0 * dots - self.store.sq_norms[positions]
        best = np.argsort(-dots, kind="stable")[:k]
        return candidates[best].astype(np.int64, copy=False)

    def save(self, directory: Path) -> None:
        """The graph, the live full vectors and the projection state."""
        self.graph.save(str(directory / "graph"))
        live = slice(0, self.store.count)
        np.save(directory / "vectors.npy", self.store.rows[live])
        np.save(directory / "ids.npy", self.store.ids[live])
        np.save(directory / "tags.npy", self.store.tags[live])
        state = {"A": self.reducer.A, "B": self.reducer.B, "K_X": self.reducer.K_X}
        if getattr(self.reducer, "centres", None) is not None:
            state["centres"] = self.reducer.centres
        np.savez(directory / "projections.npz", **state)

    def nbytes(self) -> int:
        """The graph, the full vectors and the projection state."""
        reducer, store = self.reducer, self.store
        arrays = (store.rows, store.ids, store.tags, store.sq_norms, reducer.A, reducer.B)
        return self.graph.memory_usage() + reducer.K_X.nbytes + sum(a.nbytes for a in arrays)

    def _publish(self, X: np.ndarray, ids: np.ndarray, tags: np.ndarray) -> None:
        reduced = self.reducer.project_data(X, tags)
        bias = (
            self.store.sq_norms[self.store.positions(ids)] if self.metric == "euclidean" else None
        )
        tags_arg = tags if self.reducer.groups > 1 else None
        self.graph.set_reduced(ids, reduced, tags_arg, bias)
