"""A saved state as the file checks read it: decoded, measured, scanned, its candidates."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.protocols.erasure.candidates import Candidates, collect
from harness.protocols.erasure.decoding import Decoded, decode_files
from harness.protocols.erasure.differential import Sizes, sizes
from harness.protocols.erasure.filescan import FileScan, scan_decoded
from harness.protocols.erasure.reference import Reference


@dataclass
class SavedState:
    """One saved index (or a set of side files), read once for every file check."""

    decoded: Decoded
    sizes: Sizes
    candidates: Candidates | None
    scan: FileScan | None
    seconds: dict[str, float] = field(default_factory=dict)


def analyse(
    files: dict[str, Path], ref: Reference, seed: int, scan: bool, reconstruct: bool = True
) -> SavedState:
    """Decode and measure `files` (name -> path); scan them for D, collect candidates."""
    dimension = ref.vectors.shape[1]
    clock = time.perf_counter()
    decoded = decode_files(files, dimension)
    seconds = {"decode": time.perf_counter() - clock}
    clock = time.perf_counter()
    measured = sizes(decoded)
    seconds["information"] = time.perf_counter() - clock
    found = None
    if scan:
        found = scan_decoded(decoded, measured, ref.finder, ref.scanned_count, len(ref.kept.raw))
        seconds["scan"] = found.seconds
    candidates = None
    if reconstruct:
        clock = time.perf_counter()
        candidates = collect(decoded, ref.kept, dimension, seed)
        seconds["candidates"] = time.perf_counter() - clock
    return SavedState(decoded, measured, candidates, found, seconds)


def folder_files(folder: str | Path) -> dict[str, Path]:
    """Every regular file under a folder (symlinks not followed), by relative name."""
    root = Path(folder)
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
