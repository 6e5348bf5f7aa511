"""The folders a runner writes to (results, datasets): checked before any work, and a write
that fails there mid-suite stops the suite with a message naming the folder.

A results or data folder that is missing is created; one that cannot be written (read-only,
not a folder, full) is a `StorageError`, which the command line reports with exit status 2.
"""

from __future__ import annotations

import contextlib
import errno
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: OSError numbers that mean the folder itself is unusable (full, read-only, forbidden).
UNWRITABLE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


class StorageError(RuntimeError):
    """A folder the harness must write to is full, read-only or not a folder."""

    def __init__(self, folder: Path, error: OSError, flag: str = "") -> None:
        reason = error.strerror or str(error)
        role = f" ({flag})" if flag else ""
        super().__init__(
            f"cannot write to {folder}{role}: {reason}. Free space there or choose another "
            "folder, then run again: finished runs are kept, the rest are redone"
        )
        self.folder = folder
        self.errno = error.errno


def check_writable(folder: Path, flag: str) -> None:
    """Create `folder` if needed and prove a file can be written in it."""
    with writing(folder, flag):
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass


@contextlib.contextmanager
def writing(folder: Path, flag: str = "") -> Iterator[None]:
    """The harness's own writes to `folder`: any OSError there becomes a `StorageError`."""
    try:
        yield
    except OSError as error:
        raise StorageError(folder, error, flag) from None


@contextlib.contextmanager
def building(folder: Path, flag: str) -> Iterator[None]:
    """Writes that can also fail for other reasons (a corrupt input): only an OSError that
    says the folder is unusable becomes a `StorageError`."""
    try:
        yield
    except OSError as error:
        if error.errno in UNWRITABLE:
            raise StorageError(folder, error, flag) from None
        raise
