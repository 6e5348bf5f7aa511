"""Intel Scalable Vector Search (scalable-vs): DynamicVamana and static Vamana with LeanVec.

DynamicVamana's `delete` is a soft delete: "Soft deletion does not remove the IDs from the
graph, but prevents them from being returned from future searches"; `consolidate` then
"remove[s] and patch[es] around all deleted entries in the graph" and `compact` "remove[s] any
holes created in the graph and data by renumbering internal IDs" (docstrings of
`svs.DynamicVamana.delete` / `consolidate` / `compact`, scalable-vs 0.5.0). LeanVec (and LVQ)
run on Intel CPUs only: elsewhere SVS prints "LVQ and Leanvec functionality of SVS is not
supported on non-Intel hardware." and exits the process, which the runner records.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import svs

from algorithms.vectors import discard, unit_rows
from plugins.base import (
    BasePlugin,
    as_ids,
    as_rows,
    check_deletable,
    check_insertable,
    check_length,
)

DISTANCES = {"euclidean": svs.DistanceType.L2, "angular": svs.DistanceType.Cosine}


class SvsVamana(BasePlugin):
    """Shared parameters: `graph_max_degree` (R), `window_size` (L), `search_window_size`."""

    def __init__(self, metric: str, graph_max_degree: int = 64, window_size: int = 128) -> None:
        super().__init__(metric)
        if graph_max_degree < 2 or window_size < 1:
            raise ValueError(
                f"need graph_max_degree >= 2, window_size >= 1: {graph_max_degree}, {window_size}"
            )
        self.parameters = svs.VamanaBuildParameters(
            graph_max_degree=graph_max_degree, window_size=window_size
        )
        self.build_label = f"R={graph_max_degree}, L={window_size}"
        self.name = f"{self.label}({self.build_label})"
        self.index = None

    def distance(self) -> svs.DistanceType:
        return DISTANCES.get(self.metric, svs.DistanceType.MIP)

    def set_query_arguments(self, search_window_size: int = 10) -> None:
        self.index.search_window_size = search_window_size
        self.name = f"{self.label}({self.build_label}, search_window_size={search_window_size})"

    def check_query(self, q: np.ndarray) -> None:
        # SVS would silently search a vector of the wrong length.
        check_length(q, self.dimension)

    def done(self) -> None:
        self.index = None


class SvsDynamicVamana(SvsVamana):
    """DynamicVamana on float32: soft `delete`, `compact()` = `consolidate` + `compact`."""

    label = "svs-dynamic"
    deletion = "soft"

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = as_rows(X)
        labels = self.check_ids(as_ids(ids, len(rows)))
        self.dimension = rows.shape[1]
        self.index = svs.DynamicVamana.build(
            self.parameters, rows, labels.view(np.uint64), self.distance(), 1
        )
        self.live = set(labels.tolist())

    @staticmethod
    def check_ids(labels: np.ndarray) -> np.ndarray:
        if len(labels) and labels.min() < 0:
            raise ValueError(f"SVS ids are unsigned: got {labels.min()}")
        return labels

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        self.check_query(q)
        labels, _ = self.index.search(q, min(k, len(self.live)))
        return labels[0].view(np.int64)

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        out = np.full((len(Q), k), -1, dtype=np.int64)
        kk = min(k, len(self.live))
        labels, _ = self.index.search(as_rows(Q, self.dimension), kk)
        out[:, :kk] = labels.view(np.int64)
        return out

    def delete(self, ids: np.ndarray) -> None:
        labels = check_deletable(ids, self.live)
        self.index.delete(labels.view(np.uint64))
        self.live.difference_update(labels.tolist())

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        rows = as_rows(X, self.dimension)
        labels = self.check_ids(check_insertable(ids, len(rows), self.live))
        self.index.add(rows, labels.view(np.uint64))
        self.live.update(labels.tolist())

    def compact(self) -> None:
        self.index.consolidate()
        self.index.compact(1_000_000)

    def save(self, directory: str | Path) -> None:
        root = Path(directory)
        self.index.save(str(root / "config"), str(root / "graph"), str(root / "data"))


class SvsLeanVec(SvsVamana):
    """Static Vamana over LeanVec (`LeanVecLoader`, `leanvec_dims` reduced dimensions, LVQ8
    primary and secondary); no delete (`deletion = none`)."""

    label = "svs-leanvec"
    #: SVS exits the process when LeanVec runs on a non-Intel CPU: tests that build the plugin
    #: in-process skip it there and run it through the runner instead.
    needs_intel_cpu: ClassVar[bool] = True

    def __init__(
        self,
        metric: str,
        leanvec_dims: int,
        graph_max_degree: int = 64,
        window_size: int = 128,
    ) -> None:
        super().__init__(metric, graph_max_degree, window_size)
        if leanvec_dims < 1:
            raise ValueError(f"need leanvec_dims >= 1, got {leanvec_dims}")
        self.leanvec_dims = leanvec_dims
        self.build_label += f", leanvec_dims={leanvec_dims}"
        self.name = f"{self.label}({self.build_label})"

    def distance(self) -> svs.DistanceType:
        # LeanVec is built for L2 and inner product; angular data is normalised for MIP.
        return svs.DistanceType.L2 if self.metric == "euclidean" else svs.DistanceType.MIP

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = given = as_rows(X)
        self.labels = as_ids(ids, len(rows))
        self.dimension = rows.shape[1]
        if self.leanvec_dims > self.dimension:
            raise ValueError(f"leanvec_dims {self.leanvec_dims} > dimension {self.dimension}")
        if self.metric == "angular":
            rows = unit_rows(rows)
        with tempfile.TemporaryDirectory() as scratch:
            path = str(Path(scratch) / "data.fvecs")
            svs.write_vecs(rows, path)
            loader = svs.LeanVecLoader(
                svs.VectorDataLoader(path, svs.DataType.float32, dims=self.dimension),
                self.leanvec_dims,
            )
            print(
                "svs-leanvec: building LeanVec, which SVS supports on Intel CPUs only "
                "(elsewhere it exits the process)",
                file=sys.stderr,
                flush=True,
            )
            self.index = svs.Vamana.build(self.parameters, loader, self.distance(), 1)
        discard(rows, given)  # SVS loaded its own copy

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        self.check_query(q)
        rows, _ = self.index.search(q, k)
        return self.labels[rows[0]]
