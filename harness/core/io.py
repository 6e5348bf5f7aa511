"""Atomic file writes: a reader never sees half a file, and a crash never leaves one.

Every file the harness writes (results, datasets, cached ground truth, the nightly history,
files a Ray task sends back) goes through `atomic_path`: it is written under a partial name
beside its destination and renamed into place only when complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Infix of a file being written: `<name>.partial-<pid>`. Readers never match it.
PARTIAL = ".partial-"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of `path` to write to; renamed onto `path` when the block ends
    normally, removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}{PARTIAL}{os.getpid()}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_bytes(path: str | Path, content: bytes) -> None:
    with atomic_path(path) as partial:
        partial.write_bytes(content)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as partial:
        partial.write_text(text, encoding="utf-8")


def remove_partials(directory: str | Path, pid: int | None = None) -> None:
    """Delete partial files a killed writer left under `directory` (of one process, or any)."""
    pattern = f"*{PARTIAL}{pid if pid is not None else '*'}"
    for leftover in Path(directory).rglob(pattern):
        leftover.unlink(missing_ok=True)
