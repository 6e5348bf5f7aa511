"""Erasure check E3, remanence: do the bytes of deleted vectors survive in saved files?

Each deleted vector is looked for in three encodings: float32 as given, float32 after L2
normalisation, and float16. Every encoding is searched byte-exact at every byte offset;
the two float32 encodings are also searched *tolerantly* at 4-byte-aligned offsets, with a
relative error of about 1e-5 allowed per component, because libraries normalise with their
own arithmetic (hnswlib's cosine space differs from NumPy in the last bit of most rows).

The scan is two-stage, so that it runs in seconds on hundreds of megabytes:

1. Candidates. Each pattern gives a few 8-byte keys cut from the part of it that looks least
   like its neighbours (most distinct byte values), one key per possible alignment of the
   vector's start. Keys and file words are masked to drop each float32's lowest mantissa
   byte, so a tolerant match hashes like an exact one. The file is read as aligned 64-bit
   words, and each word is looked up in a bit table of the keys' hashes: one multiply, shift
   and gather per 8 bytes of file.
2. Verification. Candidate words are matched against the sorted keys, and at each implied
   start the whole pattern is compared: bytes for exact groups, values for tolerant ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from algorithms.vectors import unit_rows

ENCODINGS = ("float32", "normalized", "float16")
ANCHOR = 16  # bytes of a pattern the keys are cut from
TOLERANT_ANCHORS = 3  # a 1-ulp carry can break one key; three spread keys rarely all break
RTOL, ATOL = 1e-5, 1e-7  # tolerant match, per component
TABLE_BITS = 26  # 64 Mi entries: few false candidates even for 10^5 patterns
CHUNK = 1 << 24  # words hashed at a time, to bound temporary memory
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK = np.uint64(0xFFFFFF00FFFFFF00)  # each aligned float32's lowest mantissa byte


@dataclass
class Remanence:
    """What a scan found: fractions of the vectors present, per encoding and in any."""

    fraction: float
    float32: float
    normalized: float
    float16: float
    found: np.ndarray  # bool per vector: present in any encoding
    bytes_scanned: int
    seconds: float
    excluded: int = 0  # vectors left out of the scan (stored legitimately elsewhere)


@dataclass
class Group:
    """Equal-length byte patterns searched one way: exact anywhere, or tolerant aligned."""

    patterns: np.ndarray  # uint8 (count, length)
    tolerant: bool = False


def encode(vectors: np.ndarray) -> dict[str, np.ndarray]:
    """The byte patterns looked for, one uint8 row per vector and encoding."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    normalized = unit_rows(vectors)
    encoded = {
        "float32": vectors,
        "normalized": normalized.astype(np.float32),
        "float16": vectors.astype(np.float16),
    }
    return {name: np.ascontiguousarray(a).view(np.uint8) for name, a in encoded.items()}


def stored_elsewhere(vectors: np.ndarray, others: np.ndarray) -> np.ndarray:
    """bool per vector: some row of `others` equals it in one of the encodings.

    A deleted vector with a twin among the kept rows (a duplicate, or a multiple of it once
    normalised) is legitimately still in the index; the harness leaves it out of the scan.
    Normalised rows are compared rounded, as the tolerant scan would match them.
    """
    twins = np.zeros(len(vectors), dtype=bool)
    ours, theirs = encode(vectors), encode(others)
    ours["normalized"] = _rounded(ours["normalized"])
    theirs["normalized"] = _rounded(theirs["normalized"])
    for name in ENCODINGS:
        kept = {row.tobytes() for row in theirs[name]}
        twins |= np.fromiter((row.tobytes() in kept for row in ours[name]), bool, len(vectors))
    return twins


def _rounded(normalized_bytes: np.ndarray) -> np.ndarray:
    values = normalized_bytes.view(np.float32)
    return np.ascontiguousarray(np.round(values, 5)).view(np.uint8)


def scan_directory(directory: str | Path, vectors: np.ndarray) -> Remanence:
    """Scan every file under `directory` for each of `vectors` (float32 rows)."""
    files = sorted(p for p in Path(directory).rglob("*") if p.is_file())
    buffers = [np.fromfile(p, dtype=np.uint8) for p in files]
    return scan_buffers(buffers, vectors)


def scan_buffers(buffers: list[np.ndarray], vectors: np.ndarray) -> Remanence:
    """Scan byte buffers (uint8 arrays) for each of `vectors` in every encoding, in one pass."""
    start = time.perf_counter()
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-d array of rows, got shape {vectors.shape}")
    encoded = encode(vectors)
    groups = [Group(encoded[name]) for name in ENCODINGS]
    groups += [Group(encoded[name], tolerant=True) for name in ENCODINGS[:2]]
    finder = PatternFinder(groups)
    hits = np.zeros((len(groups), len(vectors)), dtype=bool)
    for buffer in buffers:
        hits |= finder.search(buffer)
    per_encoding = {
        "float32": hits[0] | hits[3],
        "normalized": hits[1] | hits[4],
        "float16": hits[2],
    }
    found = hits.any(axis=0)
    share = {name: float(h.mean()) if len(vectors) else 0.0 for name, h in per_encoding.items()}
    return Remanence(
        fraction=float(found.mean()) if len(vectors) else 0.0,
        found=found,
        bytes_scanned=sum(len(b) for b in buffers),
        seconds=time.perf_counter() - start,
        **share,
    )


class PatternFinder:
    """Finds which of many byte patterns occur anywhere in a buffer.

    All groups share one key table, so a buffer is hashed once whatever their number.
    """

    def __init__(self, groups: list[Group]) -> None:
        self.groups = groups
        keys, offsets, owners, group_of = [], [], [], []
        for number, group in enumerate(groups):
            count, length = group.patterns.shape
            if length < 16:
                raise ValueError(
                    f"vectors of {length} bytes are too short to scan for: the remanence "
                    "scan needs at least 8 dimensions"
                )
            starts = _key_starts(group.patterns, group.tolerant)
            rows = np.arange(count)[:, None, None]
            key_bytes = group.patterns[rows, starts[..., None] + np.arange(8)]
            key_words = np.ascontiguousarray(key_bytes).view(np.uint64)[..., 0].ravel()
            keys.append(key_words & _MASK)
            offsets.append(starts.ravel())
            owners.append(np.repeat(np.arange(count), starts.shape[1]))
            group_of.append(np.full(starts.size, number))
        order = np.argsort(np.concatenate(keys), kind="stable")
        self.keys = np.concatenate(keys)[order]
        self.offsets = np.concatenate(offsets)[order]
        self.owners = np.concatenate(owners)[order]
        self.group_of = np.concatenate(group_of)[order]
        self.table = np.zeros(1 << TABLE_BITS, dtype=bool)
        self.table[_hash(self.keys.copy())] = True

    def search(self, buffer: np.ndarray) -> np.ndarray:
        """bool[group, pattern]: does each pattern occur in `buffer`?"""
        found = np.zeros((len(self.groups), len(self.groups[0].patterns)), dtype=bool)
        if not len(self.keys):
            return found
        words = buffer[: len(buffer) // 8 * 8].view(np.uint64)
        scratch = np.empty(min(CHUNK, len(words)), dtype=np.uint64)
        for first in range(0, len(words), CHUNK):
            chunk = words[first : first + CHUNK]
            hashed = np.bitwise_and(chunk, _MASK, out=scratch[: len(chunk)])
            candidates = np.flatnonzero(self.table.take(_hash(hashed)))
            if len(candidates):
                self._verify(buffer, first + candidates, chunk[candidates] & _MASK, found)
        return found

    def _verify(
        self, buffer: np.ndarray, positions: np.ndarray, words: np.ndarray, found: np.ndarray
    ) -> None:
        """Key match, then a whole-pattern comparison at each implied start."""
        lo = np.searchsorted(self.keys, words, side="left")
        hi = np.searchsorted(self.keys, words, side="right")
        hits = hi > lo
        if not hits.any():
            return
        positions, lo, hi = positions[hits], lo[hits], hi[hits]
        repeat = hi - lo  # one word can match several (pattern, offset) keys
        word_at = np.repeat(positions, repeat) * 8
        entry = np.repeat(lo - np.cumsum(repeat) + repeat, repeat) + np.arange(repeat.sum())
        starts = word_at - self.offsets[entry]
        for number, group in enumerate(self.groups):
            mine = (self.group_of[entry] == number) & (starts >= 0)
            mine &= starts + group.patterns.shape[1] <= len(buffer)
            owners, begins = self.owners[entry[mine]], starts[mine]
            pending = ~found[number, owners]
            _compare(buffer, group, owners[pending], begins[pending], found[number])


def _compare(
    buffer: np.ndarray, group: Group, owners: np.ndarray, starts: np.ndarray, found: np.ndarray
) -> None:
    """Mark the patterns that really sit at their candidate starts."""
    span = np.arange(group.patterns.shape[1])
    for first in range(0, len(owners), 4096):
        part_owners, part_starts = owners[first : first + 4096], starts[first : first + 4096]
        windows = buffer[part_starts[:, None] + span]
        expected = group.patterns[part_owners]
        if group.tolerant:
            got, want = windows.view(np.float32), expected.view(np.float32)
            with np.errstate(invalid="ignore"):
                equal = (np.abs(got - want) <= ATOL + RTOL * np.abs(want)).all(axis=1)
        else:
            equal = (windows == expected).all(axis=1)
        found[part_owners[equal]] = True


def _key_starts(patterns: np.ndarray, tolerant: bool) -> np.ndarray:
    """Per pattern, the byte offsets its 8-byte keys are cut from.

    Exact: eight consecutive offsets from the best anchor, one per alignment of the pattern
    in the file. Tolerant (float32 at 4-aligned starts): offsets +0 and +4 from each of a
    few 4-aligned anchors, best first, so that near-equal values still share a key.
    """
    length = patterns.shape[1]
    if not tolerant:
        return _best_windows(patterns, min(ANCHOR, length), 1, 1)[:, :1] + np.arange(8)
    anchors = _best_windows(patterns, 12, 4, TOLERANT_ANCHORS)
    return (anchors[:, :, None] + np.array([0, 4])).reshape(len(patterns), -1)


def _best_windows(patterns: np.ndarray, width: int, align: int, count: int) -> np.ndarray:
    """Per pattern, the starts of its `count` `width`-byte windows with most distinct bytes.

    Keys cut from a varied window rarely occur elsewhere (a run of zero bytes would match
    every zero page of a file), so few candidates need verifying. At most ~33 windows,
    `align`-aligned, are tried per pattern.
    """
    length = patterns.shape[1]
    step = max(align, (length - width) // 32 // align * align)
    starts = np.arange(0, length - width + 1, step)
    scores = np.empty((len(patterns), len(starts)))
    for column, start in enumerate(starts):
        block = np.sort(patterns[:, start : start + width], axis=1)
        scores[:, column] = (np.diff(block.astype(np.int16), axis=1) != 0).sum(axis=1)
    scores -= starts / (2.0 * length)  # ties: earlier windows first, deterministic
    best = np.argsort(-scores, axis=1, kind="stable")[:, :count]
    chosen = starts[best]
    if chosen.shape[1] < count:  # short patterns: repeat the best window
        chosen = np.pad(chosen, ((0, 0), (0, count - chosen.shape[1])), mode="edge")
    return chosen


def _hash(words: np.ndarray) -> np.ndarray:
    """Multiplicative hash of 64-bit words to table indices, in place (`words` is scratch)."""
    np.multiply(words, _GOLDEN, out=words)
    np.right_shift(words, np.uint64(64 - TABLE_BITS), out=words)
    return words.view(np.int64)
