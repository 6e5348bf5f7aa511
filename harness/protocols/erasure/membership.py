"""The classic membership-inference score: the distance to the top-1 answer.

A stored vector answers itself at distance 0, so the AUC of telling members (the deletion
set) from non-members (vectors of the same distribution never inserted) is near 1 for an
index that stores its members exactly and, after a true unlearning, equals the AUC against
an index retrained without them (seed 001: retraining is the gold standard). The attack the
verdict uses reads the whole answer (`attack`); this AUC is reported beside it.
"""

from __future__ import annotations

import numpy as np


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
