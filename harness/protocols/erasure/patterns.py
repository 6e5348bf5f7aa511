"""Finding many vectors, in every encoding, tolerantly, at every byte offset of a buffer.

A *key* is four 16-bit fields of four consecutive components (`_scan`): the whole value of a
16-bit float, the top 16 bits (sign, exponent, leading mantissa) of a float32 or float64.
Within an encoding's tolerance (`encodings`) a component's field can take only a few values,
so each vector gets the keys of its window of four components with the fewest variants:
every combination is keyed, and any stored copy within tolerance hashes like one of them.
That is what makes the tolerant match hold at *every* byte offset: the buffer is keyed at
every position, for every component stride of interest (2, 4 and 8 bytes for row-major
data; B times that for a blocked layout; the row count times that for a column-major one).

Candidates from the compiled loop are verified here: the implied start of the vector, its d
components read at the stride, decoded, and compared with the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.protocols.erasure._scan import candidates
from harness.protocols.erasure.encodings import ENCODINGS, Encoding, decode, vector_scale

MIN_DISTINCT = 3  # a vector with fewer distinct components (all zero, constant) is not keyed:
#                  it cannot be told from filler bytes
MAX_VARIANTS = 16  # keys per vector, encoding, layout and window at most (integers: 2 each)
CHUNK = 1 << 22  # positions per compiled call (a multiple of 64)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SECOND = np.uint64(0xC2B2AE3D27D4EB4F)


@dataclass
class Found:
    """Which vectors a search found, per encoding, and where first (-1: not found)."""

    hits: np.ndarray  # bool (encodings, vectors)
    positions: np.ndarray  # int64 (encodings, vectors): start byte of the first match
    layouts: np.ndarray  # int64 (encodings, vectors): component stride (elements) of it
    unkeyed: np.ndarray  # bool (vectors): no encoding could key it (too few stable values)

    @property
    def any(self) -> np.ndarray:
        return self.hits.any(axis=0)

    def merge(self, other: Found, offset: int = 0) -> None:
        new = other.hits & ~self.hits
        self.hits |= other.hits
        self.positions[new] = other.positions[new] + offset
        self.layouts[new] = other.layouts[new]


class Finder:
    """The keys of `vectors` (float32 rows) in `encodings`, for component strides `layouts`.

    `layouts` are in components: 1 is row-major, B a blocked layout of B rows, m the column
    major layout of an m-row matrix.
    """

    def __init__(
        self,
        vectors: np.ndarray,
        layouts: tuple[int, ...] = (1,),
        encodings: tuple[Encoding, ...] = ENCODINGS,
    ) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-d rows, got shape {self.vectors.shape}")
        self.encodings, self.layouts = encodings, layouts
        self.count, self.dimension = self.vectors.shape
        self.expected = [e.values(self.vectors) for e in encodings]
        self.bounds = [
            e.tolerance(v, vector_scale(self.vectors, e))
            for e, v in zip(encodings, self.expected, strict=True)
        ]
        entries, kinds = [], {}
        for layout in layouts:
            for number, encoding in enumerate(encodings):
                stride = layout * encoding.width
                most = most_windows(layout, encoding.width, self.dimension)
                keys, owner, window, used = self._keys(number, most)
                for windows in used:
                    kinds[stride] = kinds.get(stride, 0) | phases(windows, encoding.width)
                count = len(keys)
                entries.append(
                    (
                        mix_all(keys, stride),
                        owner,
                        window,
                        np.full(count, number),
                        np.full(count, layout),
                    )
                )
        mixed, owner, window, code, layout = (
            np.concatenate([e[i] for e in entries]) for i in range(5)
        )
        keep = informative(self.vectors)[owner]
        mixed, owner, window, code, layout = (a[keep] for a in (mixed, owner, window, code, layout))
        self.unkeyed = np.ones(self.count, dtype=bool)
        self.unkeyed[owner] = False
        order = np.argsort(mixed, kind="stable")
        self.mixed, self.owner, self.window = mixed[order], owner[order], window[order]
        self.code, self.layout = code[order], layout[order]
        self.strides = np.array(sorted(kinds), dtype=np.int64)
        self.phases = np.array([kinds[s] for s in sorted(kinds)], dtype=np.uint64)
        self.bloom_bits = min(17, max(12, int(np.ceil(np.log2(max(1, len(self.mixed)) / 4)))))
        self.table_bits = max(20, int(np.ceil(np.log2(max(1, len(self.mixed)) * 256))))
        self.bloom = _bloom(self.mixed, self.bloom_bits)
        self.table = _bitset(self.mixed, self.table_bits)

    def _keys(self, number: int, most: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, set[int]]:
        """Every key of every vector in one encoding: (keys, owner, window start), and the
        window counts used. A vector keyed with w windows has one window starting in each
        class of starts modulo w (the one with the fewest variants), so that whatever its
        alignment one of them lands on a position `phases(w)` keys; each vector gets the
        largest w (a power of two, at most `most`) its components allow."""
        encoding = self.encodings[number]
        source = encoding.source(self.vectors)
        bounds = encoding.key_tolerance(source, vector_scale(self.vectors, encoding))
        low, high = field_ranges(source, bounds, encoding)
        counts = high.astype(np.int64) - low.astype(np.int64) + 1
        counts[low > high] = MAX_VARIANTS + 1  # sign unknown: unusable
        starts = self.dimension - 3  # window starts 0 .. d - 4
        if starts < 1 or not self.count:
            return (*_empty_keys(), set())
        capped = np.minimum(counts, MAX_VARIANTS + 1)
        product = np.ones((self.count, starts))
        for i in range(4):
            product *= capped[:, i : starts + i]
        score = np.where(product <= MAX_VARIANTS, product, np.inf)
        score -= _distinct_fields(low, starts - 1) / 8  # then the most varied fields
        pending = np.ones(self.count, dtype=bool)
        parts, used = [], set()
        windows = most
        while windows >= 1 and pending.any():
            best = [
                np.arange(c, starts, windows)[np.argmin(score[:, c::windows], axis=1)]
                for c in range(windows)
            ]
            covered = np.all([np.isfinite(score[np.arange(self.count), b]) for b in best], axis=0)
            rows = np.flatnonzero(pending & covered)
            if len(rows):
                used.add(windows)
                parts += [self._expand(low, counts, rows, b[rows], encoding) for b in best]
            pending &= ~covered
            windows //= 2
        if not parts:
            return (*_empty_keys(), set())
        keys, owner, window = (np.concatenate([p[i] for p in parts]) for i in range(3))
        return keys, owner, window, used

    @staticmethod
    def _expand(
        low: np.ndarray,
        counts: np.ndarray,
        rows: np.ndarray,
        starts: np.ndarray,
        encoding: Encoding,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The keys of one window per vector: every combination of its fields' variants."""
        if not len(rows):
            return _empty_keys()
        span = starts[:, None] + np.arange(4)
        lo, n = low[rows[:, None], span].astype(np.uint64), counts[rows[:, None], span]
        total = np.prod(n, axis=1)
        owner = np.repeat(rows, total)
        combo = np.arange(total.sum()) - np.repeat(np.cumsum(total) - total, total)
        radix, base = np.repeat(n, total, axis=0), np.repeat(lo, total, axis=0)
        keys = np.zeros(len(owner), dtype=np.uint64)
        for i in range(4):
            digit = combo % radix[:, i]
            combo //= radix[:, i]
            value = base[:, i] + digit.astype(np.uint64)
            if encoding.big_endian:  # the loop loads fields little-endian
                value = ((value & np.uint64(0xFF)) << np.uint64(8)) | (value >> np.uint64(8))
            keys |= value << np.uint64(16 * i)
        return keys, owner, np.repeat(starts, total)

    def search(self, buffer: np.ndarray) -> Found:
        """Which vectors occur in `buffer` (uint8, any length), in which encoding, where."""
        shape = (len(self.encodings), self.count)
        found = Found(
            np.zeros(shape, dtype=bool),
            np.full(shape, -1, dtype=np.int64),
            np.zeros(shape, dtype=np.int64),
            self.unkeyed.copy(),
        )
        buffer = np.ascontiguousarray(buffer, dtype=np.uint8).reshape(-1)
        if not len(self.mixed) or len(buffer) < 8:
            return found
        strides = self.strides.astype(np.int64)
        positions = np.empty(CHUNK * len(strides) // 64 + 4096, dtype=np.int64)
        kinds = np.empty_like(positions)
        start = 0
        while start < len(buffer):
            stop = min(len(buffer), start + CHUNK)
            at = start
            while at < stop:
                hits, at = candidates(
                    buffer,
                    strides,
                    self.phases,
                    self.bloom,
                    self.bloom_bits,
                    self.table,
                    self.table_bits,
                    at,
                    stop,
                    positions,
                    kinds,
                )
                if hits:
                    self._verify(buffer, positions[:hits], strides[kinds[:hits]], found)
            start = stop
        return found

    def _verify(
        self, buffer: np.ndarray, positions: np.ndarray, strides: np.ndarray, found: Found
    ) -> None:
        """Key match, then the whole vector compared at each implied start."""
        fields = np.zeros(len(positions), dtype=np.uint64)
        for i in range(4):
            fields |= _u16(buffer, positions + i * strides) << np.uint64(16 * i)
        with np.errstate(over="ignore"):
            keys = fields ^ (strides.astype(np.uint64) * _SECOND)
        lo = np.searchsorted(self.mixed, keys, side="left")
        hi = np.searchsorted(self.mixed, keys, side="right")
        repeat = hi - lo
        if not repeat.any():
            return
        at = np.repeat(positions, repeat)
        entry = np.repeat(lo - np.cumsum(repeat) + repeat, repeat) + np.arange(repeat.sum())
        for number, encoding in enumerate(self.encodings):
            mine = self.code[entry] == number
            if not mine.any():
                continue
            e, p = entry[mine], at[mine]
            pending = ~found.hits[number, self.owner[e]]
            e, p = e[pending], p[pending]
            layout = self.layout[e]
            step = layout * encoding.width
            first = p - self.window[e] * step - encoding.field_offset
            span = (self.dimension - 1) * step + encoding.width
            inside = (first >= 0) & (first + span <= len(buffer))
            self._compare(buffer, number, e[inside], first[inside], step[inside], found)

    def _compare(
        self,
        buffer: np.ndarray,
        number: int,
        entries: np.ndarray,
        first: np.ndarray,
        step: np.ndarray,
        found: Found,
    ) -> None:
        if not len(entries):
            return
        encoding = self.encodings[number]
        component = np.arange(self.dimension) * step[:, None]
        index = first[:, None, None] + component[:, :, None] + np.arange(encoding.width)
        got = _decode(buffer[index], encoding)
        owners = self.owner[entries]
        expected, bound = self.expected[number][owners], self.bounds[number][owners]
        with np.errstate(invalid="ignore"):
            match = (np.abs(got - expected) <= bound).all(axis=1)
        for owner, start, layout in zip(
            owners[match], first[match], (step // encoding.width)[match], strict=True
        ):
            if not found.hits[number, owner]:
                found.hits[number, owner] = True
                found.positions[number, owner] = start
                found.layouts[number, owner] = layout


def field_ranges(
    values: np.ndarray, bounds: np.ndarray, encoding: Encoding
) -> tuple[np.ndarray, np.ndarray]:
    """Per component, the lowest and highest 16-bit field a stored value within tolerance
    can have (low > high where the sign is uncertain, a value within tolerance of zero)."""
    magnitude = np.abs(values)
    low_mag, high_mag = magnitude - bounds, magnitude + bounds
    sign = np.signbit(values).astype(np.uint64) << np.uint64(15)
    low, high = _field(np.maximum(low_mag, 0), encoding, False), _field(high_mag, encoding, True)
    low, high = low | sign, high | sign
    bad = low_mag <= 0
    low[bad], high[bad] = 1, 0
    return low, high


def _field(magnitude: np.ndarray, encoding: Encoding, upper: bool) -> np.ndarray:
    """The 16-bit key field of a non-negative magnitude; for 16-bit formats, the truncated
    conversion at the low end and the rounded one at the high end (both are in use)."""
    fmt = encoding.format
    if fmt == "float64":
        return magnitude.astype(np.float64).view(np.uint64) >> np.uint64(48)
    single = magnitude.astype(np.float32)
    if fmt == "float32":
        bits = single.view(np.uint32).astype(np.uint64)
        return bits >> np.uint64(16)
    if fmt == "bfloat16":
        bits = single.view(np.uint32).astype(np.uint64)
        if upper:
            return (bits + 0x7FFF + ((bits >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)
        return bits >> np.uint64(16)
    half = magnitude.astype(np.float16)
    bits = half.view(np.uint16).astype(np.uint64)
    if not upper:  # truncation: one step down where rounding went up
        over = half.astype(np.float64) > magnitude
        bits = np.where(over & (bits > 0), bits - np.uint64(1), bits)
    return bits


def mix_all(keys: np.ndarray, stride: int) -> np.ndarray:
    """`_scan.mix` over an array: the keys as the compiled loop hashes them."""
    with np.errstate(over="ignore"):
        return keys ^ (np.uint64(stride) * _SECOND)


def informative(vectors: np.ndarray) -> np.ndarray:
    """bool per row: at least MIN_DISTINCT distinct component values."""
    ordered = np.sort(vectors, axis=1)
    return 1 + (np.diff(ordered, axis=1) != 0).sum(axis=1) >= MIN_DISTINCT


def most_windows(layout: int, width: int, dimension: int) -> int:
    """The most windows a vector of this layout is keyed at: a power of two, up to 8 for
    16-bit values and 4 for wider ones (more keys would overflow the cache-resident filter
    and cost more than the positions they spare), one for a blocked or column-major layout
    (keyed at every position)."""
    if layout != 1:
        return 1
    windows = 1
    while windows * 2 <= min(8 if width == 2 else 4, dimension - 3):
        windows *= 2
    return windows


def phases(windows: int, width: int) -> int:
    """The positions (bits of s % 64) keyed for vectors of `windows` windows: those with
    s % (windows * width) < width, on which one of their windows' first fields lands."""
    period = windows * width
    return sum(1 << r for r in range(64) if r % period < width)


def _bloom(keys: np.ndarray, bits: int) -> np.ndarray:
    """A blocked Bloom filter: each key sets three bits of one 64-bit word (`_scan`)."""
    table = np.zeros(1 << bits, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = keys * _GOLDEN
    word = h >> np.uint64(64 - bits)
    one = np.uint64(1)
    mask = (
        (one << (h & np.uint64(63)))
        | (one << ((h >> np.uint64(6)) & np.uint64(63)))
        | (one << ((h >> np.uint64(12)) & np.uint64(63)))
    )
    np.bitwise_or.at(table, word, mask)
    return table


def _bitset(keys: np.ndarray, bits: int) -> np.ndarray:
    table = np.zeros(max(1, (1 << bits) // 64), dtype=np.uint64)
    with np.errstate(over="ignore"):
        slots = (keys * _SECOND) >> np.uint64(64 - bits)
    np.bitwise_or.at(table, slots >> np.uint64(6), np.uint64(1) << (slots & np.uint64(63)))
    return table


def _u16(buffer: np.ndarray, at: np.ndarray) -> np.ndarray:
    return buffer[at].astype(np.uint64) | (buffer[at + 1].astype(np.uint64) << np.uint64(8))


def _decode(data: np.ndarray, encoding: Encoding) -> np.ndarray:
    return decode(data.reshape(data.shape[0], data.shape[1] * data.shape[2]), encoding)


def _distinct_fields(low: np.ndarray, last: int) -> np.ndarray:
    """Per vector and window start, how many of its four fields differ from the others."""
    windows = np.stack([low[:, i : last + 1 + i] for i in range(4)], axis=2)
    ordered = np.sort(windows, axis=2)
    return 1 + (np.diff(ordered.astype(np.int64), axis=2) != 0).sum(axis=2)


def _empty_keys() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    empty = np.zeros(0, dtype=np.int64)
    return np.zeros(0, dtype=np.uint64), empty, empty
