"""The encodings a deleted vector is looked for in, and what each tolerates.

Every vector is looked for as float32 and float64 (little and big endian), float16 and
bfloat16, each raw and L2-normalised: twelve byte patterns. A stored copy *matches* when every
component is within the encoding's tolerance of the pattern:

- float32, float64: |stored - v| <= RTOL |v| + ATOL max|x| + half a unit in the last place,
  so a library's own arithmetic (another normalisation, a float64 round trip, noise of
  1e-5 relative) still matches;
- float16, bfloat16: the same, plus one unit in the last place of the 16-bit format, so
  both round-to-nearest and truncating conversions match.

`stable` says which components keep their key bits under that tolerance (see `patterns`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from algorithms.vectors import unit_rows

RTOL = 1e-5  # relative tolerance per component
ATOL = 1e-6  # absolute tolerance per component, in units of the vector's largest |component|


@dataclass(frozen=True)
class Encoding:
    """One way of storing a vector's components as bytes."""

    name: str
    width: int  # bytes per component
    normalized: bool
    format: str  # float32, float64, float16, bfloat16
    big_endian: bool = False

    @property
    def field_offset(self) -> int:
        """Byte offset, inside a component, of the 16-bit field a key reads (its top bits)."""
        if self.width == 2 or self.big_endian:
            return 0
        return self.width - 2

    def values(self, vectors: np.ndarray) -> np.ndarray:
        """The float64 values this encoding stores for float32 rows (rounded to nearest)."""
        rows = unit_rows(vectors) if self.normalized else vectors
        if self.format == "float64":
            rows = unit_rows(vectors.astype(np.float64)) if self.normalized else rows
            return rows.astype(np.float64)
        return decode(encode(rows, self), self)

    def source(self, vectors: np.ndarray) -> np.ndarray:
        """The float64 values before conversion to a 16-bit format (`values` otherwise)."""
        if self.width != 2:
            return self.values(vectors)
        return (unit_rows(vectors) if self.normalized else vectors).astype(np.float64)

    def tolerance(self, values: np.ndarray, vectors_max: np.ndarray) -> np.ndarray:
        """Per component, how far a stored value may lie from `values` and still match."""
        magnitude = np.abs(values)
        bound = RTOL * magnitude + ATOL * vectors_max[:, None] + ulp(magnitude, self) / 2
        if self.width == 2:
            bound = bound + ulp(magnitude, self)
        return bound

    def key_tolerance(self, source: np.ndarray, vectors_max: np.ndarray) -> np.ndarray:
        """The tolerance around `source` that keys must cover: that of the values before a
        16-bit conversion (whose rounding or truncation the key fields enumerate)."""
        if self.width != 2:
            return self.tolerance(source, vectors_max)
        magnitude = np.abs(source)
        single = Encoding("", 4, self.normalized, "float32")
        return RTOL * magnitude + ATOL * vectors_max[:, None] + ulp(magnitude, single)


def _encodings() -> tuple[Encoding, ...]:
    out = []
    for normalized in (False, True):
        suffix = "-normalized" if normalized else ""
        for big in (False, True):
            order = "be" if big else "le"
            out.append(Encoding(f"float32-{order}{suffix}", 4, normalized, "float32", big))
            out.append(Encoding(f"float64-{order}{suffix}", 8, normalized, "float64", big))
        out.append(Encoding(f"float16{suffix}", 2, normalized, "float16"))
        out.append(Encoding(f"bfloat16{suffix}", 2, normalized, "bfloat16"))
    return tuple(out)


ENCODINGS: tuple[Encoding, ...] = _encodings()


def encode(values: np.ndarray, encoding: Encoding) -> np.ndarray:
    """Rows of values as the encoding's bytes, uint8 (rows, d * width); rounded to nearest."""
    values = np.asarray(values)
    if encoding.format == "bfloat16":
        bits = values.astype(np.float32).view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return np.ascontiguousarray(rounded.astype("<u2")).view(np.uint8)
    order = ">" if encoding.big_endian else "<"
    kind = {"float32": "f4", "float64": "f8", "float16": "f2"}[encoding.format]
    return np.ascontiguousarray(values.astype(order + kind)).view(np.uint8)


def decode(data: np.ndarray, encoding: Encoding) -> np.ndarray:
    """The float64 values of bytes in the encoding (any leading shape, last axis bytes)."""
    data = np.ascontiguousarray(data)
    if encoding.format == "bfloat16":
        bits = data.view("<u2").astype(np.uint32) << 16
        return bits.view(np.float32).astype(np.float64)
    order = ">" if encoding.big_endian else "<"
    kind = {"float32": "f4", "float64": "f8", "float16": "f2"}[encoding.format]
    return data.view(order + kind).astype(np.float64)


def ulp(magnitude: np.ndarray, encoding: Encoding) -> np.ndarray:
    """One unit in the last place of the encoding's format at each magnitude."""
    mantissa = {"float32": 23, "float64": 52, "float16": 10, "bfloat16": 7}[encoding.format]
    smallest = {"float32": 2.0**-149, "float64": 2.0**-1074, "float16": 2.0**-24}.get(
        encoding.format, 2.0**-133
    )
    exponent = np.floor(np.log2(np.maximum(magnitude, smallest)))
    return np.maximum(np.exp2(exponent - mantissa), smallest)


def vector_scale(vectors: np.ndarray, encoding: Encoding) -> np.ndarray:
    """max |component| of each row as the encoding stores it (raw or normalised)."""
    rows = unit_rows(vectors) if encoding.normalized else vectors
    return np.abs(rows).max(axis=1).astype(np.float64) if rows.size else np.zeros(len(rows))
