"""Each erasure check's evidence: its figure, what it could read, and what it says.

A `Check` is stored with the run (the `evidence` of the result file) and is what the verdict
rests on: `found` says the check shows D is still there (or the attack tells), `blind` that
it could not verify (it did not run, or its control shows it cannot see the stored form).
The builders below turn each check's measurements into one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from harness.core.measures import threshold
from harness.protocols.erasure.attack import Attack
from harness.protocols.erasure.differential import Differential
from harness.protocols.erasure.filescan import FileScan
from harness.protocols.erasure.memory import MemoryScan
from harness.protocols.erasure.reconstruction import Recovery


@dataclass
class Check:
    name: str
    scope: str  # "files" (the saved state and what the index answers) or "memory"
    ran: bool
    figure: float | None
    coverage: str
    reason: str
    found: bool = False
    blind: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


def not_run(name: str, scope: str, why: str) -> Check:
    return Check(name, scope, False, None, "nothing", why, blind=True)


def leak_check(leaks: int, queries: int, answers: int) -> Check:
    return Check(
        "leak",
        "files",
        True,
        float(leaks),
        f"{answers} answers to {queries} queries (test queries and every deleted vector)",
        f"{leaks} deleted id(s) returned" if leaks else "no deleted id returned",
        found=leaks > 0,
    )


def decoding_check(scan: FileScan, scanned: int, excluded: dict[str, int]) -> Check:
    found = int(scan.found.sum())
    where = [f.name for f in scan.files if f.deleted][:3]
    return Check(
        "decoding",
        "files",
        True,
        scan.fraction,
        f"{scan.bytes_scanned} bytes in {len(scan.files)} file(s) and what they decode to; "
        f"{scanned} deleted vectors scanned for ({_excluded(excluded)})",
        (
            f"{found} of {scanned} deleted vectors found in the saved state ({', '.join(where)})"
            if found
            else "no deleted vector found in the saved state"
        ),
        found=found > 0,
        detail={
            "per_encoding": scan.per_encoding,
            "problems": scan.problems[:20],
            "seconds": scan.seconds,
        },
    )


def control_check(scan: FileScan) -> Check:
    blind = scan.blind
    files = [
        {
            "name": f.name,
            "bytes": f.bytes,
            "information": f.information,
            "vector_data": f.vector_data,
            "control": f.control,
            "deleted": f.deleted,
            "layout": f.layout,
        }
        for f in scan.files
    ]
    if blind:
        names = ", ".join(f.name for f in blind[:3])
        reason = f"file(s) holding vector data in which the scan sees no kept vector: {names}"
    else:
        reason = (
            "the scan sees kept vectors in every file holding vector data "
            f"({scan.control:.0%} overall)"
        )
    return Check(
        "control",
        "files",
        True,
        scan.control,
        f"{sum(f.vector_data for f in scan.files)} of {len(scan.files)} file(s) hold vector data",
        reason,
        blind=bool(blind),
        detail={"files": files[:50]},
    )


def reconstruction_check(recovery: Recovery, count: int, ratio: float) -> Check:
    regions = recovery.measurable_regions
    parts = []
    if recovery.excess:
        parts.append(
            f"{recovery.count} deleted vectors reconstructed (nearer than {ratio:g} x their "
            f"nearest kept row and than anything retrained; chance gives {recovery.null_recovered})"
        )
    if regions:
        parts.append(
            f"trained state measurably nearer D than a retrained one: {', '.join(regions[:3])}"
        )
    reason = "; ".join(parts) or (
        f"{recovery.count} reconstructed, as chance gives ({recovery.null_recovered}); "
        "no trained state measurably nearer D"
    )
    return Check(
        "reconstruction",
        "files",
        True,
        recovery.count / max(1, count),
        f"{recovery.tested} candidate rows of {recovery.total} decoded, "
        f"{len(recovery.nearness)} trained region(s) compared",
        reason,
        found=recovery.excess or bool(regions),
        detail={
            "recovered": recovery.count,
            "null": recovery.null_recovered,
            "regions": recovery.nearness,
        },
    )


def differential_check(differential: Differential) -> Check:
    limit = threshold("differential_residue")
    total = differential.total
    worst = differential.worst()
    over = total.per_vector > limit
    reason = (
        f"{total.per_vector:.1f} bytes of information per deleted vector beyond what two "
        f"retrained indices differ by (most in {', '.join(r.name for r in worst) or 'no file'})"
        if over
        else f"no residue beyond what two retrained indices differ by ({total.per_vector:.2f} "
        f"bytes per deleted vector, limit {limit:g})"
    )
    return Check(
        "differential",
        "files",
        True,
        total.per_vector,
        f"{len(differential.files)} file(s), {len(differential.arrays)} array(s) against two "
        "retrained indices",
        reason,
        blind=over,
        detail={
            "total": asdict(total),
            "files": [asdict(r) for r in differential.files[:50]],
            "arrays": [asdict(r) for r in differential.arrays[:50]],
        },
    )


def side_file_check(scan: FileScan | None, names: list[str], where: str) -> Check:
    if scan is None:
        return Check(
            "side files",
            "files",
            True,
            0.0,
            f"no file written in {where}",
            "no side file",
            detail={"files": []},
        )
    found = int(scan.found.sum())
    blind = [f.name for f in scan.blind]
    return Check(
        "side files",
        "files",
        True,
        scan.fraction,
        f"{len(names)} file(s) written in {where}: {', '.join(names[:5])}",
        (
            f"{found} deleted vectors found in side files"
            if found
            else f"side files hold vector data the scan cannot read: {', '.join(blind[:3])}"
            if blind
            else "no deleted vector in side files"
        ),
        found=found > 0,
        blind=bool(blind) and not found,
        detail={"files": names[:50]},
    )


def memory_check(
    scan: MemoryScan | None, why_not: str, state: str, kept_input: bool = False
) -> Check:
    if scan is None:
        return not_run("memory", "memory", why_not)
    found = int(scan.found.sum())
    blind = scan.control == 0
    reason = (
        f"{found} deleted vectors found in the process's memory ({scan.fraction:.0%}; "
        f"in {', '.join(scan.where[:3])})"
        if found
        else "the scan sees no kept vector in memory either: it cannot read the in-memory form"
        if blind
        else f"no deleted vector in memory (control {scan.control:.0%})"
    )
    if kept_input:
        reason += "; the plugin kept a reference to the array it was fitted from"
    return Check(
        "memory",
        "memory",
        True,
        scan.fraction,
        f"{scan.bytes_scanned} bytes of {scan.mappings} writable mappings after the {state} "
        f"step ({scan.unreadable} unreadable)",
        reason,
        found=found > 0,
        blind=blind and not found,
        detail={"control": scan.control, "where": scan.where[:10], "kept_input": kept_input},
    )


def attack_check(result: Attack, warning: str, pairs: int) -> Check:
    aucs = result.aucs.get(result.feature, {})
    reason = (
        f"the attack tells the index from a retrained one: gap {result.gap:.3f} > tolerance "
        f"{result.tolerance:.3f} ({result.feature})"
        if result.tells
        else f"gap {result.gap:.3f} within the tolerance {result.tolerance:.3f} of retraining"
    )
    return Check(
        "attack",
        "files",
        True,
        result.gap,
        f"{pairs} member/non-member pairs, {len(result.aucs)} features of the whole answer",
        reason + (f"; warning: {warning}" if warning else ""),
        found=result.tells,
        detail={
            "tolerance": result.tolerance,
            "feature": result.feature,
            "aucs": aucs,
            "warning": warning,
        },
    )


def _excluded(excluded: dict[str, int]) -> str:
    parts = [f"{n} {why}" for why, n in excluded.items() if n]
    return "; ".join(parts) + " left out" if parts else "none left out"


def _plain(value: Any) -> Any:
    """JSON-able: numpy scalars and arrays to Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
