"""The field index (seed 000): exact cancellation, deleted ids never returned in either query
mode, O(1) append-only deletion, insert/delete/compact round trips, erasure after compact,
and recall@10 on GloVe at the default settings."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from algorithms.field_index import FieldIndex
from harness.core.scoring import knn_recall
from harness.data.groundtruth import ground_truth
from harness.data.sources import DATASETS
from harness.protocols._measure import neighbor_distances
from harness.protocols.erasure.remanence import scan_directory
from plugins.field_index.module import FieldIndexPlugin

K = 10


def unit_vectors(n: int, d: int, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def blobs(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(20, d)) * 4
    return (centers[rng.integers(0, 20, n)] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module", params=["flat", "hnsw"])
def blob_index(request: pytest.FixtureRequest) -> tuple[FieldIndex, np.ndarray]:
    X = blobs(3000)
    index = FieldIndex("euclidean", X.shape[1], candidates=request.param, ef_construction=100)
    index.fit(X, np.arange(len(X)))
    return index, X


def test_seed_experiment_negative_vector_fails_in_flat_ip_but_field_cancels() -> None:
    """Seed 000 on 5k random unit vectors, 128-d: inserting -v into a flat inner-product
    index leaves v at rank 1; appending (v, -1) takes phi(v) from 1 to 0."""
    X = unit_vectors(5000, 128, seed=1)
    target = 17
    flat = faiss.IndexFlatIP(128)
    flat.add(X)
    flat.add(-X[target : target + 1])
    assert flat.search(X[target : target + 1], 1)[1][0, 0] == target

    field = FieldIndex("angular", 128, sigma=0.1, candidates="flat")  # kernels don't overlap
    field.fit(X, np.arange(len(X)))
    assert field.field(X[target]) == pytest.approx(1.0, abs=1e-9)
    field.delete(np.array([target]))
    assert abs(field.field(X[target])) < 1e-6
    assert field.contribution(target, X[target]) == 0.0
    assert target not in field.search(X[target], K)


def test_default_sigma_is_the_median_nearest_neighbour_distance() -> None:
    X = blobs(2000)
    index = FieldIndex("euclidean", X.shape[1], candidates="flat")
    index.fit(X, np.arange(len(X)))
    d2 = faiss.knn(X, X, 2, faiss.METRIC_L2)[0][:, 1]
    assert index.sigma == pytest.approx(float(np.median(np.sqrt(d2))), rel=0.1)


def test_cancellation_is_exact_and_deleted_ids_are_never_returned(blob_index) -> None:
    index, X = blob_index
    deleted = np.random.default_rng(5).choice(len(X), 300, replace=False)
    index.delete(deleted)
    queries = np.vstack([X[deleted], blobs(100, seed=9)])
    for mode in ("contribution", "gradient"):
        answers = np.concatenate([index.search(q, K, mode=mode) for q in queries])
        assert not np.isin(answers, deleted).any(), f"a deleted id was returned ({mode})"
    for row in deleted[:50]:  # +1 and -1 kernels of the same bits cancel to exactly zero
        assert index.contribution(int(row), X[row]) == 0.0
    for row in np.setdiff1d(np.arange(len(X)), deleted)[:50]:
        assert index.search(X[row], K)[0] == row


def test_gradient_matches_finite_differences_and_ascent_reaches_an_attractor() -> None:
    X = blobs(500, d=4)
    index = FieldIndex("euclidean", 4, sigma=0.8, cutoff=8.0, candidates="flat")
    index.fit(X, np.arange(len(X)))
    x = X[3] + 0.3
    step = 1e-5
    numeric = [
        (index.field(x + step * e) - index.field(x - step * e)) / (2 * step) for e in np.eye(4)
    ]
    assert np.allclose(index.gradient(x, fetch=500), numeric, rtol=1e-4, atol=1e-6)
    top = index.ascend(x, fetch=500, steps=200)
    assert np.linalg.norm(index.gradient(top, fetch=500)) < 1e-2 * np.linalg.norm(numeric)
    assert index.field(top) > index.field(x)


def test_deleting_the_target_removes_its_attractor() -> None:
    """With kernels narrower than the gaps, each vector is its own attractor until deleted."""
    X = unit_vectors(2000, 32, seed=3)
    index = FieldIndex("angular", 32, sigma=0.15, candidates="flat")
    index.fit(X, np.arange(len(X)))
    start = X[42] + 0.02 * unit_vectors(1, 32, seed=4)[0]
    assert index.search(start, 1, mode="gradient")[0] == 42
    index.delete(np.array([42]))
    assert 42 not in index.search(start, K, mode="gradient")
    assert index.field(index.ascend(start)) < 1e-6


def test_delete_is_an_append_that_leaves_the_candidate_index_alone() -> None:
    X = blobs(2000)
    index = FieldIndex("euclidean", X.shape[1], ef_construction=50)
    index.fit(X, np.arange(len(X)))
    graph_size = index._graph.get_current_count()
    index.delete(np.array([3, 9, 27]))
    assert index.log_size == len(X) + 3 and len(index) == len(X) - 3
    assert index._graph.get_current_count() == graph_size
    before = index.search(X[0], K)
    with pytest.raises(KeyError, match="9"):
        index.delete(np.array([1, 9]))  # already deleted
    with pytest.raises(KeyError, match="123456"):
        index.delete(np.array([123456]))
    with pytest.raises(KeyError, match="repeated"):
        index.delete(np.array([5, 5]))
    assert index.log_size == len(X) + 3 and np.array_equal(index.search(X[0], K), before)


def test_the_log_doubles_when_full_and_keeps_every_entry() -> None:
    X = blobs(3000, seed=6)
    index = FieldIndex("euclidean", X.shape[1], candidates="flat")
    index.fit(X[:100], np.arange(100))
    capacity = index.capacity
    index.insert(X[100:], np.arange(100, 3000))
    index.delete(np.arange(0, 3000, 2))
    assert index.capacity >= 2 * capacity and index.log_size == 3000 + 1500
    assert index.contribution(0, X[0]) == 0.0 and index.contribution(1, X[1]) == 1.0
    assert index.search(X[2999], 1)[0] == 2999


def test_insert_delete_compact_round_trip_and_erasure(tmp_path: Path) -> None:
    X = blobs(2600, seed=2)
    base, extra = X[:2000], X[2000:]
    plugin = FieldIndexPlugin("euclidean", candidates="flat")
    plugin.fit(base)
    deleted = np.arange(0, 2000, 7)
    plugin.delete(deleted)
    plugin.insert(extra, np.arange(2000, 2600))
    plugin.insert(base[deleted[:5]] + 0.5, deleted[:5])  # deleted ids may come back
    queries = blobs(200, seed=11)
    before = plugin.batch_query(queries, K)
    assert plugin.query(base[deleted[0]] + 0.5, 1)[0] == deleted[0]

    (tmp_path / "before").mkdir()
    plugin.save(tmp_path / "before")
    gone = base[deleted[5:]]
    assert scan_directory(tmp_path / "before", gone).fraction == 1.0  # the log holds them

    plugin.compact()
    live = 2000 - len(deleted) + 600 + 5
    assert plugin.index.log_size == live == len(plugin.index)
    assert np.array_equal(plugin.batch_query(queries, K), before)
    (tmp_path / "after").mkdir()
    plugin.save(tmp_path / "after")
    assert scan_directory(tmp_path / "after", gone).fraction == 0.0
    assert scan_directory(tmp_path / "after", extra).fraction == 1.0
    plugin.delete(np.array([2000]))  # the compacted index keeps working
    assert 2000 not in plugin.query(extra[0], K)


def test_compact_rebuilds_the_hnsw_candidates_without_deleted_vectors(tmp_path: Path) -> None:
    X = blobs(1500, seed=4)
    plugin = FieldIndexPlugin("euclidean", efConstruction=50)
    plugin.fit(X)
    deleted = np.arange(0, 1500, 3)
    plugin.delete(deleted)
    plugin.compact()
    assert plugin.index._graph.get_current_count() == 1000
    plugin.save(tmp_path)
    assert scan_directory(tmp_path, X[deleted]).fraction == 0.0
    assert not np.isin(plugin.batch_query(X[deleted], K), deleted).any()


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match="ip"):
        FieldIndexPlugin("ip")
    with pytest.raises(ValueError, match="candidates"):
        FieldIndexPlugin("euclidean", candidates="ivf-pq")
    with pytest.raises(ValueError, match="sigma"):
        FieldIndexPlugin("euclidean", sigma=0.0)
    plugin = FieldIndexPlugin("euclidean", candidates="flat")
    plugin.fit(blobs(100))
    with pytest.raises(ValueError, match="mode"):
        plugin.set_query_arguments(mode="argmax")


@pytest.mark.slow
def test_recall_on_glove_at_the_default_settings(data_dir: Path) -> None:
    """recall@10 >= 0.9 against exact search: the first 20k words of glove-50-angular's base,
    200 of its queries, ground truth by the harness, every default (HNSW M=16,
    efConstruction=200, overfetch=8, sigma = median nearest-neighbour distance)."""
    split = DATASETS["glove-50-angular"].build(data_dir)
    train, test = split.train[:20_000], split.test[:200]
    _, true_distances = ground_truth(train, test, "angular", k=K)
    plugin = FieldIndexPlugin("angular")
    plugin.fit(train)
    plugin.set_query_arguments()
    found = plugin.batch_query(test, K)
    distances = neighbor_distances("angular", test, train, found)
    recall = float(knn_recall(true_distances, distances, found, K).mean())
    assert recall >= 0.9, f"recall@10 {recall:.3f} at the default settings"
