"""FAISS baselines (faiss-cpu): Flat, IVFFlat, IVFPQ, IVFPQFastScan, HNSWFlat and LSH.

Deletion is FAISS's own `remove_ids`, which is hard where it exists: `IndexFlatCodes` (Flat,
LSH) shifts the codes after a removed one down over it, `IndexIVF` overwrites a removed entry
of an inverted list with the list's last one and shrinks the list, and `IndexIDMap2` drops the
id from its maps (faiss/IndexFlatCodes.cpp, faiss/invlists/InvertedLists.cpp,
faiss/IndexIDMap.cpp). `IndexHNSW` has none ("remove_ids not implemented for this type of
index", faiss/Index.cpp), so HNSWFlat is `deletion = none`. Angular data is L2-normalised and
searched by L2, as in ann-benchmarks' faiss module; `ip` uses FAISS's inner-product metric.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from algorithms.vectors import discard, unit_rows
from plugins.base import (
    BasePlugin,
    as_ids,
    as_rows,
    check_deletable,
    check_insertable,
    check_length,
)


class FaissIndex(BasePlugin):
    """Shared adapter: external ids, angular normalisation, `remove_ids`, `write_index`."""

    deletion = "hard"

    def __init__(self, metric: str) -> None:
        super().__init__(metric)
        self.faiss_metric = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
        self.index: faiss.Index | None = None
        self.live: set[int] = set()

    def make_index(self, dimension: int) -> faiss.Index:
        """A FAISS index that takes `add_with_ids` (native ids or an `IndexIDMap2`)."""
        raise NotImplementedError

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return unit_rows(rows) if self.metric == "angular" else rows

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        given = as_rows(X)
        rows = self.vectors(given)
        labels = as_ids(ids, len(rows))
        self.dimension = rows.shape[1]
        self.index = self.make_index(self.dimension)
        if not self.index.is_trained:
            self.index.train(rows)
        self.live = set()
        self.add(rows, labels)
        discard(rows, given)  # FAISS holds its own copy

    def add(self, rows: np.ndarray, labels: np.ndarray) -> None:
        self.index.add_with_ids(rows, labels)
        self.live.update(labels.tolist())

    def check_query(self, q: np.ndarray) -> np.ndarray:
        """`q` as one row; only the length is checked (FAISS converts the dtype itself)."""
        check_length(q, self.dimension)
        return unit_rows(q)[None] if self.metric == "angular" else q[None]

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        _, labels = self.index.search(self.check_query(q), k)
        found = labels[0]
        return found if found[-1] >= 0 else found[found >= 0]

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        _, labels = self.index.search(self.vectors(as_rows(Q, self.dimension)), k)
        return labels

    def delete(self, ids: np.ndarray) -> None:
        labels = check_deletable(ids, self.live)
        self.index.remove_ids(labels)
        self.live.difference_update(labels.tolist())

    def insert(self, X: np.ndarray, ids: np.ndarray) -> None:
        given = as_rows(X, self.dimension)
        rows = self.vectors(given)
        labels = check_insertable(ids, len(rows), self.live)
        self.add(rows, labels)
        discard(rows, given)

    def save(self, directory: str | Path) -> None:
        faiss.write_index(self.index, str(Path(directory) / "faiss.index"))

    def done(self) -> None:
        self.index = None
        self.live = set()


class FaissFlat(FaissIndex):
    """Exact scan (`IndexFlat`) behind an `IndexIDMap2`."""

    def make_index(self, dimension: int) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlat(dimension, self.faiss_metric))


class FaissIVF(FaissIndex):
    """`IVF{n_list},Flat` (ann-benchmarks' faiss-ivf): `n_list` cells, `n_probe` visited."""

    label = "faiss-ivf"

    def __init__(self, metric: str, n_list: int) -> None:
        super().__init__(metric)
        if n_list < 1:
            raise ValueError(f"need n_list >= 1, got {n_list}")
        self.n_list = n_list
        self.name = f"{self.label}(n_list={n_list})"

    def make_index(self, dimension: int) -> faiss.Index:
        return faiss.index_factory(dimension, self.factory_string(dimension), self.faiss_metric)

    def factory_string(self, dimension: int) -> str:
        return f"IVF{self.n_list},Flat"

    def set_query_arguments(self, n_probe: int = 1) -> None:
        self.index.nprobe = n_probe
        self.name = f"{self.label}(n_list={self.n_list}, n_probe={n_probe})"


class ExactRerank(FaissIndex):
    """Optional exact re-ranking of `k_reorder * k` candidates (`k_reorder = 0`: none).

    FAISS's own re-ranker, `IndexRefineFlat`, has no `remove_ids` (faiss/Index.cpp), so the
    full vectors are kept in an `IndexIDMap2(IndexFlat)` that deletes in step with the
    approximate index, and the adapter re-ranks the candidates against it.
    """

    k_reorder = 0
    exact: faiss.Index | None = None

    def set_reorder(self, k_reorder: int) -> None:
        if k_reorder < 0:
            raise ValueError(f"need k_reorder >= 0, got {k_reorder}")
        self.k_reorder = k_reorder

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        rows = as_rows(X)  # no copy when `super().fit` checks it again
        self.exact = faiss.IndexIDMap2(faiss.IndexFlat(rows.shape[1], self.faiss_metric))
        super().fit(rows, ids)

    def add(self, rows: np.ndarray, labels: np.ndarray) -> None:
        super().add(rows, labels)
        self.exact.add_with_ids(rows, labels)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        if not self.k_reorder:
            return super().query(q, k)
        row = self.check_query(q)
        _, labels = self.index.search(row, k * self.k_reorder)
        candidates = labels[0][labels[0] >= 0]
        vectors = self.exact.reconstruct_batch(candidates)
        ip = self.metric == "ip"
        score = -(vectors @ row[0]) if ip else ((vectors - row) ** 2).sum(axis=1)
        return candidates[np.argsort(score, kind="stable")[:k]]

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        if not self.k_reorder:
            return super().batch_query(Q, k)
        return BasePlugin.batch_query(self, Q, k)

    def delete(self, ids: np.ndarray) -> None:
        labels = check_deletable(ids, self.live)
        self.exact.remove_ids(labels)
        super().delete(labels)

    def save(self, directory: str | Path) -> None:
        super().save(directory)
        faiss.write_index(self.exact, str(Path(directory) / "faiss-exact.index"))

    def done(self) -> None:
        super().done()
        self.exact = None


class FaissIVFPQ(ExactRerank, FaissIVF):
    """`IVF{n_list},PQ{d/2}` (8-bit codes); `n_probe` and `k_reorder` at query time."""

    label = "faiss-ivfpq"
    pq_suffix = ""

    def factory_string(self, dimension: int) -> str:
        if dimension % 2:
            raise ValueError(f"{type(self).__name__} needs an even dimension, got {dimension}")
        return f"IVF{self.n_list},PQ{dimension // 2}{self.pq_suffix}"

    def make_index(self, dimension: int) -> faiss.Index:
        index = super().make_index(dimension)
        if isinstance(index, faiss.IndexIVFPQ):
            # On by default; it only serves polysemous filtering, which is not used, and
            # costs over a minute of training on 9k vectors.
            index.do_polysemous_training = False
        return index

    def set_query_arguments(self, n_probe: int = 1, k_reorder: int = 0) -> None:
        self.set_reorder(k_reorder)
        self.index.nprobe = n_probe
        self.name = f"{self.label}(n_list={self.n_list}, n_probe={n_probe}, k_reorder={k_reorder})"


class FaissIVFPQFastScan(FaissIVFPQ):
    """`IVF{n_list},PQ{d/2}x4fs`: ann-benchmarks' faiss-ivfpqfs (4-bit codes, SIMD scan)."""

    label = "faiss-ivfpqfs"
    pq_suffix = "x4fs"


class FaissHNSW(FaissIndex):
    """`IndexHNSWFlat` (ann-benchmarks' faiss-hnsw); no `remove_ids` in FAISS."""

    deletion = "none"
    delete = BasePlugin.delete  # not offered: `IndexHNSW` raises in `remove_ids`

    def __init__(self, metric: str, M: int = 16, efConstruction: int = 200) -> None:
        super().__init__(metric)
        if M < 2 or efConstruction < 1:
            raise ValueError(f"need M >= 2 and efConstruction >= 1, got {M}, {efConstruction}")
        self.M, self.ef_construction = M, efConstruction
        self.name = f"faiss-hnsw(M={M}, efConstruction={efConstruction})"

    def make_index(self, dimension: int) -> faiss.Index:
        hnsw = faiss.IndexHNSWFlat(dimension, self.M, self.faiss_metric)
        hnsw.hnsw.efConstruction = self.ef_construction
        return faiss.IndexIDMap2(hnsw)

    def set_query_arguments(self, ef: int = 16) -> None:
        faiss.downcast_index(self.index.index).hnsw.efSearch = ef
        self.name = f"faiss-hnsw(M={self.M}, efConstruction={self.ef_construction}, ef={ef})"


class FaissLSH(ExactRerank):
    """`IndexLSH` with a random orthogonal projection to `n_bits` signs: SimHash / super-bit.

    With `k_reorder = 0` answers are ranked by the Hamming distance of the codes only, as the
    USR-LSH paper's baseline; the projection is orthogonal in blocks of `d`
    (faiss/VectorTransform.cpp, `RandomRotationMatrix`), which is super-bit LSH's construction.
    """

    def __init__(self, metric: str, n_bits: int = 256) -> None:
        super().__init__(metric)
        if metric != "angular":  # sign bits of projections estimate angles only
            raise ValueError(f"faiss-lsh supports 'angular' only, not {metric!r}")
        if n_bits < 1:
            raise ValueError(f"need n_bits >= 1, got {n_bits}")
        self.n_bits = n_bits
        self.name = f"faiss-lsh(n_bits={n_bits})"

    def make_index(self, dimension: int) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexLSH(dimension, self.n_bits, True, False))

    def set_query_arguments(self, k_reorder: int = 0) -> None:
        self.set_reorder(k_reorder)
        self.name = f"faiss-lsh(n_bits={self.n_bits}, k_reorder={k_reorder})"
