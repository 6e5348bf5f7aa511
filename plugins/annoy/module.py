"""Annoy (Spotify's random-projection forest): no deletion, no insert after `build`.

Annoy's documentation: "once the index is built you cannot add any more items"
(github.com/spotify/annoy, README, `a.build`), and it has no removal at all, so the plugin is
`deletion = none` and the harness rebuilds. Annoy numbers items 0..n-1 and allocates up to
the largest one, so external ids are kept in an array beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

from plugins.base import BasePlugin, as_ids, as_rows, check_length

METRICS = {"euclidean": "euclidean", "angular": "angular", "ip": "dot"}


class Annoy(BasePlugin):
    """`n_trees` at build time, `search_k` at query time (names as ann-benchmarks)."""

    deletion = "none"

    def __init__(self, metric: str, n_trees: int = 100, seed: int = 1) -> None:
        super().__init__(metric)
        if n_trees < 1:
            raise ValueError(f"need n_trees >= 1, got {n_trees}")
        self.n_trees, self.seed = n_trees, seed
        self.search_k = -1
        self.name = f"annoy(n_trees={n_trees})"
        self.index: AnnoyIndex | None = None

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = as_rows(X)
        self.labels = as_ids(ids, len(rows))
        self.dimension = rows.shape[1]
        self.index = AnnoyIndex(self.dimension, METRICS[self.metric])
        self.index.set_seed(self.seed)
        for i, row in enumerate(rows):
            self.index.add_item(i, row)
        self.index.build(self.n_trees, n_jobs=1)

    def set_query_arguments(self, search_k: int = -1) -> None:
        self.search_k = search_k
        self.name = f"annoy(n_trees={self.n_trees}, search_k={search_k})"

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        check_length(q, self.dimension)
        return self.labels[self.index.get_nns_by_vector(q, k, self.search_k)]

    def save(self, directory: str | Path) -> None:
        self.index.save(str(Path(directory) / "annoy.ann"))
        np.save(Path(directory) / "annoy-ids.npy", self.labels)

    def done(self) -> None:
        if self.index is not None:
            self.index.unload()
        self.index = None
