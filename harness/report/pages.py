"""The site's pages as template contexts: leaderboards, per-dataset and per-algorithm pages,
the erasure scorecards and the nightly trends. Rendering is `harness.report.site`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.measures import RECALL_TARGET, worst_verdict
from harness.report.charts import (
    churn_chart,
    delete_latency_chart,
    deletion_chart,
    nightly_chart,
    qps_recall_chart,
    raw_points_chart,
)
from harness.report.data import (
    build_text,
    by_variant,
    deletion_variant,
    erasure_rows,
    finite,
    ok_runs,
    parameter_text,
    slug,
    train_size,
)
from harness.suites.history import FIGURE_NAMES, KEYS, REGRESSION_COLUMNS


def board(runs: pd.DataFrame, dataset: str) -> dict[str, Any]:
    """The index's section of one dataset: its anchor, page and leaderboard."""
    return {
        "name": dataset,
        "anchor": f"ds-{slug(dataset)}",
        "href": f"datasets/{slug(dataset)}.html",
        "rows": leaderboard(runs),
    }


def leaderboard(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per algorithm of one dataset: the figures a reader compares first."""
    return [
        leaderboard_row(algorithm, group)
        for algorithm, group in sorted(runs.groupby("algorithm"), key=lambda item: item[0])
    ]


def leaderboard_row(algorithm: str, runs: pd.DataFrame) -> dict[str, Any]:
    """Best QPS at the recall target (its build's time), delete cost, erasure, failures.

    Without a run reaching the target, the highest-recall run stands in (and says so).
    Delete latency and speed-up come from the deletion runs of the same build where they
    exist; the verdict is the worst over the erasure runs in each state.
    """
    qps = ok_runs(runs, "qps-recall")
    good = qps[qps["recall"] >= RECALL_TARGET] if not qps.empty else qps
    chosen = None
    if not good.empty:
        chosen = good.loc[good["qps"].idxmax()]
    elif not qps.empty:
        chosen = qps.loc[qps["recall"].idxmax()]
    deletion = ok_runs(runs, "deletion")
    if chosen is not None and not deletion.empty:
        same = deletion[deletion["build_args"] == chosen["build_args"]]
        deletion = same if not same.empty else deletion
    erasure = ok_runs(runs, "erasure")
    ok = runs[runs["status"] == "ok"]
    row = {
        "algorithm": algorithm,
        "href": f"algorithms/{slug(algorithm)}.html",
        "best_qps": finite(chosen["qps"]) if not good.empty else None,
        "recall": finite(chosen["recall"]) if chosen is not None else None,
        "parameters": parameter_text(chosen) if chosen is not None else "",
        "build_time": finite(
            chosen["build_time"] if chosen is not None else median(ok, "build_time")
        ),
        "delete_p50": median(deletion, "single_p50"),
        "speedup": median(deletion, "speedup"),
        "runs": len(runs),
        "failed": int((runs["status"] != "ok").sum()),
    }
    row.update(erasure_summary(erasure))
    return row


def erasure_summary(erasure: pd.DataFrame) -> dict[str, Any]:
    """The worst verdict after delete and after compact, and the worst unlearning gap."""
    out: dict[str, Any] = {"verdict": None, "verdict_compacted": None, "auc_after": None}
    out["unlearning_gap"] = None
    if erasure.empty or "verdict" not in erasure:
        return out
    for state, key in (("deleted", "verdict"), ("compacted", "verdict_compacted")):
        out[key] = worst_verdict(erasure.loc[erasure["state"] == state, "verdict"])
    deleted = erasure[erasure["state"] == "deleted"]
    if not deleted.empty and "unlearning_gap" in deleted:
        worst = deleted.loc[deleted["unlearning_gap"].idxmax()]
        out["auc_after"] = finite(worst.get("auc_after"))
        out["unlearning_gap"] = finite(worst["unlearning_gap"])
    return out


def dataset_page(runs: pd.DataFrame, dataset: str, figures: list[Path]) -> dict[str, Any]:
    """Leaderboard, charts of every protocol, erasure scorecard, every run, failures."""
    qps = ok_runs(runs, "qps-recall")
    charts = []
    if not qps.empty:
        charts.append(qps_recall_chart(qps, f"{dataset}: QPS against recall (hover: parameters)"))
    deletion = ok_runs(runs, "deletion")
    for variant, group in by_variant(deletion):
        charts.append(deletion_chart(group, qps, f"{dataset}: recall after deleting {variant}"))
    churn = ok_runs(runs, "churn")
    if not churn.empty:
        for runbook, group in churn.groupby("runbook"):
            charts.append(churn_chart(group, f"{dataset}: recall under churn ({runbook})"))
    erasure = ok_runs(runs, "erasure")
    prefix = f"{slug(dataset)}-"
    static = sorted(p.stem for p in figures if p.suffix == ".png" and p.name.startswith(prefix))
    return {
        "dataset": dataset,
        "rows": leaderboard(runs),
        "charts": charts,
        "deletion": deletion_rows(deletion),
        "erasure": erasure_table(erasure),
        "all_runs": run_rows(runs),
        "failures": failure_rows(runs),
        "figures": static,
    }


def algorithm_page(runs: pd.DataFrame, algorithm: str) -> dict[str, Any]:
    """Every dataset this algorithm ran on: its raw points, delete cost against n, erasure."""
    qps = ok_runs(runs, "qps-recall")
    charts = []
    for dataset, group in qps.groupby("dataset") if not qps.empty else []:
        charts.append(raw_points_chart(group, f"{algorithm} on {dataset}: every setting"))
    deletion = ok_runs(runs, "deletion")
    if not deletion.empty and "single_p50" in deletion:
        charts.append(delete_latency_chart(deletion, f"{algorithm}: per-delete latency against n"))
    return {
        "algorithm": algorithm,
        "datasets": [
            {"name": d, "href": f"datasets/{slug(d)}.html"}
            for d in sorted(runs["dataset"].unique())
        ],
        "charts": charts,
        "deletion": deletion_rows(deletion),
        "erasure": erasure_table(ok_runs(runs, "erasure")),
        "all_runs": run_rows(runs),
        "failures": failure_rows(runs),
    }


def erasure_scorecards(runs: pd.DataFrame, datasets: list[str]) -> list[dict[str, Any]]:
    erasure = ok_runs(runs, "erasure")
    if erasure.empty:
        return []
    return [
        {"dataset": d, "href": f"datasets/{slug(d)}.html", "rows": erasure_table(group)}
        for d, group in erasure.groupby("dataset")
        if d in datasets
    ]


def run_rows(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per result file."""
    columns = ["algorithm", "protocol", "status", "recall", "qps", "build_time", "path"]
    rows = []
    for _, run in runs.sort_values(["protocol", "algorithm"]).iterrows():
        row = {c: run.get(c) for c in columns}
        row.update(
            recall=finite(row["recall"]),
            qps=finite(row["qps"]),
            build_time=finite(row["build_time"]),
            parameters=parameter_text(run),
            href=f"algorithms/{slug(run['algorithm'])}.html",
        )
        rows.append(row)
    return rows


def failure_rows(runs: pd.DataFrame) -> list[dict[str, Any]]:
    failed = runs[runs["status"] != "ok"]
    return [
        {
            "algorithm": run["algorithm"],
            "protocol": run.get("protocol"),
            "parameters": parameter_text(run),
            "cause": run.get("failure_cause") or run["status"],
            "detail": str(run.get("failure_detail") or ""),
        }
        for _, run in failed.iterrows()
    ]


def deletion_rows(deletion: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per (algorithm, build, deletion set): cost figures and its best recall after."""
    if deletion.empty:
        return []
    deletion = deletion.assign(variant=[deletion_variant(r) for _, r in deletion.iterrows()])
    rows = []
    for (algorithm, build_args, variant), group in deletion.groupby(
        ["algorithm", "build_args", "variant"]
    ):
        first = group.iloc[0]
        rows.append(
            {
                "algorithm": algorithm,
                "href": f"algorithms/{slug(algorithm)}.html",
                "build": build_text(build_args),
                "variant": variant,
                "n": finite(train_size(first)),
                "delete_p50": finite(first.get("single_p50")),
                "delete_p99": finite(first.get("single_p99")),
                "delete_time": finite(first.get("delete_time")),
                "rebuild_time": finite(first.get("rebuild_time")),
                "speedup": finite(first.get("speedup")),
                "best_recall": finite(group["recall"].max()),
            }
        )
    return rows


def erasure_table(erasure: pd.DataFrame) -> list[dict[str, Any]]:
    if erasure.empty:
        return []
    names = [
        "leaks", "recall", "recall_retrain", "overlap", "remanent_fraction", "auc_before",
        "auc_after", "auc_retrain", "unlearning_gap",
    ]  # fmt: skip
    return [
        {
            "algorithm": row["algorithm"],
            "href": f"algorithms/{slug(row['algorithm'])}.html",
            "build": build_text(row["build_args"]),
            "variant": row["variant"],
            "state": row.get("state"),
            "verdict": row.get("verdict"),
            "reason": row.get("verdict_reason") or "",
            **{name: finite(row.get(name)) for name in names},
        }
        for _, row in erasure_rows(erasure).iterrows()
    ]


def nightly_page(history: pd.DataFrame, regressions: pd.DataFrame) -> dict[str, Any]:
    """A chart per figure (its trend over nights), the regressions, the latest verdicts."""
    ordered = history.sort_values("night")
    charts = [
        nightly_chart(ordered, figure)
        for figure in FIGURE_NAMES
        if figure in ordered and not ordered[figure].isna().all()
    ]
    verdicts = []
    if "verdict" in ordered:
        latest = ordered.dropna(subset=["verdict"]).groupby(KEYS).tail(1)
        verdicts = records(latest, ["night", *KEYS, "verdict"])
    return {
        "charts": charts,
        "regressions": records(regressions, REGRESSION_COLUMNS),
        "verdicts": verdicts,
        "nights": int(history["night"].nunique()) if "night" in history else 0,
    }


def median(runs: pd.DataFrame, column: str) -> float | None:
    if runs.empty or column not in runs:
        return None
    return finite(runs[column].median())


def records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    present = [c for c in columns if c in frame]
    return [{c: row.get(c) for c in columns} for row in frame[present].to_dict("records")]
