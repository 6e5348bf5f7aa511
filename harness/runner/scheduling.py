"""Running a list of jobs: parallel slots, progress, interrupts, and how each job ended.

Every executor (local subprocesses, docker containers, Ray tasks) runs its jobs through
`run_jobs` with its own `run_one`; a failed job becomes failure records (`conclude`), the same
whatever the executor, and the next job starts.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from harness.core.job import Job
from harness.core.results import write_result

LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class Limits:
    """What each worker may use: seconds of wall time and bytes of memory."""

    timeout: float
    memory: int


@dataclass
class Outcome:
    """How one job ended: `ok` or `failed` with its cause and detail."""

    job: Job
    status: str
    seconds: float
    cause: str = ""
    detail: str = ""


class Session:
    """One `run_jobs` call: whether it was interrupted, and how to stop what still runs."""

    def __init__(self) -> None:
        self.interrupted = threading.Event()
        self._stops: dict[object, Callable[[], None]] = {}
        self._lock = threading.Lock()

    def started(self, key: object, stop: Callable[[], None]) -> None:
        with self._lock:
            self._stops[key] = stop

    def finished(self, key: object) -> None:
        with self._lock:
            self._stops.pop(key, None)

    def interrupt(self) -> None:
        """Mark the session interrupted and stop every worker it still runs."""
        self.interrupted.set()
        with self._lock:
            stops = list(self._stops.values())
        for stop in stops:
            with contextlib.suppress(Exception):
                stop()


RunOne = Callable[[Job, str, Limits, Session], Outcome]


def run_jobs(
    jobs: list[Job], metric: str, limits: Limits, parallelism: int, run_one: RunOne
) -> list[Outcome]:
    """Run every job, `parallelism` at a time; a progress bar counts finished jobs.

    On an interrupt (Ctrl-C) every running worker is stopped and the interrupt re-raised;
    the runs it cut short are left to be redone, not recorded as the plugin's failures.
    """
    outcomes: list[Outcome] = []
    if not jobs:
        return outcomes
    session = Session()
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        futures = [pool.submit(run_one, job, metric, limits, session) for job in jobs]
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc="runs", unit="job"):
                outcome = future.result()
                outcomes.append(outcome)
                tqdm.write(outcome_line(outcome))
        except BaseException:
            session.interrupt()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcomes


def conclude(
    job: Job, metric: str, cause: str, detail: str, seconds: float, session: Session
) -> Outcome:
    """The outcome of a finished worker; every run it left without a result is recorded as
    failed with `cause` and `detail`, unless the session was interrupted (then the runs are
    simply left to be redone)."""
    missing = [q for q in job.query_groups if not job.is_finished(q)]
    if not cause and missing:
        cause, detail = "exit", "the worker exited normally without writing every result"
    if not cause:
        return Outcome(job, "ok", seconds)
    if session.interrupted.is_set():
        return Outcome(job, "failed", seconds, "interrupted", "the runner was interrupted")
    detail = f"{detail}\n--- worker log (last lines) ---\n{log_tail(job.log_path())}"
    for query_args in missing:
        attrs = job.attrs(query_args, metric, status="failed")
        attrs.update(failure_cause=cause, failure_detail=detail, seconds=seconds)
        write_result(job.result_path(query_args), attrs)
    return Outcome(job, "failed", seconds, cause, detail)


def pending(jobs: Iterable[Job], force: bool) -> tuple[list[Job], int]:
    """Jobs narrowed to their runs without a finished result of the same identity; and how
    many runs were skipped."""
    todo, skipped = [], 0
    for job in jobs:
        groups = [q for q in job.query_groups if force or not job.is_finished(q)]
        skipped += len(job.query_groups) - len(groups)
        if groups:
            job.query_groups = groups
            todo.append(job)
    return todo, skipped


def log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


def outcome_line(outcome: Outcome) -> str:
    status = "ok" if outcome.status == "ok" else f"FAILED ({outcome.cause})"
    return f"{outcome.job.describe()}: {status} in {outcome.seconds:.1f} s"
