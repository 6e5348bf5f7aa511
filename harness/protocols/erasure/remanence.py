"""The remanence scan in one call, for code that only asks "are these vectors in here?"

`scan_directory` decodes every file of a folder (`decoding`: containers, compressed streams,
arrays, text numbers) and `scan_buffers` takes raw buffers; both search every part for the
vectors in every encoding, tolerantly, at every byte offset (`patterns`). The erasure
protocol itself goes through `filescan`, which adds the per-file control and other layouts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.protocols.erasure.candidates import KeptRows
from harness.protocols.erasure.decoding import decode_files
from harness.protocols.erasure.patterns import Finder
from harness.protocols.erasure.state import folder_files


@dataclass
class Remanence:
    """Which of the vectors a scan found, and what it read."""

    found: np.ndarray  # bool per vector
    per_encoding: dict[str, float]
    bytes_scanned: int
    seconds: float

    @property
    def fraction(self) -> float:
        return float(self.found.mean()) if len(self.found) else 0.0


def scan_buffers(buffers: list[np.ndarray], vectors: np.ndarray) -> Remanence:
    """Search byte buffers (uint8 arrays) for each of `vectors` (float32 rows)."""
    start = time.perf_counter()
    finder = Finder(np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1))
    hits = np.zeros((len(finder.encodings), finder.count), dtype=bool)
    for buffer in buffers:
        hits |= finder.search(np.asarray(buffer, dtype=np.uint8).reshape(-1)).hits
    return Remanence(
        found=hits.any(axis=0),
        per_encoding={
            e.name: float(h.mean()) if len(h) else 0.0
            for e, h in zip(finder.encodings, hits, strict=True)
        },
        bytes_scanned=sum(len(b) for b in buffers),
        seconds=time.perf_counter() - start,
    )


def scan_directory(directory: str | Path, vectors: np.ndarray) -> Remanence:
    """Search every file under `directory`, and everything decoded from it, for `vectors`."""
    vectors = np.asarray(vectors, dtype=np.float32)
    decoded = decode_files(folder_files(directory), vectors.shape[1])
    return scan_buffers([part.data for part in decoded.parts], vectors)


def stored_elsewhere(vectors: np.ndarray, others: np.ndarray) -> np.ndarray:
    """bool per vector: equal to a row of `others`, raw or once both are normalised (so a
    scan finding it proves nothing about the vector itself)."""
    return KeptRows(others, "euclidean").is_kept(vectors)
