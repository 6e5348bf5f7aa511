"""The docker runner: the same worker as the local runner, inside the plugin's image.

Each job runs `python -m harness.runner.worker` in a fresh, hardened container of its
definition's `docker_image` (built by `python install.py`; the sandbox: `sandbox`), pinned to
one CPU of a pool (`cpuset_cpus`) with a hard memory limit, killed after the timeout, and
always removed. Before any container starts, the engine must answer, every image must exist
and carry the checkout's code, and the ground truth the jobs read is computed here and
mounted read-only. Containers are labelled with the runner's identity: a reaper removes them
if the runner dies, and a runner starting up removes those of runners that are gone
(`reaper`). How a container ended is diagnosed and recorded exactly as the local runner does
(`harness.runner.local.diagnose`, `harness.runner.scheduling.conclude`).
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

from harness.core.environment import git_revision
from harness.core.job import Job
from harness.data.datasets import load_dataset
from harness.data.gt_cache import cache_dir
from harness.protocols import PROTOCOLS
from harness.runner import local, reaper, sandbox
from harness.runner.images import BASE_IMAGE, SOURCE_LABEL, source_digest
from harness.runner.scheduling import Limits, Outcome, Session, conclude, run_jobs

WAIT_SECONDS = 1.0  # between looks at an interrupted runner while a container runs


class DockerError(RuntimeError):
    """No engine answers, or an image is missing or stale: nothing was run."""


def engine() -> Any:
    """A client of the local Docker engine, or a `DockerError` saying how to get one."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:  # the SDK raises several types for "nothing answers"
        raise DockerError(
            f"no Docker engine answers ({error}); start one (`sudo bash docker/engine.sh "
            "start`, or set DOCKER_HOST) or run with --executor local"
        ) from None
    return client


def check_images(client: Any, jobs: list[Job]) -> None:
    """Every image the jobs need exists and holds this checkout's code, before any work."""
    import docker

    digest = source_digest()
    for image in sorted({job.definition.docker_image for job in jobs}):
        algorithm = next(j.definition.algorithm for j in jobs if j.definition.docker_image == image)
        rebuild = f"`python install.py --algorithm {algorithm}`"
        try:
            labels = client.images.get(image).labels or {}
        except docker.errors.ImageNotFound:
            raise DockerError(f"image {image!r} is missing: build it with {rebuild}") from None
        if labels.get(SOURCE_LABEL) != digest:
            raise DockerError(
                f"image {image!r} holds other code than this checkout (it changed since the "
                f"image was built): rebuild it with {rebuild}"
            )


def prepare_ground_truth(jobs: list[Job]) -> None:
    """Compute, here, the cached ground truth every job will read (its container can only
    read the cache), and check that the container's user may read it and the dataset."""
    done: set[tuple[str, str, str, int]] = set()
    datasets: dict[str, Any] = {}
    for job in jobs:
        dataset_file = Path(job.dataset_path).resolve()
        sandbox.check_readable(dataset_file)
        key = (str(dataset_file), job.protocol, repr(sorted(job.protocol_args.items())), job.k)
        prepare = PROTOCOLS[job.protocol].prepare
        if prepare is None or key in done:
            continue
        if key[0] not in datasets:
            datasets[key[0]] = load_dataset(dataset_file, name=job.dataset)
        prepare(job, datasets[key[0]])
        done.add(key)
        folder = cache_dir(dataset_file, job.dataset)
        for path in [folder.parent, folder, *folder.iterdir()]:
            sandbox.check_readable(path)


def returncode(status_code: int) -> int:
    """The container's exit status as `subprocess` reports it: -N for death by signal N."""
    return -(status_code - 128) if status_code > 128 else status_code


class Runner:
    """Runs jobs in containers, one CPU of the pool each; stops them all on interrupt."""

    def __init__(self, client: Any, parallelism: int, identity: reaper.Identity) -> None:
        self.client = client
        self.identity = identity
        self.labels = {reaper.LABEL: str(identity)}
        self.revision = git_revision()
        self.cpus: queue.Queue[int] = queue.Queue()
        self.every_cpu = sorted(os.sched_getaffinity(0))
        for cpu in self.every_cpu[: max(1, parallelism)]:
            self.cpus.put(cpu)
        self.containers: set[Any] = set()
        self.lock = threading.Lock()

    def scratch(self, job: Job) -> Path:
        """This runner's folder of job folders, in the job's results folder."""
        return Path(job.results_dir) / reaper.SCRATCH / str(self.identity)

    def run_job(self, job: Job, metric: str, limits: Limits, session: Session) -> Outcome:
        """One container for one job; its failures are recorded as the local runner's."""
        job.log_path().parent.mkdir(parents=True, exist_ok=True)
        self.scratch(job).mkdir(parents=True, exist_ok=True)
        cpu = self.cpus.get()
        start = time.monotonic()
        folder = Path(tempfile.mkdtemp(prefix="job-", dir=self.scratch(job)))
        try:
            inner = sandbox.make_job_folder(folder, job)
            # a batch job may use every CPU, as ann-benchmarks' batch mode; a query-at-a-time
            # job one CPU of the pool
            cpuset = ",".join(map(str, self.every_cpu)) if job.batch else str(cpu)
            arguments = sandbox.container_arguments(
                job, inner, limits.memory, cpuset, self.labels, self.revision
            )
            code, killed_for = self._run(job, arguments, limits.timeout, session)
            status = sandbox.harvest(job, inner) or folder / "no-status"
            cause, detail = local.diagnose(returncode(code), killed_for, status, limits)
            if killed_for == "memory":
                detail = (
                    f"the container reached its memory limit ({limits.memory / 2**30:.2f} GiB): "
                    "the kernel killed it (OOMKilled)"
                )
        finally:
            self.cpus.put(cpu)
            reaper.remove_tree(folder, reaper.cleaner(self.client, job.definition.docker_image))
        return conclude(job, metric, cause, detail, time.monotonic() - start, session)

    def _run(
        self, job: Job, arguments: dict[str, Any], timeout: float, session: Session
    ) -> tuple[int, str]:
        """Start, wait, keep the log, always remove; (exit status, why it was killed)."""
        container = self.client.containers.run(**arguments)
        with self.lock:
            self.containers.add(container)
        try:
            code, killed_for = self._wait(container, timeout, session)
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

    @staticmethod
    def _wait(container: Any, timeout: float, session: Session) -> tuple[int, str]:
        """The container's exit status, waiting at most `timeout`; killed past it (or
        when the runner is interrupted)."""
        deadline = time.monotonic() + timeout
        while not session.interrupted.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                container.kill()
                return 128 + signal.SIGKILL, "timeout"
            try:
                return container.wait(timeout=min(left, WAIT_SECONDS))["StatusCode"], ""
            except Exception:  # the engine's read timed out: still running
                continue
        container.kill()
        return 128 + signal.SIGKILL, ""

    def stop_all(self) -> None:
        with self.lock:
            for container in list(self.containers):
                with contextlib.suppress(Exception):
                    container.remove(force=True)


def run_docker(jobs: list[Job], metric: str, limits: Limits, parallelism: int = 1) -> list[Outcome]:
    """Run every job in its plugin's image, `parallelism` containers at a time."""
    if not jobs:
        return []
    client = engine()
    check_images(client, jobs)
    identity = reaper.Identity.current()
    runner = Runner(client, parallelism, identity)
    roots = sorted({runner.scratch(job).parent for job in jobs})
    reaper.sweep(client, roots, reaper.cleaner(client, BASE_IMAGE))
    try:
        prepare_ground_truth(jobs)
    except PermissionError as error:
        raise DockerError(str(error)) from None
    watcher = reaper.start(identity, BASE_IMAGE, roots)
    try:
        return run_jobs(jobs, metric, limits, parallelism, runner.run_job)
    except BaseException:
        runner.stop_all()
        raise
    finally:
        reaper.stop(watcher)
