"""Vectors decoded from a saved state, for reconstruction: what an attacker could read back.

From the parsed arrays (`decoding`):

- float arrays with an axis of the dataset's dimension: their rows;
- 8- and 16-bit integer arrays with such an axis: rows decoded with per-dimension affine
  ranges fitted to the kept rows (raw and normalised), as scalar quantisation stores them;
- graphs: an integer array of one row of neighbour ids per row of a float array: each row's
  mean neighbour, an estimate of a node whose own vector was zeroed;

and from raw (unparsed) parts, runs of plausible float32 values at each byte alignment, read
as rows at the phase the kept rows show (`float_runs`). Rows equal to a kept row (raw or
normalised, to 5 decimals) are dropped: they are the index's legitimate content. Every
candidate is brought into the metric's comparison space (unit rows for angular).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from algorithms.vectors import unit_rows
from harness.protocols.erasure.decoding import Decoded, as_rows

MIN_ROWS = 2  # arrays with fewer rows are not read as rows
RUN_LIMIT = 1 << 26  # bytes of a raw part searched for float runs
FILLER = 1e-3  # a row whose components are all below this share of the largest kept one
#   is bytes or integers read as floats (of the order of 1e-9), not a vector
ZERO_MARGIN = 0.25  # ... as is one whose share of zeros exceeds a kept row's by this much
PHASED_ROWS = 4096  # runs of at most this many rows and no kept row are read at every phase
PHASE_SAMPLE = 64  # rows of a run tested for kept rows at each phase
MAX_CANDIDATES = 200_000  # rows per state tested against D (a seeded sample beyond)
TRAINED_SHARE = 0.1  # a region of at most this share of the kept rows is trained state
KEPT_IN_TRAINED = 0.5  # ... if at most this share of its rows are kept rows (a centroid of one)


@dataclass
class Candidates:
    """What one saved state gives to reconstruct from."""

    rows: np.ndarray  # float32 (n, d), comparison space, not kept rows
    sources: list[str]  # per row group, its name and row count
    trained: dict[str, np.ndarray] = field(default_factory=dict)  # region name -> rows
    matrices: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (r, d) maps
    total: int = 0  # candidate rows before sampling


class KeptRows:
    """The kept rows as the checks compare with them: their keys and per-dimension ranges."""

    def __init__(self, kept: np.ndarray, metric: str) -> None:
        self.metric = metric
        self.raw = np.ascontiguousarray(kept, dtype=np.float32)
        self.unit = unit_rows(self.raw)
        self.keys = np.sort(np.concatenate([row_keys(self.raw), row_keys(self.unit)]))
        self.max_abs = float(np.abs(self.raw).max()) if self.raw.size else 1.0
        zeros = (self.raw == 0).mean(axis=1) if self.raw.size else np.zeros(1)
        self.zero_share = float(np.quantile(zeros, 0.99))  # of a kept row, at most (mostly)

    @property
    def comparable_rows(self) -> np.ndarray:
        """The kept rows in the space distances are compared in."""
        return self.unit if self.metric == "angular" else self.raw

    def comparable(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the space distances are compared in."""
        rows = np.asarray(rows, dtype=np.float32)
        return unit_rows(rows) if self.metric == "angular" else rows

    def is_kept(self, rows: np.ndarray) -> np.ndarray:
        """bool per row: equal to a kept row, raw or once both are normalised (5 decimals)."""
        rows = np.asarray(rows, dtype=np.float32)
        return self._known(row_keys(rows)) | self._known(row_keys(unit_rows(rows)))

    def _known(self, keys: np.ndarray) -> np.ndarray:
        at = np.minimum(np.searchsorted(self.keys, keys), max(0, len(self.keys) - 1))
        return self.keys[at] == keys if len(self.keys) else np.zeros(len(keys), dtype=bool)


def collect(decoded: Decoded, kept: KeptRows, dimension: int, seed: int) -> Candidates:
    """Every candidate row of a decoded state, kept rows removed, at most MAX_CANDIDATES."""
    groups: list[tuple[str, np.ndarray, bool]] = []  # name, rows, may be trained state
    trained: dict[str, np.ndarray] = {}
    matrices: dict[str, np.ndarray] = {}
    floats: dict[int, np.ndarray] = {}  # row count -> float rows (for graphs over them)
    for array in decoded.arrays:
        rows = as_rows(array.values, dimension)
        if rows is None or len(rows) < MIN_ROWS:
            continue
        name = f"{array.file}:{array.name}"
        # a flat array cut into rows (flags, ids, a flattened copy) is read for copies of D,
        # but it is not a trained set of vectors: that has a dimension axis of its own
        shaped = array.values.ndim >= 2
        if rows.dtype.kind == "f":
            rows = rows.astype(np.float32)
            floats.setdefault(len(rows), rows)
            if array.values.ndim == 2 and len(rows) <= dimension * 4:
                matrices[name] = rows
            groups.append((name, rows, shaped))
        elif rows.dtype.kind in "iu" and rows.dtype.itemsize <= 2 and len(rows) >= MIN_ROWS:
            for label, decoded_rows in affine_decodings(rows, kept):
                groups.append((f"{name} [{label}]", decoded_rows, shaped))
    for array in decoded.arrays:
        rows = floats.get(len(array.values))
        if rows is not None and array.values.ndim == 2 and array.values.dtype.kind in "iu":
            means = neighbour_means(array.values, rows)
            if means is not None:
                groups.append((f"{array.file}:{array.name} [neighbour means]", means, False))
    parsed = {a.name for a in decoded.arrays}
    for part in decoded.parts:
        if part.name in parsed or part.name.endswith("]"):
            continue
        for label, rows in float_runs(part.data, dimension, kept):
            groups.append((f"{part.name} [{label}]", rows, True))
    kept_share = TRAINED_SHARE * len(kept.raw)
    pieces, sources = [], []
    for name, rows, trainable in groups:
        rows = rows[np.isfinite(rows).all(axis=1) & (np.abs(rows).sum(axis=1) > 0)]
        fresh = rows[~kept.is_kept(rows)] if len(rows) else rows
        if not len(fresh):
            continue
        comparable = kept.comparable(fresh)
        pieces.append(comparable)
        sources.append(f"{name}: {len(fresh)} rows")
        # trained state is computed from the rows, not made of them: a run of stored rows
        # (an inverted list) with a few rows that are not kept is data, not a codebook
        trained_like = len(rows) - len(fresh) <= KEPT_IN_TRAINED * len(rows)
        if trainable and trained_like and len(fresh) >= MIN_ROWS and len(rows) <= kept_share:
            trained[name] = comparable
    rows = np.concatenate(pieces) if pieces else np.zeros((0, dimension), np.float32)
    total = len(rows)
    if total > MAX_CANDIDATES:
        pick = np.random.default_rng(seed).choice(total, MAX_CANDIDATES, replace=False)
        rows = rows[np.sort(pick)]
    return Candidates(rows, sources, trained, matrices, total)


def affine_decodings(codes: np.ndarray, kept: KeptRows) -> list[tuple[str, np.ndarray]]:
    """8- or 16-bit integer rows decoded per dimension onto the kept rows' ranges (raw and
    normalised), reading the codes as spanning their type's whole range (as scalar
    quantisation writes them) and as spanning the range they use."""
    values = codes.astype(np.float64)
    full = (float(np.iinfo(codes.dtype).min), float(np.iinfo(codes.dtype).max))
    spans = {
        "full": (np.full(codes.shape[1], full[0]), np.full(codes.shape[1], full[1])),
        "used": (values.min(axis=0), values.max(axis=0)),
    }
    out = []
    for space, reference in (("raw", kept.raw), ("normalised", kept.unit)):
        lo, hi = reference.min(axis=0), reference.max(axis=0)
        for label, (low, high) in spans.items():
            width = np.where(high > low, high - low, 1.0)
            decoded = lo + (values - low) / width * (hi - lo)
            out.append((f"affine {label} {space}", decoded.astype(np.float32)))
    return out


def neighbour_means(links: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """Each row's mean over the rows it links to and the rows linking to it, or None if
    `links` is not a graph over `rows` (one row of ids in [-1, len(rows)) per row)."""
    n = len(rows)
    if links.shape[0] != n or links.ndim != 2 or not n:
        return None
    ids = links.astype(np.int64)
    if ids.min() < -1 or ids.max() >= n:
        return None
    source = np.repeat(np.arange(n), ids.shape[1])
    target = ids.reshape(-1)
    valid = (target >= 0) & (target != source)
    source, target = source[valid], target[valid]
    if not len(source):
        return None
    from scipy.sparse import coo_matrix  # heavy to import: only where a graph is read

    ones = np.ones(len(source))
    adjacency = coo_matrix((ones, (source, target)), shape=(n, n)).tocsr()
    adjacency = adjacency + adjacency.T  # out- and in-neighbours, a repeated link repeated
    counts = np.asarray(adjacency.sum(axis=1)).ravel()
    sums = adjacency @ rows.astype(np.float64)
    enough = counts >= 2
    return (sums[enough] / counts[enough, None]).astype(np.float32)


def float_runs(data: np.ndarray, dimension: int, kept: KeptRows) -> list[tuple[str, np.ndarray]]:
    """Runs of at least `dimension` plausible float32 values in a raw buffer, at each of the
    four byte alignments (a serialised index need not align its floats: FAISS's follow an
    odd-length header), each named by its alignment and its place among the runs there.

    A run need not start or end at a row boundary (a zero or a header word beside it is a
    plausible float too): it is read at the phase where its rows are kept rows, if one is;
    a short run holding no kept row (centroids, a codebook) at every phase, as nothing tells
    which is its own."""
    usable = min(len(data), RUN_LIMIT)
    runs = []
    for offset in range(4):
        stop = offset + (usable - offset) // 4 * 4
        if stop - offset < 4 * dimension:
            continue
        values = np.asarray(data[offset:stop]).view("<f4")  # unaligned: read in place
        for number, (start, end) in enumerate(_runs(values, dimension, kept.max_abs)):
            readings = _readings(values[start:end], dimension, kept)
            rows = np.concatenate(readings) if readings else np.zeros((0, dimension))
            rows = rows[~_filler(rows, kept)] if len(rows) else rows
            label = f"float run {number}" + (f" at +{offset}" if offset else "")
            runs.append((label, rows.astype(np.float32)))
    return runs


def _runs(values: np.ndarray, dimension: int, max_abs: float) -> list[tuple[int, int]]:
    """(start, stop) of each run of at least `dimension` plausible floats: zero, or normal
    (a denormal is a small integer read as a float; tiny values are not: a centroid's) and at
    most 16 times the largest kept component (compared as bit patterns, which order like
    the magnitudes of finite floats)."""
    bits = values.view(np.uint32) & np.uint32(0x7FFFFFFF)
    largest = np.array(min(16 * max_abs, np.finfo(np.float32).max), np.float32).view(np.uint32)
    plausible = (bits == 0) | ((bits >= np.uint32(0x00800000)) & (bits <= largest))
    edges = np.flatnonzero(plausible[1:] != plausible[:-1]) + 1
    edges = np.concatenate(
        [[0] if plausible[0] else [], edges, [len(values)] if plausible[-1] else []]
    )
    starts, stops = edges[::2].astype(np.int64), edges[1::2].astype(np.int64)
    long = (stops - starts) >= dimension
    return list(zip(starts[long].tolist(), stops[long].tolist(), strict=True))


def _filler(rows: np.ndarray, kept: KeptRows) -> np.ndarray:
    """bool per row: bytes or integers read as floats, not a vector: every component below
    FILLER of the largest kept one, or far more exact zeros than kept rows have (an int64's
    high word)."""
    small = np.abs(rows).max(axis=1) < FILLER * kept.max_abs
    return small | ((rows == 0).mean(axis=1) > kept.zero_share + ZERO_MARGIN)


def _readings(run: np.ndarray, dimension: int, kept: KeptRows) -> list[np.ndarray]:
    """The run as rows, at the phases where a sample of its rows holds kept rows; if none
    does, at every phase (a short run) or from both ends."""
    count, spare = divmod(len(run), dimension)
    at = [run[p : p + count * dimension].reshape(count, dimension) for p in range(spare + 1)]
    if len(at) == 1:
        return at
    sample = np.linspace(0, count - 1, min(count, PHASE_SAMPLE)).astype(np.int64)
    hits = kept.is_kept(np.concatenate([r[sample] for r in at])).reshape(len(at), -1)
    holding = [r for r, hit in zip(at, hits.any(axis=1), strict=True) if hit]
    if holding:
        return holding
    return at if count <= PHASED_ROWS else [at[0], at[-1]]


def row_keys(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row rounded to 5 decimals."""
    scaled = np.rint(rows.astype(np.float64) * 1e5).astype(np.int64).view(np.uint64)
    multipliers = _MULTIPLIERS[: rows.shape[1]]
    with np.errstate(over="ignore"):
        keys = (scaled * multipliers).sum(axis=1, dtype=np.uint64)
        keys ^= keys >> np.uint64(29)
        keys *= np.uint64(0xBF58476D1CE4E5B9)
    return keys


_MULTIPLIERS = np.random.default_rng(12345).integers(1, 2**63, 8192, dtype=np.uint64) | np.uint64(1)
