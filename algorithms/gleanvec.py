"""GleanVec: piecewise-linear query-aware dimensionality reduction (seed 003, sec. 4).

Spherical k-means (Appendix A) learns C unit landmarks; every vector gets the tag of its
landmark (Eq. 14) and is reduced with its cluster's LeanVec-Sphering projection B_c, all
clusters sharing the sphering W of the queries (Algorithm 5). The pair (tag, B_c x) is stored
together; a query is preprocessed eagerly into its C views A_c q (Algorithm 4) and the graph
picks the view of each node's tag. The per-cluster statistics stream as in sec. 3.2.
"""

from __future__ import annotations

import numpy as np

from algorithms.leanvec import LeanVec
from algorithms.vectors import discard, unit_rows

#: Appendix A: the landmarks are learned on a uniform sample of at most 10^5 points.
KMEANS_SAMPLE = 100_000


def spherical_kmeans(
    X: np.ndarray, clusters: int, iterations: int = 25, seed: int = 0
) -> np.ndarray:
    """C unit centres maximising sum_i max_c <x_i / |x_i|, mu_c> (Eqs. 22-24).

    Initialised with k-means++ on the normalised sample (Appendix A), cosine as similarity.
    """
    if not 1 <= clusters <= len(X):
        raise ValueError(f"need 1 <= clusters <= {len(X)} (the rows), got {clusters}")
    rng = np.random.default_rng(seed)
    sample = X[rng.choice(len(X), KMEANS_SAMPLE, replace=False)] if len(X) > KMEANS_SAMPLE else X
    units = unit_rows(np.asarray(sample, dtype=np.float32))
    discard(sample, X)  # copies of rows are zeroed before they are freed
    centres = _kmeans_plus_plus(units, clusters, rng)
    tags = None
    for _ in range(iterations):
        new_tags = np.argmax(units @ centres.T, axis=1)  # Eq. 23
        if tags is not None and np.array_equal(new_tags, tags):
            break
        tags = new_tags
        sums = np.stack([units[tags == c].sum(axis=0) for c in range(clusters)])
        empty = np.linalg.norm(sums, axis=1) == 0
        sums[empty] = centres[empty]  # an emptied cluster keeps its centre
        centres = unit_rows(sums)  # Eq. 24
    units.fill(0)
    return centres


def _kmeans_plus_plus(units: np.ndarray, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding with the spherical distance 1 - <x, mu>."""
    centres = [units[rng.integers(len(units))]]
    closest = 1.0 - units @ centres[0]
    for _ in range(1, clusters):
        weights = np.maximum(closest, 0)
        total = weights.sum()
        pick = rng.choice(len(units), p=weights / total) if total > 0 else rng.integers(len(units))
        centres.append(units[pick])
        closest = np.minimum(closest, 1.0 - units @ units[pick])
    return np.stack(centres)


class GleanVec(LeanVec):
    """LeanVec-Sphering per spherical k-means cluster, with the shared W (Algorithm 5).

    The landmarks are learned from the rows, so a delete cannot subtract a deleted vector's
    pull on them: `compact` learns them again on the live rows (`relearns`), and until then
    they keep a trace of D."""

    relearns = True

    def __init__(
        self,
        dimension: int,
        clusters: int,
        d_max: int | None = None,
        refresh_every: int = 10_000,
        learn_queries: np.ndarray | None = None,
    ) -> None:
        if clusters < 1:
            raise ValueError(f"clusters (C) must be >= 1, got {clusters}")
        self.groups = clusters
        super().__init__(dimension, d_max, refresh_every, learn_queries)
        self.centres: np.ndarray | None = None
        self.seed = 0

    def learn_landmarks(self, X: np.ndarray, seed: int = 0) -> None:
        """Spherical k-means on (a sample of) the data (Algorithm 5, lines 1-2)."""
        self.centres, self.seed = spherical_kmeans(X, self.groups, seed=seed), seed

    def relearn(self, X: np.ndarray) -> None:
        """Landmarks learned anew on the live rows X, as a build on X would learn them (the
        same seed), and the statistics forgotten: the caller adds X under the new tags."""
        self.learn_landmarks(X, self.seed)
        self.reset()

    def assign(self, X: np.ndarray) -> np.ndarray:
        """Tag = argmax_c <x, mu_c> (Eq. 14); the norm of x does not change the argmax."""
        if self.centres is None:
            raise ValueError("learn_landmarks must run before vectors can be tagged")
        return np.argmax(X @ self.centres.T, axis=1).astype(np.int32)
