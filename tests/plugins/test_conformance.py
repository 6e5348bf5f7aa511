"""The plugin contract, checked against every algorithm in algos.yaml.

Each plugin is checked with a setting chosen by measurement (`setting`), on ann-benchmarks'
random-xs-20 blobs in both metrics: the order of the grids in algos.yaml carries no meaning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from harness.core import definitions
from harness.core.scoring import knn_recall
from harness.data.datasets import Dataset, load_dataset
from harness.data.groundtruth import distances_to, ground_truth
from harness.data.sources import dataset_path
from harness.protocols._measure import neighbor_distances, set_query_arguments
from plugins.base import BasePlugin, offers

#: The repository's definitions (found from this file: it runs inside the images too).
ALGORITHMS = definitions.load_algorithms(Path(__file__).resolve().parents[2] / "algos.yaml")
K = 10
MIN_RECALL = 0.9
MAX_BUILDS = 4  # builds tried before the algorithm is declared unable to reach MIN_RECALL
_SETTINGS: dict[tuple[str, str], tuple[definitions.Definition, definitions.Arguments]] = {}


@pytest.fixture(scope="module", params=["euclidean", "angular"])
def blobs(request: pytest.FixtureRequest, data_dir: Path) -> Dataset:
    data = load_dataset(dataset_path(f"random-xs-20-{request.param}", data_dir))
    return Dataset(  # a 300-query sample keeps the suite fast
        data.name,
        data.train,
        data.test[:300],
        data.neighbors[:300],
        data.distances[:300],
        data.metric,
        data.learn_queries,
    )


@pytest.fixture(params=sorted(ALGORITHMS))
def algorithm(request: pytest.FixtureRequest) -> definitions.Algorithm:
    algorithm = ALGORITHMS[request.param]
    if algorithm.disabled:
        pytest.skip(f"{algorithm.name} is disabled in algos.yaml")
    definitions.check_importable(algorithm)
    if getattr(algorithm.plugin_class(), "needs_intel_cpu", False) and not intel_cpu():
        pytest.skip(f"{algorithm.name} exits the process on non-Intel CPUs: see test_baselines")
    return algorithm


def intel_cpu() -> bool:
    """Whether this machine's CPU is an Intel one (plugins marked `needs_intel_cpu`)."""
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.exists() and "GenuineIntel" in cpuinfo.read_text()


def setting(
    algorithm: definitions.Algorithm, data: Dataset
) -> tuple[definitions.Definition, definitions.Arguments]:
    """The build and query group the contract is checked with: the first build (run groups
    marked `default: true` first) whose most accurate query group reaches MIN_RECALL here.
    Grid order only decides how soon it is found."""
    key = (algorithm.name, data.metric)
    if key in _SETTINGS:
        return _SETTINGS[key]
    groups = sorted(algorithm.run_groups.items(), key=lambda item: not item[1].get("default"))
    ordered = dataclasses.replace(algorithm, run_groups=dict(groups))
    tried = []
    for definition in definitions.expand(ordered, data.metric, data.dimension, K)[:MAX_BUILDS]:
        plugin = definition.instantiate()
        plugin.fit(data.train)
        scored = []
        for query_args in definition.query_argument_groups or [[]]:
            set_query_arguments(plugin, query_args)
            scored.append((recall(data, answers(plugin, data.test), data.distances), query_args))
        plugin.done()
        best, query_args = max(scored, key=lambda pair: pair[0])
        if best >= MIN_RECALL:
            _SETTINGS[key] = definition, query_args
            return _SETTINGS[key]
        tried.append(f"{definition.build_args}: {best:.3f}")
    pytest.fail(f"{algorithm.name}: no build reaches recall {MIN_RECALL} ({'; '.join(tried)})")


def build(
    algorithm: definitions.Algorithm, data: Dataset, ids=None, chosen_on: Dataset | None = None
) -> BasePlugin:
    """The plugin in its checked setting (chosen on `chosen_on`, default `data`), fitted."""
    if data.metric not in algorithm.metrics:
        pytest.skip(f"{algorithm.name} does not support {data.metric}")
    definition, query_args = setting(algorithm, chosen_on or data)
    plugin = definition.instantiate()
    plugin.fit(data.train, ids)
    set_query_arguments(plugin, query_args)
    return plugin


def passes_somewhere(
    plugin: BasePlugin,
    algorithm: definitions.Algorithm,
    data: Dataset,
    check: Callable[[BasePlugin], bool],
) -> bool:
    """Whether `check` holds under the checked setting or, failing that, under another query
    group of its build: after deletes or inserts the group that reaches MIN_RECALL (or finds
    a new row) may be a more thorough one."""
    definition, chosen = setting(algorithm, data)
    for query_args in [chosen, *definition.query_argument_groups]:
        set_query_arguments(plugin, query_args)
        if check(plugin):
            set_query_arguments(plugin, chosen)
            return True
    set_query_arguments(plugin, chosen)
    return False


def answers(plugin: BasePlugin, queries: np.ndarray) -> np.ndarray:
    out = np.full((len(queries), K), -1, dtype=np.int64)
    for i, q in enumerate(queries):
        found = plugin.query(q, K)
        out[i, : len(found)] = found
    return out


def recall(data: Dataset, neighbors: np.ndarray, true_distances: np.ndarray) -> float:
    distances = neighbor_distances(data.metric, data.test, data.train, neighbors)
    return float(knn_recall(true_distances, distances, neighbors, K).mean())


def test_query_returns_best_first_ids_with_recall(algorithm, blobs: Dataset) -> None:
    plugin = build(algorithm, blobs)
    assert plugin.deletion in ("hard", "soft", "none")
    assert plugin.deletion == "none" or offers(plugin, "delete")
    found = plugin.query(blobs.test[0], K)
    assert found.dtype == np.int64 and 0 < len(found) <= K
    assert len(set(found.tolist())) == len(found)
    d = distances_to(blobs.metric, blobs.test[0], blobs.train[found])
    assert np.all(np.diff(d) >= -1e-5), "answers must come best first"
    neighbors = answers(plugin, blobs.test)
    assert recall(blobs, neighbors, blobs.distances) >= MIN_RECALL
    batch = plugin.batch_query(blobs.test, K)
    assert batch.shape == (len(blobs.test), K) and batch.dtype == np.int64
    assert recall(blobs, batch, blobs.distances) >= MIN_RECALL
    assert isinstance(plugin.memory_usage(), int)
    plugin.done()


def test_external_ids_and_bad_input(algorithm, blobs: Dataset) -> None:
    ids = 1_000_000 + 7 * np.arange(len(blobs.train), dtype=np.int64)
    plugin = build(algorithm, blobs, ids)
    for row in (0, 123, 4567):
        assert plugin.query(blobs.train[row], K)[0] == ids[row]
    with pytest.raises(ValueError, match="dimension"):
        plugin.query(np.zeros(blobs.dimension + 1, dtype=np.float32), K)
    fresh = setting(algorithm, blobs)[0].instantiate()
    bad = blobs.train[:100].copy()
    bad[42, 3] = np.nan
    with pytest.raises(ValueError, match="42"):
        fresh.fit(bad)


def test_delete_never_returns_deleted_ids_and_keeps_recall(algorithm, blobs: Dataset) -> None:
    if not offers(algorithm.plugin_class(), "delete"):
        pytest.skip(f"{algorithm.name} has no native delete (deletion = none)")
    plugin = build(algorithm, blobs)
    rng = np.random.default_rng(0)
    deleted = rng.choice(len(blobs.train), size=len(blobs.train) // 10, replace=False)
    plugin.delete(deleted)
    kept = np.setdiff1d(np.arange(len(blobs.train)), deleted)
    neighbors = answers(plugin, blobs.test)
    assert not np.isin(neighbors, deleted).any()
    _, true_distances = ground_truth(blobs.train, blobs.test, blobs.metric, K, rows=kept)

    def keeps_recall(index: BasePlugin) -> bool:
        return recall(blobs, answers(index, blobs.test), true_distances) >= MIN_RECALL

    assert passes_somewhere(plugin, algorithm, blobs, keeps_recall)
    for row in deleted[:20]:  # a deleted vector is not even found by itself
        assert row not in plugin.query(blobs.train[row], K)

    before = answers(plugin, blobs.test[:50])
    with pytest.raises(KeyError, match="987654321"):
        plugin.delete(np.array([kept[0], 987654321]))
    with pytest.raises(KeyError, match=str(deleted[0])):
        plugin.delete(deleted[:1])
    assert np.array_equal(answers(plugin, blobs.test[:50]), before), "a failed delete changed it"


def test_insert_after_fit(algorithm, blobs: Dataset) -> None:
    if not offers(algorithm.plugin_class(), "insert"):
        pytest.skip(f"{algorithm.name} has no insert")
    half = len(blobs.train) // 2
    first = Dataset(
        blobs.name,
        blobs.train[:half],
        blobs.test,
        blobs.neighbors,
        blobs.distances,
        blobs.metric,
        None,
    )
    plugin = build(algorithm, first, chosen_on=blobs)
    if offers(plugin, "delete"):
        plugin.delete(np.arange(10))
    new_ids = np.arange(half, len(blobs.train), dtype=np.int64)
    plugin.insert(blobs.train[half:], new_ids)
    all_rows = np.arange(10, len(blobs.train))
    _, true_distances = ground_truth(blobs.train, blobs.test, blobs.metric, K, rows=all_rows)

    def finds_new_rows_and_keeps_recall(index: BasePlugin) -> bool:
        rows = (half, half + 1, len(blobs.train) - 1)
        found = all(index.query(blobs.train[r], K)[0] == r for r in rows)
        return found and recall(blobs, answers(index, blobs.test), true_distances) >= MIN_RECALL

    assert passes_somewhere(plugin, algorithm, blobs, finds_new_rows_and_keeps_recall)


def test_save_writes_the_state(algorithm, blobs: Dataset, tmp_path: Path) -> None:
    if not offers(algorithm.plugin_class(), "save"):
        pytest.skip(f"{algorithm.name} has no save")
    plugin = build(algorithm, blobs)
    plugin.save(tmp_path)
    size = sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file())
    assert size >= blobs.train.nbytes // 2, "the saved state cannot hold the vectors"
