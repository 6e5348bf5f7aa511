"""The plugin contract as checks anyone can run on their own definitions.

Each check takes one algorithm and one dataset (ann-benchmarks' random-xs-20 blobs, in
each metric the algorithm supports) and raises `CheckFailed` with what went wrong, or
`CheckSkipped` when it does not apply (the plugin lacks the member). Every check uses the
setting `Conformance.setting` chooses by measurement: the first build (run groups marked
`default: true` first) whose most accurate query group reaches `MIN_RECALL` here, so the
order of the grids carries no meaning. `python -m harness.check_plugin` runs them;
`tests/plugins/test_conformance.py` runs them on every entry of `algos.yaml`.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from harness.core import definitions
from harness.core.definitions import Algorithm, Arguments, Definition
from harness.core.scoring import knn_recall
from harness.data.datasets import Dataset, load_dataset
from harness.data.groundtruth import distances_to, ground_truth
from harness.data.sources import dataset_path
from harness.protocols._measure import neighbor_distances, set_query_arguments
from plugins.base import METRICS, BasePlugin, offers

K = 10
MIN_RECALL = 0.9
MAX_BUILDS = 4  # builds tried before the algorithm is declared unable to reach MIN_RECALL
QUERIES = 300  # test queries per check dataset (a sample keeps the checks fast)
CHECK_METRICS = ("euclidean", "angular")  # the metrics with a check dataset


class CheckFailed(AssertionError):
    """The plugin breaks the contract; the message says how."""


class CheckSkipped(Exception):
    """The check does not apply to this plugin (the message says why)."""


def check_dataset(metric: str, data_dir: str | Path) -> Dataset:
    """random-xs-20 blobs of `metric` (built on first use), `QUERIES` test queries."""
    data = load_dataset(dataset_path(f"random-xs-20-{metric}", data_dir))
    return Dataset(
        data.name,
        data.train,
        data.test[:QUERIES],
        data.neighbors[:QUERIES],
        data.distances[:QUERIES],
        data.metric,
        data.learn_queries,
    )


def intel_cpu() -> bool:
    """Whether this machine's CPU is an Intel one (plugins marked `needs_intel_cpu`)."""
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.exists() and "GenuineIntel" in cpuinfo.read_text()


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Conformance:
    """One algorithm under check, with the setting chosen for each metric (cached)."""

    def __init__(self, algorithm: Algorithm) -> None:
        self.algorithm = algorithm
        self.settings: dict[str, tuple[Definition, Arguments]] = {}

    def setting(self, data: Dataset) -> tuple[Definition, Arguments]:
        """The build and query group the contract is checked with (module docstring)."""
        if data.metric in self.settings:
            return self.settings[data.metric]
        if getattr(self.algorithm.plugin_class(), "needs_intel_cpu", False) and not intel_cpu():
            raise CheckSkipped(f"{self.algorithm.name} exits the process on non-Intel CPUs")
        groups = sorted(self.algorithm.run_groups.items(), key=lambda g: not g[1].get("default"))
        ordered = dataclasses.replace(self.algorithm, run_groups=dict(groups))
        builds = definitions.expand(ordered, data.metric, data.dimension, K)[:MAX_BUILDS]
        tried = []
        for definition in builds:
            plugin = definition.instantiate()
            plugin.fit(data.train)
            scored = []
            for query_args in definition.query_argument_groups or [[]]:
                set_query_arguments(plugin, query_args)
                scored.append(
                    (recall(data, answers(plugin, data.test), data.distances), query_args)
                )
            plugin.done()
            best, query_args = max(scored, key=lambda pair: pair[0])
            if best >= MIN_RECALL:
                self.settings[data.metric] = definition, query_args
                return definition, query_args
            tried.append(f"{definition.build_args}: {best:.3f}")
        raise CheckFailed(
            f"no build of its first {MAX_BUILDS} reaches recall {MIN_RECALL} on {data.name} "
            f"(best recall per build: {'; '.join(tried) or 'no build for this metric'}); put "
            "a run group that does first, or mark it `default: true`"
        )

    def build(
        self, data: Dataset, ids: np.ndarray | None = None, chosen_on: Dataset | None = None
    ) -> BasePlugin:
        """The plugin in its checked setting (chosen on `chosen_on`, default `data`), fitted."""
        if data.metric not in self.algorithm.metrics:
            raise CheckSkipped(f"{self.algorithm.name} does not support {data.metric}")
        definition, query_args = self.setting(chosen_on or data)
        plugin = definition.instantiate()
        plugin.fit(data.train, ids)
        set_query_arguments(plugin, query_args)
        return plugin

    def passes_somewhere(
        self, plugin: BasePlugin, data: Dataset, check: Callable[[BasePlugin], bool]
    ) -> bool:
        """Whether `check` holds under the checked setting or, failing that, under another
        query group of its build: after deletes or inserts the group that reaches
        MIN_RECALL (or finds a new row) may be a more thorough one."""
        definition, chosen = self.setting(data)
        for query_args in [chosen, *definition.query_argument_groups]:
            set_query_arguments(plugin, query_args)
            if check(plugin):
                set_query_arguments(plugin, chosen)
                return True
        set_query_arguments(plugin, chosen)
        return False

    def offers(self, member: str) -> None:
        if not offers(self.algorithm.plugin_class(), member):
            raise CheckSkipped(f"{self.algorithm.name} has no {member}")


def answers(plugin: BasePlugin, queries: np.ndarray) -> np.ndarray:
    out = np.full((len(queries), K), -1, dtype=np.int64)
    for i, q in enumerate(queries):
        found = plugin.query(q, K)
        out[i, : len(found)] = found
    return out


def recall(data: Dataset, neighbors: np.ndarray, true_distances: np.ndarray) -> float:
    distances = neighbor_distances(data.metric, data.test, data.train, neighbors)
    return float(knn_recall(true_distances, distances, neighbors, K).mean())


def query_returns_best_first_ids_with_recall(c: Conformance, data: Dataset) -> None:
    plugin = c.build(data)
    require(plugin.deletion in ("hard", "soft", "none"), f"deletion is {plugin.deletion!r}")
    require(
        plugin.deletion == "none" or offers(plugin, "delete"),
        f"deletion = {plugin.deletion!r} but no delete",
    )
    found = plugin.query(data.test[0], K)
    require(
        isinstance(found, np.ndarray) and found.dtype == np.int64 and 0 < len(found) <= K,
        f"query must return 1 to {K} int64 ids, got {found!r}",
    )
    require(len(set(found.tolist())) == len(found), f"an id is repeated in {found}")
    d = distances_to(data.metric, data.test[0], data.train[found])
    require(bool(np.all(np.diff(d) >= -1e-5)), "answers must come best first")
    got = recall(data, answers(plugin, data.test), data.distances)
    require(got >= MIN_RECALL, f"recall {got:.3f} of query is below {MIN_RECALL}")
    batch = plugin.batch_query(data.test, K)
    require(
        batch.shape == (len(data.test), K) and batch.dtype == np.int64,
        f"batch_query must return int64 ({len(data.test)}, {K}), got {batch.dtype} {batch.shape}",
    )
    got = recall(data, batch, data.distances)
    require(got >= MIN_RECALL, f"recall {got:.3f} of batch_query is below {MIN_RECALL}")
    require(isinstance(plugin.memory_usage(), int), "memory_usage must return an int (bytes)")
    plugin.done()


def external_ids_and_bad_input(c: Conformance, data: Dataset) -> None:
    ids = 1_000_000 + 7 * np.arange(len(data.train), dtype=np.int64)
    plugin = c.build(data, ids)
    for row in (0, 123, 4567):
        top = plugin.query(data.train[row], K)
        require(
            len(top) and top[0] == ids[row], f"fit(X, ids): row {row} answered {top[:3].tolist()}"
        )
    _raises(
        ValueError,
        "dimension",
        lambda: plugin.query(np.zeros(data.dimension + 1, dtype=np.float32), K),
        "a query of the wrong dimension",
    )
    fresh = c.setting(data)[0].instantiate()
    bad = data.train[:100].copy()
    bad[42, 3] = np.nan
    _raises(ValueError, "42", lambda: fresh.fit(bad), "fit on a NaN in row 42")


def delete_forgets_and_keeps_recall(c: Conformance, data: Dataset) -> None:
    c.offers("delete")
    plugin = c.build(data)
    rng = np.random.default_rng(0)
    deleted = rng.choice(len(data.train), size=len(data.train) // 10, replace=False)
    plugin.delete(deleted)
    kept = np.setdiff1d(np.arange(len(data.train)), deleted)
    returned = np.intersect1d(answers(plugin, data.test), deleted)
    require(not len(returned), f"deleted ids returned: {returned[:5].tolist()}")
    _, true_distances = ground_truth(data.train, data.test, data.metric, K, rows=kept)

    def keeps_recall(index: BasePlugin) -> bool:
        return recall(data, answers(index, data.test), true_distances) >= MIN_RECALL

    require(c.passes_somewhere(plugin, data, keeps_recall), "recall falls after deleting 10%")
    for row in deleted[:20]:
        require(row not in plugin.query(data.train[row], K), f"deleted {row} finds itself")
    before = answers(plugin, data.test[:50])
    _raises(
        KeyError, "987654321", lambda: plugin.delete(np.array([kept[0], 987654321])),
        "deleting an unknown id",
    )  # fmt: skip
    _raises(KeyError, str(deleted[0]), lambda: plugin.delete(deleted[:1]), "deleting twice")
    require(np.array_equal(answers(plugin, data.test[:50]), before), "a failed delete changed it")


def insert_after_fit(c: Conformance, data: Dataset) -> None:
    c.offers("insert")
    half = len(data.train) // 2
    first = dataclasses.replace(data, train=data.train[:half], learn_queries=None)
    plugin = c.build(first, chosen_on=data)
    if offers(plugin, "delete"):
        plugin.delete(np.arange(10))
    plugin.insert(data.train[half:], np.arange(half, len(data.train), dtype=np.int64))
    all_rows = np.arange(10, len(data.train))
    _, true_distances = ground_truth(data.train, data.test, data.metric, K, rows=all_rows)

    def finds_new_rows_and_keeps_recall(index: BasePlugin) -> bool:
        rows = (half, half + 1, len(data.train) - 1)
        found = all(index.query(data.train[r], K)[0] == r for r in rows)
        return found and recall(data, answers(index, data.test), true_distances) >= MIN_RECALL

    require(
        c.passes_somewhere(plugin, data, finds_new_rows_and_keeps_recall),
        "inserted rows are not found first, or recall falls",
    )


def replace_by_delete_and_insert(c: Conformance, data: Dataset) -> None:
    """big-ann-benchmarks' `replace` (point ids at new vectors) as the churn protocol runs
    it without a native `replace`: delete the ids, insert them again, twice over."""
    c.offers("delete")
    c.offers("insert")
    half = len(data.train) // 2
    first = dataclasses.replace(data, train=data.train[:half], learn_queries=None)
    plugin = c.build(first, chosen_on=data)
    moved = np.arange(200, dtype=np.int64)
    for start in (half, half + len(moved)):
        plugin.delete(moved)
        plugin.insert(data.train[start : start + len(moved)], moved)
    source = half + len(moved)  # the vectors the ids now point at

    def finds_moved_ids(index: BasePlugin) -> bool:
        tops = [index.query(data.train[source + i], K)[0] for i in (0, 1, len(moved) - 1)]
        return tops == [0, 1, len(moved) - 1]

    require(
        c.passes_somewhere(plugin, data, finds_moved_ids),
        "an id deleted and inserted again is not found at its new vector",
    )


def save_writes_the_state(c: Conformance, data: Dataset) -> None:
    c.offers("save")
    plugin = c.build(data)
    with tempfile.TemporaryDirectory() as folder:
        plugin.save(folder)
        size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
    require(
        size >= data.train.nbytes // 2,
        f"save wrote {size} bytes, too few to hold the {data.train.nbytes} bytes of vectors",
    )


def unsupported_metric_is_refused(c: Conformance, data: Dataset) -> None:
    """A metric outside the definition's `metrics` is refused when the plugin is made or
    fitted, instead of being searched with another distance."""
    others = [m for m in METRICS if m not in c.algorithm.metrics]
    if not others:
        raise CheckSkipped(f"{c.algorithm.name} supports every metric")
    if data.metric != c.algorithm.metrics[0]:
        raise CheckSkipped(f"checked once, on {c.algorithm.metrics[0]}")
    template = c.setting(data)[0]
    for metric in others:
        arguments = [metric if a == data.metric else a for a in template.arguments]
        definition = dataclasses.replace(template, arguments=arguments, metric=metric)
        try:
            definition.instantiate().fit(data.train)
        except Exception:  # refused (ValueError naming the metric is the contract's way)
            continue
        raise CheckFailed(f"metric {metric!r} is not in its metrics, yet it builds an index")


def _raises(kind: type[Exception], text: str, action: Callable[[], object], what: str) -> None:
    try:
        action()
    except kind as error:
        require(text in str(error), f"{what}: the {kind.__name__} must name {text}: {error}")
        return
    except Exception as error:
        raise CheckFailed(f"{what} must raise {kind.__name__}, raised {error!r}") from None
    raise CheckFailed(f"{what} must raise {kind.__name__}, nothing was raised")


Check = Callable[[Conformance, Dataset], None]

#: Every check, by the name reports show.
CHECKS: dict[str, Check] = {
    "query: best-first int64 ids at recall 0.9": query_returns_best_first_ids_with_recall,
    "external ids and bad input": external_ids_and_bad_input,
    "delete: no deleted id returned, recall kept": delete_forgets_and_keeps_recall,
    "insert after fit": insert_after_fit,
    "replace: delete and insert the same ids": replace_by_delete_and_insert,
    "save writes the state": save_writes_the_state,
    "an unsupported metric is refused": unsupported_metric_is_refused,
}
