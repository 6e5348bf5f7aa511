"""Our HNSW graph (`algorithms.hnsw`): recall, insert, persistence, compaction, erasure of
deleted vectors, and the multi-step search interface (deletion repair: test_hnsw_delete.py,
threads: test_hnsw_threads.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from algorithms import lvq
from algorithms.hnsw import HNSW
from harness.core.scoring import knn_recall
from harness.data.datasets import Dataset
from harness.data.groundtruth import distances_to, ground_truth
from harness.data.sources import get_dataset
from harness.protocols._measure import neighbor_distances
from harness.protocols.deletion.sets import deletion_set
from harness.protocols.erasure.remanence import scan_buffers, scan_directory, stored_elsewhere

K = 10
N = 6_000  # GloVe rows: large enough for real structure, small enough to build in seconds
BUILD = {"M": 12, "ef_construction": 100}


@pytest.fixture(scope="module")
def glove(data_dir: Path) -> Dataset:
    full = get_dataset("glove-100k-50-angular", data_dir)
    train, test = full.train[:N], full.test[:300]
    neighbors, distances = ground_truth(train, test, "angular", k=100)
    return Dataset("glove-6k", train, test, neighbors, distances, "angular")


@pytest.fixture(scope="module")
def saved(glove: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index on the slice, built once and saved; tests that change it load a copy."""
    directory = tmp_path_factory.mktemp("hnsw-glove")
    build(glove.train, np.arange(N)).save(directory)
    return directory


@pytest.fixture
def built(saved: Path) -> HNSW:
    return HNSW.load(saved)


def build(X: np.ndarray, ids: np.ndarray, metric: str = "angular") -> HNSW:
    index = HNSW(X.shape[1], metric, **BUILD)
    index.add(X, ids)
    return index


def recall(data: Dataset, found: np.ndarray, true_distances: np.ndarray) -> float:
    distances = neighbor_distances(data.metric, data.test, data.train, found)
    return float(knn_recall(true_distances, distances, found, K).mean())


def test_recall_on_glove_grows_with_ef(glove: Dataset, built: HNSW) -> None:
    low = recall(glove, built.batch_search(glove.test, K, 10)[0], glove.distances)
    high = recall(glove, built.batch_search(glove.test, K, 100)[0], glove.distances)
    assert high >= 0.97
    assert low < high, "a larger ef must find more true neighbours"
    one = np.array([built.search(q, K, 100)[0] for q in glove.test])
    assert np.array_equal(one, built.batch_search(glove.test, K, 100)[0])


@pytest.mark.parametrize("metric", ["euclidean", "angular", "ip"])
def test_each_metric_returns_its_true_distances_best_first(metric: str) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 24)).astype(np.float32)
    Q = rng.normal(size=(50, 24)).astype(np.float32)
    index = build(X, np.arange(len(X)) * 3, metric)
    true_ids, _ = ground_truth(X, Q, metric, K)
    hits = 0
    for q, truth in zip(Q, true_ids, strict=True):
        ids, dists = index.search(q, K, 200)
        assert np.all(np.diff(dists) >= 0), "answers must come best first"
        assert np.allclose(dists, distances_to(metric, q, X[ids // 3]), atol=1e-4)
        hits += len(set((ids // 3).tolist()) & set(truth.tolist()))
    assert hits / (K * len(Q)) >= 0.95


def test_insert_after_build_grows_and_finds_new_rows(glove: Dataset) -> None:
    n = N // 2
    index = build(glove.train[:500], np.arange(500))
    for start in range(500, n, 1250):  # grows past the first capacity twice
        index.add(glove.train[start : start + 1250], np.arange(start, start + 1250))
    assert len(index) == n
    for row in (500, 2000, n - 1):
        assert index.search(glove.train[row], 1, 50)[0][0] == row
    _, true_distances = ground_truth(glove.train, glove.test, "angular", 100, np.arange(n))
    assert recall(glove, index.batch_search(glove.test, K, 100)[0], true_distances) >= 0.97
    with pytest.raises(ValueError, match="already in the index"):
        index.add(glove.train[:2], np.array([N + 1, 5]))
    assert len(index) == n


def test_save_load_round_trip_answers_identically(glove: Dataset, tmp_path: Path) -> None:
    index = build(glove.train[:3000], np.arange(3000) + 10**9)
    index.set_reduced(np.arange(3000) + 10**9, glove.train[:3000, :8], bias=np.ones(3000))
    index.delete(np.arange(100) + 10**9)
    index.save(tmp_path)
    loaded = HNSW.load(tmp_path)
    assert len(loaded) == len(index) == 2900
    for a, b in zip(
        index.batch_search(glove.test, K, 40), loaded.batch_search(glove.test, K, 40), strict=True
    ):
        assert np.array_equal(a, b)
    q = glove.test[:1, :8]
    assert np.array_equal(
        index.search_reduced(q, K, 40, 8)[0], loaded.search_reduced(q, K, 40, 8)[0]
    )
    loaded.add(glove.train[3000:3100], np.arange(3000, 3100))  # still a working index
    assert loaded.search(glove.train[3050], 1, 40)[0][0] == 3050


def test_delete_and_compact_leave_no_deleted_vector(
    glove: Dataset, built: HNSW, tmp_path: Path
) -> None:
    index = built
    index.save(tmp_path / "before")
    deleted = deletion_set(glove.train, "angular", "cluster", 0.1, seed=1)
    kept = np.setdiff1d(np.arange(N), deleted)
    unique = deleted[~stored_elsewhere(glove.train[deleted], glove.train[kept])]
    assert scan_directory(tmp_path / "before", glove.train[unique]).fraction == 1.0  # control
    index.delete(deleted)
    index.save(tmp_path / "deleted")
    assert scan_directory(tmp_path / "deleted", glove.train[unique]).fraction == 0.0
    before = index.batch_search(glove.test, K, 50)
    memory = index.memory_usage()
    index.compact()
    assert index.memory_usage() < memory
    after = index.batch_search(glove.test, K, 50)
    assert np.array_equal(before[0], after[0]), "compaction must not change answers"
    index.save(tmp_path / "compacted")
    assert scan_directory(tmp_path / "compacted", glove.train[unique]).fraction == 0.0
    vectors = np.load(tmp_path / "compacted" / "vectors.npy")
    assert len(vectors) == len(kept), "storage must shrink to the live rows"
    arrays, _ = index._graph._state()
    assert (
        scan_buffers(
            [a.view(np.uint8).ravel() for a in arrays.values()], glove.train[unique]
        ).fraction
        == 0.0
    )
    index.add(glove.train[deleted[:5]], deleted[:5])  # ids can come back after compaction
    assert index.search(glove.train[deleted[0]], 1, 50)[0][0] == deleted[0]


def test_unknown_or_deleted_id_raises_and_changes_nothing(glove: Dataset) -> None:
    index = build(glove.train[:2000], np.arange(2000))
    index.delete(np.array([5]))
    before = index.batch_search(glove.test[:50], K, 40)
    with pytest.raises(KeyError, match="987654321"):
        index.delete(np.array([7, 987654321]))
    with pytest.raises(KeyError, match="5"):
        index.delete(np.array([5]))
    assert len(index) == 1999
    assert np.array_equal(before[0], index.batch_search(glove.test[:50], K, 40)[0])


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(ValueError, match="dimension"):
        HNSW(50).search(np.zeros(51, dtype=np.float32), K, 10)
    with pytest.raises(ValueError, match="metric"):
        HNSW(4, "hamming")
    index = HNSW(4)
    with pytest.raises(ValueError, match="unique"):
        index.add(np.zeros((2, 4)), np.array([1, 1]))
    with pytest.raises(ValueError, match="row 1"):
        index.add(np.array([[0, 0, 0, 0], [0, np.nan, 0, 0]]), np.array([1, 2]))
    assert len(index) == 0 and len(index.search(np.zeros(4), K, 10)[0]) == 0


def test_search_reduced_scores_by_tagged_rows_and_bias(glove: Dataset) -> None:
    X = glove.train[:3000]
    ids = np.arange(3000)
    index = HNSW(50, "euclidean", **BUILD)
    index.add(X, ids)
    with pytest.raises(RuntimeError, match="3000 live node"):
        index.search_reduced(glove.test[:1], K, 40, 50)
    # Full-dimension reduced rows with bias ||x||^2 and query 2q rank exactly as L2 (Eq. 10).
    index.set_reduced(ids, X, bias=np.einsum("ij,ij->i", X, X))
    q = glove.test[0]
    assert np.array_equal(
        index.search_reduced(2 * q[None], K, 100, 50)[0], index.search(q, K, 100)[0]
    )
    # Two tags: each node is scored against its own query row, on the first `dims` columns.
    tags = (ids % 2).astype(np.int32)
    bias = np.linspace(0, 1, 3000, dtype=np.float32)
    index.set_reduced(ids, X, tags=tags, bias=bias)
    Qr = np.stack([glove.test[1], -glove.test[1]])
    found, scores = index.search_reduced(Qr, K, 3000, 20)  # ef = n: every node is scored
    expected = bias[found] - np.einsum("ij,ij->i", Qr[tags[found], :20], X[found, :20])
    assert np.allclose(scores, expected, atol=1e-4) and np.all(np.diff(scores) >= 0)
    exact = np.sort(bias - np.einsum("ij,ij->i", Qr[tags, :20], X[:, :20]))[:K]
    assert np.allclose(scores, exact, atol=1e-4)
    with pytest.raises(ValueError, match="one row per tag"):
        index.search_reduced(Qr[:1], K, 40, 20)
    index.delete(found[:3])
    index.compact()
    found_after, _ = index.search_reduced(Qr, K, 3000, 20)
    assert not np.isin(found_after, found[:3]).any()
    assert np.array_equal(found_after[: K - 3], found[3:])
    index.add(glove.train[3000:3001], np.array([3000]))
    with pytest.raises(RuntimeError, match="1 live node"):
        index.search_reduced(Qr, K, 40, 20)


def test_eight_bit_rows_score_as_their_decoding(glove: Dataset, tmp_path: Path) -> None:
    """uint8 codes with lo and step: a node scores bias - (offset term + lo * sum + step *
    <view, code>), the query row carrying the view, its sum and the offset term; the codes
    survive delete, compact, save and load."""
    rng = np.random.default_rng(5)
    X, ids = glove.train[:3000], np.arange(3000)
    index = HNSW(50, "euclidean", **BUILD)
    index.add(X, ids)
    codes = rng.integers(0, 256, size=(3000, 24), dtype=np.uint8)
    lo, step = rng.normal(size=3000).astype(np.float32), rng.random(3000).astype(np.float32)
    tags, bias = (ids % 3).astype(np.int32), rng.random(3000).astype(np.float32)
    index.set_reduced(ids, codes, tags, bias, lo, step)
    dims = 16
    Qr = rng.normal(size=(3, dims + 2)).astype(np.float32)  # per tag: view, sum, offset term
    found, scores = index.search_reduced(Qr, K, 3000, dims)
    view = Qr[tags]
    dots = np.einsum("ij,ij->i", view[:, :dims], codes[:, :dims].astype(np.float32))
    every = bias - view[:, dims + 1] - lo * view[:, dims] - step * dots
    assert np.allclose(scores, every[found], rtol=1e-4, atol=1e-3)
    assert np.allclose(scores, np.sort(every)[:K], rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="dims \\+ 2"):
        index.search_reduced(Qr[:, :dims], K, 40, dims)
    with pytest.raises(ValueError, match="lo and step"):
        index.set_reduced(ids, codes, tags, bias)

    index.delete(found[:2])
    index.compact()
    index.save(tmp_path)
    loaded = HNSW.load(tmp_path)
    after, after_scores = loaded.search_reduced(Qr, K, 3000, dims)
    assert np.array_equal(after[: K - 2], found[2:])
    assert np.allclose(after_scores[: K - 2], scores[2:], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("bits", [32, 8])
def test_search_multistep_reranks_exactly(glove: Dataset, bits: int) -> None:
    """One call: views from the matrix, reduced traversal, exact re-rank. With every node a
    candidate the answer is full-precision search's, whatever the reduced rows say."""
    X, Q, ids = glove.train[:2000], glove.test[:20], np.arange(2000)
    index = HNSW(50, "euclidean", **BUILD)
    index.add(X, ids)
    P = np.linalg.qr(np.random.default_rng(0).normal(size=(50, 50)))[0][:8].astype(np.float32)
    reduced = X @ P.T  # a poor 8-d reduction: only the re-rank can make the answer exact
    bias = np.einsum("ij,ij->i", X, X)
    if bits == 8:
        offsets, scales = reduced.mean(0, keepdims=True), np.ones((1, 8), np.float32)
        codes, lo, step = lvq.encode(reduced, offsets, scales)
        index.set_reduced(ids, codes, bias=bias, lo=lo, step=step)
        matrix = lvq.query_blocks(2 * P[None], offsets, scales)
    else:
        index.set_reduced(ids, reduced, bias=bias)
        matrix = 2 * P
    for q in Q:  # ef = n: every reachable node (HNSW leaves ~1% without in-links here)
        found, distances = index.search_multistep(q, matrix, K, 2000, 2000, 8)
        want, want_distances = index.search(q, K, 2000)
        assert np.array_equal(found, want)
        assert np.allclose(distances, want_distances, rtol=1e-5)
        assert np.allclose(distances, np.linalg.norm(X[found] - q, axis=1), rtol=1e-4)
    exact, _ = ground_truth(X, Q[:1], "euclidean", k=K)
    found, _ = index.search_multistep(Q[0], matrix, K, 20, 20, 8)
    assert len(found) == K and set(found) != set(exact[0]), "a small kappa sees the reduction"
    with pytest.raises(ValueError, match="block"):
        index.search_multistep(Q[0], matrix[:-1], K, 20, 20, 8)
    with pytest.raises(ValueError, match="dimension mismatch"):
        index.search_multistep(Q[0, :10], matrix, K, 20, 20, 8)
