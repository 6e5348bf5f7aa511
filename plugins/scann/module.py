"""ScaNN (Google): partitioning tree + anisotropic hashing + exact re-ordering, with its native
`delete` / `upsert` (ScaNN >= 1.3).

ScaNN deletes by datapoint index and moves the last datapoint into the freed index, as its
own Python wrapper mirrors in its docid bookkeeping (scann/scann_ops/py/scann_ops_pybind.py,
`ScannSearcher.delete`); the plugin keeps the same external-id mapping in a NumPy array so a
query is one array lookup, and calls the pybind searcher directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scann

from algorithms.vectors import discard, unit_rows
from plugins.base import (
    BasePlugin,
    as_ids,
    as_rows,
    check_deletable,
    check_insertable,
    check_length,
)


class Scann(BasePlugin):
    """ann-benchmarks' build grid (`n_leaves`, `avq_threshold`, `dims_per_block`) and query grid
    (`leaves_to_search`, `reorder`). Angular data is normalised and searched by dot product,
    as there; `avq_threshold` (the anisotropic loss) applies to dot products only."""

    deletion = "hard"

    def __init__(
        self, metric: str, n_leaves: int, avq_threshold: float = 0.2, dims_per_block: int = 2
    ) -> None:
        super().__init__(metric)
        if n_leaves < 1 or dims_per_block < 1:
            raise ValueError(f"need n_leaves, dims_per_block >= 1: {n_leaves}, {dims_per_block}")
        self.n_leaves = n_leaves
        self.avq_threshold = avq_threshold
        self.dims_per_block = dims_per_block
        self.distance = "squared_l2" if metric == "euclidean" else "dot_product"
        self.leaves_to_search, self.reorder = 1, -1
        self.name = f"scann(n_leaves={n_leaves}, avq={avq_threshold}, dpb={dims_per_block})"
        self.searcher = None

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = given = as_rows(X)
        self.labels = as_ids(ids, len(rows))
        self.row_of = {int(label): i for i, label in enumerate(self.labels)}
        self.dimension = rows.shape[1]
        if self.metric == "angular":
            rows = unit_rows(rows)
        threshold = self.avq_threshold if self.distance == "dot_product" else float("nan")
        builder = scann.scann_ops_pybind.builder(rows, 10, self.distance)
        builder.set_n_training_threads(1)
        self.searcher = (
            builder.tree(
                self.n_leaves,
                1,
                training_sample_size=len(rows),
                spherical=self.metric == "angular",
                quantize_centroids=True,
            )
            .score_ah(self.dims_per_block, anisotropic_quantization_threshold=threshold)
            .reorder(1)
            .build()
        ).searcher
        discard(rows, given)  # the searcher holds its own copy
        self.searcher.set_num_threads(1)

    def set_query_arguments(self, leaves_to_search: int = 1, reorder: int = -1) -> None:
        self.leaves_to_search, self.reorder = leaves_to_search, reorder
        self.name = (
            f"scann(n_leaves={self.n_leaves}, avq={self.avq_threshold}, "
            f"dpb={self.dims_per_block}, leaves={leaves_to_search}, reorder={reorder})"
        )

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        # Dot-product ranking does not depend on the query's norm: no normalising copy.
        check_length(q, self.dimension)
        rows, _ = self.searcher.search(q, k, self.reorder, self.leaves_to_search)
        return self.labels[rows]

    def delete(self, ids: np.ndarray) -> None:
        rows = []
        for label in check_deletable(ids, self.row_of).tolist():
            row, last = self.row_of.pop(label), len(self.row_of)
            if row != last:  # ScaNN moves its last datapoint into the freed index
                moved = int(self.labels[last])
                self.labels[row] = moved
                self.row_of[moved] = row
            rows.append(row)
        self.labels = self.labels[: len(self.row_of)]
        self.searcher.delete(rows)

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        rows = given = as_rows(X, self.dimension)
        labels = check_insertable(ids, len(rows), self.row_of)
        if self.metric == "angular":
            rows = unit_rows(rows)
        start = len(self.labels)
        self.searcher.upsert([None] * len(rows), rows, 1)
        discard(rows, given)
        self.labels = np.concatenate([self.labels, labels])
        self.row_of.update((int(label), start + i) for i, label in enumerate(labels))

    def save(self, directory: str | Path) -> None:
        self.searcher.serialize(str(directory), False)
        np.save(Path(directory) / "scann-ids.npy", self.labels)

    def done(self) -> None:
        self.searcher = None
