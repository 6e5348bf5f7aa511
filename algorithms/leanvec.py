"""LeanVec-Sphering: query-aware linear dimensionality reduction (seed 003, sec. 3).

The inner product <q, x> is approximated by <A q, B x> with A = P W^-1 and B = P W (Eq. 8):
W = U S U^T sphers the query distribution (Q = U S V^T) and P holds the leading left singular
vectors of W X (Algorithm 2). Both SVDs are taken, as sec. 3.2 allows, as eigendecompositions
of the second-moment matrices K_Q = sum q q^T and K_X = sum x x^T. P is kept with all D rows,
sorted by decreasing eigenvalue, so the target dimension d is a prefix chosen at search time
(sec. 3.1) and with d = D the reduced inner product is exact (Eq. 10).

`LeanVec` keeps K_X as streaming statistics (sec. 3.2): an insert adds x x^T, a delete
subtracts it, and every `refresh_every` updates the projections are recomputed, so once the
refresh has run they no longer depend on deleted vectors. The statistics are kept per group
(tag) so that GleanVec (sec. 4) reuses them with one group per cluster; LeanVec has one.
"""

from __future__ import annotations

import numpy as np

from algorithms.vectors import discard

#: Eigenvalues of K_Q below this fraction of the largest are raised to it, so W stays
#: invertible (the paper: "if not, we can use a pseudoinverse"; a floor keeps Eq. 10 exact).
EIGEN_FLOOR = 1e-6


def second_moment(X: np.ndarray) -> np.ndarray:
    """K = X^T X = sum of x x^T over the rows, in float64 (Eq. 11)."""
    rows = np.asarray(X, dtype=np.float64)
    moment = rows.T @ rows
    discard(rows, X)  # the widened copy is zeroed before it is freed
    return moment


def sphering(K_Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W = (K_Q)^(1/2) and W^-1 (Algorithm 2, lines 2-3: W = U S U^T from the SVD of Q)."""
    eigenvalues, U = np.linalg.eigh(K_Q)
    top = max(float(eigenvalues[-1]), np.finfo(np.float64).tiny)
    root = np.sqrt(np.maximum(eigenvalues, EIGEN_FLOOR * top))
    return (U * root) @ U.T, (U / root) @ U.T


def sphering_projections(
    W: np.ndarray, W_inv: np.ndarray, K_X: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A' = P' W^-1 and B' = P' W with P' the eigenvectors of W K_X W, largest first.

    W K_X W = (W X)(W X)^T, so its eigenvectors are the left singular vectors of W X
    (Algorithm 2, line 4); all D of them are kept (Eq. 9), so prefixes give any d.
    """
    eigenvalues, V = np.linalg.eigh(W @ K_X @ W)
    P = V[:, np.argsort(eigenvalues)[::-1]].T
    return P @ W_inv, P @ W


def pca_projection(K_X: np.ndarray) -> np.ndarray:
    """The query-agnostic baseline (the paper's "SVD"): principal axes of X, largest first."""
    eigenvalues, V = np.linalg.eigh(K_X)
    return V[:, np.argsort(eigenvalues)[::-1]].T


class LeanVec:
    """LeanVec-Sphering with streaming statistics (sec. 3.2), over `groups` tag groups.

    `learn_queries` (out-of-distribution training queries) fix K_Q. Without them the data are
    their own query sample (in-distribution): K_Q is the live K_X, so it is streamed too and
    a deleted vector leaves no trace in W after the next refresh either.
    """

    groups = 1
    #: whether `compact` must learn the reduction afresh (something in it is learned from the
    #: rows themselves, not from statistics a delete can subtract)
    relearns = False

    def __init__(
        self,
        dimension: int,
        d_max: int | None = None,
        refresh_every: int = 10_000,
        learn_queries: np.ndarray | None = None,
    ) -> None:
        d_max = dimension if d_max is None else d_max
        if not 1 <= d_max <= dimension:
            raise ValueError(f"d_max must be in [1, {dimension}] (the dimension), got {d_max}")
        if refresh_every < 1:
            raise ValueError(f"refresh_every must be >= 1 update, got {refresh_every}")
        self.dimension, self.d_max, self.refresh_every = dimension, d_max, refresh_every
        self.K_Q: np.ndarray | None = None
        if learn_queries is not None:
            if learn_queries.ndim != 2 or learn_queries.shape[1] != dimension:
                raise ValueError(
                    f"learn_queries must be rows of dimension {dimension}, "
                    f"got shape {learn_queries.shape}"
                )
            self.K_Q = second_moment(learn_queries) / len(learn_queries)
        self.K_X = np.zeros((self.groups, dimension, dimension))
        self.counts = np.zeros(self.groups, dtype=np.int64)
        self.sums = np.zeros((self.groups, dimension))  # streamed like K_X, for `offsets`
        self.pending = 0  # updates since the projections were last computed
        self.A = np.zeros((self.groups, d_max, dimension), dtype=np.float32)
        self.B = np.zeros((self.groups, d_max, dimension), dtype=np.float32)
        self.offsets = np.zeros((self.groups, d_max), dtype=np.float32)
        self.scales = np.ones((self.groups, d_max), dtype=np.float32)

    def assign(self, X: np.ndarray) -> np.ndarray:
        """The group of every row: one group for LeanVec (GleanVec assigns clusters)."""
        return np.zeros(len(X), dtype=np.int32)

    def reset(self) -> None:
        """Forget the streamed statistics, to take the live rows afresh."""
        self.K_X[:] = 0
        self.counts[:] = 0
        self.sums[:] = 0
        self.pending = 0

    def add(self, X: np.ndarray, tags: np.ndarray) -> None:
        """Insert: K_X += x x^T for every row, in its group."""
        self._update(X, tags, +1)

    def remove(self, X: np.ndarray, tags: np.ndarray) -> None:
        """Delete: K_X -= x x^T for every row, in its group."""
        self._update(X, tags, -1)

    @property
    def due(self) -> bool:
        """Whether `refresh_every` updates have passed since the last `refit`."""
        return self.pending >= self.refresh_every

    def refit(self) -> None:
        """Recompute A and B from the current statistics (Algorithm 2 via sec. 3.2), and the
        mean and spread of every group's reduced rows (for 8-bit rows, `algorithms.lvq`)."""
        if self.counts.sum() == 0:
            raise ValueError("no vectors: add data before fitting the projections")
        W, W_inv = sphering(self.query_moment())
        for g in range(self.groups):
            A, B = sphering_projections(W, W_inv, self.K_X[g] / max(self.counts[g], 1))
            self.A[g], self.B[g] = A[: self.d_max], B[: self.d_max]
            self.offsets[g], self.scales[g] = self._spread(g)
        self.pending = 0

    def _spread(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of B_g x over group g, from the streamed statistics."""
        n = max(self.counts[g], 1)
        B = self.B[g].astype(np.float64)
        mean = B @ (self.sums[g] / n)
        variance = np.einsum("ij,jk,ik->i", B, self.K_X[g] / n, B) - mean**2
        floor = 1e-12 * max(float(variance.max()), 1e-30)
        return mean, np.sqrt(np.maximum(variance, floor))

    def query_moment(self) -> np.ndarray:
        """K_Q: the learning queries' second moment, else the live data's (normalised)."""
        if self.K_Q is not None:
            return self.K_Q
        return self.K_X.sum(axis=0) / max(int(self.counts.sum()), 1)

    def project_data(self, X: np.ndarray, tags: np.ndarray) -> np.ndarray:
        """B_{tag} x for every row, d_max dimensions, float32 (Eq. 2b / Eq. 15)."""
        out = np.empty((len(X), self.d_max), dtype=np.float32)
        for g in np.unique(tags):
            rows = tags == g
            group = X[rows]
            out[rows] = group @ self.B[g].T
            group.fill(0)  # a copy of rows: zeroed before it is freed
        return out

    def query_matrix(self, d: int) -> np.ndarray:
        """The stacked A_g[:d] as one (groups * d, D) matrix: one product gives every view."""
        if not 1 <= d <= self.d_max:
            raise ValueError(f"d must be in [1, {self.d_max}] (d_max), got {d}")
        return np.ascontiguousarray(self.A[:, :d].reshape(self.groups * d, self.dimension))

    def project_query(self, q: np.ndarray, d: int) -> np.ndarray:
        """(groups, d): A_g q for every group (Eq. 2a; Algorithm 4's eager preprocessing)."""
        return (self.query_matrix(d) @ q).reshape(self.groups, d)

    def _update(self, X: np.ndarray, tags: np.ndarray, sign: int) -> None:
        if X.ndim != 2 or X.shape[1] != self.dimension or len(tags) != len(X):
            raise ValueError(
                f"expected rows of dimension {self.dimension} with one tag each, "
                f"got {X.shape} and {len(tags)} tags"
            )
        for g in np.unique(tags):
            part = X[tags == g]
            rows = part.astype(np.float64)
            self.K_X[g] += sign * (rows.T @ rows)
            self.counts[g] += sign * len(rows)
            self.sums[g] += sign * rows.sum(axis=0)
            for copy in (part, rows):  # copies of rows (deleted ones, on delete): zeroed
                copy.fill(0)
        self.pending += len(X)
