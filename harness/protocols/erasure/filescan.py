"""Erasure check: the decoding scan of a saved state, with its per-file control.

Every part decoded from the state (`decoding`) is searched for the deleted vectors and for a
*control* sample of kept vectors, in every encoding (`patterns`). The control is counted per
file: a file that holds vector data in which the scan finds no kept vector (nor a deleted
one) is one whose form the scan cannot read, so finding no deleted vector there proves
nothing; it is *blind*. A file holds vector data when it holds an array of floats or bytes
with at least half as many rows as there are kept rows (or a flat array of that many
vectors' numbers), or, for a file the harness cannot parse, when it holds enough
information for the kept rows at one bit per component and is not a table of small integers
(links, ids). Every file (not a table of integers) in which the row-major scan finds
nothing at all is searched again in blocked (`BLOCKS` rows) and column-major float32
layouts, whose kept rows then show where such a layout holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from harness.protocols.erasure.decoding import Decoded
from harness.protocols.erasure.differential import Sizes
from harness.protocols.erasure.encodings import ENCODINGS
from harness.protocols.erasure.patterns import Finder, Found

BLOCKS = (4, 8, 16, 32, 64, 128, 256)  # rows per block of the blocked layouts tried
HEADER = 4096  # bytes a column-major matrix may be preceded by
COLUMN_COUNTS = 32  # row counts tried for a column-major matrix (headers up to HEADER)
INTEGER_SHARE = 0.9  # share of 32-bit words below 2**24 that makes a table of integers
SAMPLE_BYTES = 1 << 24  # bytes of a file sampled to tell integers from vectors
FLOAT32 = tuple(e for e in ENCODINGS if e.format == "float32")


@dataclass
class FileFinding:
    """What the scan found in one saved file."""

    name: str
    bytes: int
    information: int
    vector_data: bool
    control: float  # share of the control sample found in this file
    deleted: int  # deleted vectors found in this file
    layout: str = "row-major"

    @property
    def blind(self) -> bool:
        """Vector data in which the scan found neither kept nor deleted vectors."""
        return self.vector_data and self.control == 0 and self.deleted == 0


@dataclass
class FileScan:
    """The decoding scan of one state."""

    found: np.ndarray  # bool per deleted vector
    per_encoding: dict[str, float]
    control: float
    files: list[FileFinding] = field(default_factory=list)
    bytes_scanned: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return float(self.found.mean()) if len(self.found) else 0.0

    @property
    def blind(self) -> list[FileFinding]:
        return [f for f in self.files if f.blind]


def scan_decoded(
    decoded: Decoded, state_sizes: Sizes, finder: Finder, count: int, kept_rows: int
) -> FileScan:
    """Search every part for the finder's vectors, the first `count` of them deleted and the
    rest the control; per-file findings, and blind files read in other layouts."""
    start = time.perf_counter()
    vectors, dimension = finder.vectors, finder.dimension
    total = _empty(finder)
    per_file: dict[str, Found] = {}
    for part in decoded.parts:
        found = finder.search(part.data)
        total.merge(found)
        per_file.setdefault(part.file, _empty(finder)).merge(found)
    files = []
    for name, (size, info) in state_sizes.files.items():
        found = per_file.get(name, _empty(finder))
        integers = integer_table(_raw(decoded, name))
        finding = FileFinding(
            name,
            size,
            info,
            vector_data=holds_vector_data(decoded, name, info, integers, kept_rows, dimension),
            control=_share(found.any[count:]),
            deleted=int(found.any[:count].sum()),
        )
        if not integers and not found.any.any():
            _other_layouts(decoded, finding, vectors, count, total)
        files.append(finding)
    hits = total.hits[:, :count]
    return FileScan(
        found=hits.any(axis=0),
        per_encoding={e.name: _share(hits[i]) for i, e in enumerate(finder.encodings)},
        control=_share(total.any[count:]),
        files=files,
        bytes_scanned=sum(len(p.data) for p in decoded.parts),
        seconds=time.perf_counter() - start,
        problems=list(decoded.problems),
    )


def holds_vector_data(
    decoded: Decoded, name: str, info: int, integers: bool, kept_rows: int, dimension: int
) -> bool:
    """Whether a file holds (a substantial part of) the index's rows in some form."""
    arrays = [a.values for a in decoded.arrays if a.file == name]
    if not arrays:
        return info >= kept_rows * dimension / 8 and not integers
    for values in arrays:
        rows_like = values.dtype.kind == "f" or values.dtype.itemsize == 1
        if values.ndim >= 2 and rows_like and max(values.shape) >= kept_rows / 2:
            return True
        if (
            values.ndim == 1
            and values.dtype.kind == "f"
            and len(values) >= kept_rows * dimension / 2
        ):
            return True
    return False


def integer_table(data: np.ndarray) -> bool:
    """Mostly small 32-bit integers (little or big endian): links, ids, counts."""
    usable = min(len(data), SAMPLE_BYTES) // 4 * 4
    if usable < 4:
        return False
    words = np.asarray(data[:usable]).view("<u4")
    little = float((words < (1 << 24)).mean())
    big = float(((words & 0xFF) == 0).mean())
    return max(little, big) >= INTEGER_SHARE


def _other_layouts(
    decoded: Decoded, finding: FileFinding, vectors: np.ndarray, count: int, total: Found
) -> None:
    """Blocked and column-major float32 readings of a blind file's parts."""
    dimension = vectors.shape[1]
    for part in decoded.parts_of(finding.name):
        size = len(part.data)
        columns = range(max(1, -(-(size - HEADER) // (4 * dimension))), size // (4 * dimension) + 1)
        layouts = tuple(sorted({*BLOCKS, *list(columns)[-COLUMN_COUNTS:]}))
        finder = Finder(vectors, layouts=layouts, encodings=FLOAT32)
        found = finder.search(part.data)
        control, deleted = _share(found.any[count:]), int(found.any[:count].sum())
        if control > finding.control or deleted > finding.deleted:
            layout = int(np.bincount(found.layouts[found.hits].ravel()).argmax())
            finding.layout = f"blocked {layout}" if layout in BLOCKS else f"column-major {layout}"
        finding.control = max(finding.control, control)
        finding.deleted = max(finding.deleted, deleted)
        _merge_float32(total, found)


def _merge_float32(total: Found, found: Found) -> None:
    """Merge a float32-only search into the full one (rows by encoding name)."""
    for i, encoding in enumerate(FLOAT32):
        row = ENCODINGS.index(encoding)
        new = found.hits[i] & ~total.hits[row]
        total.hits[row] |= found.hits[i]
        total.positions[row, new] = found.positions[i, new]
        total.layouts[row, new] = found.layouts[i, new]


def _raw(decoded: Decoded, name: str) -> np.ndarray:
    for part in decoded.parts:
        if part.file == name and part.name == name:
            return part.data
    return np.zeros(0, dtype=np.uint8)


def _empty(finder: Finder) -> Found:
    shape = (len(finder.encodings), finder.count)
    return Found(
        np.zeros(shape, dtype=bool),
        np.full(shape, -1, dtype=np.int64),
        np.zeros(shape, dtype=np.int64),
        finder.unkeyed.copy(),
    )


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else 0.0
