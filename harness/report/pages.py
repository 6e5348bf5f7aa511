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
    build_key,
    build_text,
    by_variant,
    deletion_variant,
    erasure_rows,
    finite,
    ok_runs,
    parameter_text,
    regression_rows,
    scorecard_row,
    slug,
    sorted_runs,
    train_size,
)
from harness.report.style import Style
from harness.suites.history import FIGURE_NAMES, KEYS, MIN_NIGHTS, WINDOW, K

Looks = dict[str, Style]


def board(runs: pd.DataFrame, dataset: str, looks: Looks) -> dict[str, Any]:
    """The index's section of one dataset: its anchor, page, QPS-recall chart, leaderboard."""
    qps = ok_runs(runs, "qps-recall")
    title = f"{dataset}: QPS against recall, Pareto front of every algorithm"
    return {
        "name": dataset,
        "anchor": f"ds-{slug(dataset)}",
        "href": f"datasets/{slug(dataset)}.html",
        "chart": qps_recall_chart(qps, title, looks) if not qps.empty else None,
        "rows": leaderboard(runs),
    }


#: Leaderboard figures that come from the deletion and erasure protocols: where the best
#: build has none, the headline row borrows them from another build and says which.
BORROWED = ("delete_p50", "speedup", "verdict", "verdict_compacted", "auc_after", "unlearning_gap")


def leaderboard(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per algorithm of one dataset: its headline row and a row per build."""
    return [
        algorithm_entry(str(algorithm), group)
        for algorithm, group in sorted(runs.groupby("algorithm"), key=lambda item: str(item[0]))
    ]


def algorithm_entry(algorithm: str, runs: pd.DataFrame) -> dict[str, Any]:
    """Every build's row (all its figures from that build), the best build marked, and a
    headline row: the best build's, with deletion and erasure figures it lacks taken from
    the best other build that has them, labelled with that build (`borrowed`)."""
    builds = [
        build_row(group)
        for _, group in sorted(runs.groupby("build_args"), key=lambda item: build_key(item[0]))
    ]
    ranked = sorted(builds, key=build_rank)
    best = ranked[0]
    best["best"] = True
    headline = {**best, "borrowed": {}}
    for field in BORROWED:
        if headline[field] is None:
            donor = next((b for b in ranked[1:] if b[field] is not None), None)
            if donor is not None:
                headline[field] = donor[field]
                headline["borrowed"][field] = donor["build"]
    return {
        "algorithm": algorithm,
        "href": f"algorithms/{slug(algorithm)}.html",
        "headline": headline,
        "builds": builds,
        "runs": len(runs),
        "failed": int((runs["status"] != "ok").sum()),
    }


def build_rank(row: dict[str, Any]) -> tuple[int, float]:
    """Best first: a QPS at the recall target, then the highest recall."""
    if row["best_qps"] is not None:
        return (0, -row["best_qps"])
    return (1, -(row["recall"] if row["recall"] is not None else -1.0))


def build_row(runs: pd.DataFrame) -> dict[str, Any]:
    """One build's leaderboard figures: best QPS at the recall target (or, without a run
    reaching it, the highest-recall run, and it says so), delete cost, erasure verdicts."""
    first = runs.iloc[0]
    qps = ok_runs(runs, "qps-recall")
    good = qps[qps["recall"] >= RECALL_TARGET] if not qps.empty else qps
    chosen = None
    if not good.empty:
        chosen = good.loc[good["qps"].idxmax()]
    elif not qps.empty:
        chosen = qps.loc[qps["recall"].idxmax()]
    deletion = ok_runs(runs, "deletion")
    row = {
        "build": build_text(first["build_args"]),
        "best": False,
        "borrowed": {},
        "best_qps": finite(chosen["qps"]) if not good.empty else None,
        "recall": finite(chosen["recall"]) if chosen is not None else None,
        "query": query_text(chosen) if chosen is not None else "",
        "pr_auc": finite(chosen.get("pr_auc")) if chosen is not None else None,
        "build_time": finite(chosen["build_time"]) if chosen is not None else None,
        "delete_p50": median(deletion, "single_p50"),
        "speedup": median(deletion, "speedup"),
        "runs": len(runs),
        "failed": int((runs["status"] != "ok").sum()),
    }
    row.update(erasure_summary(ok_runs(runs, "erasure")))
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
    if "unlearning_gap" in deleted:
        deleted = deleted.dropna(subset=["unlearning_gap"])
    if not deleted.empty and "unlearning_gap" in deleted:
        worst = deleted.loc[deleted["unlearning_gap"].idxmax()]
        out["auc_after"] = finite(worst.get("auc_after"))
        out["unlearning_gap"] = finite(worst["unlearning_gap"])
    return out


def query_text(row: pd.Series) -> str:
    return parameter_text({"query_args": row.get("query_args")})


def dataset_page(
    runs: pd.DataFrame, dataset: str, figures: list[Path], looks: Looks
) -> dict[str, Any]:
    """Leaderboard, charts of every protocol, erasure scorecard, every run, failures."""
    qps = ok_runs(runs, "qps-recall")
    charts = []
    if not qps.empty:
        title = f"{dataset}: QPS against recall (hover: parameters)"
        charts.append(qps_recall_chart(qps, title, looks))
    deletion = ok_runs(runs, "deletion")
    for variant, group in by_variant(deletion):
        title = f"{dataset}: recall after deleting {variant}"
        charts.append(deletion_chart(group, qps, title, looks))
    churn = ok_runs(runs, "churn")
    if not churn.empty:
        for runbook, group in churn.groupby("runbook"):
            charts.append(churn_chart(group, f"{dataset}: recall under churn ({runbook})", looks))
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


def run_rows(runs: pd.DataFrame) -> dict[str, Any]:
    """One row per result file, in protocol, algorithm and numeric parameter order, with
    what tells runs of one build apart: the deletion set or runbook, and the erasure state.
    `pr_auc` says whether any run measured PR-AUC (the column is shown only then)."""
    rows = []
    for _, run in sorted_runs(runs, ("protocol", "algorithm")).iterrows():
        rows.append(
            {
                "algorithm": run["algorithm"],
                "href": f"algorithms/{slug(run['algorithm'])}.html",
                "protocol": run.get("protocol"),
                "build": build_text(run.get("build_args")),
                "query": query_text(run),
                "variant": run_variant(run),
                "state": text_or_blank(run.get("state")),
                "status": run.get("status"),
                **{m: finite(run.get(m)) for m in ("recall", "qps", "build_time", "pr_auc")},
            }
        )
    return {"rows": rows, "pr_auc": any(r["pr_auc"] is not None for r in rows)}


def run_variant(run: pd.Series) -> str:
    """The deletion set of a deletion or erasure run, the runbook of a churn run, or ""."""
    if run.get("protocol") in ("deletion", "erasure"):
        return deletion_variant(run)
    return text_or_blank(run.get("runbook"))


def text_or_blank(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


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
                "_key": (str(algorithm), build_key(build_args), variant),
            }
        )
    return [
        {k: v for k, v in row.items() if k != "_key"}
        for row in sorted(rows, key=lambda row: row["_key"])
    ]


def erasure_table(erasure: pd.DataFrame) -> list[dict[str, Any]]:
    if erasure.empty:
        return []
    names = [
        "leaks", "recall", "recall_retrain", "overlap", "remanent_fraction", "auc_before",
        "auc_after", "auc_retrain", "unlearning_gap",
    ]  # fmt: skip
    rows = erasure_rows(erasure)
    return [
        {**scorecard_row(row), **{name: finite(row.get(name)) for name in names}}
        for _, row in rows.iterrows()
    ]


def nightly_page(
    history: pd.DataFrame, regressions: pd.DataFrame, timing: pd.DataFrame, looks: Looks
) -> dict[str, Any]:
    """A chart per figure (its trend over nights, the range of each night's repeats), the
    regressions with their evidence, the latest verdicts, and how long the nights took."""
    ordered = history.sort_values("night")
    charts = [
        nightly_chart(ordered, figure, looks)
        for figure in FIGURE_NAMES
        if figure in ordered and not ordered[figure].isna().all()
    ]
    verdicts = []
    if "verdict" in ordered:
        latest = ordered.dropna(subset=["verdict"]).groupby(KEYS).tail(1)
        verdicts = records(latest, ["night", *KEYS, "verdict"])
    return {
        "charts": charts,
        "regressions": regression_rows(regressions),
        "verdicts": verdicts,
        "nights": int(history["night"].nunique()) if "night" in history else 0,
        "window": WINDOW,
        "min_nights": MIN_NIGHTS,
        "k": K,
        "timing": night_times(timing),
    }


def night_times(timing: pd.DataFrame) -> list[dict[str, Any]]:
    """Per night: its wall time, steps, repeats and runs (the latest first)."""
    if timing.empty:
        return []
    nights = timing.groupby("night").agg(
        seconds=("seconds", "sum"), steps=("seconds", "size"), repeats=("repeat", "nunique"),
        runs=("runs", "sum"),
    )  # fmt: skip
    return [
        {
            "night": night,
            "minutes": finite(row["seconds"] / 60),
            **{k: int(row[k]) for k in ("steps", "repeats", "runs")},
        }
        for night, row in nights.sort_index(ascending=False).iterrows()
    ]


def median(runs: pd.DataFrame, column: str) -> float | None:
    if runs.empty or column not in runs:
        return None
    return finite(runs[column].median())


def records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    present = [c for c in columns if c in frame]
    return [{c: row.get(c) for c in columns} for row in frame[present].to_dict("records")]
