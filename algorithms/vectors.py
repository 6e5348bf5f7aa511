"""Vector helpers every method shares."""

from __future__ import annotations

import numpy as np


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows (or one vector) divided by their L2 norms, zero rows left at zero: a new array of
    X's dtype. The one normalisation of the project, so that every index and the ground
    truth compare angular data in the same arithmetic."""
    norms = np.linalg.norm(X, axis=-1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def discard(copy: np.ndarray, original: np.ndarray) -> None:
    """Zero `copy` (a normalised or converted copy of `original`'s rows) unless it shares
    memory with `original`: a temporary copy is zeroed before it is freed, so that freed
    memory keeps no row a later delete should have removed."""
    if copy is not original and not np.shares_memory(copy, original):
        copy.fill(0)
