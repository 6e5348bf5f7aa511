"""Erasure check E4: a calibrated black-box membership-inference attack.

Members (a sample of D) and non-members (test vectors, never inserted) are queried with the
same k. A vector's features are its whole answer: the distance of each of the k answers,
the number of answers, and the query's latency (on a sub-sample, queried one at a time).
Each feature's AUC of telling members from non-members is measured on the index after
deletion, on the retrained index A and on a second retrained index B; the attack's *gap*
is the largest |AUC after - AUC A| over the features, and the same with B in place of the
index after deletion is what two retrained indices differ by. The tolerance is the 99th
percentile of that retrained-vs-retrained gap over paired bootstrap resamples of the pairs,
or of the gap's own bootstrap deviation if larger (so that an index answering almost like a
deterministic retrained one is not flagged for sampling noise). Without a second retrained
index the registry's threshold (`unlearning_gap`) stands in.

A warning is raised when the non-members are not of the training distribution: their
distances to the kept rows against the kept rows' own nearest-neighbour distances (KS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import ks_2samp

RESAMPLES = 200
QUANTILE = 0.99
WARN_KS, WARN_P = 0.1, 1e-3


@dataclass
class Answers:
    """One index's answers to the attack sample: members first, then non-members."""

    distances: np.ndarray  # (2n, k), inf where no answer
    counts: np.ndarray  # (2n,) answers returned
    latency: np.ndarray  # (2n,) seconds, nan where not timed


@dataclass
class Attack:
    gap: float
    tolerance: float
    feature: str  # the feature with the largest gap
    aucs: dict[str, dict[str, float]] = field(default_factory=dict)  # feature -> index -> AUC

    @property
    def tells(self) -> bool:
        return self.gap > self.tolerance


def features(answers: Answers) -> dict[str, np.ndarray]:
    """Scores where higher means "more member-like" is not assumed: AUCs are compared."""
    distances = answers.distances.astype(np.float64)
    finite = distances[np.isfinite(distances)]
    ceiling = (finite.max() * 2 + 1) if len(finite) else 1.0
    distances = np.where(np.isfinite(distances), distances, ceiling)
    out = {f"distance {i + 1}": -distances[:, i] for i in range(distances.shape[1])}
    out["answers"] = -answers.counts.astype(np.float64)
    out["latency"] = -answers.latency.astype(np.float64)
    return out


def attack(
    after: Answers, retrained: Answers, other: Answers | None, fallback: float, seed: int
) -> Attack:
    """The gap of `after` against `retrained`, and its calibrated tolerance."""
    members = len(after.counts) // 2
    rng = np.random.default_rng(seed)
    ours, theirs = features(after), features(retrained)
    others = features(other) if other is not None else None
    aucs: dict[str, dict[str, float]] = {}
    gaps, null_gaps, boot_gaps, boot_null = [], [], [], []
    draws = _draws(rng, members)
    for name in ours:
        scores = {"after": ours[name], "retrained": theirs[name]}
        if others is not None:
            scores["other"] = others[name]
        timed = np.isfinite(scores["after"]) & np.isfinite(scores["retrained"])
        if others is not None:
            timed &= np.isfinite(scores["other"])
        if timed[:members].sum() < 2 or timed[members:].sum() < 2:
            continue
        labels = np.arange(len(timed)) < members
        values = {k: v[timed] for k, v in scores.items()}
        lab = labels[timed]
        aucs[name] = {k: weighted_auc(v, lab, None)[0] for k, v in values.items()}
        weights = _weights(draws, timed, members)
        boot = {k: weighted_auc(v, lab, weights) for k, v in values.items()}
        gaps.append(abs(aucs[name]["after"] - aucs[name]["retrained"]))
        boot_gaps.append(np.abs(boot["after"] - boot["retrained"]))
        if others is not None:
            null_gaps.append(abs(aucs[name]["other"] - aucs[name]["retrained"]))
            boot_null.append(np.abs(boot["other"] - boot["retrained"]))
    if not gaps:
        return Attack(0.0, fallback, "", aucs)
    gap_by_feature = np.array(gaps)
    best = int(np.argmax(gap_by_feature))
    gap = float(gap_by_feature[best])
    deviation = float(np.quantile(np.abs(np.max(boot_gaps, axis=0) - gap), QUANTILE))
    if others is None:
        tolerance = fallback
    else:
        null = float(np.quantile(np.max(boot_null, axis=0), QUANTILE))
        tolerance = max(null, deviation)
    return Attack(gap, tolerance, list(aucs)[best], aucs)


def weighted_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """AUC of `scores` for `labels` (True = member), ties half, under each row of `weights`
    (bootstrap counts per sample; None: all ones). Returns one AUC per row."""
    w = np.ones((1, len(scores))) if weights is None else weights
    order = np.argsort(scores, kind="stable")
    s, lab, w = scores[order], labels[order], w[:, order]
    group = np.concatenate([[0], np.cumsum(s[1:] != s[:-1])])
    groups = group[-1] + 1 if len(group) else 0
    negative = np.zeros((len(w), groups))
    positive = np.zeros((len(w), groups))
    np.add.at(negative.T, group[~lab], w[:, ~lab].T)
    np.add.at(positive.T, group[lab], w[:, lab].T)
    below = np.cumsum(negative, axis=1) - negative
    wins = (positive * (below + negative / 2)).sum(axis=1)
    total = positive.sum(axis=1) * negative.sum(axis=1)
    return np.where(total > 0, wins / np.maximum(total, 1e-300), 0.5)


def distribution_warning(outsider_distances: np.ndarray, kept_distances: np.ndarray) -> str:
    """A warning when non-members lie farther from (or nearer to) the kept rows than kept
    rows lie from each other; "" when they look alike."""
    if len(outsider_distances) < 10 or len(kept_distances) < 10:
        return ""
    result = ks_2samp(outsider_distances, kept_distances)
    if result.statistic > WARN_KS and result.pvalue < WARN_P:
        side = (
            "farther from"
            if np.median(outsider_distances) > np.median(kept_distances)
            else "nearer to"
        )
        return (
            f"the non-members are not of the training distribution: they lie {side} the kept "
            f"rows than kept rows lie from each other (KS {result.statistic:.2f}, "
            f"p {result.pvalue:.1g}); the AUCs say little by themselves, the gap still "
            "compares like with like"
        )
    return ""


def _draws(rng: np.random.Generator, members: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap resamples of member and non-member positions (the same for every index)."""
    return (
        rng.integers(0, members, (RESAMPLES, members)),
        rng.integers(0, members, (RESAMPLES, members)),
    )


def _weights(draws: tuple[np.ndarray, np.ndarray], keep: np.ndarray, members: int) -> np.ndarray:
    """Resample counts per kept sample position (members then non-members)."""
    member_draws, outsider_draws = draws
    counts = np.zeros((RESAMPLES, 2 * members))
    rows = np.arange(RESAMPLES)[:, None]
    np.add.at(counts, (rows, member_draws), 1)
    np.add.at(counts, (rows, members + outsider_draws), 1)
    return counts[:, keep]
