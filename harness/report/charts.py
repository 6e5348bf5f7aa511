"""The site's interactive charts as plotly figure specs (JSON-able dicts).

Strings given to plotly escape `&`, `<` and `>`: its labels are pseudo-HTML, and it decodes
those entities (and only a few others: an escaped quote would show as a literal `&quot;`),
so a name is always shown as it is. The same runs, fronts, labels and styles as the static
figures (`harness.report.data`, `harness.report.style`).
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from harness.core.measures import MEASURES
from harness.report.data import (
    build_key,
    build_text,
    churn_steps,
    finite,
    parameter_text,
    parameters,
    pareto_front,
    run_name,
    train_size,
)
from harness.report.style import Style, compact_number, log_ticks, style_at, styles
from harness.suites.history import FIGURE_BY_NAME

Looks = dict[str, Style]


def qps_recall_chart(runs: pd.DataFrame, title: str, looks: Looks | None = None) -> dict[str, Any]:
    """Per algorithm its Pareto front (line) and every other point (faint markers)."""
    looks = looks or styles(runs["algorithm"])
    traces = []
    for i, (algorithm, points) in enumerate(sorted(runs.groupby("algorithm"), key=first_key)):
        front = pareto_front(points)
        style = {"legendgroup": f"g{i}", **looks[str(algorithm)].plotly()}
        traces.append(scatter(front, algorithm, "lines+markers", **style))
        rest = points.drop(front.index)
        if not rest.empty:
            traces.append(
                scatter(rest, algorithm, "markers", showlegend=False, opacity=0.35, **style)
            )
    return chart(title, traces, "recall", "queries per second (log)", log_y=True)


def raw_points_chart(runs: pd.DataFrame, title: str) -> dict[str, Any]:
    """Every query group of one algorithm, a style per build (builds in numeric order)."""
    builds = sorted(runs.groupby("build_args"), key=lambda item: build_key(item[0]))
    traces = [
        scatter(points, build_text(build_args), "markers", **style_at(i).plotly())
        for i, (build_args, points) in enumerate(builds)
    ]
    return chart(title, traces, "recall", "queries per second (log)", log_y=True)


def deletion_chart(
    after: pd.DataFrame, before: pd.DataFrame, title: str, looks: Looks | None = None
) -> dict[str, Any]:
    """Fronts after deletion (solid) and before (dashed, from qps-recall)."""
    looks = looks or styles(after["algorithm"])
    traces = []
    for algorithm, points in sorted(after.groupby("algorithm"), key=first_key):
        look = looks[str(algorithm)]
        colour = look.colour
        front = pareto_front(points)
        traces.append(scatter(front, f"{algorithm} after", "lines+markers", **look.plotly()))
        previous = before[before["algorithm"] == algorithm] if not before.empty else before
        if not previous.empty:
            line = {"dash": "dash", "color": colour}
            traces.append(
                scatter(pareto_front(previous), f"{algorithm} before", "lines", line=line)
            )
    return chart(title, traces, "recall", "queries per second (log)", log_y=True)


def churn_chart(runs: pd.DataFrame, title: str, looks: Looks | None = None) -> dict[str, Any]:
    """Recall at every search step; the best query group of each build (the algorithm's
    style, a dash per build)."""
    looks = looks or styles(runs["algorithm"])
    traces = []
    groups = runs.groupby(["algorithm", "build_args"])
    for (algorithm, build_args), build in sorted(
        groups, key=lambda item: (str(item[0][0]), build_key(item[0][1]))
    ):
        best = build.loc[build["mean_recall"].idxmax()]
        steps = churn_steps(best["path"])
        label = run_name(algorithm, parameter_text(best))
        same = sorted(
            {build_key(b) for b in runs.loc[runs["algorithm"] == algorithm, "build_args"]}
        )
        dash = DASHES[same.index(build_key(build_args)) % len(DASHES)]
        look = looks[str(algorithm)].plotly()
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "marker": look["marker"],
                "line": {**look["line"], "dash": dash},
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
    builds = sorted(runs.groupby("build_args"), key=lambda item: build_key(item[0]))
    for i, (build_args, points) in enumerate(builds):
        per_n = points.groupby("n").first().reset_index().sort_values("n")
        label = build_text(build_args)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                **style_at(i).plotly(),
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
    chart_spec = chart(
        title, traces, "n (rows before deletion)", "delete p50, ms (log)", log_y=True
    )
    chart_spec["layout"]["xaxis"].update(log_axis(traces, "x"))
    return chart_spec


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


def chart_height(traces: list[dict[str, Any]]) -> int:
    """Tall enough for every legend entry (plotly would otherwise hide the rest)."""
    entries = sum(1 for trace in traces if trace.get("showlegend", True))
    return max(460, 100 + 21 * entries)


def recall_range(traces: list[dict[str, Any]]) -> list[float] | None:
    """The recall axis from a little below the lowest point to just past the highest (plotly
    would stretch one point over 0..1.5)."""
    values = [x for trace in traces for x in trace["x"] if x is not None]
    if not values:
        return None
    low, high = min(values), max(values)
    pad = max(0.02, (high - low) * 0.05)
    return [max(0.0, low - pad), max(high, 1.0) + 0.01 if high > 0.9 else high + pad]


def chart(
    title: str, traces: list[dict[str, Any]], x: str, y: str, log_y: bool = False
) -> dict[str, Any]:
    x_axis: dict[str, Any] = {"title": {"text": x}}
    span = recall_range(traces) if x == "recall" else None
    if span is not None:
        x_axis["range"] = span
    return {
        "title": title,
        "data": traces,
        "layout": {
            "xaxis": x_axis,
            "yaxis": {"title": {"text": y}, **log_axis(traces)}
            if log_y
            else {"title": {"text": y}},
            "margin": {"t": 20},
            "hovermode": "closest",
            "legend": {"font": {"size": 11}, "tracegroupgap": 0},
            "height": chart_height(traces),
        },
    }


def log_axis(traces: list[dict[str, Any]], key: str = "y") -> dict[str, Any]:
    """A log axis ticked as the static figures are: plain numbers (500, 1k, 2k, 5k) at 1, 2
    and 5 times each power of ten, or at the powers alone on a long axis."""
    values = [v for t in traces for v in t.get(key, []) if isinstance(v, int | float) and v > 0]
    if not values:
        return {"type": "log"}
    ticks = log_ticks(min(values) / 1.3, max(values) * 1.3)
    if not ticks:
        return {"type": "log"}
    return {"type": "log", "tickvals": ticks, "ticktext": [compact_number(t) for t in ticks]}


DASHES = ("solid", "dash", "dot", "dashdot")


def hover(name: str, values: dict[str, Any]) -> str:
    lines = [f"<b>{escaped(name)}</b>"] + [
        f"{escaped(k)} = {escaped(v)}" for k, v in values.items()
    ]
    return "<br>".join(lines)


def escaped(value: Any) -> str:
    """A string plotly shows literally: `&`, `<`, `>` as the entities it decodes."""
    return html.escape(str(value), quote=False)


def first_key(item: tuple[Any, Any]) -> str:
    return str(item[0])


def nightly_chart(history: pd.DataFrame, figure: str, looks: Looks | None = None) -> dict[str, Any]:
    """One nightly figure over nights, a line per (dataset, algorithm, protocol): the median
    of each night's repeats, its bar their range (the noise the regression check uses).
    An algorithm the history has and the results no longer have gets a look of its own."""
    looks = {**styles(history["algorithm"]), **(looks or {})}
    measure = MEASURES[FIGURE_BY_NAME[figure].measure]
    traces = []
    datasets = sorted(history["dataset"].astype(str).unique())
    for key, group in history.dropna(subset=[figure]).groupby(["dataset", "algorithm", "protocol"]):
        label = " / ".join(map(str, key))
        values = group.assign(shown=[measure.shown(v) for v in group[figure]])
        nights = values.groupby("night")["shown"].agg(["median", "min", "max"]).reset_index()
        look = looks[str(key[1])].plotly()
        dash = DASHES[datasets.index(str(key[0])) % len(DASHES)]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "marker": look["marker"],
                "line": {**look["line"], "dash": dash},
                "name": escaped(label),
                "x": [str(n) for n in nights["night"]],
                "y": [finite(v) for v in nights["median"]],
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        finite(h - m) for h, m in zip(nights["max"], nights["median"], strict=True)
                    ],
                    "arrayminus": [
                        finite(m - lo)
                        for lo, m in zip(nights["min"], nights["median"], strict=True)
                    ],
                    "thickness": 1,
                },
                "text": [hover(label, {"night": n}) for n in nights["night"]],
                "hovertemplate": f"%{{text}}<br>{escaped(measure.title)} %{{y:.4g}}<extra></extra>",
            }
        )
    return chart(
        f"{figure} ({measure.title}) over nights", traces, "night", measure.title,
        log_y=measure.relative,
    )  # fmt: skip
