"""Per-job locks in the results folder: two runners on one folder never run one job at once.

A runner claims a job before starting its worker by holding an exclusive `flock` on
`<build args>[__<variant>].lock` next to the job's worker log (so the lock follows wherever
`Job.result_path` puts the job's results). Another runner that meets a claimed job leaves it
for later and does the rest of its list first; then it waits for the claim to be released
and runs only what is still missing. The kernel releases a claim when its holder dies, even
by SIGKILL, so a crashed runner never blocks the folder. The holder deletes the lock file
before releasing it; a waiter that locked a file already deleted tries again on the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from harness.core.io import PARTIAL
from harness.core.job import Job
from harness.runner.storage import writing

LOCK_SUFFIX = ".lock"


def lock_path(job: Job) -> Path:
    log = job.log_path()
    return log.with_name(f"{log.stem}{LOCK_SUFFIX}")


class Claim:
    """The exclusive right to run one job in its results folder."""

    def __init__(self, job: Job) -> None:
        self.path = lock_path(job)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the claim if no one holds it; False if another runner does."""
        with writing(self.path.parent):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self._lock()

    def _lock(self) -> bool:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            if _same_file(fd, self.path):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                return True
            os.close(fd)  # the holder deleted it as we opened it: lock the new one

    def holder(self) -> str:
        """Who holds the claim, as its lock file says (a pid), or "" if unknown."""
        with contextlib.suppress(OSError):
            return self.path.read_text().strip()
        return ""

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None


def remove_leftovers(job: Job) -> None:
    """Partial result files of this job that a killed writer left; only its claim holder
    calls this, so no one else is writing them."""
    for query_args in job.query_groups:
        path = job.result_path(query_args)
        for pattern in (f"{path.name}{PARTIAL}*", f"{path.stem}__*{path.suffix}{PARTIAL}*"):
            for leftover in path.parent.glob(pattern):
                leftover.unlink(missing_ok=True)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
