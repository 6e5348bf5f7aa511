"""The site's output folder: the only folder `--website` ever replaces is one it made itself.

A site is built into a fresh hidden sibling of `--outputdir` and swapped into place when
complete, so a failed build leaves the previous site as it was. The folder it replaces must
be empty or carry the marker file `MARKER`, which lists every file the site wrote; anything
else (a checkout, the results folder, a folder holding a file the site did not write) is
refused with `OutputFolderError`, before any work, and nothing in it is touched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

MARKER = ".forget-benchmarks-site"
MADE_BY = "python run.py --website"
SHOWN = 5  # foreign files named in an error


class OutputFolderError(ValueError):
    """An output folder the site may not replace; the message says why and what to do."""


@contextmanager
def site_folder(outdir: str | Path, protected: Iterable[str | Path] = ()) -> Iterator[Path]:
    """A fresh folder to build the site in; it replaces `outdir` when the block ends
    normally and is removed when it raises. `protected` folders (the results) may be
    neither `outdir` nor inside it."""
    target = Path(outdir).resolve()
    protected = [Path(p).resolve() for p in protected]
    check_replaceable(target, protected)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    except OSError as error:
        raise OutputFolderError(
            f"--outputdir {target}: cannot write in {target.parent} ({error.strerror}); "
            "choose another folder"
        ) from None
    try:
        yield staging
        mark(staging)
        check_replaceable(target, protected)  # again: the build took a while
        swap(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)  # made by mkdtemp above: ours


def check_replaceable(target: Path, protected: list[Path]) -> None:
    """Refuse a folder the site did not make, a file, or one holding protected data."""
    for folder in protected:
        if folder == target or folder.is_relative_to(target):
            raise OutputFolderError(
                f"--outputdir {target} holds {folder}: the site would replace it; choose an "
                "output folder outside the results"
            )
    if not target.exists():
        return
    if not target.is_dir():
        raise OutputFolderError(f"--outputdir {target} is a file; choose a folder")
    present = set(files_in(target))
    if not present and not any(target.iterdir()):
        return
    written = written_files(target)
    if written is None:
        raise OutputFolderError(
            f"--outputdir {target} exists and was not made by `{MADE_BY}` (no {MARKER} "
            "file): refusing to replace it. Choose a new or empty folder, or remove it yourself"
        )
    foreign = sorted(present - written - {MARKER})
    if foreign or _has_other_entries(target):
        shown = ", ".join(foreign[:SHOWN]) + (" ..." if len(foreign) > SHOWN else "")
        raise OutputFolderError(
            f"--outputdir {target} holds files the site did not write ({shown or 'links'}): "
            "refusing to replace it. Move them away or choose another folder"
        )


def mark(folder: Path) -> None:
    """Write the marker: who made the folder and every file in it."""
    files = sorted(set(files_in(folder)) - {MARKER})
    (folder / MARKER).write_text(json.dumps({"made_by": MADE_BY, "files": files}, indent=1))


def note_written(outdir: str | Path, paths: Iterable[str | Path]) -> None:
    """Add files written into a marked folder later (`--plot`) to its marker, so the next
    site build may replace them."""
    outdir = Path(outdir).resolve()
    written = written_files(outdir)
    if written is None:
        return
    added = {Path(p).resolve().relative_to(outdir).as_posix() for p in paths}
    listing = {"made_by": MADE_BY, "files": sorted(written | added)}
    (outdir / MARKER).write_text(json.dumps(listing, indent=1))


def swap(staging: Path, target: Path) -> None:
    """Put `staging` at `target`; the previous folder there (checked) is removed after."""
    if not target.exists():
        os.rename(staging, target)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rename(target, retired / target.name)
    os.rename(staging, target)
    shutil.rmtree(retired)


def written_files(folder: Path) -> set[str] | None:
    """The files the marker of `folder` lists, or None if it has no valid marker."""
    try:
        listing = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(listing, dict) or listing.get("made_by") != MADE_BY:
        return None
    return {str(f) for f in listing.get("files", [])}


def files_in(folder: Path) -> Iterator[str]:
    """Relative paths of the regular files under `folder` (symbolic links not followed)."""
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(folder).as_posix()


def _has_other_entries(folder: Path) -> bool:
    """Anything but regular files and folders (a symbolic link, a socket) under `folder`."""
    for root, dirs, names in os.walk(folder):
        for name in [*names, *dirs]:
            path = Path(root) / name
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                return True
    return False
