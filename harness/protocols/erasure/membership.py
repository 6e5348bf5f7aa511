"""Erasure check E4, membership inference: can an attacker tell deleted vectors from new ones?

The attack of the design: score a vector by the distance to the top-1 answer of its own
query; a stored vector answers itself at distance 0. The AUC of telling members (the
deletion set) from non-members (vectors of the same distribution never inserted) is near 1
for an index that stores its members exactly and, after a true unlearning, equals the AUC
against an index retrained without them (seed 001: retraining is the gold standard).
"""

from __future__ import annotations

import numpy as np


def sample_pairs(members: np.ndarray, candidates: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-sized samples: positions in `members` and among `candidates` non-members."""
    size = min(len(members), candidates)
    rng = np.random.default_rng(seed)
    return (
        np.sort(rng.choice(len(members), size=size, replace=False)),
        np.sort(rng.choice(candidates, size=size, replace=False)),
    )


def attack_auc(member_distances: np.ndarray, non_member_distances: np.ndarray) -> float:
    """AUC of "closer top-1 answer means member"; 0.5 is chance, 1 a perfect attack.

    A query with no answer (infinite distance) is the least member-like score.
    """
    distances = np.concatenate([member_distances, non_member_distances]).astype(np.float64)
    finite = distances[np.isfinite(distances)]
    ceiling = (finite.max() + 1.0) if len(finite) else 1.0
    distances = np.where(np.isfinite(distances), distances, ceiling)
    members, outsiders = len(member_distances), len(non_member_distances)
    if not members or not outsiders:
        raise ValueError("membership inference needs both members and non-members")
    return mann_whitney_auc(-distances[:members], -distances[members:])


def mann_whitney_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting one half (ROC AUC)."""
    scores = np.concatenate([positives, negatives])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    ranks = (upper - (counts - 1) / 2.0)[inverse]  # average 1-based rank among ties
    wins = ranks[: len(positives)].sum() - len(positives) * (len(positives) + 1) / 2.0
    return float(wins / (len(positives) * len(negatives)))
