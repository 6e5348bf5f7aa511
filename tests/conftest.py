"""Shared fixtures: small real-structure data sets made locally."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.data.datasets import write_dataset
from harness.data.sources import dataset_path


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def xs_angular(data_dir: Path) -> Path:
    """ann-benchmarks' random-xs-20-angular (blobs), built once per test session."""
    return dataset_path("random-xs-20-angular", data_dir)


@pytest.fixture(scope="session")
def tiny_dataset(data_dir: Path) -> Path:
    """A 500-row blob set with 20 queries: enough for runner tests, built in milliseconds."""
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(10, 8)) * 5
    X = (centers[rng.integers(0, 10, 520)] + rng.normal(size=(520, 8))).astype(np.float32)
    path = data_dir / "tiny-8-euclidean.hdf5"
    write_dataset(path, X[:500], X[500:], "euclidean")
    return path
