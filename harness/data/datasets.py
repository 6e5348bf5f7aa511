"""ann-benchmarks HDF5 datasets: the in-memory `Dataset`, loading with checks, atomic writing.

A file holds `train`, `test` (float32 vectors), `neighbors` (int64 ids into train), `distances`
(float32) and attributes `distance`, `point_type`, `dimension`, exactly as ann-benchmarks
writes them, so its published files load here and ours load there. An optional `learn_queries`
array is a query sample disjoint from `test`, for indices that train on queries. The registry
of named sets and their sources is `harness.data.sources`.
"""

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from harness.core.io import atomic_path
from harness.data.groundtruth import METRICS, ground_truth

REQUIRED_KEYS = ("train", "test", "neighbors", "distances")
VECTOR_KEYS = ("train", "test", "learn_queries")


class DatasetError(Exception):
    """A dataset problem the user can fix; the message says what is wrong and what to do."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A benchmark dataset fully in memory (eq=False: numpy arrays do not compare to a bool)."""

    name: str
    train: np.ndarray
    test: np.ndarray
    neighbors: np.ndarray
    distances: np.ndarray
    metric: str
    learn_queries: np.ndarray | None = None

    @property
    def dimension(self) -> int:
        return int(self.train.shape[1])


def write_dataset(
    path: str | Path,
    train: np.ndarray,
    test: np.ndarray,
    metric: str,
    neighbors: np.ndarray | None = None,
    distances: np.ndarray | None = None,
    learn_queries: np.ndarray | None = None,
    k: int = 100,
) -> None:
    """Write an ann-benchmarks HDF5 file, computing top-k ground truth unless it is given.

    The file appears at `path` only once complete, so a crash never leaves a truncated dataset
    that a later run would trust.
    """
    _check_metric(metric, "write_dataset")
    arrays = _vector_arrays({"train": train, "test": test, "learn_queries": learn_queries})
    if (neighbors is None) != (distances is None):
        raise DatasetError("give both neighbors and distances, or neither to have them computed")
    if neighbors is None:
        neighbors, distances = ground_truth(arrays["train"], arrays["test"], metric, k)
    arrays["neighbors"] = np.asarray(neighbors, dtype=np.int64)
    arrays["distances"] = np.asarray(distances, dtype=np.float32)
    _check_ground_truth(arrays)
    _write_atomically(Path(path), arrays, metric)


def load_dataset(path: str | Path, name: str | None = None) -> Dataset:
    """Read any ann-benchmarks HDF5 file fully into memory, checking it is usable first."""
    path = Path(path)
    metric, raw = _read_hdf5(path)
    try:
        arrays = _vector_arrays(raw)
        arrays["neighbors"] = raw["neighbors"].astype(np.int64)
        arrays["distances"] = raw["distances"].astype(np.float32)
        _check_ground_truth(arrays)
    except DatasetError as e:
        raise DatasetError(f"{path}: {e}") from e
    return Dataset(
        name=name or path.stem,
        train=arrays["train"],
        test=arrays["test"],
        neighbors=arrays["neighbors"],
        distances=arrays["distances"],
        metric=metric,
        learn_queries=arrays.get("learn_queries"),
    )


def _read_hdf5(path: Path) -> tuple[str, dict[str, np.ndarray]]:
    """The metric and every array of an ann-benchmarks file, raw as stored."""
    if not path.is_file():
        raise DatasetError(f"no dataset file at {path}: check the path or use a registry name")
    try:
        with h5py.File(path, "r") as f:
            _check_keys(f, path)
            metric = _metric_attr(f, path)
            return metric, {
                key: f[key][()] for key in (*REQUIRED_KEYS, "learn_queries") if key in f
            }
    except OSError as e:
        raise DatasetError(
            f"{path} is not a readable HDF5 file ({e}): delete it to have it rebuilt, "
            "or download it again"
        ) from e


def _check_keys(f: h5py.File, path: Path) -> None:
    for key in REQUIRED_KEYS:
        if key not in f:
            raise DatasetError(
                f"{path}: missing {key!r}: ann-benchmarks files hold {', '.join(REQUIRED_KEYS)}; "
                "delete it to have it rebuilt, or write it with write_dataset"
            )


def _metric_attr(f: h5py.File, path: Path) -> str:
    metric = f.attrs.get("distance")
    if metric is None:
        raise DatasetError(
            f"{path}: missing attribute 'distance': set it to one of {', '.join(METRICS)}"
        )
    metric = metric.decode() if isinstance(metric, bytes) else str(metric)
    _check_metric(metric, str(path))
    return metric


def _check_metric(metric: str, where: str) -> None:
    if metric not in METRICS:
        raise DatasetError(
            f"{where}: distance {metric!r} is not supported: use one of {', '.join(METRICS)}"
        )


def _vector_arrays(arrays: dict[str, np.ndarray | None]) -> dict[str, np.ndarray]:
    """float32, 2-d, finite copies of the vector arrays present, all of one dimension."""
    vectors = {
        key: _vectors(key, arrays[key]) for key in VECTOR_KEYS if arrays.get(key) is not None
    }
    dims = {key: a.shape[1] for key, a in vectors.items()}
    if len(set(dims.values())) > 1:
        raise DatasetError(
            f"dimension mismatch {dims}: train, test and learn_queries need the same columns"
        )
    return vectors


def _vectors(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2 or len(a) == 0:
        raise DatasetError(f"{name} must be a non-empty 2-d array of vectors, got shape {a.shape}")
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        raise DatasetError(
            f"{name} row {int(np.argmax(bad))} has NaN or infinite values: drop or fix that row"
        )
    return a


def _check_ground_truth(arrays: dict[str, np.ndarray]) -> None:
    ids, dists, n_test = arrays["neighbors"], arrays["distances"], len(arrays["test"])
    if ids.ndim != 2 or ids.shape != dists.shape or len(ids) != n_test:
        raise DatasetError(
            f"neighbors {ids.shape} and distances {dists.shape} must both have shape "
            f"(len(test)={n_test}, k): recompute the ground truth"
        )
    if ids.size and (ids.min() < -1 or ids.max() >= len(arrays["train"])):
        raise DatasetError(
            f"neighbors has ids outside train's {len(arrays['train'])} rows: "
            "recompute the ground truth"
        )


def _write_atomically(path: Path, arrays: dict[str, np.ndarray], metric: str) -> None:
    with atomic_path(path) as partial, h5py.File(partial, "w") as f:
        for key, a in arrays.items():
            f.create_dataset(key, data=a)
        f.attrs["type"] = "dense"
        f.attrs["distance"] = metric
        f.attrs["point_type"] = "float"
        f.attrs["dimension"] = arrays["train"].shape[1]
