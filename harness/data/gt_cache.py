"""Ground truth of modified sets (after deletions, at runbook steps), cached on disk.

Recomputing exact top-k over a large set at every search step of every run would dominate a
churn benchmark, so each result is stored under `<data dir>/groundtruth/<dataset>/` in a file
named by its label (e.g. runbook and step) and a hash of everything it depends on: the
queries, the live rows, k and the metric. A changed set never reuses a stale file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from harness.core.io import atomic_path
from harness.data.datasets import Dataset
from harness.data.groundtruth import ground_truth


def cache_dir(dataset_path: str | Path, dataset: str) -> Path:
    """The cache folder of a dataset: next to its HDF5 file, as the dataset cache is."""
    return Path(dataset_path).parent / "groundtruth" / dataset


def cached_ground_truth(
    folder: Path, label: str, dataset: Dataset, rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of `dataset.test` over `rows` of train: from the cache, else computed."""
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    digest = hashlib.sha1()
    for part in (dataset.metric.encode(), str(k).encode(), dataset.test, rows):
        digest.update(
            np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray) else part
        )
    digest.update(np.ascontiguousarray(dataset.train[rows[:100]]).tobytes())
    path = folder / f"{label}-{digest.hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return cached["neighbors"], cached["distances"]
    neighbors, distances = ground_truth(dataset.train, dataset.test, dataset.metric, k, rows)
    with atomic_path(path) as partial, open(partial, "wb") as out:
        np.savez(out, neighbors=neighbors, distances=distances)
    return neighbors, distances
