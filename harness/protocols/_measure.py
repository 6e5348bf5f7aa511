"""The protocols' shared toolkit: build an index, rebuild it on what remains, time queries,
score answers.

Every protocol measures search the same way (`measure`): the test queries one at a time
through `query` (or one `batch_query` call), only that call timed, the fastest of `runs`
repetitions kept, recall@k against the ground truth the protocol gives (ann-benchmarks
semantics), a returned row that is no longer live counting as a miss.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from harness.core.definitions import Arguments, Definition
from harness.core.job import Job
from harness.core.results import RunRecord
from harness.core.scoring import knn_recall, latency_summary
from harness.data.datasets import Dataset
from harness.data.groundtruth import distances_to
from harness.protocols._answers import batch_answers, query_answers
from plugins.base import BasePlugin, offers

KB = 1024  # bytes
#: Train rows handed to a plugin's `warmup` before its timed build.
WARMUP_ROWS = 1000


def build(
    plugin: BasePlugin, train: np.ndarray, learn_queries: np.ndarray | None = None
) -> tuple[float, float]:
    """Fit the plugin; build time in seconds and index size in kB (ann-benchmarks' unit of
    `index_size`, so its plots read our files right; `memory_usage` gives bytes).

    A dataset's learning queries go to a plugin offering `fit_queries` first (timed too:
    query-aware training is part of the build). A plugin offering `warmup` pays its
    one-time process costs first, outside the build's time and memory (`warm_up`).
    """
    warm_up(plugin, train)
    before = plugin.memory_usage()
    start = time.perf_counter()
    if learn_queries is not None and offers(plugin, "fit_queries"):
        plugin.fit_queries(learn_queries)
    plugin.fit(train)
    build_time = time.perf_counter() - start
    return build_time, max(0, plugin.memory_usage() - before) / KB


def warm_up(plugin: BasePlugin, train: np.ndarray) -> float:
    """Call the plugin's optional `warmup` on the first `WARMUP_ROWS` train rows (JIT
    compilation, lazy imports: costs of the process, not of the index); its time, 0 if the
    plugin has no warm-up."""
    if not offers(plugin, "warmup"):
        return 0.0
    start = time.perf_counter()
    plugin.warmup(np.ascontiguousarray(train[:WARMUP_ROWS], dtype=np.float32))
    seconds = time.perf_counter() - start
    print(f"warm-up: {seconds:.2f} s (not counted in the build)", flush=True)
    return seconds


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


def has_native_delete(plugin: BasePlugin) -> bool:
    return offers(plugin, "delete") and plugin.deletion != "none"


def timed_threads(batch: bool) -> int:
    """Threads a timed call may use: 1 for single queries; in batch mode every core the
    process may run on (its CPU affinity), as ann-benchmarks gives batch runs every CPU."""
    if not batch:
        return 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_query_arguments(plugin: BasePlugin, query_args: Arguments) -> None:
    if isinstance(query_args, dict):
        plugin.set_query_arguments(**query_args)
    else:
        plugin.set_query_arguments(*query_args)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Timed loops run without Python's cyclic garbage collector, as `timeit` does: a
    collection scanning the harness's own objects would otherwise land in some query's time."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def timed_queries(
    plugin: BasePlugin, queries: np.ndarray, k: int, id_count: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-query latencies (s) and answers (-1 padded); only the `query` call is timed.

    Each answer is copied as returned (a plugin may reuse its buffer) and checked after the
    loop (`harness.protocols._answers`); `id_count` is the number of valid ids (train rows).
    """
    times = np.empty(len(queries))
    answers = []
    query, clock, keep = plugin.query, time.perf_counter, answers.append
    for i, q in enumerate(queries):
        start = clock()
        found = query(q, k)
        times[i] = clock() - start
        keep(np.array(found))
    return times, query_answers(answers, k, id_count)


def timed_batch(
    plugin: BasePlugin, queries: np.ndarray, k: int, id_count: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One `batch_query` call; its time is shared equally among the queries."""
    start = time.perf_counter()
    found = plugin.batch_query(queries, k)
    elapsed = time.perf_counter() - start
    return np.full(len(queries), elapsed / len(queries)), batch_answers(
        found, len(queries), k, id_count
    )


def best_of(
    plugin: BasePlugin,
    queries: np.ndarray,
    k: int,
    runs: int,
    batch: bool,
    id_count: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The fastest of `runs` repetitions (ann-benchmarks' best_search_time); every
    repetition's answers are checked."""
    search = timed_batch if batch else timed_queries
    best = None
    for _ in range(max(1, runs)):
        with paused_gc():
            times, neighbors = search(plugin, queries, k, id_count)
        if best is None or times.sum() < best[0].sum():
            best = times, neighbors
    return best


def neighbor_distances(
    metric: str, queries: np.ndarray, train: np.ndarray, neighbors: np.ndarray
) -> np.ndarray:
    """Distances of the returned rows to their queries; `inf` for padding or invalid ids."""
    distances = np.full(neighbors.shape, np.inf, dtype=np.float32)
    for i, ids in enumerate(neighbors):
        valid = (ids >= 0) & (ids < len(train))
        if valid.any():
            distances[i, valid] = distances_to(metric, queries[i], train[ids[valid]])
    return distances


def measure(
    plugin: BasePlugin,
    dataset: Dataset,
    job: Job,
    true_distances: np.ndarray,
    live: np.ndarray | None = None,
) -> RunRecord:
    """Time the test queries and score them against `true_distances`.

    With a `live` mask of train rows (after deletions), a returned row that is not live
    counts as a miss and is counted in `deleted_returned`. Recall is against the rows that
    exist (`recall_of_existing`), so a set with fewer rows than k is not scored against
    padding.
    """
    rows = len(dataset.train)
    times, neighbors = best_of(plugin, dataset.test, job.k, job.runs, job.batch, rows)
    distances = neighbor_distances(dataset.metric, dataset.test, dataset.train, neighbors)
    extra = {}
    if live is not None:
        known = (neighbors >= 0) & (neighbors < len(live))
        dead = known & ~live[np.where(known, neighbors, 0)]
        distances[dead] = np.inf
        extra["deleted_returned"] = int(dead.sum())
    existing = rows if live is None else int(live.sum())
    recalls = recall_of_existing(true_distances, distances, neighbors, job.k, existing)
    return query_record(plugin, job, times, neighbors, distances, recalls, extra)


def query_record(
    plugin: BasePlugin,
    job: Job,
    times: np.ndarray,
    neighbors: np.ndarray,
    distances: np.ndarray,
    recalls: np.ndarray,
    extra: dict[str, float] | None = None,
) -> RunRecord:
    """The record of timed, scored test queries, in the layout ann-benchmarks reads;
    `extra` adds a protocol's own measures."""
    best_search_time = float(times.mean())
    return RunRecord(
        query_args=None,
        attrs={
            "name": str(plugin),
            "best_search_time": best_search_time,
            "candidates": float((neighbors >= 0).sum(axis=1).mean()),
            "run_count": job.runs,
            "batch_mode": job.batch,
            "threads": timed_threads(job.batch),
        },
        arrays={"times": times, "neighbors": neighbors, "distances": distances},
        measures={
            "recall": float(recalls.mean()),
            "qps": 1.0 / best_search_time,
            **(extra or {}),
            **latency_summary(times),
        },
        measure_arrays={"recalls": recalls},
    )


def recall_of_existing(
    true_distances: np.ndarray,
    distances: np.ndarray,
    neighbors: np.ndarray,
    k: int,
    existing: int,
) -> np.ndarray:
    """Per-query recall@k against the `existing` rows: with fewer than k of them (a small
    set, nearly everything deleted, a churn step with few live points) the true neighbours
    are the min(k, existing) rows there are, so an exact answer scores 1, not existing / k.

    The ground truth of such a set is padded with `inf` past its last row; the padding is
    replaced by the last real distance (the threshold of every answer position) and the hit
    count divided by min(k, existing), as ann-benchmarks divides by k.
    """
    if existing < 1:
        raise ValueError("no rows exist to search: recall is undefined; keep at least one row")
    relevant = min(k, existing)
    if relevant == k:
        return knn_recall(true_distances, distances, neighbors, k)
    truth = np.array(true_distances[:, :k], dtype=np.float64)
    truth[:, relevant:] = truth[:, relevant - 1 : relevant]
    hits = np.rint(knn_recall(truth, distances, neighbors, k) * k)
    return hits / relevant
