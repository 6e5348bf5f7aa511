"""Replaying a runbook on one plugin: its steps applied, its searches timed and scored.

The plugin's ids are the runbook's tags. An insert, delete or replace goes through the
plugin's own `insert`, `delete` or `replace` where it offers them (a replace without
`replace` is a `delete` then an `insert` of the same tags, timed together); otherwise the
index is rebuilt on the live tags and the rebuild is the step's time. The first fit is the
build. A search times every query group and scores it against the exact ground truth of
that step's live points in two ways: ours (ann-benchmarks' distance threshold) and
big-ann-benchmarks' (id matching with its tie rule), a returned tag that is not live
counting as a miss in both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.core.definitions import Arguments
from harness.core.job import Job
from harness.core.results import RunRecord
from harness.core.scoring import knn_recall_bigann
from harness.data.datasets import Dataset
from harness.data.gt_cache import cache_dir, cached_ground_truth
from harness.protocols._measure import (
    best_of,
    has_native_delete,
    neighbor_distances,
    query_record,
    recall_of_existing,
    set_query_arguments,
    warm_up,
)
from harness.protocols.churn.runbooks import Runbook, Step, TagMap
from plugins.base import BasePlugin, offers

#: Depth of each step's ground truth, as big-ann-benchmarks' `gt100` files: its recall
#: extends the true set past the k-th neighbour over distance ties.
TRUTH_DEPTH = 100


@dataclass
class Replay:
    """The index under churn and the bookkeeping of what it holds."""

    job: Job
    dataset: Dataset
    tags: TagMap
    plugin: BasePlugin | None = None
    rebuilds: int = 0
    build_time: float = 0.0
    built: bool = False  # the first fit (the build) has happened

    def done(self) -> None:
        if self.plugin is not None:
            self.plugin.done()
            self.plugin = None


def apply(replay: Replay, step: Step) -> float:
    """Apply an insert, delete or replace; its time (a rebuild's where the plugin lacks the
    operation, the build's for the first fit). A step that moves nothing takes no time."""
    replay.tags.apply(step)
    if not len(step.tags):
        return 0.0
    if not replay.built:
        replay.build_time = fit_live(replay)
        replay.built = True
        return replay.build_time
    if replay.plugin is not None:
        native = native_operation(replay.plugin, step, replay.dataset.train)
        if native is not None:
            start = time.perf_counter()
            native()
            return time.perf_counter() - start
    replay.rebuilds += 1
    return fit_live(replay)


def native_operation(
    plugin: BasePlugin, step: Step, train: np.ndarray
) -> Callable[[], None] | None:
    """The plugin's own way to apply `step`, ready to time; None where it has none."""
    vectors = train[step.rows]  # copied before any timing
    if step.operation == "insert" and offers(plugin, "insert"):
        return lambda: plugin.insert(vectors, step.tags)
    if step.operation == "delete" and has_native_delete(plugin):
        return lambda: plugin.delete(step.tags)
    if step.operation == "replace" and offers(plugin, "replace"):
        return lambda: plugin.replace(vectors, step.tags)
    if step.operation == "replace" and offers(plugin, "insert") and has_native_delete(plugin):

        def delete_then_insert() -> None:
            plugin.delete(step.tags)
            plugin.insert(vectors, step.tags)

        return delete_then_insert
    return None


def fit_live(replay: Replay) -> float:
    """A fresh index on the live tags, replacing the current one; the fit time. The build
    (the first fit) is preceded by the plugin's warm-up, not timed."""
    replay.done()
    tags = replay.tags.live_tags()
    if not len(tags):
        return 0.0
    dataset = replay.dataset
    plugin = replay.job.definition.instantiate()
    if not replay.built:
        warm_up(plugin, dataset.train)
    rows = dataset.train[replay.tags.row_of_tag[tags]]
    start = time.perf_counter()
    if dataset.learn_queries is not None and offers(plugin, "fit_queries"):
        plugin.fit_queries(dataset.learn_queries)
    plugin.fit(rows, tags)
    replay.plugin = plugin
    return time.perf_counter() - start


def step_truth(
    job: Job, dataset: Dataset, runbook: Runbook, step: Step, tags: TagMap
) -> tuple[np.ndarray, np.ndarray]:
    """True tags and distances of the test queries over a step's live points, `TRUTH_DEPTH`
    deep (computed on train rows and cached by them, then named by tag)."""
    rows, distances = cached_ground_truth(
        cache_dir(job.dataset_path, job.dataset),
        f"{runbook.name}-step{step.number}",
        dataset,
        tags.live_rows(),
        max(job.k, TRUTH_DEPTH),
    )
    return tags.tags_of(rows), distances


def search(
    replay: Replay, query_groups: list[Arguments], truth: tuple[np.ndarray, np.ndarray]
) -> list[RunRecord]:
    """Every query group timed and scored against this step's truth."""
    records = []
    for query_args in query_groups:
        set_query_arguments(replay.plugin, query_args)
        records.append(score(replay, truth))
    return records


def score(replay: Replay, truth: tuple[np.ndarray, np.ndarray]) -> RunRecord:
    """Time the test queries (fastest of the job's runs) and score the answers both ways."""
    job, dataset, plugin = replay.job, replay.dataset, replay.plugin
    times, neighbors = best_of(plugin, dataset.test, job.k, job.runs, job.batch, len(dataset.train))
    true_tags, true_distances = truth
    rows = replay.tags.rows_of(neighbors)
    distances = neighbor_distances(dataset.metric, dataset.test, dataset.train, rows)
    dead = (neighbors >= 0) & (rows < 0)
    recalls = recall_of_existing(
        true_distances, distances, neighbors, job.k, replay.tags.live_count
    )
    recalls_bigann = knn_recall_bigann(true_tags, true_distances, neighbors, job.k)
    extra = {"recall_bigann": float(recalls_bigann.mean()), "deleted_returned": int(dead.sum())}
    return query_record(plugin, job, times, neighbors, distances, recalls, extra)
