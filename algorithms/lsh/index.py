"""A binary-hash ANN index with hard deletion and insertion, no retraining (seed 002).

Rows, their packed codes, L table keys and norms live in dense buffers; a delete moves the
last live row into the hole (buckets follow it) and zeroes the vacated slot, so a deleted
point leaves neither its vector nor its code behind. Two query modes (sec. 2.4, 2.5, 3.2):
`probes = 0` ranks every code by Hamming distance; `probes > 0` takes the union of that many
buckets of the L tables in multi-probe order. Candidates are ranked by Hamming distance and,
with `kappa > 0`, the best `kappa` are re-ranked by true distance.

USR-LSH's alpha (eq. 11) follows the data's mean norm from running sums, as in the paper's
deletion experiment (sec. 4.6: "we recalculate the average Euclidean norm ... after each
deletion"). Policy: stored codes are never rehashed (that would be retraining); new points
and queries are hashed with the current alpha. The fit hashes X under alpha of X exactly.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from algorithms.lsh.hashing import Hasher, USRHash, pack_signs
from algorithms.lsh.multiprobe import probe_sequence
from algorithms.lsh.tables import HashTables
from algorithms.vectors import discard, unit_rows

METRICS = ("euclidean", "angular")


class LSHIndex:
    """Hash-code ranking or multi-probe table lookup over one hasher's codes."""

    def __init__(self, metric: str, hasher: Hasher, tables: int = 0, key_bits: int = 16) -> None:
        if metric not in METRICS:
            raise ValueError(f"LSH index supports {', '.join(METRICS)}, not {metric!r}")
        self.metric, self.hasher = metric, hasher
        self.dimension = hasher.d
        self.tables = HashTables(tables, key_bits, hasher.n_bits) if tables else None
        n_keys = tables if tables else 0
        self._rows = np.zeros((0, self.dimension), dtype=np.float32)
        self._codes = np.zeros((0, -(-hasher.n_bits // 8)), dtype=np.uint8)
        self._keys = np.zeros((0, n_keys), dtype=np.int64)
        self._norms = np.zeros(0, dtype=np.float64)
        self._ids = np.zeros(0, dtype=np.int64)
        self._count = 0
        self.row_of: dict[int, int] = {}
        self.norm_sum = 0.0  # running sum of ||x|| over live rows (USR-LSH's alpha)

    def __len__(self) -> int:
        return self._count

    @property
    def alpha(self) -> float | None:
        return self.hasher.alpha if isinstance(self.hasher, USRHash) else None

    def add(self, X: np.ndarray, ids: np.ndarray) -> None:
        """Hash and append rows under new ids; alpha first absorbs their norms."""
        clash = [int(i) for i in ids if int(i) in self.row_of]
        if clash:
            raise ValueError(f"id(s) already in the index: {clash[:10]}")
        rows = self._prepare(X)
        wide = rows.astype(np.float64)
        norms = np.linalg.norm(wide, axis=1)
        wide.fill(0)
        start, stop = self._count, self._count + len(rows)
        self._set_alpha(self.norm_sum + float(norms.sum()), stop)
        codes = self.hasher.codes(rows)
        self.norm_sum += float(norms.sum())
        self._count = stop
        self._reserve(stop)
        self._rows[start:stop] = rows
        self._codes[start:stop] = codes
        self._norms[start:stop] = norms
        self._ids[start:stop] = ids
        self.row_of.update((int(i), r) for r, i in enumerate(ids.tolist(), start))
        if self.tables is not None:
            keys = self.tables.keys(codes)
            self._keys[start:stop] = keys
            self.tables.add(keys, np.arange(start, stop))
        discard(rows, X)

    def remove(self, ids: np.ndarray) -> None:
        """Hard removal of known ids: vector, code and table entries; alpha follows."""
        for external in ids.tolist():
            row = self.row_of.pop(int(external))
            last = self._count - 1
            self.norm_sum -= float(self._norms[row])
            if self.tables is not None:
                self.tables.remove(self._keys[row], row)
                if row != last:
                    self.tables.move(self._keys[last], last, row)
            if row != last:
                for buffer in (self._rows, self._codes, self._keys, self._norms, self._ids):
                    buffer[row] = buffer[last]
                self.row_of[int(self._ids[row])] = row
            for buffer in (self._rows, self._codes, self._keys, self._norms, self._ids):
                buffer[last] = 0
            self._count = last
        if self._count == 0:
            self.norm_sum = 0.0
        self._set_alpha(self.norm_sum, self._count)

    def search(self, q: np.ndarray, k: int, probes: int = 0, kappa: int = 0) -> np.ndarray:
        """External ids of up to k neighbours of one query, best first."""
        query = self._prepare(q[None, :])
        values = self.hasher.values(query)
        candidates = self._probe(values[0], probes) if probes else None
        return self._rank(query[0], pack_signs(values), candidates, k, kappa)

    def search_batch(self, Q: np.ndarray, k: int, kappa: int = 0) -> np.ndarray:
        """Hash-code ranking for many queries at once (one FAISS Hamming scan), -1 padded."""
        out = np.full((len(Q), k), -1, dtype=np.int64)
        n = self._count
        if n == 0:
            return out
        queries = self._prepare(Q)
        codes = self.hasher.codes(queries)
        depth = min(max(k, kappa), n)
        _, top = faiss.knn_hamming(codes, self._codes[:n], depth)
        for i, positions in enumerate(top):
            found = self._finish(queries[i], positions, k, kappa)
            out[i, : len(found)] = found
        return out

    def _probe(self, values: np.ndarray, probes: int) -> np.ndarray:
        """Row positions in the union of the first `probes` buckets of the multi-probe order."""
        tables = self.tables
        if tables is None:
            raise ValueError("probes > 0 needs hash tables: build with tables >= 1")
        width = tables.tables * tables.key_bits
        magnitudes = np.abs(values[:width]).reshape(tables.tables, tables.key_bits)
        home = tables.keys(pack_signs(values[None, :]))[0]
        found: list[int] = []
        for visited, (_, table, mask) in enumerate(probe_sequence(magnitudes)):
            if visited == probes:
                break
            found.extend(tables.lookup(table, int(home[table]) ^ mask))
        return np.unique(np.array(found, dtype=np.int64))

    def _rank(
        self,
        query: np.ndarray,
        code: np.ndarray,
        candidates: np.ndarray | None,
        k: int,
        kappa: int,
    ) -> np.ndarray:
        pool = self._count if candidates is None else len(candidates)
        depth = min(max(k, kappa), pool)
        if depth == 0:
            return np.zeros(0, dtype=np.int64)
        codes = self._codes[: self._count] if candidates is None else self._codes[candidates]
        _, top = single_threaded_knn_hamming(code, codes, depth)
        positions = top[0] if candidates is None else candidates[top[0]]
        return self._finish(query, positions, k, kappa)

    def _finish(self, query: np.ndarray, positions: np.ndarray, k: int, kappa: int) -> np.ndarray:
        """Hamming order, or the best k of the first kappa by true distance."""
        positions = positions[positions >= 0]
        if kappa:
            rows = self._rows[positions]
            if self.metric == "euclidean":
                scores = np.einsum("ij,ij->i", rows, rows) - 2.0 * (rows @ query)
            else:
                scores = -(rows @ query)
            positions = positions[np.argsort(scores, kind="stable")]
        return self._ids[positions[:k]]

    def save(self, directory: Path) -> None:
        """Live rows, codes, ids, the hash function and the tables, as `.npy` files."""
        n = self._count
        arrays = {
            "rows": self._rows[:n],
            "codes": self._codes[:n],
            "ids": self._ids[:n],
            "projection": self.hasher.W,
            "norm_sum": np.array([self.norm_sum, n], dtype=np.float64),
        }
        if self.tables is not None:
            arrays.update(self.tables.arrays())
        for name, array in arrays.items():
            np.save(directory / f"{name}.npy", array)

    def nbytes(self) -> int:
        buffers = (self._rows, self._codes, self._keys, self._norms, self._ids, self.hasher.W)
        return sum(b.nbytes for b in buffers)

    def _set_alpha(self, norm_sum: float, count: int) -> None:
        if isinstance(self.hasher, USRHash) and count:
            self.hasher.alpha = self.hasher.alpha_for(norm_sum / count)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        """Angular data is L2-normalised, as ann-benchmarks does (sec. 4.1)."""
        if self.metric != "angular":
            return X
        return unit_rows(X).astype(np.float32, copy=False)

    def _reserve(self, size: int) -> None:
        capacity = len(self._rows)
        if size <= capacity:
            return
        capacity = max(size, 2 * capacity, 1024)
        for name in ("_rows", "_codes", "_keys", "_norms", "_ids"):
            old = getattr(self, name)
            grown = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            grown[: len(old)] = old
            old.fill(0)  # the released buffer must not keep copies of rows deleted later
            setattr(self, name, grown)


def single_threaded_knn_hamming(code: np.ndarray, codes: np.ndarray, depth: int):
    """`faiss.knn_hamming` for one query on one thread: OpenMP start-up costs more than the
    scan of one query, and far more on a busy machine (ann-benchmarks queries one thread)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return faiss.knn_hamming(code, codes, depth)
    finally:
        faiss.omp_set_num_threads(threads)
