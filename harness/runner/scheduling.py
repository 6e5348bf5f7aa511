"""Running a list of jobs: parallel slots, progress, interrupts, and how each job ended.

Every executor (local subprocesses, docker containers, Ray tasks) runs its jobs through
`run_jobs` with its own `run_one`; a failed job becomes failure records (`conclude`), the same
whatever the executor, and the next job starts. Each job is claimed first
(`harness.runner.claims`): a job another runner has in progress is left for the end, then
waited for, and only what that runner did not finish is run.

A failure record is bounded: its detail is the error's own line, then the last lines of the
traceback and of the worker log, each line cut to `LINE_LIMIT` characters and the whole to
about `DETAIL_LIMIT`; the full log stays next to the results (`Job.log_path`).
"""

from __future__ import annotations

import contextlib
import errno
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from harness.core.definitions import Arguments
from harness.core.job import Job
from harness.core.results import write_result
from harness.runner.claims import Claim, remove_leftovers
from harness.runner.storage import StorageError

LOG_TAIL_LINES = 25
#: Characters of a failure record's detail (about), and of any one of its lines.
DETAIL_LIMIT, LINE_LIMIT = 4000, 300
#: Seconds between looks at a job another runner holds.
CLAIM_POLL_SECONDS = 0.5
#: Failure cause of a run that could not write its results: the disk is full (or gone).
DISK = "disk"


@dataclass(frozen=True)
class Limits:
    """What each worker may use: seconds of wall time and bytes of memory."""

    timeout: float
    memory: int


@dataclass
class Outcome:
    """How one job ended: `ok`, `failed` with its cause and detail, or `skipped` (another
    runner on the same results folder did it)."""

    job: Job
    status: str
    seconds: float
    cause: str = ""
    detail: str = ""


class Session:
    """One `run_jobs` call: whether it was interrupted, and how to stop what still runs."""

    def __init__(self) -> None:
        self.began = time.time()
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
BUSY = "busy"  # the outcome of a job another runner holds, before it is waited for


def run_jobs(
    jobs: list[Job], metric: str, limits: Limits, parallelism: int, run_one: RunOne
) -> list[Outcome]:
    """Run every job, `parallelism` at a time; a progress bar counts finished jobs.

    Jobs another runner holds are run last, after waiting for it. On an interrupt (Ctrl-C),
    or a results folder that can no longer be written, every running worker is stopped and
    the error re-raised; the runs it cut short are left to be redone, not recorded as the
    plugin's failures.
    """
    outcomes: list[Outcome] = []
    if not jobs:
        return outcomes
    session = Session()
    with (
        ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool,
        tqdm(total=len(jobs), desc="runs", unit="job") as bar,
    ):
        try:
            todo, wait = jobs, False
            while todo:  # first every job no one holds, then (waiting) the held ones
                claimed = partial(run_claimed, run_one, wait=wait)
                futures = [pool.submit(claimed, job, metric, limits, session) for job in todo]
                todo, wait = [], True
                for future in as_completed(futures):
                    outcome = future.result()
                    if outcome.status == BUSY:
                        todo.append(outcome.job)
                        continue
                    outcomes.append(outcome)
                    bar.update()
                    tqdm.write(outcome_line(outcome))
        except BaseException:
            session.interrupt()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcomes


def run_claimed(
    run_one: RunOne, job: Job, metric: str, limits: Limits, session: Session, wait: bool
) -> Outcome:
    """Run `job` under its claim; a job another runner holds is `busy`, or with `wait` is
    waited for. Runs another runner finished since this session began are not redone (not
    even with --force: they are new)."""
    if session.interrupted.is_set():  # stopping: start nothing more
        return Outcome(job, "failed", 0.0, "interrupted", "the runner was interrupted")
    claim = Claim(job)
    started = time.monotonic()
    if not claim.acquire():
        if not wait:
            return Outcome(job, BUSY, 0.0)
        tqdm.write(f"{job.describe()}: waiting for another runner (pid {claim.holder()})")
        while not claim.acquire():
            if session.interrupted.wait(CLAIM_POLL_SECONDS):
                return Outcome(job, "failed", 0.0, "interrupted", "the runner was interrupted")
    try:
        job.query_groups = [q for q in job.query_groups if not finished_since(job, q, session)]
        if not job.query_groups:
            return Outcome(job, "skipped", time.monotonic() - started)
        remove_leftovers(job)
        return run_one(job, metric, limits, session)
    except StorageError:
        session.interrupt()  # at once, before this thread takes the next job
        raise
    finally:
        claim.release()


def finished_since(job: Job, query_args: Arguments, session: Session) -> bool:
    """A finished result of this run written since the session began (by another runner:
    this one runs each job once)."""
    try:
        recent = job.result_path(query_args).stat().st_mtime >= session.began
    except FileNotFoundError:
        return False
    return recent and job.is_finished(query_args)


def conclude(
    job: Job, metric: str, cause: str, detail: str, seconds: float, session: Session
) -> Outcome:
    """The outcome of a finished worker; every run it left without a result is recorded as
    failed with `cause` and `detail`, unless the session was interrupted (then the runs are
    simply left to be redone). A run that failed for want of disk space is recorded if the
    space allows, and stops the suite (`StorageError`): every later run would fail alike."""
    missing = [q for q in job.query_groups if not job.is_finished(q)]
    if not cause and missing:
        cause, detail = "exit", "the worker exited normally without writing every result"
    if not cause:
        return Outcome(job, "ok", seconds)
    if session.interrupted.is_set():
        return Outcome(job, "failed", seconds, "interrupted", "the runner was interrupted")
    detail = failure_detail(detail, job.log_path())
    folder = job.log_path().parent
    try:
        for query_args in missing:
            attrs = job.attrs(query_args, metric, status="failed")
            attrs.update(failure_cause=cause, failure_detail=detail, seconds=seconds)
            write_result(job.result_path(query_args), attrs)
    except OSError as error:
        raise StorageError(folder, error) from None
    if cause == DISK:
        said = detail.splitlines()[0]
        raise StorageError(folder, OSError(errno.ENOSPC, f"the disk is full (the worker: {said})"))
    return Outcome(job, "failed", seconds, cause, detail)


def failure_detail(detail: str, log: Path) -> str:
    """What a failure record keeps: the error's line, the end of its traceback and of the
    worker log, bounded (`DETAIL_LIMIT`, `LINE_LIMIT`); the full log is named."""
    half = DETAIL_LIMIT // 2
    lines = detail.splitlines() or [""]
    return "\n".join(
        [
            cut(lines[0]),
            last_lines(lines[1:], half),
            f"--- worker log (last lines; all of it in {log}) ---",
            last_lines(log_tail(log).splitlines(), half),
        ]
    )


def last_lines(lines: list[str], limit: int) -> str:
    """The last lines, each cut to `LINE_LIMIT`, that fit in `limit` characters."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        line = cut(line)
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(reversed(kept))


def cut(line: str) -> str:
    if len(line) <= LINE_LIMIT:
        return line
    return f"{line[:LINE_LIMIT]} ... [{len(line) - LINE_LIMIT} more characters]"


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


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a worker log, reading only its end (a log may be huge)."""
    try:
        with open(path, "rb") as log:
            log.seek(0, 2)
            log.seek(max(0, log.tell() - lines * (LINE_LIMIT + 1) * 4))
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def outcome_line(outcome: Outcome) -> str:
    status = {"ok": "ok", "skipped": "done by another runner"}.get(
        outcome.status, f"FAILED ({outcome.cause})"
    )
    return f"{outcome.job.describe()}: {status} in {outcome.seconds:.1f} s"
