"""An erasure run's record: the checks on the answers (E1 leak, E2 gap, E4 attack), the
scalar figures of every check under their registry names, and the stored evidence."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core.measures import GAP_TOLERANCE
from harness.core.results import RunRecord
from harness.protocols.erasure import evidence as ev
from harness.protocols.erasure.attack import attack, distribution_warning
from harness.protocols.erasure.probing import Probe
from harness.protocols.erasure.reference import Reference
from harness.protocols.erasure.state import SavedState

#: registry name -> the check whose figure it is
FIGURES = {
    "remanent_fraction": "decoding",
    "recovered_fraction": "reconstruction",
    "differential_residue": "differential",
    "side_fraction": "side files",
    "memory_fraction": "memory",
}


@dataclass
class Answered:
    """What one query group's probes gave, before and after deletion and on A and B."""

    record: RunRecord  # the test queries after deletion
    before: Probe
    after: Probe
    gold: tuple[RunRecord, Probe]  # A
    other: Probe  # B

    def checks(self, ref: Reference, seed: int) -> tuple[ev.Check, ev.Check, dict[str, Any]]:
        """The leak and attack checks, and E1-E4's figures."""
        gold_record, gold_probe = self.gold
        neighbors = self.record.arrays["neighbors"]
        in_own = np.isin(self.after.answers, ref.deleted)
        in_test = np.isin(neighbors, ref.deleted)
        leaks = int(in_own.sum() + in_test.sum())
        answered = int((self.after.answers >= 0).sum() + (neighbors >= 0).sum())
        leak = ev.leak_check(leaks, len(self.after.answers) + len(neighbors), answered)
        result = attack(
            self.after.attack, gold_probe.attack, self.other.attack, GAP_TOLERANCE, seed
        )
        warning = distribution_warning(ref.outsider_distance, ref.kept_spacing)
        measures: dict[str, Any] = {
            "deleted": len(ref.deleted),
            "leaks": leaks,
            "leak_queries": int(in_own.any(axis=1).sum() + in_test.any(axis=1).sum()),
            "self_rank1_before": float((self.before.self_rank == 1).mean()),
            "self_returned_after": float((self.after.self_rank > 0).mean()),
            "recall_retrain": gold_record.measures["recall"],
            "overlap": answer_overlap(neighbors, gold_record.arrays["neighbors"]),
            "overlap_deleted": answer_overlap(self.after.answers, gold_probe.answers),
            "auc_before": self.before.top1_auc,
            "auc_after": self.after.top1_auc,
            "auc_retrain": gold_probe.top1_auc,
            "unlearning_gap": result.gap,
            "gap_tolerance": result.tolerance,
            "gap_feature": result.feature,
            "mia_pairs": len(ref.members),
            "remanence_excluded": ref.twins + ref.uninformative,
        }
        if warning:
            measures["attack_warning"] = warning
        return leak, ev.attack_check(result, warning, len(ref.members)), measures


def figures(checks: dict[str, ev.Check], saved: SavedState | None) -> dict[str, Any]:
    """The scalar figures of the checks, under their registry names."""
    out: dict[str, Any] = {
        name: checks[check].figure
        for name, check in FIGURES.items()
        if check in checks and checks[check].ran
    }
    control = checks.get("control")
    if control is not None and control.ran:
        out["remanence_control"] = control.figure
        out["blind_files"] = sum(
            f["vector_data"] and f["control"] == 0 and f["deleted"] == 0
            for f in control.detail["files"]
        )
    reconstruction = checks.get("reconstruction")
    if reconstruction is not None and reconstruction.ran:
        regions = reconstruction.detail.get("regions", {})
        out["trained_regions"] = sum(bool(r["measurable"]) for r in regions.values())
    if "side files" in checks:
        out["side_files"] = len(checks["side files"].detail.get("files", []))
    memory = checks.get("memory")
    if memory is not None and memory.ran:
        out["memory_control"] = memory.detail["control"]
    if saved is not None:
        out.update(saved_bytes=saved.sizes.bytes, scan_seconds=saved.seconds.get("scan", 0.0))
    return out


def evidence_bytes(checks: list[ev.Check], seconds: dict[str, float]) -> np.ndarray:
    """The evidence stored with a run: every check, and the time of each phase (JSON)."""
    evidence = {"checks": [c.as_dict() for c in checks], "seconds": seconds}
    return np.frombuffer(json.dumps(evidence).encode(), dtype=np.uint8)


def answer_overlap(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Mean fraction of shared ids between two answer sets (rows of ids, -1 padded)."""
    shared = [
        len(np.intersect1d(a[a >= 0], b[b >= 0])) / max(1, (b >= 0).sum())
        for a, b in zip(ours, theirs, strict=True)
    ]
    return float(np.mean(shared)) if shared else 1.0
