"""The local executor: every job in its own worker subprocess, watched for time and memory.

A worker that segfaults, exits, hangs past the timeout, outgrows the memory limit or raises
is recorded as a failed run with that cause; the other jobs go on. Workers are pinned to one
BLAS/OpenMP thread, as in ann-benchmarks; a `--batch` worker may use all its cores.

A worker is supervised from before it runs a line of its own: the kernel's parent-death
signal is set in the child before `exec` (so a runner killed outright, even in the worker's
first millisecond, takes the worker with it), and the worker's process group (itself and
whatever its plugin started) is killed at every end, a clean exit included, so no plugin
process outlives its run.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

from harness.core.environment import PROJECT_ROOT, THREAD_VARIABLES
from harness.core.io import PARTIAL, remove_partials
from harness.core.job import Job
from harness.data.gt_cache import cache_dir
from harness.protocols._measure import timed_threads
from harness.runner.scheduling import (
    Limits,
    Outcome,
    Session,
    conclude,
    run_jobs,
)
from harness.runner.storage import writing

POLL_SECONDS = 0.1
CHILDREN_EVERY = 20  # polls between looks for the worker's own subprocesses
#: Exit status of a child whose runner died before the child could tie itself to it.
ORPHANED = 125
#: Scratch folders of workers: `<tmp>/forget-worker-<runner pid>-<random>`.
SCRATCH_PREFIX = "forget-worker-"
PR_SET_PDEATHSIG = 1


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
    remove_stale_scratch()
    return run_jobs(jobs, metric, limits, parallelism, run_job)


def run_job(job: Job, metric: str, limits: Limits, session: Session) -> Outcome:
    """One worker subprocess for one job; failed runs are written as failure records."""
    log_path = job.log_path()
    results_dir = log_path.parent
    start = time.monotonic()
    with contextlib.ExitStack() as stack:
        with writing(results_dir):
            results_dir.mkdir(parents=True, exist_ok=True)
            log = stack.enter_context(open(log_path, "w"))
        scratch = Path(stack.enter_context(scratch_folder()))
        job_file, status_file = scratch / "job.json", scratch / "status.json"
        with writing(scratch):
            job_file.write_text(job.to_json())
        command = [sys.executable, "-m", "harness.runner.worker", str(job_file), str(status_file)]
        remove_orphaned_partials(cache_dir(job.dataset_path, job.dataset))
        process = launch([*command, str(limits.memory)], log, timed_threads(job.batch))
        session.started(process.pid, lambda: kill_members(process.pid))
        try:
            killed_for = watch(process, limits)
        finally:
            session.finished(process.pid)
        remove_partials(results_dir, process.pid)
        remove_partials(cache_dir(job.dataset_path, job.dataset), process.pid)
        cause, detail = diagnose(process.returncode, killed_for, status_file, limits)
    return conclude(job, metric, cause, detail, time.monotonic() - start, session)


def scratch_folder() -> tempfile.TemporaryDirectory:
    """A worker's scratch folder, named after this runner so a later one can sweep it
    (`remove_stale_scratch`) if this runner dies without cleaning up."""
    return tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")


def launch(command: list[str], log: object, threads: int = 1) -> subprocess.Popen:
    """Start a worker in a process group of its own, tied to this runner before `exec`, with
    BLAS/OpenMP pools of `threads` threads."""
    return subprocess.Popen(
        command,
        env=worker_environment(threads),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=tied_to(os.getpid()),
    )


def tied_to(runner: int) -> Callable[[], None] | None:
    """The child's last step before `exec`: die with `runner` (on Linux).

    The parent-death signal survives `exec`, so the worker is covered from its first
    instruction. A runner killed between `fork` and this call would never send it: the child
    then finds it has another parent already and exits before running anything.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = _prctl()  # looked up in the parent: the child only calls it

    def tie() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != runner:
            os._exit(ORPHANED)

    return tie


@functools.cache
def _prctl() -> Callable[..., int]:
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong]
    return prctl


def watch(process: subprocess.Popen, limits: Limits) -> str:
    """Wait for the worker; kill its process group when it ends, on timeout or excess memory.

    Returns why it was killed (`timeout`, `memory`), or "" if it ended by itself. The watch
    reads the worker's resident size from /proc every poll (cheap) and looks for its
    children only now and then, so it steals next to no CPU from the measurement. A worker
    that exits is left unreaped (a zombie keeps its pid and group id from reuse) until what
    it started is killed.
    """
    deadline = time.monotonic() + limits.timeout
    worker = psutil.Process(process.pid)
    family: list[psutil.Process] = []
    polls = 0
    while not _exited(process.pid):
        if polls % CHILDREN_EVERY == 0:
            family = _children(worker) or family
        polls += 1
        reason = ""
        if time.monotonic() > deadline:
            reason = "timeout"
        elif _resident_bytes([worker, *family]) > limits.memory:
            reason = "memory"
        if reason:
            kill_group(process, family)
            return reason
        time.sleep(POLL_SECONDS)
    kill_group(process, family)
    return ""


def _exited(pid: int) -> bool:
    """Whether the worker has ended, without reaping it."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped
        return True


def diagnose(
    returncode: int, killed_for: str, status_file: Path, limits: Limits
) -> tuple[str, str]:
    """The cause and detail of a failure, or ("", "") for a clean exit."""
    if killed_for == "timeout":
        return (
            "timeout",
            f"no result within the {limits.timeout:g} s timeout: the worker was killed",
        )
    if killed_for == "memory" and not started_marker(status_file).exists():
        return "memory", (
            f"the memory limit of {limits.memory / 2**30:.2f} GiB leaves no room for the job: the "
            "worker outgrew it while starting (Python, numpy, h5py and the harness), before the "
            "job began; raise --memory-limit"
        )
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


def started_marker(status_file: Path) -> Path:
    """The file a worker creates beside its status file once it has started (imported the
    harness and applied its memory limit): a kill before it is a start-up failure."""
    return status_file.with_name("started")


def kill_group(process: subprocess.Popen, family: Iterable[psutil.Process] = ()) -> None:
    """Kill the worker's process group and every descendant seen (one that left the group
    included), then reap the worker."""
    kill_members(process.pid)
    for member in family:
        with contextlib.suppress(psutil.Error):
            member.kill()  # psutil checks it is still the process seen, not a reused pid
    process.wait()


def kill_members(group: int) -> None:
    """SIGKILL to every process of a worker's group (its id is the worker's pid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def remove_orphaned_partials(folder: Path) -> None:
    """Partial files in a folder several jobs share (the dataset's ground-truth cache) whose
    writer no longer exists (a worker of a runner killed outright)."""
    for leftover in folder.glob(f"*{PARTIAL}*"):
        writer = leftover.name.rsplit(PARTIAL, 1)[1]
        if writer.isdigit() and not psutil.pid_exists(int(writer)):
            leftover.unlink(missing_ok=True)


def remove_stale_scratch() -> None:
    """Scratch folders of runners that died without cleaning up (killed outright)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        owner = folder.name[len(SCRATCH_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not psutil.pid_exists(int(owner)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)


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
