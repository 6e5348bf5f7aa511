"""The site's interactive charts as plotly figure specs (JSON-able dicts).

Strings given to plotly are HTML-escaped: its labels are pseudo-HTML that shows entities as
text, so a name is always shown literally. The same runs, fronts and labels as the static
figures (`harness.report.data`).
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from harness.core.measures import MEASURES
from harness.report.data import (
    build_text,
    churn_steps,
    finite,
    parameter_text,
    parameters,
    pareto_front,
    train_size,
)

# plotly's default colour cycle, assigned per algorithm so a front, its faint points and its
# "before deletion" line share one colour.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
PALETTE += ("#7f7f7f", "#bcbd22", "#17becf")


def qps_recall_chart(runs: pd.DataFrame, title: str) -> dict[str, Any]:
    """Per algorithm its Pareto front (line) and every other point (faint markers)."""
    traces = []
    for i, (algorithm, points) in enumerate(sorted(runs.groupby("algorithm"), key=first_key)):
        front = pareto_front(points)
        colour = PALETTE[i % len(PALETTE)]
        style = {"legendgroup": f"g{i}", "marker": {"color": colour}, "line": {"color": colour}}
        traces.append(scatter(front, algorithm, "lines+markers", **style))
        rest = points.drop(front.index)
        if not rest.empty:
            traces.append(
                scatter(rest, algorithm, "markers", showlegend=False, opacity=0.35, **style)
            )
    return chart(title, traces, "recall", "queries per second (log)", log_y=True)


def raw_points_chart(runs: pd.DataFrame, title: str) -> dict[str, Any]:
    traces = [
        scatter(points, build_text(build_args), "markers")
        for build_args, points in sorted(runs.groupby("build_args"), key=first_key)
    ]
    return chart(title, traces, "recall", "queries per second (log)", log_y=True)


def deletion_chart(after: pd.DataFrame, before: pd.DataFrame, title: str) -> dict[str, Any]:
    """Fronts after deletion (solid) and before (dashed, from qps-recall)."""
    traces = []
    for i, (algorithm, points) in enumerate(sorted(after.groupby("algorithm"), key=first_key)):
        colour = PALETTE[i % len(PALETTE)]
        front = pareto_front(points)
        colour_style = {"marker": {"color": colour}, "line": {"color": colour}}
        traces.append(scatter(front, f"{algorithm} after", "lines+markers", **colour_style))
        previous = before[before["algorithm"] == algorithm] if not before.empty else before
        if not previous.empty:
            line = {"dash": "dash", "color": colour}
            traces.append(
                scatter(pareto_front(previous), f"{algorithm} before", "lines", line=line)
            )
    return chart(title, traces, "recall", "queries per second (log)", log_y=True)


def churn_chart(runs: pd.DataFrame, title: str) -> dict[str, Any]:
    """Recall at every search step; the best query group of each build."""
    traces = []
    for (algorithm, _), build in sorted(runs.groupby(["algorithm", "build_args"]), key=first_key):
        best = build.loc[build["mean_recall"].idxmax()]
        steps = churn_steps(best["path"])
        label = f"{algorithm} {parameter_text(best)}"
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": escaped(label),
                "x": steps["step"],
                "y": [finite(r) for r in steps["recall"]],
                "text": [hover(label, {"step": s}) for s in steps["step"]],
                "hovertemplate": "%{text}<br>recall %{y:.4f}<extra></extra>",
            }
        )
    return chart(title, traces, "runbook step", "recall")


def delete_latency_chart(deletion: pd.DataFrame, title: str) -> dict[str, Any]:
    """Median single-delete latency (ms) against n, per build."""
    traces = []
    runs = deletion.assign(n=[train_size(r) for _, r in deletion.iterrows()])
    runs = runs.dropna(subset=["n", "single_p50"])
    for build_args, points in sorted(runs.groupby("build_args"), key=first_key):
        per_n = points.groupby("n").first().reset_index().sort_values("n")
        label = build_text(build_args)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": escaped(label),
                "x": [finite(n) for n in per_n["n"]],
                "y": [MEASURES["single_p50"].shown(v) for v in per_n["single_p50"]],
                "text": [
                    hover(
                        label,
                        {
                            "dataset": r["dataset"],
                            "speed-up": MEASURES["speedup"].format(r.get("speedup")),
                        },
                    )
                    for _, r in per_n.iterrows()
                ],
                "hovertemplate": "%{text}<br>n %{x}<br>p50 %{y:.4f} ms<extra></extra>",
            }
        )
    return chart(title, traces, "n (rows before deletion)", "delete p50, ms (log)", log_y=True)


def scatter(points: pd.DataFrame, name: str, mode: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": mode,
        "name": escaped(name),
        "x": [finite(v) for v in points["recall"]],
        "y": [finite(v) for v in points["qps"]],
        "text": [hover(r["algorithm"], parameters(r)) for _, r in points.iterrows()],
        "hovertemplate": "%{text}<br>recall %{x:.4f}<br>QPS %{y:.1f}<extra></extra>",
        **extra,
    }


def chart(
    title: str, traces: list[dict[str, Any]], x: str, y: str, log_y: bool = False
) -> dict[str, Any]:
    return {
        "title": title,
        "data": traces,
        "layout": {
            "xaxis": {"title": {"text": x}},
            "yaxis": {"title": {"text": y}, "type": "log" if log_y else "linear"},
            "margin": {"t": 20},
            "hovermode": "closest",
            "legend": {"font": {"size": 11}},
        },
    }


def hover(name: str, values: dict[str, Any]) -> str:
    lines = [f"<b>{escaped(name)}</b>"] + [
        f"{escaped(k)} = {escaped(v)}" for k, v in values.items()
    ]
    return "<br>".join(lines)


def escaped(value: Any) -> str:
    """A string plotly shows literally: its pseudo-HTML sees only entities."""
    return html.escape(str(value), quote=True)


def first_key(item: tuple[Any, Any]) -> str:
    return str(item[0])


def nightly_chart(history: pd.DataFrame, figure: str) -> dict[str, Any]:
    """One nightly figure over nights, a line per (dataset, algorithm, protocol)."""
    traces = []
    for key, group in history.dropna(subset=[figure]).groupby(["dataset", "algorithm", "protocol"]):
        label = " / ".join(map(str, key))
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": escaped(label),
                "x": [str(n) for n in group["night"]],
                "y": [finite(v) for v in group[figure]],
                "text": [
                    hover(label, {"revision": r.get("git_revision", "")})
                    for _, r in group.iterrows()
                ],
                "hovertemplate": f"%{{text}}<br>%{{x}}<br>{figure} %{{y:.4g}}<extra></extra>",
            }
        )
    return chart(f"{figure} over nights", traces, "night", figure)
