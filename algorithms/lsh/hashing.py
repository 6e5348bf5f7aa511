"""Hash functions of the USR-LSH paper (seed 002): SimHash (sec. 2.1), super-bit LSH (sec. 2.2)
and unfolded self-reconstruction LSH (sec. 3.1, Algorithm 1), batch-vectorised.

Each hasher maps rows to real hash values `y` (one column per bit); the code is `sign(y)` with
`sign(0) = +1` (eq. 13), packed eight bits to a byte. `|y|` is what multi-probe scores (sec. 3.2).
"""

from __future__ import annotations

import numpy as np

#: Rows hashed at once: bounds the (rows x bits) float32 work arrays of USR-LSH.
CHUNK = 2048


def random_rotations(d: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random d x d orthogonal matrices, stacked as (count, d, d).

    A Gaussian matrix S = U s V^T is orthogonalised by SVD to U V^T (sec. 3.1), which is
    Haar-distributed like the Gram-Schmidt result of sec. 2.2.
    """
    out = np.empty((count, d, d), dtype=np.float64)
    for i in range(count):
        u, _, vt = np.linalg.svd(rng.standard_normal((d, d)))
        out[i] = u @ vt
    return out


def pack_signs(values: np.ndarray) -> np.ndarray:
    """Bit j of a row is 1 where `values[:, j] >= 0` (eq. 13), packed big-endian into uint8."""
    return np.packbits(values >= 0, axis=1)


class SimHash:
    """Charikar's hyperplane LSH (eq. 1): `y = W x`, W with `n_bits` standard Gaussian rows.

    The paper's SimHash parameter is m with m*d bits (Table 2); `n_bits = m * d`.
    """

    def __init__(self, d: int, n_bits: int, seed: int = 0) -> None:
        _check_positive(d=d, n_bits=n_bits)
        self.d, self.n_bits = d, n_bits
        rng = np.random.default_rng(seed)
        self.W = rng.standard_normal((n_bits, d)).astype(np.float32)

    def values(self, X: np.ndarray) -> np.ndarray:
        return X @ self.W.T

    def codes(self, X: np.ndarray) -> np.ndarray:
        return _chunked_codes(self.values, X, self.n_bits)


class SuperBit(SimHash):
    """Super-bit LSH (eq. 2-3): rows of W are stacked random rotations, so each batch of d
    projections is orthonormal; the last batch is truncated when `n_bits` is not a multiple
    of d. The scale sqrt(d/h) of eq. 3 does not change a sign and is left out.
    """

    def __init__(self, d: int, n_bits: int, seed: int = 0) -> None:
        _check_positive(d=d, n_bits=n_bits)
        self.d, self.n_bits = d, n_bits
        rng = np.random.default_rng(seed)
        batches = -(-n_bits // d)
        self.W = random_rotations(d, batches, rng).reshape(batches * d, d)[:n_bits]
        self.W = self.W.astype(np.float32)


class USRHash:
    """Unfolded self-reconstruction hashing (sec. 3.1, Algorithm 1).

    `W = sqrt(d / (m d)) [R_1 ... R_m]` (d x md, eq. 10), `y_0 = 0` and for t = 1..T
    `y_t = tanh(alpha W^T x + (I - W^T W) y_{t-1})` (eq. 9); the code is `sign(y_T)`.
    `(I - W^T W) y` is computed as `y - W^T (W y)`, never forming the md x md matrix.
    `alpha = sqrt(m d) / (2 E||x||)` (eq. 11) is set by the owner from the data's mean norm.
    """

    def __init__(self, d: int, m: int, T: int = 17, seed: int = 0) -> None:
        _check_positive(d=d, m=m, T=T)
        self.d, self.m, self.T = d, m, T
        self.n_bits = m * d
        rng = np.random.default_rng(seed)
        rotations = random_rotations(d, m, rng)  # R_i, d x d each
        self.W = (np.sqrt(d / (m * d)) * np.concatenate(rotations, axis=1)).astype(np.float32)
        self.alpha = 1.0

    def alpha_for(self, mean_norm: float) -> float:
        """Eq. 11: scales every input to a length near one."""
        if not mean_norm > 0:
            raise ValueError(f"alpha needs a positive mean norm, got {mean_norm}")
        return float(np.sqrt(self.n_bits) / (2.0 * mean_norm))

    def values(self, X: np.ndarray) -> np.ndarray:
        """y_T for each row of X (n x d) as (n x md), all rows updated together."""
        W = self.W
        drive = (self.alpha * X) @ W  # alpha W^T x, one row per input
        y = np.zeros_like(drive)
        for _ in range(self.T):
            y = np.tanh(drive + y - (y @ W.T) @ W)
        return y

    def codes(self, X: np.ndarray) -> np.ndarray:
        return _chunked_codes(self.values, X, self.n_bits)


Hasher = SimHash | SuperBit | USRHash


def equal_budget_hasher(method: str, d: int, m: int, seed: int, T: int = 17) -> Hasher:
    """SimHash, super-bit or USR-LSH with the same m*d bits (seed 002, Table 2)."""
    if method == "simhash":
        return SimHash(d, m * d, seed)
    if method == "sblsh":
        return SuperBit(d, m * d, seed)
    if method == "usr-lsh":
        return USRHash(d, m, T, seed)
    raise ValueError(f"unknown hashing method {method!r}: use simhash, sblsh or usr-lsh")


def _chunked_codes(values, X: np.ndarray, n_bits: int) -> np.ndarray:
    out = np.empty((len(X), -(-n_bits // 8)), dtype=np.uint8)
    for start in range(0, len(X), CHUNK):
        out[start : start + CHUNK] = pack_signs(values(X[start : start + CHUNK]))
    return out


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
