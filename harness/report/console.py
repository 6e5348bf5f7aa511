"""Plain-text summaries of loaded results for the terminal.

Each protocol's table lists its measures by their registry titles, scaled and rounded as the
registry says (`harness.core.measures`); a measure no run of the table has is left out.
"""

from __future__ import annotations

import pandas as pd

from harness.core.measures import MEASURES, RECALL_TARGET
from harness.report.data import deletion_variant, parameter_key, parameter_text, regression_rows

#: The measures each protocol's table shows, in order.
COLUMNS = {
    "qps-recall": (
        "recall", "qps", "p50_latency", "p99_latency", "build_time", "index_size", "pr_auc",
    ),
    "deletion": (
        "single_p50", "single_p99", "single_max", "batch_time", "compact_time",
        "rebuild_time", "speedup", "recall", "qps", "deleted_returned",
    ),
    "churn": (
        "mean_recall", "mean_recall_bigann", "min_recall", "final_recall", "qps", "total_time",
        "rebuilds",
    ),
    "erasure": (
        "leaks", "remanent_fraction", "remanence_control", "blind_files", "recovered_fraction",
        "trained_regions", "differential_residue", "side_files", "memory_fraction",
        "unlearning_gap", "gap_tolerance", "recall", "recall_retrain",
    ),
}  # fmt: skip
#: Columns naming the run, before the measures; the rows sort by them.
LABELS = {
    "qps-recall": (),
    "deletion": ("deleted",),
    "churn": ("runbook",),
    "erasure": ("deleted", "state"),
}


def summary_table(results: pd.DataFrame) -> str:
    """One table per protocol with a line per run; failures last."""
    if results.empty:
        return "no results"
    ok = results[results["status"] == "ok"]
    lines = []
    for protocol, runs in ok.groupby("protocol"):
        lines.append(protocol_table(runs, str(protocol)))
        if protocol == "qps-recall":
            lines += ["", best_at_recall(runs)]
    failed = results[results["status"] != "ok"]
    for _, row in failed.iterrows():
        first_line = str(row.get("failure_detail", "")).splitlines()[:1]
        lines.append(
            f"FAILED {row['algorithm']} {parameter_text(row)}: "
            f"{row.get('failure_cause', row['status'])}: {' '.join(first_line)}"
        )
    return "\n".join(lines)


def protocol_table(runs: pd.DataFrame, protocol: str) -> str:
    """Algorithm, parameters, the protocol's labels and measures; sorted by run."""
    table = pd.DataFrame(
        {
            "algorithm": runs["algorithm"],
            "parameters": [parameter_text(row) for _, row in runs.iterrows()],
        },
        index=runs.index,
    )
    for label in LABELS.get(protocol, ()):
        table[label] = label_column(runs, label)
    for name in COLUMNS.get(protocol, COLUMNS["qps-recall"]):
        if name in runs and runs[name].notna().any():
            measure = MEASURES[name]
            table[measure.title] = [measure.format(v) for v in runs[name]]
    if "verdict" in runs:
        table["verdict"] = runs["verdict"]
    labels = [table[name] for name in ("algorithm", *LABELS.get(protocol, ()))]
    keys = [
        (*(str(label.loc[i]) for label in labels), parameter_key(runs.loc[i])) for i in runs.index
    ]
    order = sorted(range(len(keys)), key=keys.__getitem__)  # parameters numerically
    return table.iloc[order].to_string(index=False)


def label_column(runs: pd.DataFrame, label: str) -> list[str]:
    if label == "deleted":
        return [deletion_variant(row) for _, row in runs.iterrows()]
    return [str(v) for v in runs.get(label, pd.Series("", index=runs.index))]


def best_at_recall(ok: pd.DataFrame, target: float = RECALL_TARGET) -> str:
    """Per algorithm, the best QPS among runs with recall >= target (the leaderboard figure)."""
    lines = [f"best QPS at recall >= {target}:"]
    for algorithm, runs in ok.groupby("algorithm"):
        good = runs[runs["recall"] >= target]
        if good.empty:
            lines.append(f"  {algorithm}: none (best recall {runs['recall'].max():.3f})")
        else:
            best = good.loc[good["qps"].idxmax()]
            lines.append(
                f"  {algorithm}: {best['qps']:.0f} QPS at recall {best['recall']:.3f} "
                f"({parameter_text(best)})"
            )
    return "\n".join(lines)


def regression_table(found: pd.DataFrame) -> str:
    """The night's regressions with their evidence (`harness.suites.history.regressions`)."""
    if found.empty:
        return "no regressions: every figure is within its noise of the previous nights"
    table = pd.DataFrame(regression_rows(found)).drop(columns="night")
    return f"regressions of {found['night'].iloc[0]}:\n{table.to_string(index=False)}"
