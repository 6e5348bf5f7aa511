"""The field index: weighted-kernel retrieval with deletion by destructive interference.

Seed 000 ("Why negative vectors can't delete data in FAISS - but weighted kernels can"): a
selection index answers argmax <q, v_i>, so inserting -v deletes nothing. Storing (vector,
weight) pairs and retrieving by the field

    phi(q) = sum_i w_i K(q, v_i),   K(q, v) = exp(-d(q, v)^2 / (2 sigma^2))

turns deletion into an append: `delete(id)` appends the same vector with w = -1, whose kernel
cancels the +1 entry exactly ("destructive interference ... the attractor disappears").

State is an append-only log of (id, float32 vector, weight) with doubling capacity, so delete
is amortised O(1): no scan, no rebuild. A candidate index (hnswlib HNSW, or an exact scan of
the log) holds the +1 entries only; a -1 entry has the same vector as the +1 entry it cancels
and is reached through `cancel[row]`. Retrieval ranks ids by their net contribution, the sum
over an id's log entries of w K(q, v) in float64 (the seed: "Retrieval evaluates that field"),
over the candidates within the cut-off radius `cutoff * sigma`; a cancelled id sums to exactly
0 and is never returned. The seed's second mode, "Retrieval becomes gradient ascent to local
maxima", is `mode="gradient"`. `compact()` is the only O(n) step: it drops cancelled pairs
from the log and rebuilds the candidate index, so no copy of a deleted vector remains.

Distances: Euclidean for `euclidean`; for `angular` the Euclidean (chord) distance between
L2-normalised vectors, sqrt(2 (1 - cos)), a monotone function of the harness's 1 - cos, so
the ranking of live ids is the exact angular ranking. `ip` has no distance and is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import hnswlib
import numpy as np

from algorithms.vectors import discard, unit_rows

KINDS = ("hnsw", "flat")
MODES = ("contribution", "gradient")
SIGMA_SAMPLE = 500  # rows whose nearest-neighbour distance sets the default sigma
HEADROOM = 0.25  # spare log capacity reserved at fit, as a fraction of n


class FieldIndex:
    """A weighted-kernel field over an append-only log, with a sub-linear candidate search.

    `sigma`: kernel bandwidth; None = the `sigma_quantile` quantile of nearest-neighbour
    distances of a seeded sample of the fitted rows. `cutoff`: kernels farther than
    `cutoff * sigma` count 0. `candidates`: `hnsw` (hnswlib, `M`, `ef_construction`) or
    `flat` (an exact BLAS scan of the log itself).
    """

    def __init__(
        self,
        metric: str,
        dimension: int,
        sigma: float | None = None,
        sigma_quantile: float = 0.5,
        cutoff: float = 4.0,
        candidates: str = "hnsw",
        M: int = 16,
        ef_construction: int = 200,
        seed: int = 100,
    ) -> None:
        if metric not in ("euclidean", "angular"):
            raise ValueError(
                f"the field index needs a distance for its Gaussian kernel; metric {metric!r} "
                "has none: use euclidean, or angular for directions (normalise ip data)"
            )
        if candidates not in KINDS:
            raise ValueError(f"unknown candidates {candidates!r}: use one of {', '.join(KINDS)}")
        if sigma is not None and not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        if not 0 < sigma_quantile < 1 or not cutoff > 0:
            raise ValueError(
                f"need 0 < sigma_quantile < 1 and cutoff > 0, got {sigma_quantile}, {cutoff}"
            )
        self.metric, self.dimension = metric, dimension
        self.sigma = sigma
        self.sigma_quantile, self.cutoff, self.seed = sigma_quantile, cutoff, seed
        self.kind, self.M, self.ef_construction = candidates, M, ef_construction
        self.ef = 10
        self.live: dict[int, int] = {}  # id -> log row of its current +1 entry
        self._count = 0
        self._allocate(0)
        self._graph: hnswlib.Index | None = None

    # ---- the log -------------------------------------------------------------------------

    def __len__(self) -> int:
        """Live ids (ids whose +1 entry is not cancelled)."""
        return len(self.live)

    @property
    def log_size(self) -> int:
        """Entries in the log, +1 and -1."""
        return self._count

    @property
    def capacity(self) -> int:
        """Entries the log holds before it doubles."""
        return len(self._weights)

    def fit(self, X: np.ndarray, ids: np.ndarray) -> None:
        """Start a new log with one +1 entry per row, then derive sigma if not given."""
        self._zero()
        self.live, self._count, self._graph = {}, 0, None
        self._allocate(int(len(X) * (1 + HEADROOM)) + 1024)
        rows = self._prepare(X)
        self._append(rows, np.ones(len(X), np.float32), ids)
        discard(rows, X)
        self.live = {int(i): r for r, i in enumerate(ids)}
        self._index_rows(np.arange(len(X)))
        if self.sigma is None:
            self.sigma = self._nearest_neighbour_sigma()

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        """Append +1 entries for new ids (an id deleted before may come back)."""
        clash = [int(i) for i in ids if int(i) in self.live]
        if clash:
            raise ValueError(f"id(s) already in the index: {clash[:10]}")
        start = self._count
        rows = self._prepare(X)
        self._append(rows, np.ones(len(X), np.float32), ids)
        discard(rows, X)
        self.live.update((int(i), r) for r, i in enumerate(ids, start))
        self._index_rows(np.arange(start, self._count))

    def delete(self, ids: np.ndarray) -> None:
        """Append the same vector with weight -1 for each id: amortised O(1) per id.

        The candidate index is not touched: the +1 entry stays a candidate and its
        contribution is cancelled by the -1 entry it points to (`cancel`).
        """
        unknown = [int(i) for i in ids if int(i) not in self.live]
        if unknown:
            raise KeyError(f"unknown or already deleted id(s), nothing deleted: {unknown[:10]}")
        if len(set(int(i) for i in ids)) != len(ids):
            raise KeyError("an id is repeated in the deletion batch, nothing deleted")
        rows = np.fromiter((self.live.pop(int(i)) for i in ids), np.int64, len(ids))
        start = self._count
        self._append(self._vectors[rows], -np.ones(len(rows), np.float32), self._ids[rows])
        self._cancel[rows] = np.arange(start, self._count)

    def compact(self) -> int:
        """Physically drop every cancelled pair; rebuild the candidate index. Returns entries
        dropped. The old buffers are zeroed before release so no copy of a deleted vector
        stays in this process's arrays or in `save()` output."""
        n = self._count
        keep = np.flatnonzero((self._weights[:n] > 0) & (self._cancel[:n] < 0))
        vectors, ids = self._vectors[keep], self._ids[keep]
        self._zero()
        self._graph, self._count = None, 0
        self._allocate(int(len(keep) * (1 + HEADROOM)) + 1024)
        self._append(vectors, np.ones(len(keep), np.float32), ids)
        vectors.fill(0)
        self.live = {int(i): r for r, i in enumerate(ids)}
        self._index_rows(np.arange(len(keep)))
        return n - len(keep)

    # ---- the field -----------------------------------------------------------------------

    def kernel(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """w K(x, v) of log rows, float64, zero beyond the cut-off radius.

        The squared distance is an element-wise difference and a per-row sum, so two
        bit-identical vectors (a +1 entry and its -1 copy) get bit-identical kernels.
        """
        diff = self._vectors[rows].astype(np.float64) - x
        d2 = np.square(diff, out=diff).sum(axis=1)
        kernel = np.exp(d2 * (-0.5 / self.sigma**2))
        kernel[d2 > (self.cutoff * self.sigma) ** 2] = 0.0
        kernel *= self._weights[rows]
        return kernel

    def field(self, q: np.ndarray) -> float:
        """phi(q) over the whole log (exact; a scan in chunks, for experiments and tests)."""
        x = self._point(q)
        total = 0.0
        for start in range(0, self._count, 65536):
            total += float(self.kernel(x, np.arange(start, min(start + 65536, self._count))).sum())
        return total

    def contribution(self, external_id: int, q: np.ndarray) -> float:
        """An id's net contribution at q: the sum of w K(q, v) over its log entries in log
        order (a scan of the log's ids; for experiments and tests)."""
        rows = np.flatnonzero(self._ids[: self._count] == external_id)
        x = self._point(q)
        total = 0.0
        for value in self.kernel(x, rows):
            total += value
        return total

    def gradient(self, q: np.ndarray, fetch: int = 64) -> np.ndarray:
        """grad phi(q) = sum_i w_i K_i (v_i - q) / sigma^2 over the kernels near q."""
        x = self._point(q)
        rows = self._with_cancellations(self._candidates(x, fetch))
        weights = self.kernel(x, rows)
        return weights @ (self._vectors[rows].astype(np.float64) - x) / self.sigma**2

    # ---- retrieval -----------------------------------------------------------------------

    def search(
        self,
        q: np.ndarray,
        k: int,
        overfetch: int = 8,
        mode: str = "contribution",
        steps: int = 20,
    ) -> np.ndarray:
        """Ids of the k largest net contributions at q (`contribution`), or at the attractor
        reached by gradient ascent from q (`gradient`), best first; cancelled ids never."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if k < 1 or overfetch < 1:
            raise ValueError(f"need k >= 1 and overfetch >= 1, got {k}, {overfetch}")
        x = self._point(q)
        if self._count == 0:
            return np.zeros(0, dtype=np.int64)
        if mode == "gradient":
            x = self._ascend(x, max(k * overfetch, 16), steps)
        return self._top_contributions(x, k, overfetch)

    def ascend(self, q: np.ndarray, fetch: int = 64, steps: int = 20) -> np.ndarray:
        """The attractor reached by gradient ascent on phi from q (for angular, in the space
        of normalised vectors), over the `fetch` kernels nearest to each iterate."""
        return self._ascend(self._point(q), fetch, steps)

    def _ascend(self, x: np.ndarray, fetch: int, steps: int) -> np.ndarray:
        """Each step is the mean-shift update x <- sum w K v / sum w K, gradient ascent with
        the step sigma^2 / phi(x); it stops where the field is empty or the move is below
        1e-3 sigma."""
        for _ in range(steps):
            rows = self._with_cancellations(self._candidates(x, fetch))
            weights = self.kernel(x, rows)
            mass = weights.sum()
            if mass <= 1e-12:
                break
            moved = weights @ self._vectors[rows].astype(np.float64) / mass
            done = np.linalg.norm(moved - x) < 1e-3 * self.sigma
            x = moved
            if done:
                break
        return x

    def _top_contributions(self, x: np.ndarray, k: int, overfetch: int) -> np.ndarray:
        """Rank candidate ids by net contribution; fetch more while cancelled entries crowd
        out live ones and the farthest candidate is still inside the cut-off radius."""
        total = (self._count + len(self.live)) // 2  # +1 entries: plus - minus = live
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        fetch = min(k * overfetch, total)
        while True:
            rows = self._candidates(x, fetch)
            cancels = self._cancel[rows]
            if (cancels < 0).all():  # no cancelled entry: one +1 row per id, net = K
                ids, net = self._ids[rows], self.kernel(x, rows)
                outside = net == 0
            else:
                every = np.concatenate([rows, cancels[cancels >= 0]])
                weights = self.kernel(x, every)
                ids, net = self._net(every, weights)
                outside = weights[: len(rows)] == 0
            found = net > 0
            if found.sum() >= k or fetch >= total or outside.any():
                break
            fetch = min(2 * fetch, total)
        ids, net = ids[found], net[found]
        return ids[np.argsort(-net, kind="stable")[:k]]

    def _net(self, rows: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each id's net contribution, summed in log order: an id's entries alternate +1 and
        -1 of the same vector, so a cancelled pair sums to exactly 0.0."""
        order = np.argsort(rows, kind="stable")
        ids, inverse = np.unique(self._ids[rows[order]], return_inverse=True)
        return ids, np.bincount(inverse, weights=weights[order], minlength=len(ids))

    def _with_cancellations(self, rows: np.ndarray) -> np.ndarray:
        """The candidate +1 rows followed by the -1 rows that cancel some of them."""
        cancels = self._cancel[rows]
        return np.concatenate([rows, cancels[cancels >= 0]])

    # ---- the candidate index -------------------------------------------------------------

    def set_ef(self, ef: int) -> None:
        if ef < 1:
            raise ValueError(f"ef must be positive, got {ef}")
        self.ef = ef

    def _candidates(self, x: np.ndarray, fetch: int) -> np.ndarray:
        """Log rows of (up to) the `fetch` +1 entries nearest to x."""
        if self.kind == "hnsw":
            fetch = min(fetch, self._graph.get_current_count())
            self._graph.set_ef(max(self.ef, fetch))
            labels, _ = self._graph.knn_query(x.astype(np.float32), fetch, num_threads=1)
            return labels[0].astype(np.int64)
        n = self._count
        v = self._vectors[:n]
        scores = self._sq_norms[:n] - 2.0 * (v @ x.astype(np.float32))
        scores[self._weights[:n] < 0] = np.inf
        fetch = min(fetch, n)
        top = np.argpartition(scores, fetch - 1)[:fetch] if fetch < n else np.arange(n)
        return top[np.isfinite(scores[top])]

    def _index_rows(self, rows: np.ndarray) -> None:
        """Add +1 log rows to the candidate index (the flat kind scans the log itself)."""
        if self.kind != "hnsw" or len(rows) == 0:
            return
        if self._graph is None:
            self._graph = hnswlib.Index(space="l2", dim=self.dimension)
            self._graph.init_index(
                max_elements=max(len(rows), 1),
                M=self.M,
                ef_construction=self.ef_construction,
                random_seed=self.seed,
            )
            self._graph.set_num_threads(1)
        needed = self._graph.get_current_count() + len(rows)
        if needed > self._graph.get_max_elements():
            self._graph.resize_index(max(needed, 2 * self._graph.get_max_elements()))
        self._graph.add_items(self._vectors[rows], rows)

    def _nearest_neighbour_sigma(self) -> float:
        """The `sigma_quantile` quantile of a seeded sample's nearest-neighbour distances."""
        n = self._count
        if n < 2:
            return 1.0
        rng = np.random.default_rng(self.seed)
        sample = rng.choice(n, size=min(SIGMA_SAMPLE, n), replace=False)
        distances = []
        for row in sample:
            x = self._vectors[row].astype(np.float64)
            near = self._candidates(x, 2)
            near = near[near != row][:1]
            if len(near):
                distances.append(float(np.linalg.norm(self._vectors[near[0]] - x)))
        sigma = float(np.quantile(distances, self.sigma_quantile)) if distances else 0.0
        if not sigma > 0:
            raise ValueError(
                "cannot derive sigma: most sampled rows have an identical twin; pass sigma"
            )
        return sigma

    # ---- persistence and memory ----------------------------------------------------------

    def save(self, directory: Path) -> None:
        """The log (vectors, weights, ids, cancellation links), sigma, and the HNSW graph."""
        n = self._count
        np.save(directory / "log_vectors.npy", self._vectors[:n])
        np.save(directory / "log_weights.npy", self._weights[:n])
        np.save(directory / "log_ids.npy", self._ids[:n])
        np.save(directory / "log_cancel.npy", self._cancel[:n])
        meta = {"metric": self.metric, "sigma": self.sigma, "cutoff": self.cutoff}
        (directory / "field.json").write_text(json.dumps(meta))
        if self._graph is not None:
            self._graph.save_index(str(directory / "hnsw.bin"))

    def nbytes(self) -> int:
        """The log's buffers plus hnswlib's vectors and links (level 0, as it allocates)."""
        log = sum(getattr(self, a).nbytes for a in ("_vectors", "_weights", "_ids", "_cancel"))
        log += self._sq_norms.nbytes
        if self._graph is None:
            return log
        per_element = 4 * self.dimension + 4 * (2 * self.M + 1) + 8
        return log + self._graph.get_max_elements() * per_element

    # ---- buffers -------------------------------------------------------------------------

    def _point(self, q: np.ndarray) -> np.ndarray:
        """A query as float64; unit length for angular."""
        x = np.asarray(q, dtype=np.float64).reshape(-1)
        if self.metric != "angular":
            return x
        return unit_rows(x)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        """float32 rows; unit length for angular (zero rows stay zero)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if self.metric != "angular":
            return X
        return unit_rows(X)

    def _allocate(self, capacity: int) -> None:
        self._vectors = np.zeros((capacity, self.dimension), dtype=np.float32)
        self._sq_norms = np.zeros(capacity, dtype=np.float32)
        self._weights = np.zeros(capacity, dtype=np.float32)
        self._ids = np.zeros(capacity, dtype=np.int64)
        self._cancel = np.full(capacity, -1, dtype=np.int64)

    def _append(self, vectors: np.ndarray, weights: np.ndarray, ids: np.ndarray) -> None:
        """Append entries, doubling capacity when full (amortised O(1) per entry)."""
        start, stop = self._count, self._count + len(vectors)
        if stop > len(self._weights):
            self._grow(max(stop, 2 * len(self._weights)))
        self._vectors[start:stop] = vectors
        self._sq_norms[start:stop] = np.einsum("ij,ij->i", vectors, vectors)
        self._weights[start:stop] = weights
        self._ids[start:stop] = ids
        self._count = stop

    def _grow(self, capacity: int) -> None:
        n = self._count
        old = {a: getattr(self, a) for a in self._BUFFERS}
        self._allocate(capacity)
        for name, buffer in old.items():
            getattr(self, name)[:n] = buffer[:n]
            buffer.fill(0)  # the released buffer must not keep copies of rows deleted later

    def _zero(self) -> None:
        """Overwrite the buffers before they are released: no stale copies in freed memory."""
        for name in self._BUFFERS:
            getattr(self, name).fill(0)

    _BUFFERS = ("_vectors", "_sq_norms", "_weights", "_ids", "_cancel")
