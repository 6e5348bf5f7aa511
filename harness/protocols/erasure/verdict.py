"""The erasure checks' figures for one query group in one state, and the verdict they give.

Verdict: `leaking` if a deleted id is returned; else `unverified` if the saved state cannot
be scanned (no `save()`, or a scan that finds no kept vector either); else `hidden` if bytes
of D remain or the membership attack tells the index from a retrained one (gap beyond
`GAP_TOLERANCE`); else `erased`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.core.measures import GAP_TOLERANCE
from harness.core.results import RunRecord
from harness.protocols.erasure.remanence import Remanence


@dataclass
class Probe:
    """An index's answers to the deleted vectors and to the membership sample."""

    answers: np.ndarray  # (|D|, k) ids answered to each deleted vector
    self_rank: np.ndarray  # 1-based rank of each deleted vector in its own answer, 0 if absent
    auc: float


@dataclass
class Sample:
    """What the protocol probes with: D, and the membership-inference pairs."""

    deleted: np.ndarray
    members: np.ndarray  # positions in `deleted`
    non_members: np.ndarray  # never-inserted vectors (test rows)


def erasure_measures(
    record: RunRecord,
    before: Probe,
    after: Probe,
    gold: tuple[RunRecord, Probe],
    remanence: tuple[Remanence, float] | None,
    sample: Sample,
) -> dict[str, object]:
    """E1-E4 and the verdict for one query group in one state."""
    gold_record, gold_probe = gold
    deleted_ids = sample.deleted
    in_own = np.isin(after.answers, deleted_ids)
    test_answers = record.arrays["neighbors"]
    in_test = np.isin(test_answers, deleted_ids)
    leaks = int(in_own.sum() + in_test.sum())
    measures: dict[str, object] = {
        "deleted": len(deleted_ids),
        "leaks": leaks,
        "leak_queries": int(in_own.any(axis=1).sum() + in_test.any(axis=1).sum()),
        "self_rank1_before": float((before.self_rank == 1).mean()),
        "self_returned_after": float((after.self_rank > 0).mean()),
        "recall_retrain": gold_record.measures["recall"],
        "overlap": answer_overlap(test_answers, gold_record.arrays["neighbors"]),
        "auc_before": before.auc,
        "auc_after": after.auc,
        "auc_retrain": gold_probe.auc,
        "unlearning_gap": abs(after.auc - gold_probe.auc),
        "mia_pairs": len(sample.members),
    }
    found, control = remanence if remanence is not None else (None, None)
    if found is not None:
        measures.update(
            remanent_fraction=found.fraction,
            remanent_float32=found.float32,
            remanent_normalized=found.normalized,
            remanent_float16=found.float16,
            remanence_excluded=found.excluded,
            remanence_control=control,
            saved_bytes=found.bytes_scanned,
            scan_seconds=found.seconds,
        )
    measures["verdict"], measures["verdict_reason"] = verdict(
        leaks,
        found.fraction if found else None,
        float(measures["unlearning_gap"]),
        control,
    )
    return measures


def answer_overlap(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Mean fraction of shared ids between two answer sets (rows of ids, -1 padded)."""
    shared = [
        len(np.intersect1d(a[a >= 0], b[b >= 0])) / max(1, (b >= 0).sum())
        for a, b in zip(ours, theirs, strict=True)
    ]
    return float(np.mean(shared)) if shared else 1.0


def verdict(
    leaks: int, remanent: float | None, gap: float, control: float | None = None
) -> tuple[str, str]:
    """`leaking`, `hidden`, `erased` or `unverified`, and the reason in one line.

    `control` is the share of kept vectors the remanence scan found in the same files.
    """
    if leaks:
        return "leaking", f"{leaks} deleted id(s) returned in answers"
    if remanent is None:
        return "unverified", "no deleted id returned; the plugin has no save() to scan"
    if remanent == 0 and control == 0:
        return "unverified", (
            "no deleted id returned, but the scan finds no kept vector either: the saved "
            "form (quantised or hashed) hides copies from it"
        )
    if remanent > 0:
        return "hidden", f"no deleted id returned, but {remanent:.1%} of D found in saved bytes"
    if gap > GAP_TOLERANCE:
        return "hidden", (
            f"nothing returned or remanent, but membership AUC differs from a retrained "
            f"index by {gap:.3f} > {GAP_TOLERANCE}"
        )
    return "erased", (
        f"no deleted id returned, no byte of D saved, membership AUC within "
        f"{GAP_TOLERANCE} of a retrained index"
    )
