"""The local runner: every job in its own worker subprocess, watched for time and memory.

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
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import psutil
from tqdm import tqdm

from harness.environment import PROJECT_ROOT
from harness.protocols.qps_recall import timed_threads
from harness.results import is_finished, remove_partials, write_result
from harness.runner.job import Job

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
LOG_TAIL_LINES = 25

_running: set[subprocess.Popen] = set()  # live workers, stopped if the runner is interrupted
_interrupted = threading.Event()


@dataclass
class Outcome:
    """How one job ended: `ok` or `failed` with its cause and detail."""

    job: Job
    status: str
    seconds: float
    cause: str = ""
    detail: str = ""


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


def run_jobs(
    jobs: list[Job],
    metric: str,
    timeout: float,
    memory_limit: int,
    parallelism: int = 1,
    run_one: Callable[[Job, str, float, int], Outcome] | None = None,
) -> list[Outcome]:
    """Run every job, `parallelism` at a time; a progress bar counts finished jobs.

    `run_one` runs one job (default: `run_job`, a local worker); the docker runner passes
    its own, so both share the scheduling, progress and interrupt handling.
    """
    outcomes: list[Outcome] = []
    if not jobs:
        return outcomes
    run_one = run_one or run_job
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        futures = [pool.submit(run_one, job, metric, timeout, memory_limit) for job in jobs]
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc="runs", unit="job"):
                outcome = future.result()
                outcomes.append(outcome)
                tqdm.write(_outcome_line(outcome))
        except BaseException:  # e.g. Ctrl-C: workers run in their own sessions, stop them too
            _interrupted.set()
            pool.shutdown(wait=False, cancel_futures=True)
            for process in list(_running):
                _kill_group(process)
            raise
    return outcomes


def run_job(job: Job, metric: str, timeout: float, memory_limit: int) -> Outcome:
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
                [*command, str(memory_limit)],
                env=worker_environment(timed_threads(job.batch)),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            _running.add(process)
            try:
                killed_for = watch(process, timeout, memory_limit)
            finally:
                _running.discard(process)
        remove_partials(results_dir, process.pid)
        cause, detail = diagnose(process.returncode, killed_for, status_file, timeout)
    return conclude(job, metric, cause, detail, time.monotonic() - start)


def conclude(job: Job, metric: str, cause: str, detail: str, seconds: float) -> Outcome:
    """The outcome of a finished worker; every run it left without a result is recorded as
    failed with `cause` and `detail`. Shared by the local, docker and Ray runners."""
    missing = [q for q in job.query_groups if not is_finished(job.result_path(q))]
    if not cause and missing:
        cause, detail = "exit", "the worker exited normally without writing every result"
    if not cause:
        return Outcome(job, "ok", seconds)
    if _interrupted.is_set():  # not the plugin's failure: leave the runs to be redone
        return Outcome(job, "failed", seconds, "interrupted", "the runner was interrupted")
    detail = f"{detail}\n--- worker log (last lines) ---\n{_tail(job.log_path())}"
    for query_args in missing:
        attrs = job.attrs(query_args, metric, status="failed")
        attrs.update(failure_cause=cause, failure_detail=detail, seconds=seconds)
        write_result(job.result_path(query_args), attrs)
    return Outcome(job, "failed", seconds, cause, detail)


def watch(process: subprocess.Popen, timeout: float, memory_limit: int) -> str:
    """Wait for the worker; kill its process group on timeout or excess memory.

    Returns why it was killed (`timeout`, `memory`), or "" if it ended by itself. The watch
    reads the worker's resident size from /proc every poll (cheap) and looks for its
    children only now and then, so it steals next to no CPU from the measurement.
    """
    deadline = time.monotonic() + timeout
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
        elif _resident_bytes([worker, *family]) > memory_limit:
            reason = "memory"
        if reason:
            _kill_group(process)
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


def pending(jobs: Iterable[Job], force: bool) -> tuple[list[Job], int]:
    """Jobs narrowed to their runs without a finished result; and how many runs were skipped."""
    todo, skipped = [], 0
    for job in jobs:
        groups = [q for q in job.query_groups if force or not is_finished(job.result_path(q))]
        skipped += len(job.query_groups) - len(groups)
        if groups:
            job.query_groups = groups
            todo.append(job)
    return todo, skipped


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


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _outcome_line(outcome: Outcome) -> str:
    status = "ok" if outcome.status == "ok" else f"FAILED ({outcome.cause})"
    return f"{outcome.job.describe()}: {status} in {outcome.seconds:.1f} s"
