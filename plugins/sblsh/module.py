"""Super-bit LSH (seed 002, sec. 2.2): stacked random rotations, `n_bits` as in Table 2."""

from __future__ import annotations

from algorithms.lsh.hashing import Hasher, SuperBit
from plugins._common.hashing import HashingPlugin


class SuperBitPlugin(HashingPlugin):
    """`n_bits` hash bits, or `m` for n_bits = m*d (the paper's equal-bits setting, Table 2).

    `m` exists because algos.yaml grids cannot refer to the dataset's d: with it one grid
    gives SimHash, super-bit and USR-LSH the same bits on every dataset.
    """

    def __init__(
        self, metric: str, n_bits: int | None = None, m: int | None = None, **table_args: int
    ) -> None:
        super().__init__(metric, **table_args)
        if (n_bits is None) == (m is None):
            raise ValueError(f"give exactly one of n_bits and m, got n_bits={n_bits}, m={m}")
        self.n_bits, self.m = n_bits, m
        self.name = self.label

    def hasher(self, d: int) -> Hasher:
        return SuperBit(d, self.n_bits or self.m * d, self.seed)

    @property
    def label(self) -> str:
        bits = f"n_bits={self.n_bits}" if self.n_bits else f"n_bits={self.m}d"
        return f"sblsh({bits}, tables={self.n_tables}x{self.key_bits})"
