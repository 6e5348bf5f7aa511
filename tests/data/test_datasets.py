"""ann-benchmarks HDF5 files: round trips, atomic writes, and every malformed input named."""

import gzip
import struct
import sys
import zipfile

import h5py
import numpy as np
import pytest

from harness.core import io
from harness.data import sources
from harness.data.datasets import DatasetError, load_dataset, write_dataset
from harness.data.sources import DATASETS, DatasetSpec, build_ood, dataset_path, get_dataset, list_datasets, read_idx
from harness.data.groundtruth import ground_truth


@pytest.fixture
def vectors():
    rng = np.random.default_rng(0)
    return rng.normal(size=(300, 8)).astype(np.float32), rng.normal(size=(20, 8)).astype(np.float32)


@pytest.mark.parametrize("with_learn", [False, True])
def test_round_trip(tmp_path, vectors, with_learn):
    train, test = vectors
    learn = np.random.default_rng(1).normal(size=(7, 8)) if with_learn else None
    path = tmp_path / "sub" / "set.hdf5"
    write_dataset(path, train, test, "angular", learn_queries=learn, k=10)
    ds = load_dataset(path)
    assert ds.name == "set" and ds.metric == "angular" and ds.dimension == 8
    np.testing.assert_array_equal(ds.train, train)
    np.testing.assert_array_equal(ds.test, test)
    ids, dists = ground_truth(train, test, "angular", k=10)
    np.testing.assert_array_equal(ds.neighbors, ids)
    np.testing.assert_array_equal(ds.distances, dists)
    assert ds.train.dtype == ds.distances.dtype == np.float32 and ds.neighbors.dtype == np.int64
    if with_learn:
        np.testing.assert_array_equal(ds.learn_queries, learn.astype(np.float32))
    else:
        assert ds.learn_queries is None
    with h5py.File(path) as f:
        assert dict(f.attrs) == {
            "type": "dense",
            "distance": "angular",
            "point_type": "float",
            "dimension": 8,
        }
        assert ("learn_queries" in f) == with_learn
    assert [p.name for p in path.parent.iterdir()] == ["set.hdf5"]


def test_given_ground_truth_is_kept(tmp_path, vectors):
    train, test = vectors
    ids = np.tile(np.arange(3), (len(test), 1))
    dists = np.ones((len(test), 3), dtype=np.float32)
    write_dataset(tmp_path / "g.hdf5", train, test, "ip", neighbors=ids, distances=dists)
    ds = load_dataset(tmp_path / "g.hdf5", name="custom")
    assert ds.name == "custom"
    np.testing.assert_array_equal(ds.neighbors, ids)
    with pytest.raises(DatasetError, match="both neighbors and distances"):
        write_dataset(tmp_path / "h.hdf5", train, test, "ip", neighbors=ids)


def test_failed_write_leaves_nothing(tmp_path, vectors, monkeypatch):
    train, test = vectors
    real = h5py.Group.create_dataset

    def fail_on_neighbors(self, name, *args, **kwargs):
        if name == "neighbors":
            raise OSError("disk full")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", fail_on_neighbors)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(tmp_path / "set.hdf5", train, test, "euclidean", k=5)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path, vectors, monkeypatch):
    train, test = vectors
    path = tmp_path / "set.hdf5"
    write_dataset(path, train, test, "euclidean", k=5)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(path, train[:50], test, "euclidean", k=5)
    assert list(tmp_path.iterdir()) == [path]
    assert len(load_dataset(path).train) == 300


def test_nan_row_is_named(tmp_path, vectors):
    train, test = vectors
    train[17, 2] = np.nan
    with pytest.raises(DatasetError, match="train row 17 has NaN"):
        write_dataset(tmp_path / "x.hdf5", train, test, "euclidean")
    test[3, 0] = np.inf
    with pytest.raises(DatasetError, match="test row 3 has NaN or infinite"):
        write_dataset(tmp_path / "x.hdf5", train[:10], test, "euclidean")
    assert not (tmp_path / "x.hdf5").exists()


def test_nan_row_in_file_is_named(tmp_path, vectors):
    train, test = vectors
    path = tmp_path / "x.hdf5"
    write_dataset(path, train, test, "euclidean", k=5)
    with h5py.File(path, "r+") as f:
        f["train"][42, 1] = np.nan
    with pytest.raises(DatasetError, match=r"x\.hdf5: train row 42 has NaN"):
        load_dataset(path)


def test_write_rejects_bad_shapes_and_metric(tmp_path, vectors):
    train, test = vectors
    with pytest.raises(DatasetError, match="dimension mismatch"):
        write_dataset(tmp_path / "x.hdf5", train, test[:, :4], "euclidean")
    with pytest.raises(DatasetError, match="2-d"):
        write_dataset(tmp_path / "x.hdf5", train[0], test, "euclidean")
    with pytest.raises(DatasetError, match=r"'hamming' is not supported.*euclidean, angular, ip"):
        write_dataset(tmp_path / "x.hdf5", train, test, "hamming")


@pytest.mark.parametrize("key", ["train", "test", "neighbors", "distances"])
def test_missing_key(tmp_path, vectors, key):
    path = tmp_path / "x.hdf5"
    write_dataset(path, *vectors, "euclidean", k=5)
    with h5py.File(path, "r+") as f:
        del f[key]
    with pytest.raises(DatasetError, match=f"missing '{key}'"):
        load_dataset(path)


def test_malformed_files(tmp_path, vectors):
    path = tmp_path / "x.hdf5"
    write_dataset(path, *vectors, "euclidean", k=5)
    with h5py.File(path, "r+") as f:
        f.attrs["distance"] = "jaccard"
    with pytest.raises(DatasetError, match="'jaccard' is not supported"):
        load_dataset(path)
    with h5py.File(path, "r+") as f:
        del f.attrs["distance"]
    with pytest.raises(DatasetError, match="missing attribute 'distance'"):
        load_dataset(path)
    with h5py.File(path, "r+") as f:
        f.attrs["distance"] = "euclidean"
        del f["neighbors"]
        f["neighbors"] = np.zeros((3, 5), dtype=np.int64)
    with pytest.raises(DatasetError, match="recompute the ground truth"):
        load_dataset(path)
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        load_dataset(path)
    with pytest.raises(DatasetError, match="no dataset file"):
        load_dataset(tmp_path / "absent.hdf5")


def test_reads_int32_neighbors_and_bytes_metric(tmp_path, vectors):
    """Older ann-benchmarks files store int32 ids and the distance as bytes."""
    train, test = vectors
    ids, dists = ground_truth(train, test, "euclidean", k=4)
    path = tmp_path / "old.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = np.bytes_(b"euclidean")
        f["train"], f["test"] = train.astype(np.float64), test
        f["neighbors"], f["distances"] = ids.astype(np.int32), dists
    ds = load_dataset(path)
    assert ds.metric == "euclidean" and ds.neighbors.dtype == np.int64
    assert ds.train.dtype == np.float32


# registry

