"""SimHash (seed 002, sec. 2.1): Gaussian hyperplanes, m*d bits as in the paper's Table 2."""

from __future__ import annotations

from algorithms.lsh.hashing import Hasher, SimHash
from plugins._common.hashing import HashingPlugin


class SimHashPlugin(HashingPlugin):
    """`m`: m*d hash bits, the USR-LSH paper's SimHash parameter."""

    def __init__(self, metric: str, m: int = 2, **table_args: int) -> None:
        super().__init__(metric, **table_args)
        self.m = m
        self.name = self.label

    def hasher(self, d: int) -> Hasher:
        return SimHash(d, self.m * d, self.seed)

    @property
    def label(self) -> str:
        return f"simhash(m={self.m}, tables={self.n_tables}x{self.key_bits})"
