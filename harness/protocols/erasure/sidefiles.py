"""Erasure check: side files, anything the plugin writes outside the folder it saves into.

The plugin's host process (`host`) runs in private directories made for the run: its
working directory, HOME and TMPDIR (also TMP and TEMP), and the parent of every save
folder, so that a file written "next to" the saved index lands there too. After each save,
every file created or changed in them, the save folders excepted, is a side file, decoded
and scanned like the saved state. With `--executor docker` the container's writable layer
holds whatever else the plugin wrote anywhere: `layer_files` turns a folder or a `docker
export` / `get_archive` tar of it into the same named files for the same scan.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

LAYER_SKIPPED = ("proc/", "sys/", "dev/")  # pseudo file systems, never the plugin's data


@dataclass
class Private:
    """The run's private directories, under one root."""

    root: Path
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def saves(self) -> Path:
        return self.root / "saves"

    def create(self) -> Private:
        for folder in (self.cwd, self.home, self.tmp, self.saves):
            folder.mkdir(parents=True, exist_ok=True)
        self.seen = self.snapshot()
        return self

    def environment(self, base: os._Environ | dict[str, str]) -> dict[str, str]:
        """`base` with HOME, TMPDIR, TMP and TEMP pointing into the private directories."""
        env = dict(base)
        env.update(HOME=str(self.home), TMPDIR=str(self.tmp), TMP=str(self.tmp))
        env["TEMP"] = str(self.tmp)
        return env

    def save_folder(self, state: str) -> Path:
        folder = self.saves / state
        folder.mkdir(parents=True, exist_ok=False)
        return folder

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """Every regular file under the root: relative path -> (size, mtime in ns)."""
        out = {}
        for path in self.root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                stat = path.stat()
                out[str(path.relative_to(self.root))] = (stat.st_size, stat.st_mtime_ns)
        return out

    def changed(self, exclude: list[Path]) -> dict[str, Path]:
        """Files created or changed since the last call (or `create`), outside `exclude`."""
        now = self.snapshot()
        skipped = [str(p.relative_to(self.root)) + os.sep for p in exclude]
        out = {
            name: self.root / name
            for name, signature in now.items()
            if self.seen.get(name) != signature and not name.startswith(tuple(skipped))
        }
        self.seen = now
        return out


def layer_files(source: str | Path, destination: str | Path) -> dict[str, Path]:
    """The files of a container's writable layer, as name -> path for `decode_files`.

    `source` is a folder (the layer's upper directory) or a tar of it (`docker export`, or
    `container.get_archive(path)` for each path of `container.diff()`), which is extracted
    into `destination` (regular files only; links, devices and `..` paths are skipped).
    """
    source, destination = Path(source), Path(destination)
    if source.is_dir():
        return {
            str(p.relative_to(source)): p
            for p in sorted(source.rglob("*"))
            if p.is_file() and not p.is_symlink() and not _skipped(str(p.relative_to(source)))
        }
    out = {}
    with tarfile.open(source) as archive:
        for member in archive:
            name = member.name.lstrip("/")
            if not member.isfile() or ".." in Path(name).parts or _skipped(name):
                continue
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.extractfile(member) as data, open(target, "wb") as copy:
                while chunk := data.read(1 << 20):
                    copy.write(chunk)
            out[name] = target
    return out


def _skipped(name: str) -> bool:
    return name.startswith(LAYER_SKIPPED)
