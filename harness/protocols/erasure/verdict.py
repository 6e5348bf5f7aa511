"""The erasure verdict from the checks' evidence (`evidence.Check`).

Per scope (the saved files and the answers; the process memory): `leaking` if a deleted id
is returned; else `hidden` if a check shows D is still there (found in the saved bytes or a
side file, reconstructed, trained state measurably nearer D, the attack telling the index
from retrained ones, found in memory); else `unverified` if a check could not verify (no
`save()`, a file of vector data the scan cannot read, residue beyond retrained noise, no
memory scan, an in-memory form the scan cannot read); else `erased`. The run's verdict is
the worse of the two scopes', and its reason names the checks it rests on.
"""

from __future__ import annotations

from harness.core.measures import worst_verdict
from harness.protocols.erasure.evidence import Check


def scope_verdict(checks: list[Check], scope: str) -> tuple[str, str]:
    """The verdict of one scope's checks, and why in one line."""
    mine = [c for c in checks if c.scope == scope]
    leaking = [c for c in mine if c.name == "leak" and c.found]
    if leaking:
        return "leaking", leaking[0].reason
    hidden = [c for c in mine if c.found]
    if hidden:
        return "hidden", "; ".join(f"{c.name}: {c.reason}" for c in hidden)
    blind = [c for c in mine if c.blind]
    if blind:
        return "unverified", "; ".join(f"{c.name}: {c.reason}" for c in blind)
    checked = ", ".join(c.name for c in mine)
    return "erased", f"every check passed ({checked})"


def verdicts(checks: list[Check]) -> dict[str, str]:
    """`verdict`, `file_verdict`, `memory_verdict` and `verdict_reason`."""
    files, file_reason = scope_verdict(checks, "files")
    memory, memory_reason = scope_verdict(checks, "memory")
    overall = worst_verdict([files, memory]) or files
    if overall == "erased":
        reason = f"files: {file_reason}; memory: {memory_reason}"
    else:
        parts = []
        if files != "erased":
            parts.append(f"files {files}: {file_reason}")
        if memory != "erased":
            parts.append(f"memory {memory}: {memory_reason}")
        reason = "; ".join(parts)
    return {
        "verdict": overall,
        "file_verdict": files,
        "memory_verdict": memory,
        "verdict_reason": reason,
    }
