"""The nightly suite, its leaderboard history and the regressions between nights.

`python run.py --suite nightly` runs every enabled algorithm (one run group each: its
`default: true` groups, else its first) under every protocol on small datasets, redoing every
run, and appends one row per (dataset, algorithm, protocol) to
`<results>/nightly/history.csv`. `regressions` compares the latest night with the previous
night of each row: a figure that got worse by more than the tolerance is flagged.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from harness.definitions import Algorithm
from harness.environment import git_revision
from harness.protocols import PROTOCOLS
from harness.results import load_results

#: Small sets: the whole nightly stays within minutes per dataset on a CI runner.
DATASETS = ("random-xs-20-euclidean", "random-xs-20-angular", "ood-s-64-euclidean")
RECALL_TARGET = 0.9
#: A relative drop (higher-is-better) or rise (lower-is-better) beyond this is a regression;
#: shared CI runners vary by 10-20 % between nights, so smaller changes are noise.
TOLERANCE = 0.25
#: The unlearning gap is an AUC difference near 0: judged by absolute rise, at the margin
#: the erasure verdict itself allows (|AUC_after - AUC_retrain| <= 0.05).
GAP_TOLERANCE = 0.05

KEYS = ["dataset", "algorithm", "protocol"]
HIGHER = ("best_qps", "max_recall", "speedup", "mean_recall")
LOWER = ("build_time", "delete_p50", "unlearning_gap")
VERDICTS = {"leaking": 0, "unverified": 1, "hidden": 2, "erased": 3}  # worst to best
FIGURE_COLUMNS = ["best_qps", "max_recall", "build_time", "delete_p50", "speedup"]
FIGURE_COLUMNS += ["mean_recall", "unlearning_gap", "verdict"]
#: `runs` and `failed` count the row's runs and how many of them failed.
COLUMNS = ["night", *KEYS, "git_revision", *FIGURE_COLUMNS, "runs", "failed"]
REGRESSION_COLUMNS = ["night", *KEYS, "figure", "previous", "current", "change"]
#: The figures each protocol reports; others stay empty in its rows.
FIGURES = {
    "qps-recall": ("best_qps", "max_recall", "build_time"),
    "deletion": ("best_qps", "max_recall", "delete_p50", "speedup"),
    "churn": ("mean_recall",),
    "erasure": ("max_recall", "unlearning_gap", "verdict"),
}

RunOne = Callable[[argparse.Namespace, dict[str, Algorithm]], int]


def history_path(results: str | Path) -> Path:
    return Path(results) / "nightly" / "history.csv"


def nightly_algorithms(algorithms: dict[str, Algorithm]) -> dict[str, Algorithm]:
    """Every enabled algorithm with one run group: its default ones, else its first."""
    chosen = {}
    for name, algorithm in algorithms.items():
        if algorithm.disabled or not algorithm.run_groups:
            continue
        groups = {g: s for g, s in algorithm.run_groups.items() if s.get("default")}
        if not groups:
            first = next(iter(algorithm.run_groups))
            groups = {first: algorithm.run_groups[first]}
        chosen[name] = replace(algorithm, run_groups=groups)
    return chosen


def run_suite(
    args: argparse.Namespace, algorithms: dict[str, Algorithm], run_one: RunOne
) -> pd.DataFrame:
    """Run the night (`run_one` is the CLI's single-dataset run) and append its rows.

    `--dataset` narrows the night to one dataset. Returns the regressions of this night.
    """
    night = datetime.now(timezone.utc).isoformat(timespec="seconds")
    selected = nightly_algorithms(algorithms)
    rows = []
    for dataset in [args.dataset] if args.dataset else DATASETS:
        for protocol in sorted(PROTOCOLS):
            options = argparse.Namespace(**vars(args))
            options.dataset, options.protocol = dataset, protocol
            options.algorithm, options.force = ["all"], True
            print(f"\n=== nightly: {protocol} on {dataset} ===", flush=True)
            run_one(options, selected)
            name = Path(dataset).stem if Path(dataset).is_file() else dataset  # as the CLI
            runs = load_results(args.results, [name], list(selected), [protocol], args.count)
            if not runs.empty:
                runs = runs[runs["finished"].fillna("").astype(str) >= night]
            rows += summarise(runs, protocol)
    table = pd.DataFrame(rows).assign(night=night, git_revision=git_revision())
    history = append_history(history_path(args.results), table)
    return regressions(history)


def summarise(runs: pd.DataFrame, protocol: str) -> list[dict[str, object]]:
    """One row per (dataset, algorithm) of one protocol's runs: the best of each figure."""
    rows = []
    if runs.empty:
        return rows
    for (dataset, algorithm), group in runs.groupby(["dataset", "algorithm"]):
        ok = group[group["status"] == "ok"]
        figures = _figures(ok)
        wanted = FIGURES.get(protocol, tuple(figures))
        row = {"dataset": dataset, "algorithm": algorithm, "protocol": protocol}
        row.update({f: figures[f] if f in wanted else np.nan for f in FIGURE_COLUMNS})
        row.update(runs=len(group), failed=len(group) - len(ok))
        rows.append(row)
    return rows


def _figures(ok: pd.DataFrame) -> dict[str, object]:
    def column(name: str) -> pd.Series:
        return pd.to_numeric(ok[name], errors="coerce") if name in ok else pd.Series(dtype=float)

    recall, qps = column("recall"), column("qps")
    at_target = qps[recall >= RECALL_TARGET] if len(qps) and len(recall) else qps
    verdicts = [v for v in ok.get("verdict", pd.Series(dtype=object)) if v in VERDICTS]
    return {
        "best_qps": at_target.max(),
        "max_recall": recall.max(),
        "build_time": column("build_time").min(),
        "delete_p50": column("single_p50").min(),
        "speedup": column("speedup").max(),
        "mean_recall": column("mean_recall").max(),
        "unlearning_gap": column("unlearning_gap").min(),
        "verdict": max(verdicts, key=VERDICTS.__getitem__) if verdicts else np.nan,
    }


def read_history(path: str | Path) -> pd.DataFrame:
    """The history file as a DataFrame; an empty one with the columns if there is none."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    history = pd.read_csv(path, dtype={"night": str, "git_revision": str, "verdict": object})
    missing = [c for c in COLUMNS if c not in history]
    if missing:
        raise ValueError(
            f"{path} lacks the column(s) {', '.join(missing)}: it is not a nightly history "
            "file; move it away and rerun `python run.py --suite nightly`"
        )
    return history


def append_history(path: Path, night: pd.DataFrame) -> pd.DataFrame:
    """Add one night's rows, rewriting the file atomically; returns the whole history."""
    before = read_history(path)
    night = night.reindex(columns=COLUMNS)
    history = pd.concat([before, night], ignore_index=True) if len(before) else night
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    history[COLUMNS].to_csv(partial, index=False)
    os.replace(partial, path)
    return history


def regressions(history: pd.DataFrame, tolerance: float = TOLERANCE) -> pd.DataFrame:
    """Each figure of the latest night that is worse than the previous night of its row.

    Worse means: a relative drop beyond `tolerance` for higher-is-better figures, a relative
    rise beyond it for lower-is-better ones (the unlearning gap: an absolute rise beyond
    `GAP_TOLERANCE`), a worse erasure verdict, or a figure that is gone (e.g. no run reaches
    the recall target any more). `change` is relative (absolute for the gap, the verdict's
    step down the scale leaking < unverified < hidden < erased for the verdict).
    """
    found: list[dict[str, object]] = []
    if history.empty:
        return pd.DataFrame(columns=REGRESSION_COLUMNS)
    latest = history["night"].max()
    earlier = history[history["night"] < latest].sort_values("night")
    previous = earlier.drop_duplicates(KEYS, keep="last")  # each row's latest earlier night
    current = history[history["night"] == latest]
    merged = current.merge(previous, on=KEYS, suffixes=("", "_previous"))
    for _, row in merged.iterrows():
        for figure in (*HIGHER, *LOWER, "verdict"):
            before, now = row[f"{figure}_previous"], row[figure]
            change = _worsening(figure, before, now, tolerance)
            if change is not None:
                found.append(
                    {
                        **{k: row[k] for k in ["night", *KEYS]},
                        "figure": figure,
                        "previous": before,
                        "current": now,
                        "change": change,
                    }
                )
    return pd.DataFrame(found, columns=REGRESSION_COLUMNS)


def _worsening(figure: str, before: object, now: object, tolerance: float) -> float | None:
    """The change if it is a regression, else None."""
    if pd.isna(before):
        return None
    if pd.isna(now):
        return np.nan  # the figure is gone
    if figure == "verdict":
        step = VERDICTS.get(str(now), -1) - VERDICTS.get(str(before), -1)
        return float(step) if step < 0 else None
    before, now = float(before), float(now)
    if figure == "unlearning_gap":
        return now - before if now - before > GAP_TOLERANCE else None
    if before == 0:
        return None if (figure in HIGHER or now == 0) else np.inf
    change = (now - before) / abs(before)
    worse = change < -tolerance if figure in HIGHER else change > tolerance
    return change if worse else None
