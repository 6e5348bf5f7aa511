"""The erasure page's evidence: per scorecard row, every check its verdict rests on.

`erasure_evidence(runs, datasets)` is the context of `website/templates/erasure.html`
(`evidence=`): per dataset, one row per (algorithm, build, deletion set, state) as on the
scorecard (its worst query group), with the verdicts of the files and of the memory and each
check's outcome, figure, what it read and what it says, from the evidence stored in the
result file.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from harness.core.results import read_result
from harness.report.data import erasure_rows, ok_runs, scorecard_row, slug

#: How a check's stored flags read on the page.
OUTCOMES = {"found": "found", "blind": "could not verify", "pass": "passed", "not run": "not run"}


def erasure_evidence(runs: pd.DataFrame, datasets: list[str]) -> list[dict[str, Any]]:
    """Per dataset with erasure runs, its scorecard rows with their checks."""
    erasure = ok_runs(runs, "erasure")
    if erasure.empty or "verdict" not in erasure:
        return []
    out = []
    for dataset, group in erasure.groupby("dataset"):
        if dataset not in datasets:
            continue
        rows = [evidence_row(row) for _, row in erasure_rows(group).iterrows()]
        out.append({"dataset": dataset, "anchor": f"evidence-{slug(dataset)}", "rows": rows})
    return out


def evidence_row(row: pd.Series) -> dict[str, Any]:
    return {
        **scorecard_row(row),
        "file_verdict": row.get("file_verdict"),
        "memory_verdict": row.get("memory_verdict"),
        "checks": checks_of(row.get("path")),
    }


def checks_of(path: str | None) -> list[dict[str, Any]]:
    """The stored checks of one result file ([] for a file from before they were stored)."""
    if not path:
        return []
    stored = read_result(path).get("measure_arrays", {}).get("evidence")
    if stored is None:
        return []
    checks = json.loads(bytes(stored))["checks"]
    return [
        {
            "name": c["name"],
            "scope": c["scope"],
            "outcome": OUTCOMES[outcome(c)],
            "state": outcome(c),
            "figure": c["figure"],
            "coverage": c["coverage"],
            "reason": c["reason"],
        }
        for c in checks
    ]


def outcome(check: dict[str, Any]) -> str:
    if not check["ran"]:
        return "not run"
    if check["found"]:
        return "found"
    return "blind" if check["blind"] else "pass"
