"""Erasure check: the saved state against retrained ones, byte for byte in information.

The deleted index's saved state is compared with that of the retrained index A (the same
definition fitted on X\\D) and of a second retrained index B (rows in another order, another
global seed): in all, per file and per parsed array. The measure of each is its
*information*: eight bytes for every distinct 8-byte word it holds (at 8-byte offsets), so
zeroed slots and repeated markers count once and the order of rows not at all, while any
encoding of D, however scrambled, adds about its size. What two retrained indices differ by
is the noise; the residue is what the deleted state holds beyond the retrained ones' mean,
less three times that noise, per deleted vector. Files and arrays only the deleted state
has count in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.protocols.erasure.decoding import Decoded

NOISE_FACTOR = 3.0


@dataclass
class Sizes:
    """Bytes and information of a saved state, per file and per array (files with several)."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    arrays: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(b for b, _ in self.files.values())

    @property
    def information(self) -> int:
        return sum(i for _, i in self.files.values())


@dataclass
class Residue:
    """One item's figures in the three states, and its residue per deleted vector."""

    name: str
    bytes: tuple[int, int, int]  # deleted, A, B
    information: tuple[int, int, int]
    per_vector: float


@dataclass
class Differential:
    total: Residue
    files: list[Residue]
    arrays: list[Residue]

    def worst(self, count: int = 3) -> list[Residue]:
        """The files with the most residue, most first."""
        positive = [r for r in self.files if r.per_vector > 0]
        return sorted(positive, key=lambda r: -r.per_vector)[:count]


def information(data: np.ndarray | bytes) -> int:
    """8 bytes per distinct aligned 8-byte word of `data`, plus its last partial word."""
    buffer = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    whole = len(buffer) // 8 * 8
    words = np.array(np.asarray(buffer[:whole]).view(np.uint64))
    words.sort()
    distinct = int(np.count_nonzero(words[1:] != words[:-1])) + 1 if len(words) else 0
    return 8 * distinct + len(buffer) - whole


def sizes(decoded: Decoded) -> Sizes:
    """Bytes and information per file, and per array of files that hold several."""
    out = Sizes()
    for part in decoded.parts:
        if part.name == part.file:
            out.files[part.file] = (len(part.data), information(part.data))
    by_file: dict[str, list] = {}
    for array in decoded.arrays:
        by_file.setdefault(array.file, []).append(array)
    for arrays in by_file.values():
        if len(arrays) < 2:
            continue
        for array in arrays:
            values = np.ascontiguousarray(array.values)
            name = f"{array.file}:{array.name}"
            out.arrays[name] = (values.nbytes, information(values.view(np.uint8).reshape(-1)))
    return out


def compare(deleted: Sizes, retrained: Sizes, other: Sizes, count: int) -> Differential:
    """Residue of the deleted state over the retrained ones, per deleted vector."""
    total = _residue(
        "all files",
        (deleted.bytes, retrained.bytes, other.bytes),
        (deleted.information, retrained.information, other.information),
        count,
    )
    return Differential(
        total,
        _items(deleted.files, retrained.files, other.files, count),
        _items(deleted.arrays, retrained.arrays, other.arrays, count),
    )


def _items(ours: dict, theirs: dict, others: dict, count: int) -> list[Residue]:
    out = []
    for name in sorted(set(ours) | set(theirs)):
        triple = [d.get(name, (0, 0)) for d in (ours, theirs, others)]
        out.append(_residue(name, tuple(t[0] for t in triple), tuple(t[1] for t in triple), count))
    return out


def _residue(name: str, size: tuple, info: tuple, count: int) -> Residue:
    deleted, retrained, other = info
    excess = deleted - (retrained + other) / 2.0
    noise = abs(retrained - other)
    per_vector = max(0.0, excess - NOISE_FACTOR * noise) / max(1, count)
    return Residue(name, tuple(int(s) for s in size), tuple(int(i) for i in info), per_vector)
