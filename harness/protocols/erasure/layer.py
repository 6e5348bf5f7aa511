"""Side files anywhere in a container: the erasure check of `--executor docker`'s writable layer.

Inside a container the plugin may write anywhere, not only in the private directories the
host process is given. The docker runner, once the worker's container has exited and before
it is removed, hands what the container changed to `amend_results`: a folder (the layer's
upper directory) or a tar of the paths `container.diff()` reports as added or changed
(`container.get_archive(path)` for each, or `docker export`). Every file is decoded and
scanned for D like a saved state, and each of the job's erasure result files gets a
"container layer" check and the verdict recomputed with it, rewritten atomically.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np

from harness.core.io import atomic_path
from harness.core.job import Job
from harness.data.datasets import Dataset
from harness.data.gt_cache import cache_dir
from harness.protocols._plan import deletion_plan
from harness.protocols.erasure.evidence import Check, side_file_check
from harness.protocols.erasure.reference import Reference, reference
from harness.protocols.erasure.sidefiles import layer_files
from harness.protocols.erasure.state import analyse
from harness.protocols.erasure.verdict import verdicts

#: Paths of a container that are the run's own, not the plugin's: the harness and its data
#: are mounted read-only; results are written by the worker.
OWN = ("tmp/worker-", "results/")


def layer_check(source: str | Path, ref: Reference, seed: int) -> Check:
    """The container layer's files scanned for D, as a side-file check."""
    with tempfile.TemporaryDirectory(prefix="layer-") as scratch:
        files = {n: p for n, p in layer_files(source, scratch).items() if not n.startswith(OWN)}
        if not files:
            check = side_file_check(None, [], "the container's writable layer")
        else:
            state = analyse(files, ref, seed, scan=True, reconstruct=False)
            check = side_file_check(state.scan, sorted(files), "the container's writable layer")
    check.name = "container layer"
    return check


def amend_results(job: Job, dataset: Dataset, source: str | Path) -> list[Path]:
    """Add the container layer's check to every erasure result file of `job`; the files
    rewritten (a query group or state without a finished file is left alone)."""
    seed = job.protocol_args["erasure_seed"]
    plan = deletion_plan(job, dataset)
    ref = reference(dataset, plan, seed, cache_dir(job.dataset_path, job.dataset))
    check = layer_check(source, ref, seed)
    amended = []
    for query_args in job.query_groups:
        for suffix in ("", "state=compacted"):
            path = job.result_path(query_args, suffix)
            if path.exists():
                amend(path, check)
                amended.append(path)
    return amended


def amend(path: Path, check: Check) -> None:
    """Rewrite one result file with `check` added to its evidence and the verdict redone."""
    with atomic_path(path) as partial:
        shutil.copyfile(path, partial)
        with h5py.File(partial, "r+") as f:
            group = f["erasure"]
            evidence = json.loads(bytes(group["evidence"][()]))
            stored = [c for c in evidence["checks"] if c["name"] != check.name]
            evidence["checks"] = [*stored, check.as_dict()]
            for key, value in verdicts([Check(**c) for c in evidence["checks"]]).items():
                group.attrs[key] = value
            del group["evidence"]
            data = np.frombuffer(json.dumps(evidence).encode(), dtype=np.uint8)
            group.create_dataset("evidence", data=data)
