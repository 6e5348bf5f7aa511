import numpy as np
import pytest

from harness.data.groundtruth import METRICS, distances_to, ground_truth


def brute_force(train: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """Full (nq, n) distance matrix in float64, written independently of the module."""
    t, q = train.astype(np.float64), queries.astype(np.float64)
    if metric == "euclidean":
        return np.sqrt(((q[:, None, :] - t[None, :, :]) ** 2).sum(axis=2))
    if metric == "ip":
        return -(q @ t.T)
    tn = np.linalg.norm(t, axis=1)
    qn = np.linalg.norm(q, axis=1)
    norms = qn[:, None] * tn[None, :]
    return 1.0 - np.divide(q @ t.T, norms, out=np.zeros_like(norms), where=norms > 0)


def assert_matches(ids, dists, full, k, rows=None):
    """Distances equal brute force; ids equal too except where two candidates tie."""
    rows = np.arange(full.shape[1]) if rows is None else rows
    sub = full[:, rows]
    expected = rows[np.argsort(sub, axis=1, kind="stable")[:, :k]]
    expected_d = np.take_along_axis(full, expected, axis=1)
    np.testing.assert_allclose(dists, expected_d, rtol=1e-5, atol=1e-5)
    for i, j in zip(*np.nonzero(ids != expected), strict=True):
        assert np.isclose(full[i, ids[i, j]], full[i, expected[i, j]], rtol=1e-5, atol=1e-5)
    assert all(len(set(row)) == k for row in ids.tolist())


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(500, 16)).astype(np.float32)
    queries = rng.normal(size=(37, 16)).astype(np.float32)
    return train, queries


@pytest.mark.parametrize("metric", METRICS)
def test_matches_brute_force(data, metric):
    train, queries = data
    ids, dists = ground_truth(train, queries, metric, k=10, chunk=8)
    assert ids.shape == dists.shape == (37, 10)
    assert ids.dtype == np.int64 and dists.dtype == np.float32
    assert np.all(np.diff(dists, axis=1) >= 0)
    assert_matches(ids, dists, brute_force(train, queries, metric), 10)


@pytest.mark.parametrize("metric", METRICS)
def test_subset_rows_keeps_original_ids(data, metric):
    train, queries = data
    rows = np.random.default_rng(1).choice(len(train), size=200, replace=False)
    ids, dists = ground_truth(train, queries, metric, k=10, rows=rows)
    assert np.isin(ids, rows).all()
    assert_matches(ids, dists, brute_force(train, queries, metric), 10, rows=np.sort(rows))


@pytest.mark.parametrize("metric", METRICS)
def test_pads_when_fewer_rows_than_k(data, metric):
    train, queries = data
    rows = np.array([3, 7, 11])
    ids, dists = ground_truth(train, queries, metric, k=5, rows=rows)
    assert (ids[:, 3:] == -1).all() and np.isinf(dists[:, 3:]).all()
    assert (np.sort(ids[:, :3], axis=1) == rows).all()
    assert np.isfinite(dists[:, :3]).all()


def test_no_rows_left_is_all_padding(data):
    train, queries = data
    ids, dists = ground_truth(train, queries, "euclidean", k=4, rows=np.array([], dtype=np.int64))
    assert (ids == -1).all() and np.isinf(dists).all()


def test_duplicates_have_exactly_zero_distance():
    train = np.full((5, 8), 1000.1, dtype=np.float32)
    ids, dists = ground_truth(train, train[:1], "euclidean", k=5)
    assert (dists == 0).all()
    assert sorted(ids[0]) == [0, 1, 2, 3, 4]


def test_angular_zero_vectors_have_cosine_zero():
    train = np.array([[0, 0], [1, 0], [-1, 0]], dtype=np.float32)
    queries = np.array([[1, 0], [0, 0]], dtype=np.float32)
    ids, dists = ground_truth(train, queries, "angular", k=3)
    assert not np.isnan(dists).any()
    np.testing.assert_allclose(dists[0], [0, 1, 2])
    assert ids[0].tolist() == [1, 0, 2]
    np.testing.assert_allclose(dists[1], [1, 1, 1])


@pytest.mark.parametrize("metric", METRICS)
def test_distances_to_agrees_with_ground_truth(data, metric):
    train, queries = data
    ids, dists = ground_truth(train, queries, metric, k=5)
    for q, i, d in zip(queries, ids, dists, strict=True):
        assert distances_to(metric, q, train[i]).tolist() == d.tolist()
    full = brute_force(train, queries[:1], metric)[0]
    got = distances_to(metric, queries[0], train)
    assert got.dtype == np.float32 and got.shape == (len(train),)
    np.testing.assert_allclose(got, full, rtol=1e-5, atol=1e-5)


def test_unknown_metric():
    with pytest.raises(ValueError, match=r"'cosine'.*euclidean, angular, ip"):
        ground_truth(np.zeros((3, 2)), np.zeros((1, 2)), "cosine")
    with pytest.raises(ValueError, match="'hamming'"):
        distances_to("hamming", np.zeros(2), np.zeros((3, 2)))


def test_dimension_mismatch():
    with pytest.raises(ValueError, match=r"train has 3 .* queries have 4"):
        ground_truth(np.zeros((5, 3)), np.zeros((2, 4)), "euclidean")


def test_non_finite_names_first_bad_row(data):
    train, queries = data
    bad = train.copy()
    bad[42, 3] = np.nan
    bad[99, 0] = np.inf
    with pytest.raises(ValueError, match="train row 42"):
        ground_truth(bad, queries, "euclidean")
    bad_q = queries.copy()
    bad_q[5, 1] = -np.inf
    with pytest.raises(ValueError, match="queries row 5"):
        ground_truth(train, bad_q, "ip")


def test_non_finite_row_reported_by_original_index(data):
    train, queries = data
    bad = train.copy()
    bad[42] = np.nan
    with pytest.raises(ValueError, match="train row 42"):
        ground_truth(bad, queries, "angular", rows=np.array([1, 42, 7]))
    ids, _ = ground_truth(bad, queries, "angular", k=2, rows=np.array([1, 7]))
    assert set(ids.ravel()) == {1, 7}
