"""Protocol 3, churn: replay an insert / delete / replace / search runbook, recall step by step.

The runbook is a built-in (`generators`) or a big-ann-benchmarks streaming YAML file
(`bigann`), validated before any work (`runbooks.validate`); `replay` applies it to the
plugin. Per run (one query group): recall, QPS and time of every step, every search step's
answers (`search_neighbors`, searches x queries x k, so a run can be rescored step by step
as big-ann-benchmarks does), and the mean recall over the search steps both ours
(`mean_recall`) and big-ann-benchmarks' (`mean_recall_bigann`, its streaming figure).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.definitions import Arguments
from harness.core.job import Job
from harness.core.request import BUILT_IN_RUNBOOKS, RunRequest
from harness.core.results import RunRecord
from harness.data.datasets import Dataset
from harness.protocols.churn import bigann, generators
from harness.protocols.churn.replay import Replay, apply, search, step_truth
from harness.protocols.churn.runbooks import OPERATIONS, Runbook, RunbookError, TagMap, validate

SEEDED = ("delete-clusters", "clustered-rounds")


def load_runbook(
    spec: str,
    dataset: str,
    train: np.ndarray,
    metric: str,
    seed: int = 1,
    entry: str | None = None,
) -> Runbook:
    """A built-in runbook by name, or the entry `entry` of a big-ann-benchmarks YAML file
    (default: the entry named like `dataset`), validated against the train rows."""
    if spec in generators.GENERATORS:
        runbook = generators.GENERATORS[spec](train, metric, seed)
    elif Path(spec).is_file():
        text = Path(spec).read_text()
        runbook = bigann.parse_runbook(text, Path(spec).stem, len(train), dataset, entry)
    else:
        raise RunbookError(
            f"runbook {spec!r} is neither a built-in ({', '.join(BUILT_IN_RUNBOOKS)}) nor a file; "
            "give one of those names or the path of a big-ann-benchmarks runbook YAML file"
        )
    validate(runbook, len(train))
    return runbook


def options(request: RunRequest, dataset: Dataset) -> dict[str, Any]:
    """The runbook (a file by its absolute path, with the entry it runs), validated against
    the dataset now."""
    runbook, entry = request.runbook, request.runbook_dataset
    if Path(runbook).is_file():
        runbook = str(Path(runbook).resolve())
    elif entry is not None:
        raise RunbookError(
            f"--runbook-dataset {entry!r} picks an entry of a runbook file, but {runbook!r} "
            "is a built-in runbook; leave it out or give a runbook file"
        )
    load_runbook(runbook, dataset.name, dataset.train, dataset.metric, request.runbook_seed, entry)
    chosen = {"runbook_dataset": entry} if entry not in (None, dataset.name) else {}
    seeded = {"runbook_seed": request.runbook_seed} if runbook in SEEDED else {}
    return {"runbook": runbook, **chosen, **seeded}


def job_runbook(job: Job, dataset: Dataset) -> Runbook:
    args = job.protocol_args
    return load_runbook(
        args["runbook"],
        job.dataset,
        dataset.train,
        dataset.metric,
        args.get("runbook_seed", 1),
        args.get("runbook_dataset"),
    )


def prepare(job: Job, dataset: Dataset) -> None:
    """Put the ground truth of every search step in the cache ahead of the run (for a runner
    whose workers may not write the cache)."""
    runbook = job_runbook(job, dataset)
    tags = TagMap(len(dataset.train))
    for step in runbook.steps:
        tags.apply(step)
        if step.operation == "search":
            step_truth(job, dataset, runbook, step, tags)


def run(job: Job, dataset: Dataset) -> Iterator[RunRecord]:
    runbook = job_runbook(job, dataset)
    replay = Replay(job, dataset, TagMap(len(dataset.train)))
    searches: list[list[RunRecord]] = [[] for _ in job.query_groups]
    step_times, live = [], []
    try:
        for step in runbook.steps:
            if step.operation == "search":
                truth = step_truth(job, dataset, runbook, step, replay.tags)
                for group, record in zip(
                    searches, search(replay, job.query_groups, truth), strict=True
                ):
                    group.append(record)
                step_times.append(np.nan)  # per query group, filled in by `summarise`
            else:
                step_times.append(apply(replay, step))
            live.append(replay.tags.live_count)
    finally:
        replay.done()
    steps = StepLog(runbook, np.array(step_times), np.array(live))
    for query_args, records in zip(job.query_groups, searches, strict=True):
        yield summarise(replay, steps, query_args, records)


class StepLog:
    """What every step of a replay did: operation, size, time (searches: NaN) and the live
    count after it."""

    def __init__(self, runbook: Runbook, times: np.ndarray, live: np.ndarray) -> None:
        self.runbook = runbook
        self.times = times
        self.live = live
        self.operations = np.array([s.operation for s in runbook.steps])

    def of(self, operation: str) -> np.ndarray:
        return self.operations == operation


def summarise(
    replay: Replay, steps: StepLog, query_args: Arguments, records: list[RunRecord]
) -> RunRecord:
    """One run: per-step times (this group's query time at its searches), recalls both ways
    and answers."""
    runbook = steps.runbook
    recalls = np.array([r.measures["recall"] for r in records])
    recalls_bigann = np.array([r.measures["recall_bigann"] for r in records])
    step_times = steps.times.copy()
    step_times[steps.of("search")] = [r.arrays["times"].sum() for r in records]
    last = records[-1]
    search_time = float(np.mean([r.attrs["best_search_time"] for r in records]))
    return RunRecord(
        query_args=query_args,
        attrs={**last.attrs, "build_time": replay.build_time, "best_search_time": search_time},
        arrays=last.arrays,
        measures={
            "runbook": runbook.name,
            "max_pts": runbook.max_pts,
            "recall": float(recalls.mean()),
            "mean_recall": float(recalls.mean()),
            "mean_recall_bigann": float(recalls_bigann.mean()),
            "min_recall": float(recalls.min()),
            "final_recall": float(recalls[-1]),
            "qps": 1.0 / search_time,
            "total_time": float(step_times.sum()),
            **{
                f"{op}_time": float(step_times[steps.of(op)].sum())
                for op in OPERATIONS
                if op != "search"
            },
            "rebuilds": replay.rebuilds,
            "deleted_returned": int(sum(r.measures["deleted_returned"] for r in records)),
            "search_steps": len(records),
        },
        measure_arrays={
            "step_number": np.array([s.number for s in runbook.steps]),
            "step_operation": steps.operations.astype("S7"),
            "step_size": np.array([len(s.tags) for s in runbook.steps]),
            "step_time": step_times,
            "step_live": steps.live,
            "search_step": np.array([s.number for s in runbook.steps if s.operation == "search"]),
            "search_recall": recalls,
            "search_recall_bigann": recalls_bigann,
            "search_qps": np.array([r.measures["qps"] for r in records]),
            "search_neighbors": np.stack([r.arrays["neighbors"] for r in records]),
        },
    )
