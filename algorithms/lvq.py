"""LVQ-8: per-vector scalar quantisation of the reduced rows (Aguerrebere et al., VLDB 2023).

LeanVec stores its reduced database vectors B x quantised this way, and seed 003 (sec. 3)
allows the same for LeanVec-Sphering: each row is centred on its group's mean (`offsets`),
divided by the group's per-dimension spread (`scales`), then coded on 256 levels between the
row's own minimum and maximum: value = offset + scale * (lo + step * code). A graph visit then
reads one byte per dimension instead of four; the full-precision re-rank (Eq. 10) keeps the
final order exact.

The scales are our addition to LVQ: B x has a steep spectrum (the leading dimension spreads
hundreds of times wider than the d-th), so one range per row would leave the trailing
dimensions a few levels; divided by their spread, every dimension gets the whole range. The
query side absorbs the scales (the view is multiplied by them), so a visit costs the same.
"""

from __future__ import annotations

import numpy as np

LEVELS = 255


def encode(
    rows: np.ndarray, offsets: np.ndarray, scales: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 codes, lo and step (float32) of `(rows - offsets) / scales` (one row each)."""
    centred = (np.asarray(rows, dtype=np.float32) - offsets) / scales
    lo = centred.min(axis=1)
    span = centred.max(axis=1) - lo
    step = np.where(span > 0, span / LEVELS, 1.0).astype(np.float32)
    codes = np.rint((centred - lo[:, None]) / step[:, None])
    return np.clip(codes, 0, LEVELS).astype(np.uint8), lo.astype(np.float32), step


def decode(
    codes: np.ndarray, lo: np.ndarray, step: np.ndarray, offsets: np.ndarray, scales: np.ndarray
) -> np.ndarray:
    """The values the codes stand for: offsets + scales * (lo + step * code)."""
    return offsets + scales * (lo[:, None] + step[:, None] * codes.astype(np.float32))


def query_blocks(matrix: np.ndarray, offsets: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Per group g, the rows that turn a query into what an 8-bit row is scored with.

    `matrix` (groups, d, D) holds the view rows M_g; `offsets` and `scales` (groups, >= d).
    Each block is the scaled view rows diag(s_g) M_g, then their sum and offset_g^T M_g, so
    one product with the query gives u = s_g * v (v = M_g q), sum(u) and <v, offset_g>, and
    <v, decoded row> = <v, offset_g> + lo * sum(u) + step * <u, code>.
    """
    groups, d, _ = matrix.shape
    scaled = matrix * scales[:, :d, None]
    sums = scaled.sum(axis=1, keepdims=True)
    centre = np.einsum("gd,gdD->gD", offsets[:, :d], matrix)[:, None]
    return np.concatenate([scaled, sums, centre], axis=1).reshape(groups * (d + 2), -1)
