"""The deletion plan the deletion and erasure protocols share: D, what stays, its truth."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from harness.core.job import Job
from harness.core.request import RunRequest
from harness.data.datasets import Dataset, DatasetError
from harness.data.gt_cache import cache_dir, cached_ground_truth
from harness.protocols.deletion.sets import deletion_set, rows_to_delete


class DeletionPlan(NamedTuple):
    deleted: np.ndarray  # D: train rows, in deletion order
    live: np.ndarray  # bool per train row: not in D
    true_distances: np.ndarray  # exact top-k distances of the test queries over X\D


def deletion_options(request: RunRequest, dataset: Dataset) -> dict[str, Any]:
    """The options that define D, checked against the dataset before any work."""
    try:
        rows_to_delete(request.delete_count, len(dataset.train))
    except ValueError as error:
        raise DatasetError(f"--delete-count: {error}") from None
    return {
        "policy": request.delete_policy,
        "delete_count": request.delete_count,
        "delete_seed": request.delete_seed,
    }


def deletion_plan(job: Job, dataset: Dataset) -> DeletionPlan:
    """D from the job's options, the live mask of train rows, and true distances on X\\D.

    The ground truth is cached under a label of (policy, count, seed), which the deletion
    and erasure protocols share: both describe the same D.
    """
    args = job.protocol_args
    policy, count, seed = args["policy"], args["delete_count"], args["delete_seed"]
    deleted = deletion_set(dataset.train, dataset.metric, policy, count, seed)
    live = np.ones(len(dataset.train), dtype=bool)
    live[deleted] = False
    label = f"deletion-{policy}-{count}-seed{seed}"
    _, distances = cached_ground_truth(
        cache_dir(job.dataset_path, job.dataset), label, dataset, np.flatnonzero(live), job.k
    )
    return DeletionPlan(deleted, live, distances)


def prepare_deletion(job: Job, dataset: Dataset) -> None:
    """Put the ground truth on X\\D in the cache ahead of the run (for a runner whose workers
    may not write the cache); the deletion and erasure protocols share it."""
    deletion_plan(job, dataset)
