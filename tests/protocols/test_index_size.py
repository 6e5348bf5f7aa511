"""`index_size` is what the index holds: a plugin that counts its bytes exactly reports 0
before `fit`, so the harness's after-minus-before is the index itself, never 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core import definitions
from harness.core.environment import PROJECT_ROOT
from harness.data.datasets import load_dataset
from harness.protocols._measure import build
from plugins.base import offers

ALGORITHMS = definitions.load_algorithms(PROJECT_ROOT / "algos.yaml")
EXACT = sorted(
    name
    for name, algorithm in ALGORITHMS.items()
    if not algorithm.disabled and offers(algorithm.plugin_class(), "memory_usage")
)


def test_the_multi_step_plugins_count_their_bytes_exactly() -> None:
    assert {"leanvec-hnsw", "gleanvec-hnsw"} <= set(EXACT)


@pytest.mark.parametrize("name", EXACT)
def test_an_exact_index_size_is_the_index_itself(name: str, tiny_dataset: Path) -> None:
    algorithm = ALGORITHMS[name]
    if "euclidean" not in algorithm.metrics:
        pytest.skip(f"{name} has no euclidean metric")
    data = load_dataset(tiny_dataset)
    [definition, *_] = definitions.expand(algorithm, "euclidean", data.train.shape[1], 10)
    plugin = definition.instantiate()
    assert plugin.memory_usage() == 0, "no index yet: nothing held"
    try:
        _, index_size = build(plugin, data.train, data.learn_queries)
        assert index_size * 1024 == plugin.memory_usage() > 0  # kB, as ann-benchmarks
    finally:
        plugin.done()
