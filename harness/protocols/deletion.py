"""Protocol 2, deletion: what deleting a set D costs, against rebuilding, and the recall after.

The index is built on all of X. The first `singles` ids of D are deleted one `delete` call
each (the single-delete latency distribution), the rest of D in one call (the batch time);
then `compact()` where the plugin offers it. A fresh index fitted on X\\D is always timed as
the reference: speed-up = rebuild time / delete time. Every query group is then measured
against exact ground truth on X\\D; a returned deleted id counts as a miss. A plugin without
native deletion (`deletion = none`) is measured by its rebuild, which is then the index queried.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from harness.datasets import Dataset
from harness.definitions import Definition
from harness.deletion_sets import deletion_set
from harness.gt_cache import cache_dir, cached_ground_truth
from harness.protocols.qps_recall import build, measure, paused_gc, set_query_arguments
from harness.results import RunRecord
from harness.runner.job import Job
from plugins.base import BasePlugin, offers

SINGLES = 1000  # single deletions timed one by one, by default


def run(job: Job, dataset: Dataset) -> Iterator[RunRecord]:
    args = job.protocol_args
    deleted, live, truth = deletion_plan(job, dataset)
    plugin = job.definition.instantiate()
    try:
        build_time, index_size = build(plugin, dataset.train, dataset.learn_queries)
        native = has_native_delete(plugin)
        costs = delete_costs(plugin, deleted, args.get("singles", SINGLES)) if native else {}
        rebuild_time, rebuilt = rebuild(
            job.definition, dataset.train, np.flatnonzero(live), dataset.learn_queries
        )
        if native:
            rebuilt.done()
        else:
            plugin.done()
            plugin = rebuilt
            costs = {"delete_time": rebuild_time}
        costs.update(
            rebuild_time=rebuild_time,
            speedup=rebuild_time / costs["delete_time"],
            deleted=len(deleted),
            deletion=plugin.deletion,
            native_delete=native,
        )
        for query_args in job.query_groups:
            set_query_arguments(plugin, query_args)
            record = measure(plugin, dataset, job, truth, live)
            record.query_args = query_args
            record.attrs.update(build_time=build_time, index_size=index_size)
            record.measures.update(costs)
            record.measure_arrays["deleted_ids"] = deleted
            yield record
    finally:
        plugin.done()


def deletion_plan(job: Job, dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D from the job's options, the live mask of train rows, and true distances on X\\D.

    The ground truth is cached under a label of (policy, count, seed), which the deletion
    and erasure protocols share: both describe the same D.
    """
    args = job.protocol_args
    deleted = deletion_set(
        dataset.train, dataset.metric, args["policy"], args["count"], args["seed"]
    )
    live = np.ones(len(dataset.train), dtype=bool)
    live[deleted] = False
    label = f"deletion-{args['policy']}-{args['count']}-seed{args['seed']}"
    _, distances = cached_ground_truth(
        cache_dir(job.dataset_path, job.dataset), label, dataset, np.flatnonzero(live), job.count
    )
    return deleted, live, distances


def prepare(job: Job, dataset: Dataset) -> None:
    """Put the ground truth on X\\D in the cache ahead of the run (for a runner whose workers
    may not write the cache); the erasure protocol's too."""
    deletion_plan(job, dataset)


def has_native_delete(plugin: BasePlugin) -> bool:
    return offers(plugin, "delete") and plugin.deletion != "none"


def delete_costs(plugin: BasePlugin, deleted: np.ndarray, singles: int) -> dict[str, float]:
    """Time single deletes, the batch of the rest, and `compact()` where offered."""
    one_by_one = deleted[:singles]
    latencies = np.empty(len(one_by_one))
    clock, delete = time.perf_counter, plugin.delete
    with paused_gc():
        for i in range(len(one_by_one)):
            start = clock()
            delete(one_by_one[i : i + 1])
            latencies[i] = clock() - start
    costs: dict[str, float] = {"singles": len(one_by_one)}
    if len(latencies):
        p50, p99 = np.percentile(latencies, [50, 99])
        costs.update(
            single_mean=float(latencies.mean()),
            single_p50=float(p50),
            single_p99=float(p99),
            single_max=float(latencies.max()),
        )
    rest = deleted[singles:]
    batch_time = 0.0
    if len(rest):
        start = clock()
        delete(rest)
        batch_time = clock() - start
        costs.update(batch_size=len(rest), batch_time=batch_time)
    costs["delete_time"] = float(latencies.sum()) + batch_time
    if offers(plugin, "compact"):
        start = clock()
        plugin.compact()
        costs["compact_time"] = clock() - start
    return costs


def rebuild(
    definition: Definition,
    train: np.ndarray,
    rows: np.ndarray,
    learn_queries: np.ndarray | None = None,
) -> tuple[float, BasePlugin]:
    """A fresh index on the remaining rows (ids stay train rows) and its fit time."""
    plugin = definition.instantiate()
    data = train[rows]
    start = time.perf_counter()
    if learn_queries is not None and offers(plugin, "fit_queries"):
        plugin.fit_queries(learn_queries)
    plugin.fit(data, rows)
    return time.perf_counter() - start, plugin
