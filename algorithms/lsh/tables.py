"""L hash tables keyed by b-bit slices of the binary codes (seed 002, sec. 2.5 and 3.2).

Table l is keyed by code bits l*b .. (l+1)*b - 1, so one hash computation serves every table.
Buckets hold row positions of the owner's dense store; `move` follows a row the store
relocates, and `remove` drops a row from each of its L buckets (empty buckets are dropped,
so nothing of a deleted point stays behind).
"""

from __future__ import annotations

import numpy as np

MAX_KEY_BITS = 62


def keys_of(codes: np.ndarray, tables: int, key_bits: int) -> np.ndarray:
    """(n, L) int64 keys from packed codes; the first bit of a slice is the most significant."""
    bits = np.unpackbits(codes, axis=1)[:, : tables * key_bits].astype(np.int64)
    weights = np.left_shift(1, np.arange(key_bits - 1, -1, -1, dtype=np.int64))
    return bits.reshape(len(codes), tables, key_bits) @ weights


class HashTables:
    """Dict-of-lists buckets, one dict per table."""

    def __init__(self, tables: int, key_bits: int, n_bits: int) -> None:
        if tables < 1 or not 1 <= key_bits <= MAX_KEY_BITS:
            raise ValueError(
                f"need tables >= 1 and 1 <= key_bits <= {MAX_KEY_BITS}, got {tables}, {key_bits}"
            )
        if tables * key_bits > n_bits:
            raise ValueError(
                f"tables * key_bits = {tables * key_bits} exceeds the {n_bits} hash bits: "
                "use fewer tables, shorter keys or more bits"
            )
        self.tables, self.key_bits = tables, key_bits
        self.buckets: list[dict[int, list[int]]] = [{} for _ in range(tables)]

    def keys(self, codes: np.ndarray) -> np.ndarray:
        return keys_of(codes, self.tables, self.key_bits)

    def add(self, keys: np.ndarray, positions: np.ndarray) -> None:
        for table, column in zip(self.buckets, keys.T.tolist(), strict=True):
            for key, position in zip(column, positions.tolist(), strict=True):
                table.setdefault(key, []).append(position)

    def remove(self, keys: np.ndarray, position: int) -> None:
        """Drop `position` from its bucket in every table (`keys`: its L keys)."""
        for table, key in zip(self.buckets, keys.tolist(), strict=True):
            bucket = table[key]
            bucket.remove(position)
            if not bucket:
                del table[key]

    def move(self, keys: np.ndarray, old: int, new: int) -> None:
        """The store moved a row from `old` to `new`."""
        for table, key in zip(self.buckets, keys.tolist(), strict=True):
            bucket = table[key]
            bucket[bucket.index(old)] = new

    def lookup(self, table: int, key: int) -> list[int]:
        return self.buckets[table].get(key, [])

    def bucket_count(self) -> int:
        return sum(len(t) for t in self.buckets)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every table as sorted keys, bucket offsets and positions (for `save`)."""
        out = {}
        for i, table in enumerate(self.buckets):
            keys = sorted(table)
            sizes = [len(table[k]) for k in keys]
            out[f"table{i}_keys"] = np.array(keys, dtype=np.int64)
            out[f"table{i}_offsets"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            members = [p for k in keys for p in table[k]]
            out[f"table{i}_rows"] = np.array(members, dtype=np.int64)
        return out
