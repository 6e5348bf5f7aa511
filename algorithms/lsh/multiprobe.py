"""Query-directed multi-probe over binary hash tables (seed 002, sec. 3.2; Lv et al. 2007).

A perturbation flips a set of key bits; its score is the sum of |y_i| over the flipped bits
(eq. 14), so the cheapest flips are the bits whose hash value is closest to 0. Perturbation
sets are generated in increasing score with a min-heap and Lv et al.'s shift / expand
operations over the bits sorted by |y|, jointly for all tables.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import numpy as np


def probe_sequence(magnitudes: np.ndarray) -> Iterator[tuple[float, int, int]]:
    """Buckets to probe as `(score, table, flip_mask)`, in increasing score.

    `magnitudes` is (L, b): |y| of each table's b key bits for the query. The first L items
    are the query's own buckets (score 0, mask 0); then every non-empty flip set of every
    table, each exactly once. Bit j of a mask flips key bit j (bit 0 = most significant of
    the key, as in `keys_of`).
    """
    tables, bits = magnitudes.shape
    order = np.argsort(magnitudes, axis=1, kind="stable")
    sorted_mags = np.take_along_axis(magnitudes, order, axis=1).astype(np.float64)
    for table in range(tables):
        yield 0.0, table, 0
    if bits == 0:
        return
    # A heap item is (score, table, positions): positions index the table's sorted bits.
    heap = [(sorted_mags[t, 0], t, (0,)) for t in range(tables)]
    heapq.heapify(heap)
    while heap:
        score, table, positions = heapq.heappop(heap)
        mask = 0
        for p in positions:
            mask |= 1 << (bits - 1 - int(order[table, p]))
        yield float(score), table, mask
        last = positions[-1]
        if last + 1 < bits:
            step = sorted_mags[table, last + 1]
            shifted = score - sorted_mags[table, last] + step
            heapq.heappush(heap, (shifted, table, (*positions[:-1], last + 1)))
            heapq.heappush(heap, (score + step, table, (*positions, last + 1)))
