"""The local executor: every job in its own worker subprocess, watched for time and memory.

A worker that segfaults, exits, hangs past the timeout, outgrows the memory limit or raises
is recorded as a failed run with that cause; the other jobs go on. Workers are pinned to one
BLAS/OpenMP thread, as in ann-benchmarks; a `--batch` worker may use all its cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from harness.core.environment import PROJECT_ROOT
from harness.core.io import remove_partials
from harness.core.job import Job
from harness.protocols._measure import timed_threads
from harness.runner.scheduling import Limits, Outcome, Session, conclude, run_jobs

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
POLL_SECONDS = 0.1
CHILDREN_EVERY = 20  # polls between looks for the worker's own subprocesses


def default_memory_limit(parallelism: int) -> int:
    """Bytes per worker: 80% of the machine's memory shared among parallel workers."""
    return int(psutil.virtual_memory().total * 0.8 / max(1, parallelism))


def worker_environment(threads: int = 1) -> dict[str, str]:
    """The worker's environment: BLAS/OpenMP pools of `threads` threads."""
    env = dict(os.environ)
    env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def run_local(jobs: list[Job], metric: str, limits: Limits, parallelism: int = 1) -> list[Outcome]:
    """Run every job in a local worker subprocess, `parallelism` at a time."""
    return run_jobs(jobs, metric, limits, parallelism, run_job)


def run_job(job: Job, metric: str, limits: Limits, session: Session) -> Outcome:
    """One worker subprocess for one job; failed runs are written as failure records."""
    log_path = job.log_path()
    results_dir = log_path.parent
    results_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="worker-") as scratch:
        job_file, status_file = Path(scratch) / "job.json", Path(scratch) / "status.json"
        job_file.write_text(job.to_json())
        command = [sys.executable, "-m", "harness.runner.worker", str(job_file), str(status_file)]
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [*command, str(limits.memory)],
                env=worker_environment(timed_threads(job.batch)),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            session.started(process.pid, lambda: kill_group(process))
            try:
                killed_for = watch(process, limits)
            finally:
                session.finished(process.pid)
        remove_partials(results_dir, process.pid)
        cause, detail = diagnose(process.returncode, killed_for, status_file, limits.timeout)
    return conclude(job, metric, cause, detail, time.monotonic() - start, session)


def watch(process: subprocess.Popen, limits: Limits) -> str:
    """Wait for the worker; kill its process group on timeout or excess memory.

    Returns why it was killed (`timeout`, `memory`), or "" if it ended by itself. The watch
    reads the worker's resident size from /proc every poll (cheap) and looks for its
    children only now and then, so it steals next to no CPU from the measurement.
    """
    deadline = time.monotonic() + limits.timeout
    worker = psutil.Process(process.pid)
    family: list[psutil.Process] = []
    polls = 0
    while True:
        try:
            process.wait(POLL_SECONDS)
            return ""
        except subprocess.TimeoutExpired:
            pass
        if polls % CHILDREN_EVERY == 0:
            family = _children(worker)
        polls += 1
        reason = ""
        if time.monotonic() > deadline:
            reason = "timeout"
        elif _resident_bytes([worker, *family]) > limits.memory:
            reason = "memory"
        if reason:
            kill_group(process)
            return reason


def diagnose(
    returncode: int, killed_for: str, status_file: Path, timeout: float
) -> tuple[str, str]:
    """The cause and detail of a failure, or ("", "") for a clean exit."""
    if killed_for == "timeout":
        return "timeout", f"no result within the {timeout:g} s timeout: the worker was killed"
    if killed_for == "memory":
        return "memory", "the worker's resident memory exceeded the limit: it was killed"
    if status_file.exists():
        status = json.loads(status_file.read_text())
        return status["cause"], status["detail"]
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return "signal", f"the worker was killed by signal {name} ({-returncode})"
    if returncode > 0:
        return "exit", f"the worker exited with code {returncode}"
    return "", ""


def kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _children(worker: psutil.Process) -> list[psutil.Process]:
    try:
        return worker.children(recursive=True)
    except psutil.Error:
        return []


def _resident_bytes(processes: list[psutil.Process]) -> int:
    total = 0
    for p in processes:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total
