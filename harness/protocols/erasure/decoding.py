"""Opening what a saved index holds: every file, and every stream and array inside it.

What the harness parses, and only that (nothing is unpickled, no code of the index runs):

- `.npy` arrays (also inside `.npz` and any zip, stored or deflated, bzip2 or lzma members);
- gzip, zlib, bzip2, xz and lzma streams, at the start of a file or embedded at any offset;
- HDF5 files (every numeric dataset);
- text, JSON and JSON lines: every number, in order, as one float64 stream.

A file gives *parts* (byte buffers: the file itself, each decompressed stream, the numbers of
a text, an array laid out again) that the byte scan reads, and *arrays* (numeric, with their
shape) that reconstruction reads. Arrays with an axis of the dataset's dimension that is
not the last one (column-major, transposed, blocked) are laid out again row by row.
Decompression is capped (`EXPANSION`), so a zip bomb costs a bounded amount of work.
"""

from __future__ import annotations

import bz2
import io
import lzma
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.protocols.erasure._scan import pair_candidates

EXPANSION = 8  # decoded bytes at most this many times the saved bytes (plus BASE_BUDGET)
BASE_BUDGET = 1 << 28
DEPTH = 4  # containers inside containers
MIN_STREAM = 64  # decoded streams shorter than this are ignored
TEXT_LIMIT = 1 << 28  # text bytes parsed for numbers, per part
NUMBER = re.compile(rb"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
MAGIC = {
    b"\x1f\x8b\x08": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x5d\x00\x00": "lzma",
}


@dataclass
class Part:
    """A byte buffer to scan: the file, or something decoded from it."""

    file: str  # the saved file it came from (relative path)
    name: str  # where inside: "rows.npy", "a.npz:codes.npy", "undo.bin@128 (zlib)"
    data: np.ndarray  # uint8


@dataclass
class Array:
    """A numeric array parsed out of a file, with its shape."""

    file: str
    name: str
    values: np.ndarray


@dataclass
class Decoded:
    """Everything decoded from a folder, and what could not be."""

    parts: list[Part] = field(default_factory=list)
    arrays: list[Array] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    budget: int = 0

    def parts_of(self, file: str) -> list[Part]:
        return [p for p in self.parts if p.file == file]


def decode_folder(folder: str | Path, dimension: int) -> Decoded:
    """Every regular file under `folder` (symlinks not followed), decoded."""
    root = Path(folder)
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    return decode_files({str(p.relative_to(root)): p for p in files}, dimension)


def decode_files(files: dict[str, Path], dimension: int, budget: int | None = None) -> Decoded:
    """Decode named files (name -> path): raw bytes memory-mapped, containers opened, at
    most `budget` decoded bytes (default: EXPANSION times the files' size, plus BASE_BUDGET)."""
    total = sum(p.stat().st_size for p in files.values())
    out = Decoded(budget=EXPANSION * total + BASE_BUDGET if budget is None else budget)
    for name, path in files.items():
        data = _read(path)
        out.parts.append(Part(name, name, data))
        _open(out, name, name, data, dimension, 0)
    return out


def decode_bytes(
    name: str, data: bytes | np.ndarray, dimension: int, budget: int | None = None
) -> Decoded:
    """Decode one in-memory buffer as if it were a file called `name`."""
    buffer = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    out = Decoded(budget=EXPANSION * len(buffer) + BASE_BUDGET if budget is None else budget)
    out.parts.append(Part(name, name, buffer))
    _open(out, name, name, buffer, dimension, 0)
    return out


def _read(path: Path) -> np.ndarray:
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")


def _open(out: Decoded, file: str, name: str, data: np.ndarray, dimension: int, depth: int) -> None:
    """Whatever the buffer is (or holds), added to `out`."""
    if depth > DEPTH or len(data) < 8:
        return
    head = bytes(data[:8])
    if head.startswith(b"\x93NUMPY"):
        _npy(out, file, name, data, dimension)
    elif head.startswith(b"PK\x03\x04"):
        _zip(out, file, name, data, dimension, depth)
    elif head.startswith(b"\x89HDF\r\n\x1a\n"):
        _hdf5(out, file, name, data, dimension)
    elif _is_text(data):
        _numbers(out, file, name, data)
    _streams(out, file, name, data, dimension, depth)


def _add(out: Decoded, file: str, name: str, data: bytes, dimension: int, depth: int) -> None:
    """A decoded stream: charged to the budget, kept as a part, opened in turn."""
    if len(data) < MIN_STREAM:
        return
    if len(data) > out.budget:
        out.problems.append(f"{name}: decoding stopped, over the budget of decoded bytes")
        return
    out.budget -= len(data)
    buffer = np.frombuffer(data, dtype=np.uint8)
    out.parts.append(Part(file, name, buffer))
    _open(out, file, name, buffer, dimension, depth + 1)


def _npy(out: Decoded, file: str, name: str, data: np.ndarray, dimension: int) -> None:
    stream = io.BytesIO(memoryview(data))
    try:
        version = np.lib.format.read_magic(stream)
        reader = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = reader(stream)
    except (ValueError, SyntaxError) as error:
        out.problems.append(f"{name}: unreadable .npy header ({error})")
        return
    if dtype.hasobject:
        out.problems.append(f"{name}: an array of Python objects (pickled): not unpickled")
        return
    offset, count = stream.tell(), int(np.prod(shape)) if shape else 1
    if dtype.itemsize == 0 or offset + count * dtype.itemsize > len(data):
        out.problems.append(f"{name}: .npy data shorter than its header says")
        return
    flat = np.frombuffer(memoryview(data), dtype=dtype, count=count, offset=offset)
    values = flat.reshape(shape, order="F" if fortran else "C")
    _array(out, file, name, values, dimension, laid_out=not fortran)


def _array(
    out: Decoded, file: str, name: str, values: np.ndarray, dimension: int, laid_out: bool
) -> None:
    """A parsed array; where its rows are not already contiguous in some part, a part with
    them (column-major, transposed, blocked, or decoded from a compressed dataset)."""
    if values.dtype.kind not in "fiub" or values.size == 0:
        return
    out.arrays.append(Array(file, name, values))
    rows = as_rows(values, dimension)
    if rows is None or rows.dtype.kind != "f":
        return
    if laid_out and values.ndim >= 1 and values.shape[-1] == dimension:
        return  # row-major as stored: the raw part already has it
    data = np.ascontiguousarray(rows).view(np.uint8).reshape(-1).tobytes()
    _add(out, file, f"{name} [rows]", data, dimension, DEPTH)


def as_rows(values: np.ndarray, dimension: int) -> np.ndarray | None:
    """The array as rows of `dimension` components, wherever that axis is; None if it has
    no such axis. A 3-d (blocks, dimension, B) array is a blocked layout."""
    if values.ndim == 1:
        return values.reshape(-1, dimension) if values.size % dimension == 0 else None
    axes = [i for i, n in enumerate(values.shape) if n == dimension]
    if not axes:
        return None
    axis = axes[-1]
    moved = np.moveaxis(values, axis, -1)
    return moved.reshape(-1, dimension)


def _zip(out: Decoded, file: str, name: str, data: np.ndarray, dimension: int, depth: int) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(memoryview(data)))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        out.problems.append(f"{name}: unreadable zip ({error})")
        return
    for member in members:
        if member.is_dir():
            continue
        if member.file_size > out.budget:
            out.problems.append(f"{name}:{member.filename}: over the budget of decoded bytes")
            continue
        try:
            content = archive.read(member)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as error:
            out.problems.append(f"{name}:{member.filename}: unreadable ({error})")
            continue
        _add(out, file, f"{name}:{member.filename}", content, dimension, depth)


def _hdf5(out: Decoded, file: str, name: str, data: np.ndarray, dimension: int) -> None:
    import h5py

    datasets: list[tuple[str, np.ndarray]] = []

    def visit(path: str, item: object) -> None:
        if isinstance(item, h5py.Dataset) and item.dtype.kind in "fiub":
            datasets.append((path, item[()]))

    try:
        with h5py.File(io.BytesIO(memoryview(data)), "r") as handle:
            handle.visititems(visit)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        out.problems.append(f"{name}: unreadable HDF5 ({error})")
        return
    for path, values in datasets:
        values = np.asarray(values)
        _array(out, file, f"{name}:{path}", values, dimension, laid_out=False)


def _streams(
    out: Decoded, file: str, name: str, data: np.ndarray, dimension: int, depth: int
) -> None:
    """Compressed streams starting anywhere in the buffer (or at its start)."""
    raw = memoryview(data)
    for offset, kind in _stream_starts(data):
        decoded = _decompress(raw[offset:], kind, out.budget + 1)
        if decoded is not None:
            _add(out, file, f"{name}@{offset} ({kind})", decoded, dimension, depth)


_PAIRS = np.zeros(1 << 16, dtype=np.uint8)
_PAIRS[[h[0] | (h[1] << 8) for h in (*ZLIB_HEADERS, *MAGIC)]] = 1  # every kind's first bytes


def _stream_starts(data: np.ndarray) -> list[tuple[int, str]]:
    """Offsets where a gzip, bzip2, xz, lzma or zlib stream may start."""
    data = np.ascontiguousarray(data)
    out = np.empty(1 << 16, dtype=np.int64)
    starts, at = [], 0
    while at + 1 < len(data):
        count, following = pair_candidates(data[at:], _PAIRS, out)
        for i in (out[:count] + at).tolist():
            head = bytes(data[i : i + 6])
            if head[:2] in ZLIB_HEADERS:
                starts.append((i, "zlib"))
            starts += [(i, kind) for magic, kind in MAGIC.items() if head.startswith(magic)]
        at += following
    return starts


def _decompress(raw: memoryview, kind: str, limit: int) -> bytes | None:
    """The stream decoded up to its end (or `limit` bytes), or None if it is not one."""
    try:
        if kind == "zlib":
            decoder = zlib.decompressobj()
        elif kind == "gzip":
            decoder = zlib.decompressobj(wbits=31)
        elif kind == "bzip2":
            decoder = bz2.BZ2Decompressor()
        else:
            decoder = lzma.LZMADecompressor(lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE)
        pieces, position, chunk, size = [], 0, 1 << 12, 0  # a false start fails in the first
        while position < len(raw) and size < limit:
            piece = decoder.decompress(raw[position : position + chunk], limit - size)
            pieces.append(piece)
            size += len(piece)
            position += chunk
            chunk = 1 << 20
            if getattr(decoder, "eof", False):
                break
        return b"".join(pieces) or None
    except (zlib.error, OSError, ValueError, EOFError, lzma.LZMAError):
        return None


def _is_text(data: np.ndarray) -> bool:
    """Mostly printable ASCII in the first 64 KiB."""
    head = np.asarray(data[:65536])
    printable = ((head >= 32) & (head < 127)) | (head == 9) | (head == 10) | (head == 13)
    return bool(printable.mean() > 0.95)


def _numbers(out: Decoded, file: str, name: str, data: np.ndarray) -> None:
    """Every number of a text (JSON, JSON lines, CSV, a log), in order, as float64."""
    text = bytes(data[:TEXT_LIMIT])
    numbers = np.array([float(m) for m in NUMBER.findall(text)], dtype=np.float64)
    if len(numbers) < 4:
        return
    out.arrays.append(Array(file, f"{name} [numbers]", numbers))
    out.budget -= numbers.nbytes
    out.parts.append(Part(file, f"{name} [numbers]", numbers.view(np.uint8)))
