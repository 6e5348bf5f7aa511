"""The measurement protocols, by name. Each yields one `RunRecord` per run of a job."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from harness.datasets import Dataset
from harness.results import RunRecord
from harness.runner.job import Job

from . import churn, deletion, erasure, qps_recall

Protocol = Callable[[Job, Dataset], Iterator[RunRecord]]

PROTOCOLS: dict[str, Protocol] = {
    "qps-recall": qps_recall.run,
    "deletion": deletion.run,
    "churn": churn.run,
    "erasure": erasure.run,
}
