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
from typing import Any

import numpy as np

from harness.core.job import Job
from harness.core.request import DELETE_SINGLES, RunRequest
from harness.core.results import RunRecord
from harness.data.datasets import Dataset
from harness.protocols._measure import (
    build,
    has_native_delete,
    measure,
    paused_gc,
    rebuild,
    set_query_arguments,
)
from harness.protocols._plan import deletion_options, deletion_plan
from plugins.base import BasePlugin, offers


def options(request: RunRequest, dataset: Dataset) -> dict[str, Any]:
    return {**deletion_options(request, dataset), "singles": request.delete_singles}


def run(job: Job, dataset: Dataset) -> Iterator[RunRecord]:
    deleted, live, truth = deletion_plan(job, dataset)
    plugin = job.definition.instantiate()
    try:
        build_time, index_size = build(plugin, dataset.train, dataset.learn_queries)
        native = has_native_delete(plugin)
        singles = job.protocol_args.get("singles", DELETE_SINGLES)
        costs = delete_costs(plugin, deleted, singles) if native else {}
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
            rows_before=len(dataset.train),
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
