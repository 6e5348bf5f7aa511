"""The measurement protocols, by name. Each yields one `RunRecord` per run of a job."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from harness.datasets import Dataset
from harness.results import RunRecord
from harness.runner.job import Job

from . import churn, deletion, erasure, qps_recall

Protocol = Callable[[Job, Dataset], Iterator[RunRecord]]
Prepare = Callable[[Job, Dataset], None]

PROTOCOLS: dict[str, Protocol] = {
    "qps-recall": qps_recall.run,
    "deletion": deletion.run,
    "churn": churn.run,
    "erasure": erasure.run,
}

#: What a protocol's runs read from the ground-truth cache, computed ahead of them: the
#: docker runner does this on the host, then mounts the cache read-only.
PREPARE: dict[str, Prepare] = {
    "deletion": deletion.prepare,
    "churn": churn.prepare,
    "erasure": deletion.prepare,
}
