"""The Ray executor: each definition is a Ray task running the isolated worker on a node.

The driver puts each dataset's HDF5 bytes in the object store once; a task (one CPU by
default) writes them to a scratch folder on its node, runs the local runner's `run_job`
there (the same worker subprocess, timeout, memory watch and failure records), and returns
every file the run produced (result files and the worker log) as bytes. The driver writes
them under its own results folder, atomically. So no shared filesystem is assumed; the nodes
need this project and its dependencies installed (the same `requirements.txt`), as the
docker runner needs the images. A task that Ray loses (its node died, its process crashed)
becomes failed result files with cause `lost`, like any failed run.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from harness.core.io import PARTIAL, write_bytes
from harness.core.job import Job
from harness.runner import local
from harness.runner.scheduling import Limits, Outcome, Session, conclude, outcome_line

LOST = "lost"  # failure cause of a task Ray could not complete


def run_ray(
    jobs: list[Job],
    metric: str,
    limits: Limits,
    address: str | None = None,
    num_cpus: float = 1,
) -> list[Outcome]:
    """Run every job as a Ray task on the cluster at `address` (default: a local instance,
    or the one `ray.init` already connected to); results are written on this machine."""
    import ray

    if not jobs:
        return []
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=num_cpus, max_retries=0)(run_remote)
    datasets = {path: ray.put(Path(path).read_bytes()) for path in {j.dataset_path for j in jobs}}
    pending = {
        task.remote(job.to_json(), datasets[job.dataset_path], metric, limits): job for job in jobs
    }
    outcomes = []
    with tqdm(total=len(pending), desc="runs", unit="job") as bar:
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                outcome = collect(pending.pop(done[0]), done[0], metric)
                outcomes.append(outcome)
                tqdm.write(outcome_line(outcome))
                bar.update()
        except BaseException:  # e.g. Ctrl-C: cancel what the cluster still runs
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    return outcomes


def run_remote(job_json: str, dataset: bytes, metric: str, limits: Limits) -> dict[str, Any]:
    """The task body, on a node: the local runner's `run_job` in a scratch folder.

    Returns the outcome and every file written, keyed by its path relative to the results
    folder.
    """
    job = Job.from_json(job_json)
    with tempfile.TemporaryDirectory(prefix="forget-ray-") as scratch:
        root = Path(scratch)
        data, results = root / "data", root / "results"
        data.mkdir()
        job.dataset_path = str(data / Path(job.dataset_path).name)
        Path(job.dataset_path).write_bytes(dataset)
        job.results_dir = str(results)
        outcome = local.run_job(job, metric, limits, Session())
        files = {
            str(path.relative_to(results)): path.read_bytes()
            for path in sorted(results.rglob("*"))
            if path.is_file() and PARTIAL not in path.name
        }
    return {
        "status": outcome.status,
        "seconds": outcome.seconds,
        "cause": outcome.cause,
        "detail": outcome.detail,
        "node": os.uname().nodename,
        "files": files,
    }


def collect(job: Job, ref: Any, metric: str) -> Outcome:
    """The outcome of one task: its files written locally, or a lost task recorded as failed."""
    import ray

    start = time.monotonic()
    try:
        reply = ray.get(ref)
    except ray.exceptions.RayError as error:
        detail = f"the Ray task did not complete (node lost or task crashed): {error}"
        return conclude(job, metric, LOST, detail, time.monotonic() - start, Session())
    root = Path(job.results_dir)
    for relative, content in reply["files"].items():
        write_bytes(root / relative, content)
    return Outcome(job, reply["status"], reply["seconds"], reply["cause"], reply["detail"])
