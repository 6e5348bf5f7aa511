"""Static figures of the results (matplotlib, PNG and SVG): `python run.py --plot`.

One figure per question a reader asks of the results:

- QPS-recall Pareto fronts per dataset, all algorithms, log QPS (ann-benchmarks' main plot),
  and every raw point of each algorithm, coloured by build arguments;
- per-delete latency against the index size n (deletion protocol);
- recall after deletion against the same algorithm's front before deletion;
- recall at every search step of a churn runbook;
- the erasure scorecard (E1 leaks, E2 retrain gap, E3 remanence, E4 membership inference).

The data helpers here (`pareto_front`, `parameters`, `slug`, `ok_runs`) are shared with the
website build, so that the static and the interactive charts show the same points.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from harness.results import load_results, read_result

RECALL_TARGET = 0.9
FORMATS = ("png", "svg")
VERDICTS = ("erased", "hidden", "unverified", "leaking")  # best first
VERDICT_COLOURS = {
    "erased": "#2e7d32",
    "hidden": "#f9a825",
    "unverified": "#757575",
    "leaking": "#c62828",
}
# Names are data, never markup: no mathtext for `$` in an algorithm name.
plt.rcParams["text.parse_math"] = False


def slug(name: str) -> str:
    """A file-name-safe, unique form of a name (a readable part and a short hash)."""
    readable = re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")[:40] or "x"
    digest = hashlib.sha1(str(name).encode()).hexdigest()[:6]
    return f"{readable}-{digest}"


def parameters(row: pd.Series | dict[str, Any]) -> dict[str, Any]:
    """A run's build and query arguments as one dict (positional ones numbered)."""
    out: dict[str, Any] = {}
    for prefix, column in (("build", "build_args"), ("query", "query_args")):
        text = row.get(column)
        value = json.loads(text) if isinstance(text, str) and text else text
        if isinstance(value, dict):
            out.update(value)
        elif isinstance(value, list):
            out.update({f"{prefix}[{i}]": v for i, v in enumerate(value)})
    return out


def parameter_text(row: pd.Series | dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in parameters(row).items()) or "-"


def ok_runs(results: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """The successful runs of one protocol (an empty frame when there are none)."""
    if results.empty or "protocol" not in results:
        return pd.DataFrame()
    return results[(results["protocol"] == protocol) & (results["status"] == "ok")].copy()


def pareto_front(runs: pd.DataFrame, x: str = "recall", y: str = "qps") -> pd.DataFrame:
    """Points not dominated in (x up, y up), ordered by x: ann-benchmarks' frontier."""
    if runs.empty:
        return runs
    ordered = runs.sort_values([x, y], ascending=[False, False])
    keep, best = [], -np.inf
    for index, value in zip(ordered.index, ordered[y], strict=True):
        if value > best:
            keep.append(index)
            best = value
    return ordered.loc[keep].sort_values(x)


def train_size(row: pd.Series) -> float:
    """n, the rows the index held before deletion: |D| over the deleted fraction.

    Only a fractional `--delete-count` tells n; a count given in rows gives NaN.
    """
    options = json.loads(row["protocol_args"]) if isinstance(row.get("protocol_args"), str) else {}
    fraction = options.get("count")
    if isinstance(fraction, float) and 0 < fraction < 1 and row.get("deleted"):
        return round(row["deleted"] / fraction)
    return float("nan")


def deletion_variant(row: pd.Series) -> str:
    """`random 0.01 (seed 1)`: the deletion set a deletion or erasure run used."""
    options = json.loads(row["protocol_args"]) if isinstance(row.get("protocol_args"), str) else {}
    return f"{options.get('policy')} {options.get('count')} (seed {options.get('seed')})"


def plot_all(results_root: str | Path, outdir: str | Path) -> list[Path]:
    """Every figure the results support, as PNG and SVG under `outdir`; the files written."""
    results = load_results(results_root)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if results.empty:
        return written
    qps = ok_runs(results, "qps-recall")
    deletion = ok_runs(results, "deletion")
    for dataset in sorted(results["dataset"].dropna().unique()):
        name = slug(dataset)
        runs = qps[qps["dataset"] == dataset] if not qps.empty else qps
        if not runs.empty:
            written += save(qps_recall_figure(runs, dataset), outdir / f"{name}-qps-recall")
            for algorithm, points in runs.groupby("algorithm"):
                figure = raw_points_figure(points, dataset, algorithm)
                written += save(figure, outdir / f"{name}-{slug(algorithm)}-points")
        after = deletion[deletion["dataset"] == dataset] if not deletion.empty else deletion
        for variant, group in _by_variant(after):
            figure = recall_after_deletion_figure(group, runs, dataset, variant)
            written += save(figure, outdir / f"{name}-deletion-{slug(variant)}")
        for runbook, figure in churn_figures(ok_runs(results, "churn"), dataset):
            written += save(figure, outdir / f"{name}-churn-{slug(runbook)}")
        erasure = ok_runs(results, "erasure")
        erasure = erasure[erasure["dataset"] == dataset] if not erasure.empty else erasure
        if not erasure.empty:
            written += save(erasure_figure(erasure, dataset), outdir / f"{name}-erasure")
    if not deletion.empty and "single_p50" in deletion:
        written += save(delete_latency_figure(deletion), outdir / "delete-latency")
    return written


def save(figure: plt.Figure, stem: Path) -> list[Path]:
    paths = []
    for extension in FORMATS:
        path = stem.with_suffix(f".{extension}")
        figure.savefig(path, dpi=100)
        paths.append(path)
    plt.close(figure)
    return paths


def qps_recall_figure(runs: pd.DataFrame, dataset: str) -> plt.Figure:
    """Each algorithm's Pareto front of QPS (log) against recall."""
    figure, axes = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for algorithm, points in runs.groupby("algorithm"):
        front = pareto_front(points)
        axes.plot(front["recall"], front["qps"], marker="o", markersize=4, label=algorithm)
    _qps_axes(axes, f"{dataset}: QPS against recall@{_k(runs)} (Pareto fronts)")
    return figure


def raw_points_figure(points: pd.DataFrame, dataset: str, algorithm: str) -> plt.Figure:
    """Every query group of one algorithm, one colour per build, its front as a line."""
    figure, axes = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for build_args, build in points.groupby("build_args"):
        label = " ".join(f"{k}={v}" for k, v in parameters({"build_args": build_args}).items())
        axes.scatter(build["recall"], build["qps"], s=18, label=label or "-")
    front = pareto_front(points)
    axes.plot(front["recall"], front["qps"], color="black", linewidth=0.8, label="Pareto front")
    _qps_axes(axes, f"{algorithm} on {dataset}: every parameter setting")
    return figure


def recall_after_deletion_figure(
    after: pd.DataFrame, before: pd.DataFrame, dataset: str, variant: str
) -> plt.Figure:
    """Fronts after deleting D (solid) against the same algorithm before (dashed)."""
    figure, axes = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for algorithm, points in after.groupby("algorithm"):
        front = pareto_front(points)
        (line,) = axes.plot(front["recall"], front["qps"], marker="o", markersize=4)
        line.set_label(f"{algorithm} after deletion")
        previous = before[before["algorithm"] == algorithm] if not before.empty else before
        if not previous.empty:
            old = pareto_front(previous)
            axes.plot(
                old["recall"],
                old["qps"],
                linestyle="--",
                color=line.get_color(),
                alpha=0.6,
                label=f"{algorithm} before",
            )
    _qps_axes(axes, f"{dataset}: recall after deleting {variant}")
    return figure


def delete_latency_figure(deletion: pd.DataFrame) -> plt.Figure:
    """Median single-delete latency (p99 as the bar's top) against n, per algorithm."""
    runs = deletion.dropna(subset=["single_p50"]).copy()
    runs["n"] = [train_size(row) for _, row in runs.iterrows()]
    figure, axes = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for algorithm, points in runs.dropna(subset=["n"]).groupby("algorithm"):
        per_n = points.groupby("n")[["single_p50", "single_p99"]].median().reset_index()
        p50, p99 = per_n["single_p50"] * 1e3, per_n["single_p99"] * 1e3
        axes.errorbar(
            per_n["n"], p50, yerr=[np.zeros(len(p50)), p99 - p50], marker="o", capsize=3,
            label=algorithm,
        )  # fmt: skip
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("n (rows in the index before deletion)")
    axes.set_ylabel("delete latency, ms (p50; bar to p99)")
    axes.set_title("Per-delete latency against index size")
    axes.grid(True, which="both", alpha=0.3)
    _legend(axes)
    return figure


def churn_figures(churn: pd.DataFrame, dataset: str) -> Iterable[tuple[str, plt.Figure]]:
    """Per runbook: recall at every search step, the best query group of each build."""
    runs = churn[churn["dataset"] == dataset] if not churn.empty else churn
    if runs.empty:
        return
    for runbook, group in runs.groupby("runbook"):
        figure, axes = plt.subplots(figsize=(7, 4.5), layout="constrained")
        for (algorithm, _), build in group.groupby(["algorithm", "build_args"]):
            best = build.loc[build["mean_recall"].idxmax()]
            steps = churn_steps(best["path"])
            axes.plot(
                steps["step"],
                steps["recall"],
                marker=".",
                label=f"{algorithm} {parameter_text(best)}",
            )
        axes.set_xlabel("runbook step")
        axes.set_ylabel(f"recall@{_k(group)}")
        axes.set_title(f"{dataset}: recall under churn ({runbook})")
        axes.grid(True, alpha=0.3)
        _legend(axes)
        yield runbook, figure


def churn_steps(path: str | Path) -> dict[str, list[float]]:
    """The search steps of one churn result and the recall measured at each."""
    arrays = read_result(path).get("measure_arrays", {})
    return {
        "step": [int(s) for s in arrays.get("search_step", [])],
        "recall": [float(r) for r in arrays.get("search_recall", [])],
    }


SCORECARD = (
    ("E1 leaks", "leaks", "{:.0f}", lambda v: v == 0),
    ("E2 recall vs retrain", "recall_gap", "{:+.3f}", lambda v: v >= -0.01),
    ("E3 remanent", "remanent_fraction", "{:.1%}", lambda v: v == 0),
    ("E4 AUC gap", "unlearning_gap", "{:.3f}", lambda v: v <= 0.05),
)


def erasure_rows(erasure: pd.DataFrame) -> pd.DataFrame:
    """One scorecard row per (algorithm, build, deletion set, state): its worst query group."""
    runs = erasure.copy()
    runs["recall_gap"] = runs["recall"] - runs["recall_retrain"]
    runs["variant"] = [deletion_variant(row) for _, row in runs.iterrows()]
    runs["rank"] = runs["verdict"].map({v: i for i, v in enumerate(VERDICTS)}).fillna(len(VERDICTS))
    keys = ["algorithm", "build_args", "variant", "state"]
    worst = runs.sort_values("rank", ascending=False).groupby(keys, sort=True).head(1)
    return worst.sort_values(keys).reset_index(drop=True)


def erasure_figure(erasure: pd.DataFrame, dataset: str) -> plt.Figure:
    """A table of E1-E4 and the verdict, green where the check passes, red where not."""
    rows = erasure_rows(erasure)
    columns = [title for title, *_ in SCORECARD] + ["verdict"]
    cells, colours = [], []
    for _, row in rows.iterrows():
        line, tint = [], []
        for _, column, fmt, passes in SCORECARD:
            value = row.get(column)
            missing = value is None or pd.isna(value)
            line.append("-" if missing else fmt.format(value))
            tint.append("#eeeeee" if missing else ("#c8e6c9" if passes(value) else "#ffcdd2"))
        line.append(str(row["verdict"]))
        tint.append(VERDICT_COLOURS.get(row["verdict"], "#eeeeee"))
        cells.append(line)
        colours.append(tint)
    labels = [
        f"{r['algorithm']} {parameter_text({'build_args': r['build_args']})} "
        f"[{r['variant']}, {r['state']}]"
        for _, r in rows.iterrows()
    ]
    figure, axes = plt.subplots(figsize=(10, 0.9 + 0.35 * len(rows)), layout="constrained")
    axes.axis("off")
    table = axes.table(
        cellText=cells, cellColours=colours, rowLabels=labels, colLabels=columns, loc="center"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    axes.set_title(f"{dataset}: erasure scorecard")
    return figure


def _by_variant(runs: pd.DataFrame) -> Iterable[tuple[str, pd.DataFrame]]:
    if runs.empty:
        return []
    variants = pd.Series([deletion_variant(row) for _, row in runs.iterrows()], index=runs.index)
    return runs.groupby(variants)


def _qps_axes(axes: plt.Axes, title: str) -> None:
    axes.set_yscale("log")
    axes.set_xlabel("recall")
    axes.set_ylabel("queries per second (log)")
    axes.axvline(RECALL_TARGET, color="grey", linestyle=":", linewidth=0.8)
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    _legend(axes)


def _legend(axes: plt.Axes) -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=7, loc="best")


def _k(runs: pd.DataFrame) -> str:
    counts = runs["count"].dropna().unique() if "count" in runs else []
    return str(int(counts[0])) if len(counts) == 1 else "k"
