"""The docker runner: the same worker as the local runner, inside the plugin's image.

Each job runs `python -m harness.runner.worker` in a fresh container of its definition's
`docker_image` (built by `python install.py`): network disabled, the checkout and the dataset
mounted read-only, only the job's scratch folder, its results folder and the ground-truth
cache writable, as the invoking user (so results on the host are owned by them), pinned to
one CPU of a pool (`cpuset_cpus`) with a hard memory limit (`mem_limit`), killed after the
timeout, and always removed. How the container ended is diagnosed and recorded exactly as
the local runner does (`harness.runner.local.diagnose`, `scheduling.conclude`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from harness.core.environment import PROJECT_ROOT
from harness.core.io import PARTIAL
from harness.core.job import Job
from harness.runner import local
from harness.runner.scheduling import Limits, Outcome, Session, conclude, run_jobs

CODE = "/home/app"  # where the base image keeps the code; the checkout is mounted over it
DATA = "/data"
RESULTS = "/results"
SCRATCH = "/job"
BASE_IMAGE = "forget-benchmarks-base"


class DockerError(RuntimeError):
    """No engine answers, or an image is missing: nothing was run."""


def engine() -> Any:
    """A client of the local Docker engine, or a `DockerError` saying how to get one."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:  # the SDK raises several types for "nothing answers"
        raise DockerError(
            f"no Docker engine answers ({error}); start the Docker daemon (or set DOCKER_HOST) "
            "or run with --executor local"
        ) from None
    return client


def check_images(client: Any, jobs: list[Job]) -> None:
    """Every image the jobs need exists, before any work."""
    import docker

    for image in sorted({job.definition.docker_image for job in jobs}):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            algorithm = next(
                j.definition.algorithm for j in jobs if j.definition.docker_image == image
            )
            raise DockerError(
                f"image {image!r} is missing: build it with `python install.py --algorithm "
                f"{algorithm}`"
            ) from None


def container_job(job: Job) -> Job:
    """The job as the worker inside the container sees it: paths under the mounts."""
    inner = Job.from_json(job.to_json())
    inner.dataset_path = f"{DATA}/{Path(job.dataset_path).name}"
    inner.results_dir = RESULTS
    return inner


def container_arguments(
    job: Job, scratch: Path, memory_limit: int, cpuset: str, uid: int, gid: int
) -> dict[str, Any]:
    """The keyword arguments of `client.containers.run` for one job (a pure function)."""
    dataset = Path(job.dataset_path).resolve()
    groundtruth = dataset.parent / "groundtruth"
    volumes = {
        str(PROJECT_ROOT): {"bind": CODE, "mode": "ro"},
        str(dataset.parent): {"bind": DATA, "mode": "ro"},
        str(groundtruth): {"bind": f"{DATA}/groundtruth", "mode": "rw"},
        str(Path(job.results_dir).resolve()): {"bind": RESULTS, "mode": "rw"},
        str(scratch.resolve()): {"bind": SCRATCH, "mode": "rw"},
    }
    environment = dict.fromkeys(local.THREAD_VARIABLES, "1")
    environment.update(PYTHONPATH=CODE, PYTHONFAULTHANDLER="1", HOME="/tmp")
    return {
        "image": job.definition.docker_image,
        "command": [
            "python",
            "-m",
            "harness.runner.worker",
            f"{SCRATCH}/job.json",
            f"{SCRATCH}/status.json",
            str(memory_limit),
        ],
        "volumes": volumes,
        "environment": environment,
        "working_dir": CODE,
        "user": f"{uid}:{gid}",
        "network_disabled": True,
        "cpuset_cpus": cpuset,
        "mem_limit": memory_limit,
        "memswap_limit": memory_limit,  # no swap beyond the limit: exceeding it is an OOM kill
        "init": True,  # a real PID 1, so a crashing worker dies of its signal
        "detach": True,
    }


def returncode(status_code: int) -> int:
    """The container's exit status as `subprocess` reports it: -N for death by signal N."""
    return -(status_code - 128) if status_code > 128 else status_code


class Runner:
    """Runs jobs in containers, one CPU of the pool each; stops them all on interrupt."""

    def __init__(self, client: Any, parallelism: int) -> None:
        self.client = client
        self.cpus: queue.Queue[int] = queue.Queue()
        for cpu in sorted(os.sched_getaffinity(0))[: max(1, parallelism)]:
            self.cpus.put(cpu)
        self.containers: set[Any] = set()
        self.lock = threading.Lock()

    def run_job(self, job: Job, metric: str, limits: Limits, session: Session) -> Outcome:
        """One container for one job; its failures are recorded as the local runner's."""
        results = Path(job.results_dir)
        job.log_path().parent.mkdir(parents=True, exist_ok=True)
        (Path(job.dataset_path).resolve().parent / "groundtruth").mkdir(exist_ok=True)
        cpu = self.cpus.get()
        start = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="worker-", dir=results) as scratch:
                (Path(scratch) / "job.json").write_text(container_job(job).to_json())
                arguments = container_arguments(
                    job, Path(scratch), limits.memory, str(cpu), os.getuid(), os.getgid()
                )
                code, killed_for = self._run(job, arguments, limits.timeout)
                cause, detail = local.diagnose(
                    returncode(code), killed_for, Path(scratch) / "status.json", limits.timeout
                )
        finally:
            self.cpus.put(cpu)
        _remove_partials(job)
        return conclude(job, metric, cause, detail, time.monotonic() - start, session)

    def _run(self, job: Job, arguments: dict[str, Any], timeout: float) -> tuple[int, str]:
        """Start, wait, keep the log, always remove; (exit status, why it was killed)."""
        container = self.client.containers.run(**arguments)
        with self.lock:
            self.containers.add(container)
        killed_for = ""
        try:
            try:
                code = container.wait(timeout=timeout)["StatusCode"]
            except Exception:  # the engine's read timed out: the worker outlived the timeout
                container.kill()
                code, killed_for = 128 + signal.SIGKILL, "timeout"
            container.reload()
            if container.attrs.get("State", {}).get("OOMKilled"):
                killed_for = killed_for or "memory"
            job.log_path().write_bytes(container.logs(stdout=True, stderr=True))
        finally:
            with contextlib.suppress(Exception):
                container.remove(force=True)
            with self.lock:
                self.containers.discard(container)
        return code, killed_for

    def stop_all(self) -> None:
        with self.lock:
            for container in list(self.containers):
                with contextlib.suppress(Exception):
                    container.remove(force=True)


def run_docker(jobs: list[Job], metric: str, limits: Limits, parallelism: int) -> list[Outcome]:
    """Run every job in its plugin's image, `parallelism` containers at a time."""
    if not jobs:
        return []
    client = engine()
    check_images(client, jobs)
    runner = Runner(client, parallelism)
    try:
        return run_jobs(jobs, metric, limits, parallelism, runner.run_job)
    except BaseException:
        runner.stop_all()
        raise


def _remove_partials(job: Job) -> None:
    """Partial files of this job's runs (the container's pids mean nothing on the host)."""
    for query_args in job.query_groups:
        path = job.result_path(query_args)
        for leftover in path.parent.glob(f"{path.stem}*.hdf5{PARTIAL}*"):
            leftover.unlink(missing_ok=True)
