"""Protocol 1, qps-recall: build once, then time every query group (ann-benchmarks semantics).

Queries run one at a time on one core, or as one `batch_query` call with `--batch`, where the
worker's every core is allowed (as ann-benchmarks gives batch runs all CPUs); the result
records the thread count. The best of `runs` repetitions gives QPS and the latency
percentiles. Recall@k counts ties at the k-th true distance.
Progress is reported per query group, never inside a timed loop. With `pr_auc`, each group
also gets the precision-recall curve over k' = 1..100 and its area.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tqdm import tqdm

from harness.core.job import Job
from harness.core.request import RunRequest
from harness.core.results import RunRecord
from harness.core.scoring import pr_curve
from harness.data.datasets import Dataset
from harness.protocols._answers import batch_answers
from harness.protocols._measure import build, measure, set_query_arguments
from plugins.base import BasePlugin

#: The PR curve of `pr_auc: true`: k' = 1..PR_MAX_K against PR_RELEVANT true neighbours.
PR_MAX_K, PR_RELEVANT = 100, 10


def options(request: RunRequest, dataset: Dataset) -> dict[str, Any]:
    return {"pr_auc": True} if request.pr_auc else {}


def run(job: Job, dataset: Dataset) -> Iterator[RunRecord]:
    plugin = job.definition.instantiate()
    try:
        build_time, index_size = build(plugin, dataset.train, dataset.learn_queries)
        groups = tqdm(job.query_groups, desc=job.describe(), unit="group", leave=False)
        for query_args in groups:
            set_query_arguments(plugin, query_args)
            record = measure(plugin, dataset, job, dataset.distances)
            record.query_args = query_args
            record.attrs.update(build_time=build_time, index_size=index_size)
            if job.protocol_args.get("pr_auc"):
                add_pr_curve(record, plugin, dataset)
            yield record
    finally:
        plugin.done()


def add_pr_curve(record: RunRecord, plugin: BasePlugin, dataset: Dataset) -> None:
    """PR curve over k' = 1..100 against the 10 true neighbours and its area (seed 002,
    sec. 4.5), from one untimed k=100 pass over the test queries."""
    found = plugin.batch_query(dataset.test, PR_MAX_K)
    answers = batch_answers(found, len(dataset.test), PR_MAX_K, len(dataset.train))
    precision, recall, area = pr_curve(dataset.neighbors, answers, PR_RELEVANT, PR_MAX_K)
    record.measures["pr_auc"] = area
    record.measure_arrays.update(pr_precision=precision, pr_recall=recall)
