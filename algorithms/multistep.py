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

from algorithms import lvq
from algorithms.leanvec import LeanVec
from algorithms.vectors import unit_rows


class ReducedGraph(Protocol):
    """What the multi-step search needs from a graph (`algorithms.hnsw.HNSW` provides it)."""

    def add(self, X: np.ndarray, ids: np.ndarray) -> None: ...
    def delete(self, ids: np.ndarray) -> None: ...
    def compact(self) -> None: ...
    def save(self, directory: str) -> None: ...
    def memory_usage(self) -> int: ...
    def set_reduced(
        self,
        ids: np.ndarray,
        reduced: np.ndarray,
        tags: np.ndarray | None,
        bias: np.ndarray | None,
        lo: np.ndarray | None = None,
        step: np.ndarray | None = None,
    ) -> None: ...
    def vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
    def ids(self) -> np.ndarray: ...
    def __len__(self) -> int: ...
    def __contains__(self, external: int) -> bool: ...
    def search_multistep(
        self, q: np.ndarray, matrix: np.ndarray, k: int, kappa: int, ef: int, dims: int
    ) -> tuple[np.ndarray, np.ndarray]: ...


def prepared(X: np.ndarray, metric: str) -> np.ndarray:
    """Rows as the metric compares them: unit length for angular, unchanged otherwise."""
    if metric != "angular":
        return X
    return unit_rows(X).astype(np.float32, copy=False)


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


class MultiStepIndex:
    """Algorithm 1: reduced-space graph traversal, kappa candidates, full-precision re-rank.

    The graph holds the only copy of the full vectors (the re-rank reads them there).
    `reducer` (LeanVec or GleanVec) owns the projections and their streaming statistics; this
    class keeps the graph's reduced vectors in step with them: a refresh (every
    `reducer.refresh_every` updates, and at `compact`) re-projects every live vector.
    `bits` = 8 stores the reduced rows as LVQ-8 codes (`algorithms.lvq`), 32 as float32.
    """

    #: rows re-projected at a time by a refresh: bounds its transient copies
    REFRESH_CHUNK = 16_384

    def __init__(self, graph: ReducedGraph, reducer: LeanVec, metric: str, bits: int = 32) -> None:
        if bits not in (8, 32):
            raise ValueError(f"bits must be 8 (LVQ-8 codes) or 32 (float32), got {bits}")
        self.graph, self.reducer, self.metric, self.bits = graph, reducer, metric, bits
        self._query_matrices: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.graph)

    def __contains__(self, external: int) -> bool:
        return external in self.graph

    def build(self, X: np.ndarray, ids: np.ndarray) -> None:
        """Learn the projections on X (Algorithm 2 / 5), build the graph, store the reductions."""
        tags = self.reducer.assign(X)
        self.reducer.add(X, tags)
        self.reducer.refit()
        self.graph.add(X, ids)
        self._publish(X, ids, tags)

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        """Add rows; the statistics take +x x^T and the projections refresh when due."""
        tags = self.reducer.assign(X)
        self.reducer.add(X, tags)
        self.graph.add(X, ids)
        self._publish(X, ids, tags)  # Eq. 13: the current projection; the graph keeps the tags
        if self.reducer.due:
            self.refresh()

    def delete(self, ids: np.ndarray) -> None:
        """Remove known ids: the graph repairs around them, the statistics take -x x^T."""
        rows, tags = self.graph.vectors(ids)
        self.graph.delete(ids)
        self.reducer.remove(rows, tags)
        rows.fill(0)  # the last copy of the deleted vectors
        if self.reducer.due:
            self.refresh()

    def compact(self) -> None:
        """Purge deleted nodes from the graph and refresh (or, for a reduction learned from
        the rows, learn it again), so nothing depends on them."""
        self.graph.compact()
        if self.reducer.relearns:
            self.relearn()
        elif self.reducer.pending:
            self.refresh()

    def relearn(self) -> None:
        """Learn the reduction afresh on the live rows, in id order as a build on them takes
        them (GleanVec's landmarks, then the statistics under the new tags), and re-project
        every live vector."""
        live = np.sort(self.graph.ids())
        rows, _ = self.graph.vectors(live)
        self.reducer.relearn(rows)
        tags = self.reducer.assign(rows)
        self.reducer.add(rows, tags)
        self.reducer.refit()
        self._query_matrices.clear()
        for start in range(0, len(live), self.REFRESH_CHUNK):
            chunk = slice(start, start + self.REFRESH_CHUNK)
            self._publish(rows[chunk], live[chunk], tags[chunk])
        rows.fill(0)  # a copy of every live vector

    def refresh(self) -> None:
        """Recompute the projections and re-project every live vector (sec. 3.2, Eq. 12)."""
        self.reducer.refit()
        self._query_matrices.clear()
        live = self.graph.ids()
        for start in range(0, len(live), self.REFRESH_CHUNK):
            ids = live[start : start + self.REFRESH_CHUNK]
            rows, tags = self.graph.vectors(ids)
            self._publish(rows, ids, tags)

    def query_matrix(self, d: int) -> np.ndarray:
        """The stacked A_c[:d] of every group (Algorithm 4's one product), x2 for euclidean;
        for 8-bit rows each block also gives the view's sum and offset term (`lvq`)."""
        matrix = self._query_matrices.get(d)
        if matrix is None:
            matrix = self.reducer.query_matrix(d) * (2.0 if self.metric == "euclidean" else 1.0)
            if self.bits == 8:
                blocks = matrix.reshape(self.reducer.groups, d, -1)
                matrix = lvq.query_blocks(blocks, self.reducer.offsets, self.reducer.scales)
            self._query_matrices[d] = matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        return matrix

    def search(self, q: np.ndarray, k: int, ef: int, kappa: int, d: int) -> np.ndarray:
        """External ids of the k best, best first (Algorithm 1, in one compiled call)."""
        return self.graph.search_multistep(q, self.query_matrix(d), k, kappa, ef, d)[0]

    def save(self, directory: Path) -> None:
        """The graph (vectors, links, reduced rows, tags) and the projection state."""
        self.graph.save(str(directory / "graph"))
        reducer = self.reducer
        state = {"A": reducer.A, "B": reducer.B, "K_X": reducer.K_X, "offsets": reducer.offsets}
        state["scales"] = reducer.scales
        if getattr(reducer, "centres", None) is not None:
            state["centres"] = reducer.centres
        np.savez(directory / "projections.npz", **state)

    def nbytes(self) -> int:
        """The graph and the projection state."""
        reducer = self.reducer
        arrays = (reducer.K_X, reducer.A, reducer.B, *self._query_matrices.values())
        return self.graph.memory_usage() + sum(a.nbytes for a in arrays)

    def _publish(self, X: np.ndarray, ids: np.ndarray, tags: np.ndarray) -> None:
        reduced = self.reducer.project_data(X, tags)
        bias = np.einsum("ij,ij->i", X, X) if self.metric == "euclidean" else None
        tags_arg = tags if self.reducer.groups > 1 else None
        if self.bits == 8:
            reducer = self.reducer
            codes, lo, step = lvq.encode(reduced, reducer.offsets[tags], reducer.scales[tags])
            self.graph.set_reduced(ids, codes, tags_arg, bias, lo, step)
        else:
            self.graph.set_reduced(ids, reduced, tags_arg, bias)
