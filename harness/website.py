"""The static results site: `python run.py --website [--outputdir DIR]`.

Renders Jinja2 templates from `website/templates` over `harness.results.load_results`:
an index with a sortable leaderboard per dataset, a page per dataset and per algorithm, an
erasure page explaining E1-E4, and a nightly page when `<results>/nightly/history.csv`
exists. Charts are plotly.js, copied from the installed `plotly` package into the site, with
their data embedded in each page (no fetch, no CDN): the site works from `file://` and from
any static host. Names are data: Jinja2 autoescapes them, the JSON in `<script>` escapes
`<`, `>`, `&` and U+2028/9, and strings given to plotly are HTML-escaped (plotly draws
entities as text).
"""

from __future__ import annotations

import html
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from harness.plots import (
    RECALL_TARGET,
    VERDICTS,
    churn_steps,
    deletion_variant,
    erasure_rows,
    ok_runs,
    parameter_text,
    parameters,
    pareto_front,
    plot_all,
    slug,
    train_size,
)
from harness.results import load_results

SITE = Path(__file__).resolve().parent.parent / "website"
HISTORY = Path("nightly") / "history.csv"
NIGHTLY_FIGURES = (
    "best_qps",
    "max_recall",
    "build_time",
    "delete_p50",
    "speedup",
    "mean_recall",
    "unlearning_gap",
)
# plotly's default colour cycle, assigned per algorithm so a front, its faint points and its
# "before deletion" line share one colour.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
PALETTE += ("#7f7f7f", "#bcbd22", "#17becf")
_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_SCRIPT_ESCAPES["\u2029"] = "\\u2029"


def build_site(results_root: str | Path, outdir: str | Path) -> Path:
    """Render the whole site into `outdir` (replacing what a previous build left); the index."""
    results_root, outdir = Path(results_root), Path(outdir)
    results = load_results(results_root)
    if outdir.exists():
        shutil.rmtree(outdir)
    (outdir / "static").mkdir(parents=True)
    _copy_static(outdir / "static")
    env = _environment()
    history = nightly_history(results_root)
    runs = results[results["dataset"].notna()] if not results.empty else results
    datasets = sorted(runs["dataset"].unique()) if not runs.empty else []
    algorithms = sorted(runs["algorithm"].dropna().unique()) if not runs.empty else []
    site = {
        "datasets": [{"name": d, "href": f"datasets/{slug(d)}.html"} for d in datasets],
        "algorithms": [{"name": a, "href": f"algorithms/{slug(a)}.html"} for a in algorithms],
        "nightly": history is not None,
        "results_root": str(results_root),
    }

    def render(template: str, path: str, **context: Any) -> None:
        root = "../" * path.count("/")
        text = env.get_template(template).render(site=site, root=root, **context)
        (outdir / path).parent.mkdir(parents=True, exist_ok=True)
        (outdir / path).write_text(text, encoding="utf-8")

    figures = plot_all(results_root, outdir / "plots") if datasets else []
    unreadable = results[results["dataset"].isna()] if not results.empty else results
    render(
        "index.html",
        "index.html",
        boards=[board(runs[runs["dataset"] == d], d) for d in datasets],
        unreadable=_records(unreadable, ["path", "failure_detail"]),
        target=RECALL_TARGET,
    )
    for dataset in datasets:
        render(
            "dataset.html",
            f"datasets/{slug(dataset)}.html",
            **dataset_page(runs[runs["dataset"] == dataset], dataset, figures),
        )
    for algorithm in algorithms:
        render(
            "algorithm.html",
            f"algorithms/{slug(algorithm)}.html",
            **algorithm_page(runs[runs["algorithm"] == algorithm], algorithm),
        )
    render("erasure.html", "erasure.html", scorecards=erasure_scorecards(runs, datasets))
    if history is not None:
        render("nightly.html", "nightly.html", **nightly_page(*history))
    return outdir / "index.html"


def board(runs: pd.DataFrame, dataset: str) -> dict[str, Any]:
    """The index's section of one dataset: its anchor, page and leaderboard."""
    return {
        "name": dataset,
        "anchor": f"ds-{slug(dataset)}",
        "href": f"datasets/{slug(dataset)}.html",
        "rows": leaderboard(runs),
    }


def script_json(value: Any) -> Markup:
    """JSON safe inside a `<script>` element: no `</script>`, no `<!--`, no line separators."""
    text = json.dumps(value, allow_nan=False)
    for character, escape in _SCRIPT_ESCAPES.items():
        text = text.replace(character, escape)
    return Markup(text)


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
        "best_qps": _num(chosen["qps"]) if not good.empty else None,
        "recall": _num(chosen["recall"]) if chosen is not None else None,
        "parameters": parameter_text(chosen) if chosen is not None else "",
        "build_time": _num(
            chosen["build_time"] if chosen is not None else _median(ok, "build_time")
        ),
        "delete_p50": _median(deletion, "single_p50"),
        "speedup": _median(deletion, "speedup"),
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
        verdicts = erasure.loc[erasure["state"] == state, "verdict"].dropna().tolist()
        if verdicts:
            out[key] = max(verdicts, key=_verdict_rank)
    deleted = erasure[erasure["state"] == "deleted"]
    if not deleted.empty and "unlearning_gap" in deleted:
        worst = deleted.loc[deleted["unlearning_gap"].idxmax()]
        out["auc_after"] = _num(worst.get("auc_after"))
        out["unlearning_gap"] = _num(worst["unlearning_gap"])
    return out


def dataset_page(runs: pd.DataFrame, dataset: str, figures: list[Path]) -> dict[str, Any]:
    """Leaderboard, charts of every protocol, erasure scorecard, every run, failures."""
    qps = ok_runs(runs, "qps-recall")
    charts = []
    if not qps.empty:
        charts.append(qps_recall_chart(qps, f"{dataset}: QPS against recall (hover: parameters)"))
    deletion = ok_runs(runs, "deletion")
    if not deletion.empty:
        variants = pd.Series([deletion_variant(r) for _, r in deletion.iterrows()], deletion.index)
        for variant, group in deletion.groupby(variants):
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
        "target": RECALL_TARGET,
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


# ---- tables -------------------------------------------------------------------------------


def run_rows(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per result file."""
    columns = ["algorithm", "protocol", "status", "recall", "qps", "build_time", "path"]
    rows = []
    for _, run in runs.sort_values(["protocol", "algorithm"]).iterrows():
        row = {c: run.get(c) for c in columns}
        row.update(
            recall=_num(row["recall"]),
            qps=_num(row["qps"]),
            build_time=_num(row["build_time"]),
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
                "build": parameter_text({"build_args": build_args}),
                "variant": variant,
                "n": _num(train_size(first)),
                "delete_p50": _num(first.get("single_p50")),
                "delete_p99": _num(first.get("single_p99")),
                "delete_time": _num(first.get("delete_time")),
                "rebuild_time": _num(first.get("rebuild_time")),
                "speedup": _num(first.get("speedup")),
                "best_recall": _num(group["recall"].max()),
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
            "build": parameter_text({"build_args": row["build_args"]}),
            "variant": row["variant"],
            "state": row.get("state"),
            "verdict": row.get("verdict"),
            "reason": row.get("verdict_reason") or "",
            **{name: _num(row.get(name)) for name in names},
        }
        for _, row in erasure_rows(erasure).iterrows()
    ]


# ---- charts (plotly figure specs; strings HTML-escaped, plotly shows entities as text) -----


def qps_recall_chart(runs: pd.DataFrame, title: str) -> dict[str, Any]:
    """Per algorithm its Pareto front (line) and every other point (faint markers)."""
    traces = []
    for i, (algorithm, points) in enumerate(sorted(runs.groupby("algorithm"), key=_first)):
        front = pareto_front(points)
        colour = PALETTE[i % len(PALETTE)]
        style = {"legendgroup": f"g{i}", "marker": {"color": colour}, "line": {"color": colour}}
        traces.append(_scatter(front, algorithm, "lines+markers", **style))
        rest = points.drop(front.index)
        if not rest.empty:
            traces.append(
                _scatter(rest, algorithm, "markers", showlegend=False, opacity=0.35, **style)
            )
    return _chart(title, traces, "recall", "queries per second (log)", log_y=True)


def raw_points_chart(runs: pd.DataFrame, title: str) -> dict[str, Any]:
    traces = [
        _scatter(points, parameter_text({"build_args": build_args}), "markers")
        for build_args, points in sorted(runs.groupby("build_args"), key=_first)
    ]
    return _chart(title, traces, "recall", "queries per second (log)", log_y=True)


def deletion_chart(after: pd.DataFrame, before: pd.DataFrame, title: str) -> dict[str, Any]:
    """Fronts after deletion (solid) and before (dashed, from qps-recall)."""
    traces = []
    for i, (algorithm, points) in enumerate(sorted(after.groupby("algorithm"), key=_first)):
        colour = PALETTE[i % len(PALETTE)]
        front = pareto_front(points)
        colour_style = {"marker": {"color": colour}, "line": {"color": colour}}
        traces.append(_scatter(front, f"{algorithm} after", "lines+markers", **colour_style))
        previous = before[before["algorithm"] == algorithm] if not before.empty else before
        if not previous.empty:
            line = {"dash": "dash", "color": colour}
            traces.append(
                _scatter(pareto_front(previous), f"{algorithm} before", "lines", line=line)
            )
    return _chart(title, traces, "recall", "queries per second (log)", log_y=True)


def churn_chart(runs: pd.DataFrame, title: str) -> dict[str, Any]:
    """Recall at every search step; the best query group of each build."""
    traces = []
    for (algorithm, _), build in sorted(runs.groupby(["algorithm", "build_args"]), key=_first):
        best = build.loc[build["mean_recall"].idxmax()]
        steps = churn_steps(best["path"])
        label = f"{algorithm} {parameter_text(best)}"
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": _text(label),
                "x": steps["step"],
                "y": [_num(r) for r in steps["recall"]],
                "text": [_hover(label, {"step": s}) for s in steps["step"]],
                "hovertemplate": "%{text}<br>recall %{y:.4f}<extra></extra>",
            }
        )
    return _chart(title, traces, "runbook step", "recall")


def delete_latency_chart(deletion: pd.DataFrame, title: str) -> dict[str, Any]:
    """Median single-delete latency (ms) against n, per build."""
    traces = []
    runs = deletion.assign(n=[train_size(r) for _, r in deletion.iterrows()])
    runs = runs.dropna(subset=["n", "single_p50"])
    for build_args, points in sorted(runs.groupby("build_args"), key=_first):
        per_n = points.groupby("n").first().reset_index().sort_values("n")
        label = parameter_text({"build_args": build_args})
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": _text(label),
                "x": [_num(n) for n in per_n["n"]],
                "y": [_num(v * 1e3) for v in per_n["single_p50"]],
                "text": [
                    _hover(label, {"dataset": r["dataset"], "speed-up": _fmt(r.get("speedup"))})
                    for _, r in per_n.iterrows()
                ],
                "hovertemplate": "%{text}<br>n %{x}<br>p50 %{y:.4f} ms<extra></extra>",
            }
        )
    return _chart(title, traces, "n (rows before deletion)", "delete p50, ms (log)", log_y=True)


def _scatter(points: pd.DataFrame, name: str, mode: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": mode,
        "name": _text(name),
        "x": [_num(v) for v in points["recall"]],
        "y": [_num(v) for v in points["qps"]],
        "text": [_hover(r["algorithm"], parameters(r)) for _, r in points.iterrows()],
        "hovertemplate": "%{text}<br>recall %{x:.4f}<br>QPS %{y:.1f}<extra></extra>",
        **extra,
    }


def _chart(
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


def _hover(name: str, values: dict[str, Any]) -> str:
    lines = [f"<b>{_text(name)}</b>"] + [f"{_text(k)} = {_text(v)}" for k, v in values.items()]
    return "<br>".join(lines)


def _text(value: Any) -> str:
    """A string plotly shows literally: its pseudo-HTML sees only entities."""
    return html.escape(str(value), quote=True)


# ---- nightly ------------------------------------------------------------------------------


def nightly_history(results_root: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The nightly history and its regressions, via `harness.nightly`; None without a file."""
    path = results_root / HISTORY
    if not path.exists():
        return None
    from harness import nightly  # imported lazily: only sites with a nightly history need it

    history = nightly.read_history(path)
    return history, nightly.regressions(history)


def nightly_page(history: pd.DataFrame, regressions: pd.DataFrame) -> dict[str, Any]:
    """A chart per figure: its trend over nights, one line per (dataset, algorithm, protocol)."""
    charts = []
    keys = ["dataset", "algorithm", "protocol"]
    ordered = history.sort_values("night")
    for figure in NIGHTLY_FIGURES:
        if figure not in ordered or ordered[figure].isna().all():
            continue
        traces = []
        for key, group in ordered.dropna(subset=[figure]).groupby(keys):
            label = " / ".join(map(str, key))
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": _text(label),
                    "x": [str(n) for n in group["night"]],
                    "y": [_num(v) for v in group[figure]],
                    "text": [
                        _hover(label, {"revision": r.get("git_revision", "")})
                        for _, r in group.iterrows()
                    ],
                    "hovertemplate": f"%{{text}}<br>%{{x}}<br>{figure} %{{y:.4g}}<extra></extra>",
                }
            )
        charts.append(_chart(f"{figure} over nights", traces, "night", figure))
    verdicts = []
    if "verdict" in ordered:
        latest = ordered.dropna(subset=["verdict"]).groupby(keys).tail(1)
        verdicts = _records(latest, ["night", *keys, "verdict"])
    columns = ["night", *keys, "figure", "previous", "current", "change"]
    return {
        "charts": charts,
        "regressions": _records(regressions, columns),
        "verdicts": verdicts,
        "nights": int(history["night"].nunique()) if "night" in history else 0,
    }


# ---- helpers ------------------------------------------------------------------------------


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(SITE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["script_json"] = script_json
    env.filters["slug"] = slug
    env.filters["fmt"] = _fmt
    env.filters["sortkey"] = _sort_key
    env.globals["verdict_rank"] = _verdict_rank
    return env


def _copy_static(target: Path) -> None:
    """Our CSS and JS, and the plotly.js bundle the `plotly` package ships."""
    import plotly  # imported here: only the site build needs it

    for path in (SITE / "static").iterdir():
        shutil.copy2(path, target / path.name)
    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not bundle.exists():
        raise FileNotFoundError(
            f"{bundle} is missing: reinstall plotly (`pip install -r requirements.txt`)"
        )
    shutil.copy2(bundle, target / "plotly.min.js")


def _num(value: Any) -> float | None:
    """A finite float for tables and JSON, or None (JSON null, shown as '-')."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _median(runs: pd.DataFrame, column: str) -> float | None:
    if runs.empty or column not in runs:
        return None
    return _num(runs[column].median())


def _fmt(value: Any, spec: str = ".4g") -> str:
    number = _num(value)
    return "-" if number is None else format(number, spec)


def _sort_key(value: Any) -> str:
    """`data-sort` of a numeric cell: the number, or empty (sorted last by sortable.js)."""
    number = _num(value)
    return "" if number is None else repr(number)


def _verdict_rank(verdict: Any) -> int:
    """Higher is worse: erased < hidden < unverified < leaking; unknown verdicts worst."""
    return VERDICTS.index(verdict) if verdict in VERDICTS else len(VERDICTS)


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    present = [c for c in columns if c in frame]
    return [{c: row.get(c) for c in columns} for row in frame[present].to_dict("records")]


def _first(item: tuple[Any, Any]) -> str:
    return str(item[0])
