"""Erasure check: memory remanence, the deleted vectors in the process's own memory.

The plugin under test lives in a host process (`harness.runner.host`) that never holds D
outside the plugin: it reads X from a file into an anonymous mapping that it unmaps after
`fit` (unless the plugin kept a reference to it, which makes it the plugin's memory), and no
deleted vector reaches it as a query before its memory is read. Right after `fit` the host
forks; the child deletes D by id (and compacts), or for a plugin without deletion releases
the index (`done()`), and dumps every readable, writable mapping of itself into a file. The
worker, which holds D, scans the dump here like a saved file: every encoding, tolerantly, at
every byte offset, with a control sample of kept vectors that shows whether the scan can see
the index's in-memory form at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.protocols.erasure.patterns import Finder


@dataclass
class MemoryScan:
    """What the scan of one dump found."""

    found: np.ndarray  # bool per deleted vector
    control: float
    bytes_scanned: int
    mappings: int
    unreadable: int
    where: list[str]  # mappings holding deleted vectors (path or anonymous), most first

    @property
    def fraction(self) -> float:
        return float(self.found.mean()) if len(self.found) else 0.0


def scan_dump(path: str | Path, finder: Finder, deleted: int) -> MemoryScan:
    """Search a dump for the finder's vectors: the first `deleted` are D, the rest control."""
    info = json.loads(Path(f"{path}.json").read_text())
    size = Path(path).stat().st_size
    data = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
    found = finder.search(data)
    starts = np.array([m[4] for m in info["mappings"]] + [size])
    owners: dict[str, int] = {}
    for position in found.positions[:, :deleted][found.hits[:, :deleted]]:
        number = int(np.searchsorted(starts, position, side="right") - 1)
        label = info["mappings"][number][3] or "anonymous"
        owners[label] = owners.get(label, 0) + 1
    hits = found.any
    control = hits[deleted:]
    return MemoryScan(
        found=hits[:deleted],
        control=float(control.mean()) if len(control) else 0.0,
        bytes_scanned=size,
        mappings=len(info["mappings"]),
        unreadable=int(info["unreadable"]),
        where=[name for name, _ in sorted(owners.items(), key=lambda kv: -kv[1])],
    )
