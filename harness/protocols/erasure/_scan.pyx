# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The remanence scan's hot loop: candidate positions of strided keys in a byte buffer.

At a byte position s a *key* is four 16-bit fields read `stride` bytes apart,
`u16(s) | u16(s + stride) << 16 | u16(s + 2 stride) << 32 | u16(s + 3 stride) << 48`
(little-endian loads). With stride 2 the fields are four float16/bfloat16 values, with
stride 4 the high halves of four float32, with stride 8 the top bytes of four float64, and
with stride B * width a column of a blocked or column-major layout. A *kind* is a stride and
the set of positions (by s mod 64) it is keyed at: a vector keyed at several consecutive
windows lands on one of those positions whatever its alignment, so fewer positions are
looked at. Each key, mixed with its stride, is tested in a blocked Bloom filter (one
64-bit word, three bits: one cache-resident access) and then in a large bit table; positions
that pass both are the candidates the caller verifies.
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint64_t
from libc.string cimport memcpy

cdef uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL
cdef uint64_t SECOND = 0xC2B2AE3D27D4EB4FULL


cdef inline uint64_t word(const uint8_t *p) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v


cdef inline uint64_t field(const uint8_t *p) noexcept nogil:
    cdef uint16_t v
    memcpy(&v, p, 2)
    return v


cdef inline uint64_t strided_key(const uint8_t *p, Py_ssize_t stride) noexcept nogil:
    if stride == 2:
        return word(p)
    return (field(p) | (field(p + stride) << 16) | (field(p + 2 * stride) << 32)
            | (field(p + 3 * stride) << 48))


cdef inline uint64_t bloom_bits(uint64_t h) noexcept nogil:
    return ((1ULL << (h & 63)) | (1ULL << ((h >> 6) & 63)) | (1ULL << ((h >> 12) & 63)))


def candidates(
    const uint8_t[::1] buffer,
    const int64_t[::1] strides,
    const uint64_t[::1] phases,
    const uint64_t[::1] bloom,
    int bloom_bits_log2,
    const uint64_t[::1] table,
    int table_bits,
    Py_ssize_t first,
    Py_ssize_t last,
    int64_t[::1] out_positions,
    int64_t[::1] out_kinds,
):
    """Positions s in [first, last) where some kind's key passes both filters.

    `phases[k]` is a 64-bit mask of the residues s % 64 kind k is keyed at; `bloom` has
    2**bloom_bits_log2 words, `table` 2**table_bits bits. Writes each hit's position and
    kind; returns (hits, next position), stopping early when the outputs are full. `first`
    must be a multiple of 64 (the buffer is walked in blocks of 64 positions).
    """
    cdef Py_ssize_t n = buffer.shape[0], kinds = strides.shape[0]
    cdef Py_ssize_t count = 0, capacity = out_positions.shape[0], k, r, pair, pairs = 0
    cdef Py_ssize_t end = min(last, n), block = first, s, stride, reach = 0, safe
    cdef const uint8_t *base = &buffer[0] if n else NULL
    cdef uint64_t key, h, want
    cdef int bloom_shift = 64 - bloom_bits_log2, table_shift = 64 - table_bits
    cdef int64_t pair_kind[4096]
    cdef int64_t pair_offset[4096]
    cdef int64_t pair_stride[4096]
    cdef int64_t pair_reach[4096]
    cdef uint64_t pair_mix[4096]
    for k in range(kinds):
        for r in range(64):
            if (phases[k] >> r) & 1:
                if pairs == 4096:
                    raise ValueError("at most 4096 (kind, position) pairs per scan")
                pair_kind[pairs] = k
                pair_offset[pairs] = r
                pair_stride[pairs] = strides[k]
                pair_reach[pairs] = 8 if strides[k] == 2 else 3 * strides[k] + 2
                pair_mix[pairs] = <uint64_t> strides[k] * SECOND
                reach = max(reach, r + pair_reach[pairs])
                pairs += 1
    safe = min(end, n - reach) - 64  # blocks below need no bound checks
    with nogil:
        while block < end and count + pairs <= capacity:
            if block <= safe:
                for pair in range(pairs):
                    s = block + pair_offset[pair]
                    key = strided_key(base + s, pair_stride[pair]) ^ pair_mix[pair]
                    h = key * GOLDEN
                    want = bloom_bits(h)
                    if (bloom[h >> bloom_shift] & want) == want:
                        h = (key * SECOND) >> table_shift
                        if (table[h >> 6] >> (h & 63)) & 1:
                            out_positions[count] = s
                            out_kinds[count] = pair_kind[pair]
                            count += 1
            else:
                for pair in range(pairs):
                    s = block + pair_offset[pair]
                    if s >= end or s + pair_reach[pair] > n:
                        continue
                    key = strided_key(base + s, pair_stride[pair]) ^ pair_mix[pair]
                    h = key * GOLDEN
                    want = bloom_bits(h)
                    if (bloom[h >> bloom_shift] & want) == want:
                        h = (key * SECOND) >> table_shift
                        if (table[h >> 6] >> (h & 63)) & 1:
                            out_positions[count] = s
                            out_kinds[count] = pair_kind[pair]
                            count += 1
            block += 64
    return count, block


def pair_candidates(const uint8_t[::1] buffer, const uint8_t[::1] pairs, int64_t[::1] out):
    """Positions i whose bytes (buffer[i], buffer[i + 1]) are marked in `pairs` (65536
    entries, indexed first | second << 8); returns (count, next i), stopping when `out` is
    full. Finds where a compressed stream may start, in one pass."""
    cdef Py_ssize_t n = buffer.shape[0], i = 0, count = 0, capacity = out.shape[0]
    with nogil:
        while i + 1 < n and count < capacity:
            if pairs[buffer[i] | (buffer[i + 1] << 8)]:
                out[count] = i
                count += 1
            i += 1
    return count, i
