"""Static figures of the results (matplotlib, PNG and SVG): `python run.py --plot`.

One figure per question a reader asks of the results:

- QPS-recall Pareto fronts per dataset, all algorithms, log QPS (ann-benchmarks' main plot),
  and every raw point of each algorithm, coloured by build arguments;
- per-delete latency against the index size n (deletion protocol);
- recall after deletion against the same algorithm's front before deletion;
- recall at every search step of a churn runbook;
- the erasure scorecard (E1 leaks, E2 retrain gap, E3 remanence, E4 membership inference).

Figures are `matplotlib.figure.Figure` objects drawn without pyplot, so nothing here
changes matplotlib's global state. Names are data: a `$` in one is escaped, never mathtext.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from harness.core.measures import GAP_TOLERANCE, MEASURES, RECALL_TARGET
from harness.core.results import load_results
from harness.report.data import (
    build_key,
    build_text,
    by_variant,
    churn_steps,
    erasure_rows,
    k_label,
    of_dataset,
    ok_runs,
    parameter_text,
    pareto_front,
    run_name,
    slug,
    train_size,
)
from harness.report.style import Style, compact_number, log_ticks, style_at, styles, wrapped

FORMATS = ("png", "svg")
VERDICT_COLOURS = {
    "erased": "#2e7d32",
    "hidden": "#f9a825",
    "unverified": "#757575",
    "leaking": "#c62828",
}
#: E2's tolerance: recall may fall this far below the retrained index's and still pass.
RECALL_GAP_TOLERANCE = 0.01
#: Float slack of the pass/fail colours (0.95 - 0.96 is -0.0100000000000000089).
EPS = 1e-9
#: Legends with more entries than this go beside the axes, in columns of this many.
LEGEND_INSIDE = 8
Looks = dict[str, Style]


def plot_all(results_root: str | Path, outdir: str | Path) -> list[Path]:
    """Every figure the results support, as PNG and SVG under `outdir`; the files written."""
    results = load_results(results_root)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if results.empty:
        return written
    looks = styles(results["algorithm"].dropna())
    qps = ok_runs(results, "qps-recall")
    deletion = ok_runs(results, "deletion")
    churn = ok_runs(results, "churn")
    erasure = ok_runs(results, "erasure")
    for dataset in sorted(results["dataset"].dropna().unique()):
        name = slug(dataset)
        runs = of_dataset(qps, dataset)
        if not runs.empty:
            figure = qps_recall_figure(runs, dataset, looks)
            written += save(figure, outdir / f"{name}-qps-recall")
            for algorithm, points in runs.groupby("algorithm"):
                figure = raw_points_figure(points, dataset, algorithm)
                written += save(figure, outdir / f"{name}-{slug(algorithm)}-points")
        for variant, group in by_variant(of_dataset(deletion, dataset)):
            figure = recall_after_deletion_figure(group, runs, dataset, variant, looks)
            written += save(figure, outdir / f"{name}-deletion-{slug(variant)}")
        for runbook, figure in churn_figures(of_dataset(churn, dataset), dataset, looks):
            written += save(figure, outdir / f"{name}-churn-{slug(runbook)}")
        scorecard = of_dataset(erasure, dataset)
        if not scorecard.empty:
            written += save(erasure_figure(scorecard, dataset), outdir / f"{name}-erasure")
    if not deletion.empty and "single_p50" in deletion:
        written += save(delete_latency_figure(deletion, looks), outdir / "delete-latency")
    return written


def save(figure: Figure, stem: Path) -> list[Path]:
    paths = []
    for extension in FORMATS:
        path = stem.with_suffix(f".{extension}")
        figure.savefig(path, dpi=100, bbox_inches="tight", pad_inches=0.15)
        paths.append(path)
    return paths


def text(value: object) -> str:
    """A name as literal text: `$` would otherwise start mathtext."""
    return str(value).replace("$", r"\$")


DASHES = ("-", "--", ":", "-.")


def new_figure(height: float = 4.5) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(7, height), layout="constrained")
    return figure, figure.add_subplot()


def qps_recall_figure(runs: pd.DataFrame, dataset: str, looks: Looks | None = None) -> Figure:
    """Each algorithm's Pareto front of QPS (log) against recall."""
    looks = looks or styles(runs["algorithm"])
    figure, axes = new_figure()
    for algorithm, points in runs.groupby("algorithm"):
        front = pareto_front(points)
        look = looks[str(algorithm)]
        axes.plot(
            front["recall"], front["qps"], marker=look.marker, color=look.colour, markersize=5,
            label=text(algorithm),
        )  # fmt: skip
    qps_axes(axes, f"{text(dataset)}: QPS against recall@{k_label(runs)} (Pareto fronts)")
    return figure


def raw_points_figure(points: pd.DataFrame, dataset: str, algorithm: str) -> Figure:
    """Every query group of one algorithm, one colour per build, its front as a line."""
    figure, axes = new_figure()
    builds = sorted(points.groupby("build_args"), key=lambda item: build_key(item[0]))
    for i, (build_args, build) in enumerate(builds):
        look = style_at(i)
        axes.scatter(
            build["recall"], build["qps"], s=20, color=look.colour, marker=look.marker,
            label=text(build_text(build_args)),
        )  # fmt: skip
    front = pareto_front(points)
    axes.plot(front["recall"], front["qps"], color="black", linewidth=0.8, label="Pareto front")
    qps_axes(axes, f"{text(algorithm)} on {text(dataset)}: every parameter setting")
    return figure


def recall_after_deletion_figure(
    after: pd.DataFrame,
    before: pd.DataFrame,
    dataset: str,
    variant: str,
    looks: Looks | None = None,
) -> Figure:
    """Fronts after deleting D (solid) against the same algorithm before (dashed)."""
    looks = looks or styles(after["algorithm"])
    figure, axes = new_figure()
    for algorithm, points in after.groupby("algorithm"):
        front = pareto_front(points)
        look = looks[str(algorithm)]
        (line,) = axes.plot(
            front["recall"], front["qps"], marker=look.marker, color=look.colour, markersize=5
        )
        line.set_label(f"{text(algorithm)} after deletion")
        previous = before[before["algorithm"] == algorithm] if not before.empty else before
        if not previous.empty:
            old = pareto_front(previous)
            axes.plot(
                old["recall"],
                old["qps"],
                linestyle="--",
                color=line.get_color(),
                alpha=0.6,
                label=f"{text(algorithm)} before",
            )
    qps_axes(axes, f"{text(dataset)}: recall after deleting {variant}")
    return figure


def delete_latency_figure(deletion: pd.DataFrame, looks: Looks | None = None) -> Figure:
    """Median single-delete latency (p99 as the bar's top) against n, per algorithm."""
    looks = looks or styles(deletion["algorithm"])
    runs = deletion.dropna(subset=["single_p50"]).copy()
    runs["n"] = [train_size(row) for _, row in runs.iterrows()]
    figure, axes = new_figure()
    scale = MEASURES["single_p50"].scale
    for algorithm, points in runs.dropna(subset=["n"]).groupby("algorithm"):
        per_n = points.groupby("n")[["single_p50", "single_p99"]].median().reset_index()
        p50, p99 = per_n["single_p50"] * scale, per_n["single_p99"] * scale
        look = looks[str(algorithm)]
        axes.errorbar(
            per_n["n"], p50, yerr=[np.zeros(len(p50)), p99 - p50], marker=look.marker,
            color=look.colour, capsize=3, label=text(algorithm),
        )  # fmt: skip
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("n (rows in the index before deletion)")
    axes.set_ylabel("delete latency, ms (p50; bar to p99)")
    axes.set_title("Per-delete latency against index size")
    axes.grid(True, which="both", alpha=0.3)
    readable_log_axis(axes.xaxis)
    readable_log_axis(axes.yaxis)
    legend(axes)
    return figure


def churn_figures(
    churn: pd.DataFrame, dataset: str, looks: Looks | None = None
) -> Iterable[tuple[str, Figure]]:
    """Per runbook: recall at every search step, the best query group of each build (the
    algorithm's colour, a line style per build)."""
    if churn.empty:
        return
    looks = looks or styles(churn["algorithm"])
    for runbook, group in churn.groupby("runbook"):
        figure, axes = new_figure()
        for algorithm, runs in group.groupby("algorithm"):
            look = looks[str(algorithm)]
            builds = sorted(runs.groupby("build_args"), key=lambda item: build_key(item[0]))
            for i, (_, build) in enumerate(builds):
                best = build.loc[build["mean_recall"].idxmax()]
                steps = churn_steps(best["path"])
                label = text(run_name(algorithm, parameter_text(best)))
                axes.plot(
                    steps["step"], steps["recall"], marker=look.marker, markersize=4,
                    color=look.colour, linestyle=DASHES[i % len(DASHES)], label=label,
                )  # fmt: skip
        axes.set_xlabel("runbook step")
        axes.set_ylabel(f"recall@{k_label(group)}")
        axes.set_title(wrapped(f"{text(dataset)}: recall under churn ({text(runbook)})"))
        axes.grid(True, alpha=0.3)
        legend(axes)
        yield runbook, figure


#: The scorecard's columns: title, measure, format, and whether a value passes the check.
SCORECARD = (
    ("E1 leaks", "leaks", "{:.0f}", lambda v: v == 0),
    ("E2 recall vs retrain", "recall_gap", "{:+.3f}", lambda v: v >= -RECALL_GAP_TOLERANCE - EPS),
    ("E3 remanent", "remanent_fraction", "{:.1%}", lambda v: v == 0),
    ("E4 AUC gap", "unlearning_gap", "{:.3f}", lambda v: v <= GAP_TOLERANCE),
)


def erasure_figure(erasure: pd.DataFrame, dataset: str) -> Figure:
    """A table of E1-E4 and the verdict, green where the check passes, red where not; a row
    per algorithm, build, deletion set and state."""
    rows = erasure_rows(erasure)
    columns = ["run", *(title for title, *_ in SCORECARD), "verdict"]
    cells, colours = [], []
    for _, row in rows.iterrows():
        build = build_text(row["build_args"])
        name = row["algorithm"] if build == "-" else f"{row['algorithm']} {build}"
        line = [text(f"{name}, {row['state']}")]
        tint = ["#ffffff"]
        for _, column, fmt, passes in SCORECARD:
            value = row.get(column)
            missing = value is None or pd.isna(value)
            line.append("-" if missing else fmt.format(value))
            tint.append("#eeeeee" if missing else ("#c8e6c9" if passes(value) else "#ffcdd2"))
        line.append(str(row["verdict"]))
        tint.append(VERDICT_COLOURS.get(row["verdict"], "#eeeeee"))
        cells.append(line)
        colours.append(tint)
    widest = max((len(line[0]) for line in cells), default=10)
    figure = Figure(figsize=(max(8.0, 4.5 + 0.075 * widest), 0.8 + 0.25 * len(rows)))
    axes = figure.add_subplot()
    axes.axis("off")
    table = axes.table(cellText=cells, cellColours=colours, colLabels=columns, loc="upper center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(columns))))
    for (line, column), cell in table.get_celld().items():
        if column == 0:
            cell.set_text_props(ha="left")
        if line > 0 and column == len(columns) - 1 and cells[line - 1][-1] != "hidden":
            cell.set_text_props(color="white", weight="bold")
    variants = ", ".join(sorted(rows["variant"].unique())) if len(rows) else ""
    figure.suptitle(
        wrapped(f"{text(dataset)}: erasure scorecard (deleted {variants})"), fontsize=10
    )
    return figure


def qps_axes(axes: Axes, title: str) -> None:
    axes.set_yscale("log")
    axes.set_xlabel("recall")
    axes.set_ylabel("queries per second (log)")
    axes.axvline(RECALL_TARGET, color="grey", linestyle=":", linewidth=0.8)
    axes.set_title(wrapped(title), fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    readable_log_axis(axes.yaxis)
    legend(axes)


def readable_log_axis(axis: object) -> None:
    """Plain-number ticks on a log axis (no 10^x), at 1, 2 and 5 times each power of ten or
    at the powers alone on a long axis: the interactive charts' ticks (`style.log_ticks`)."""
    low, high = axis.get_view_interval()
    ticks = log_ticks(low, high)
    if ticks:
        axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(compact_number))
    # an axis too short for two such ticks keeps matplotlib's minor ticks, labelled
    axis.set_minor_formatter(NullFormatter() if ticks else FuncFormatter(compact_number))


def legend(axes: Axes) -> None:
    """A legend inside the axes when short, beside them (in columns) when long."""
    entries = len(axes.get_legend_handles_labels()[0])
    if not entries:
        return
    if entries <= LEGEND_INSIDE:
        axes.legend(fontsize=7, loc="best")
        return
    columns = -(-entries // 24)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncols=columns)
    axes.figure.set_figwidth(7 + 2.2 * columns)
