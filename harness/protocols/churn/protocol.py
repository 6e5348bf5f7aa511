"""Protocol 3, churn: replay an insert / delete / search runbook and follow recall step by step.

The first insert fits the index; later inserts and deletes use the plugin's `insert` and
`delete` where it offers them, else the index is rebuilt on the live rows and that rebuild
is the step's time. At every search step each query group is timed and scored against the
exact ground truth of that step's live rows (cached on disk); a returned id that is not live
counts as a miss. Per run (one query group): recall, QPS and time of every step, and the
mean recall over the search steps (the big-ann-benchmarks streaming figure).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.job import Job
from harness.core.request import RunRequest
from harness.core.results import RunRecord
from harness.data.datasets import Dataset
from harness.data.gt_cache import cache_dir, cached_ground_truth
from harness.protocols._measure import has_native_delete, measure, rebuild, set_query_arguments
from harness.protocols.churn.runbooks import Runbook, Step, load_runbook
from plugins.base import BasePlugin, offers


def options(request: RunRequest, dataset: Dataset) -> dict[str, Any]:
    """The runbook (a file by its absolute path), validated against the dataset now."""
    runbook = request.runbook
    if Path(runbook).is_file():
        runbook = str(Path(runbook).resolve())
    load_runbook(runbook, dataset.name, dataset.train, dataset.metric, request.runbook_seed)
    seeded = {"runbook_seed": request.runbook_seed} if runbook == "delete-clusters" else {}
    return {"runbook": runbook, **seeded}


@dataclass
class Replay:
    """The index under churn and the bookkeeping of what it holds."""

    job: Job
    dataset: Dataset
    live: np.ndarray
    plugin: BasePlugin | None = None
    rebuilds: int = 0
    build_time: float = 0.0
    step_times: list[float] = field(default_factory=list)


def run(job: Job, dataset: Dataset) -> Iterator[RunRecord]:
    runbook = job_runbook(job, dataset)
    replay = Replay(job, dataset, np.zeros(len(dataset.train), dtype=bool))
    searches: list[list[RunRecord]] = [[] for _ in job.query_groups]
    try:
        for step in runbook.steps:
            if step.operation == "search":
                for group, record in zip(searches, search(replay, runbook, step), strict=True):
                    group.append(record)
                replay.step_times.append(np.nan)  # per query group, filled in below
            else:
                replay.step_times.append(update(replay, step))
    finally:
        if replay.plugin is not None:
            replay.plugin.done()
    for query_args, records in zip(job.query_groups, searches, strict=True):
        yield summarise(replay, runbook, query_args, records)


def job_runbook(job: Job, dataset: Dataset) -> Runbook:
    args = job.protocol_args
    return load_runbook(
        args["runbook"], job.dataset, dataset.train, dataset.metric, args.get("runbook_seed", 1)
    )


def prepare(job: Job, dataset: Dataset) -> None:
    """Put the ground truth of every search step in the cache ahead of the run (for a runner
    whose workers may not write the cache)."""
    runbook = job_runbook(job, dataset)
    live = np.zeros(len(dataset.train), dtype=bool)
    for step in runbook.steps:
        if step.operation == "search":
            step_distances(job, dataset, runbook, step, live)
        else:
            live[step.ids] = step.operation == "insert"


def step_distances(
    job: Job, dataset: Dataset, runbook: Runbook, step: Step, live: np.ndarray
) -> np.ndarray:
    """True distances at a search step, over its live rows (from the cache when it exists)."""
    _, distances = cached_ground_truth(
        cache_dir(job.dataset_path, job.dataset),
        f"{runbook.name}-step{step.number}",
        dataset,
        np.flatnonzero(live),
        job.k,
    )
    return distances


def update(replay: Replay, step: Step) -> float:
    """Apply an insert or delete; its time (a rebuild's where the plugin lacks the operation)."""
    inserting = step.operation == "insert"
    replay.live[step.ids] = inserting
    plugin = replay.plugin
    native = plugin is not None and (
        offers(plugin, "insert") if inserting else has_native_delete(plugin)
    )
    if native and inserting:
        rows = replay.dataset.train[step.ids]
        start = time.perf_counter()
        plugin.insert(rows, step.ids)
        return time.perf_counter() - start
    if native:
        start = time.perf_counter()
        plugin.delete(step.ids)
        return time.perf_counter() - start
    seconds = fit_live(replay)
    if plugin is not None:
        replay.rebuilds += 1
    else:
        replay.build_time = seconds
    return seconds


def fit_live(replay: Replay) -> float:
    """A fresh index on the live rows, replacing the current one; the fit time."""
    if replay.plugin is not None:
        replay.plugin.done()
        replay.plugin = None
    rows = np.flatnonzero(replay.live)
    if not len(rows):
        return 0.0
    dataset = replay.dataset
    seconds, replay.plugin = rebuild(
        replay.job.definition, dataset.train, rows, dataset.learn_queries
    )
    return seconds


def search(replay: Replay, runbook: Runbook, step: Step) -> list[RunRecord]:
    """Every query group against this step's ground truth (from the cache when it exists)."""
    job, dataset = replay.job, replay.dataset
    true_distances = step_distances(job, dataset, runbook, step, replay.live)
    records = []
    for query_args in job.query_groups:
        set_query_arguments(replay.plugin, query_args)
        records.append(measure(replay.plugin, dataset, job, true_distances, replay.live))
    return records


def summarise(
    replay: Replay, runbook: Runbook, query_args: object, records: list[RunRecord]
) -> RunRecord:
    """One run: per-step times (this group's query time at its searches) and recalls."""
    recalls = np.array([r.measures["recall"] for r in records])
    qps = np.array([r.measures["qps"] for r in records])
    step_times = np.array(replay.step_times)
    is_search = np.array([s.operation == "search" for s in runbook.steps])
    step_times[is_search] = [r.arrays["times"].sum() for r in records]
    last = records[-1]
    search_time = float(np.mean([r.attrs["best_search_time"] for r in records]))
    return RunRecord(
        query_args=query_args,
        attrs={
            **last.attrs,
            "build_time": replay.build_time,
            "best_search_time": search_time,
        },
        arrays=last.arrays,
        measures={
            "runbook": runbook.name,
            "recall": float(recalls.mean()),
            "mean_recall": float(recalls.mean()),
            "min_recall": float(recalls.min()),
            "final_recall": float(recalls[-1]),
            "qps": 1.0 / search_time,
            "total_time": float(step_times.sum()),
            "insert_time": float(step_times[_of(runbook, "insert")].sum()),
            "delete_time": float(step_times[_of(runbook, "delete")].sum()),
            "rebuilds": replay.rebuilds,
            "deleted_returned": int(sum(r.measures["deleted_returned"] for r in records)),
            "search_steps": len(records),
        },
        measure_arrays={
            "step_number": np.array([s.number for s in runbook.steps]),
            "step_operation": np.array([s.operation for s in runbook.steps], dtype="S6"),
            "step_size": np.array([len(s.ids) for s in runbook.steps]),
            "step_time": step_times,
            "search_step": np.array([s.number for s in runbook.steps if s.operation == "search"]),
            "search_recall": recalls,
            "search_qps": qps,
        },
    )


def _of(runbook: Runbook, operation: str) -> np.ndarray:
    return np.array([s.operation == operation for s in runbook.steps])
