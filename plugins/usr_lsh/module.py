"""USR-LSH (seed 002, sec. 3.1): unfolded self-reconstruction hashing, Hamming ranking or
multi-probe table lookup, hard delete and insert without retraining."""

from __future__ import annotations

from algorithms.lsh.hashing import Hasher, USRHash
from plugins._common.hashing import HashingPlugin


class UsrLsh(HashingPlugin):
    """`m` (md hash bits) and `T` (unfolded steps) as in the paper's Table 2."""

    def __init__(self, metric: str, m: int = 2, T: int = 17, **table_args: int) -> None:
        super().__init__(metric, **table_args)
        self.m, self.T = m, T
        self.name = self.label

    def hasher(self, d: int) -> Hasher:
        return USRHash(d, self.m, self.T, self.seed)

    @property
    def label(self) -> str:
        return f"usr-lsh(m={self.m}, T={self.T}, tables={self.n_tables}x{self.key_bits})"
