"""The measurement protocols, by name.

Each protocol is a module with `options(request, dataset)` (its options, checked against the
dataset before any work; they are stored with every result) and `run(job, dataset)` (yields
one `RunRecord` per run of a job) and optionally `prepare(job, dataset)` (the cached ground
truth its runs read, computed ahead of them). Shared parts live in `_measure` (build, rebuild, timed
queries, scoring) and `_plan` (the deletion set and its ground truth). A new protocol is one
module here and one line in `PROTOCOLS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from harness.core.job import Job
from harness.core.request import RunRequest
from harness.core.results import RunRecord
from harness.data.datasets import Dataset

from . import qps_recall
from ._plan import prepare_deletion
from .churn import protocol as churn
from .deletion import protocol as deletion
from .erasure import protocol as erasure


@dataclass(frozen=True)
class Protocol:
    options: Callable[[RunRequest, Dataset], dict[str, Any]]
    run: Callable[[Job, Dataset], Iterator[RunRecord]]
    #: Puts what the runs read from the ground-truth cache there ahead of them: the docker
    #: runner does this on the host, then mounts the cache read-only.
    prepare: Callable[[Job, Dataset], None] | None = None


PROTOCOLS: dict[str, Protocol] = {
    "qps-recall": Protocol(qps_recall.options, qps_recall.run),
    "deletion": Protocol(deletion.options, deletion.run, prepare_deletion),
    "churn": Protocol(churn.options, churn.run, churn.prepare),
    "erasure": Protocol(erasure.options, erasure.run, prepare_deletion),
}
