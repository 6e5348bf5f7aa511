"""Erasure check E4: a calibrated black-box membership-inference attack.

Members (a sample of D) and non-members (test vectors, never inserted) are queried with the
same k. A vector's features are read from its whole answer: the distances of the first and the
k-th answer and the mean of all k, the number of answers, and the query's latency (on a
sub-sample, queried one at a time).
Each feature's AUC of telling members from non-members is measured on the index after
deletion, on the retrained index A and on a second retrained index B; the attack's *gap*
is the largest |AUC after - AUC A| over the features, and the same with B in place of the
index after deletion is what two retrained indices differ by. The tolerance is the 99.9th
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

RESAMPLES = 2000
QUANTILE = 0.999  # one run in a thousand flagged by chance
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
    out = {
        "distance 1": -distances[:, 0],
        f"distance {distances.shape[1]}": -distances[:, -1],
        "mean distance": -distances.mean(axis=1),
        "answers": -answers.counts.astype(np.float64),
    }
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
    """AUC of `scores` for `labels` (True = member), ties half, under each column of
    `weights` (samples x resamples bootstrap counts; None: all ones), one AUC per column.

    With the samples sorted, each group of tied scores contributes its member weight times
    (the non-member weight below it + half its own), all computed per group.
    """
    w = np.ones((len(scores), 1), np.float32) if weights is None else weights
    order = np.argsort(scores, kind="stable")
    s, lab = scores[order], labels[order]
    starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
    w = w[order]
    positive = np.add.reduceat(w * lab[:, None], starts, axis=0)
    negative = np.add.reduceat(w * ~lab[:, None], starts, axis=0)
    below = np.cumsum(negative, axis=0) - negative
    wins = (positive * (below + negative / 2)).sum(axis=0, dtype=np.float64)
    total = positive.sum(axis=0, dtype=np.float64) * negative.sum(axis=0, dtype=np.float64)
    return np.where(total > 0, wins / np.maximum(total, 1e-300), 0.5)


def distribution_warning(outsider_distances: np.ndarray, kept_distances: np.ndarray) -> str:
    """A warning when non-members lie farther from (or nearer to) the kept rows than kept
    rows lie from each other; "" when they look alike."""
    if len(outsider_distances) < 10 or len(kept_distances) < 10:
        return ""
    from scipy.stats import ks_2samp  # heavy to import: only where the warning is computed

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
    """Bootstrap resample counts of member and non-member positions (the same resamples
    for every index, so that their AUCs are compared pair by pair)."""
    uniform = np.full(members, 1.0 / members)
    return (
        rng.multinomial(members, uniform, size=RESAMPLES).astype(np.float32),
        rng.multinomial(members, uniform, size=RESAMPLES).astype(np.float32),
    )


def _weights(draws: tuple[np.ndarray, np.ndarray], keep: np.ndarray, members: int) -> np.ndarray:
    """Resample counts of the kept sample positions (members then non-members), one row
    per position and one column per resample."""
    return np.concatenate(draws, axis=1).T[keep]
