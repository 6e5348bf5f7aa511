"""What every report shows, computed once: runs by protocol, Pareto fronts, parameter labels,
deletion variants, churn steps and erasure scorecard rows.

The console tables, the static figures and the website all read results through here, so
that the same run is labelled, grouped and ranked the same way everywhere.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.measures import verdict_rank
from harness.core.results import read_result
from harness.suites.history import FIGURE_BY_NAME


def decoded(value: Any) -> Any:
    """A JSON attribute (build, query or protocol arguments) as Python data."""
    return json.loads(value) if isinstance(value, str) and value else value


def slug(name: str) -> str:
    """A file-name-safe, unique form of a name (a readable part and a short hash)."""
    readable = re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")[:40] or "x"
    digest = hashlib.sha1(str(name).encode()).hexdigest()[:6]
    return f"{readable}-{digest}"


def parameters(row: pd.Series | dict[str, Any]) -> dict[str, Any]:
    """A run's build and query arguments as one dict (positional ones numbered)."""
    out: dict[str, Any] = {}
    for prefix, column in (("build", "build_args"), ("query", "query_args")):
        value = decoded(row.get(column))
        if isinstance(value, dict):
            out.update(value)
        elif isinstance(value, list):
            out.update({f"{prefix}[{i}]": v for i, v in enumerate(value)})
    return out


def value_key(value: Any) -> tuple[int, float, str]:
    """Numbers before text, numbers by value: M=4 < M=12 < M=16, ef=40 < ef=120."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            number = float(str(value))
        except ValueError:
            return (1, 0.0, str(value))
    else:
        number = float(value)
    return (0, number, "") if math.isfinite(number) else (1, 0.0, str(value))


def parameter_key(row: pd.Series | dict[str, Any]) -> tuple[Any, ...]:
    """A run's sort key by its parameters, names first, values numerically."""
    return tuple((name, value_key(value)) for name, value in parameters(row).items())


def build_key(build_args: Any) -> tuple[Any, ...]:
    return parameter_key({"build_args": build_args})


def sorted_runs(runs: pd.DataFrame, first: tuple[str, ...] = ()) -> pd.DataFrame:
    """Runs ordered by the `first` columns (as text), then numerically by parameters."""
    if runs.empty:
        return runs
    keys = [
        (*(str(row.get(c, "")) for c in first), parameter_key(row)) for _, row in runs.iterrows()
    ]
    order = sorted(range(len(runs)), key=keys.__getitem__)
    return runs.iloc[order]


def parameter_text(row: pd.Series | dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in parameters(row).items()) or "-"


def run_name(algorithm: Any, parameters: str) -> str:
    """`hnsw M=16 ef=40`, or the algorithm alone when it has no parameters."""
    return str(algorithm) if parameters == "-" else f"{algorithm} {parameters}"


def build_text(build_args: Any) -> str:
    return parameter_text({"build_args": build_args})


def ok_runs(results: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """The successful runs of one protocol (an empty frame when there are none)."""
    if results.empty or "protocol" not in results:
        return pd.DataFrame()
    return results[(results["protocol"] == protocol) & (results["status"] == "ok")].copy()


def of_dataset(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    return runs[runs["dataset"] == dataset] if not runs.empty else runs


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


def train_size(row: pd.Series | dict[str, Any]) -> float:
    """n, the rows the index held before deletion (stored by the deletion protocol)."""
    value = row.get("rows_before")
    return float(value) if value is not None and pd.notna(value) else float("nan")


def deletion_variant(row: pd.Series | dict[str, Any]) -> str:
    """`random 0.01 (seed 1)`: the deletion set a deletion or erasure run used."""
    options = decoded(row.get("protocol_args")) or {}
    return (
        f"{options.get('policy')} {options.get('delete_count')} (seed {options.get('delete_seed')})"
    )


def by_variant(runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Deletion or erasure runs grouped by their deletion set."""
    if runs.empty:
        return []
    variants = pd.Series([deletion_variant(row) for _, row in runs.iterrows()], index=runs.index)
    return list(runs.groupby(variants))


def churn_steps(path: str | Path) -> dict[str, list[float]]:
    """The search steps of one churn result and the recall measured at each."""
    arrays = read_result(path).get("measure_arrays", {})
    return {
        "step": [int(s) for s in arrays.get("search_step", [])],
        "recall": [float(r) for r in arrays.get("search_recall", [])],
    }


def scorecard_row(row: pd.Series) -> dict[str, Any]:
    """What names an erasure scorecard row on the site: its algorithm (and page), build,
    variant, state, verdict and the checks the verdict rests on."""
    return {
        "algorithm": row["algorithm"],
        "href": f"algorithms/{slug(row['algorithm'])}.html",
        "build": build_text(row["build_args"]),
        "variant": row["variant"],
        "state": row.get("state"),
        "verdict": row.get("verdict"),
        "reason": row.get("verdict_reason") or "",
    }


def erasure_rows(erasure: pd.DataFrame) -> pd.DataFrame:
    """One scorecard row per (algorithm, build, deletion set, state): its worst query group."""
    runs = erasure.copy()
    runs["recall_gap"] = runs["recall"] - runs["recall_retrain"]
    runs["variant"] = [deletion_variant(row) for _, row in runs.iterrows()]
    runs["rank"] = [verdict_rank(v) for v in runs["verdict"]]
    keys = ["algorithm", "build_args", "variant", "state"]
    worst = runs.sort_values("rank", ascending=False).groupby(keys, sort=True).head(1)
    order = sorted(
        range(len(worst)),
        key=lambda i: (
            str(worst["algorithm"].iloc[i]),
            build_key(worst["build_args"].iloc[i]),
            *(str(worst[k].iloc[i]) for k in ("variant", "state")),
        ),
    )  # builds numerically: M=6 before M=12
    return worst.iloc[order].reset_index(drop=True)


def k_label(runs: pd.DataFrame) -> str:
    """The k of a set of runs ("k" when they mix several)."""
    counts = runs["count"].dropna().unique() if "count" in runs else []
    return str(int(counts[0])) if len(counts) == 1 else "k"


def finite(value: Any) -> float | None:
    """A finite float for tables and JSON, or None (JSON null, shown as '-')."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def figure_change(figure: str, change: Any) -> str:
    """A nightly change as a reader reads it: `x0.50 (-50%)` for a ratio, `+0.030` else."""
    number = finite(change)
    if figure == "failed":
        return "-" if number is None else f"{number:+.0f} failed run(s)"
    if figure not in FIGURE_BY_NAME:
        return "-" if number is None else f"{number:+.0f} step(s) down the verdicts"
    if number is None:
        return "gone"
    if FIGURE_BY_NAME[figure].of.relative:
        ratio = math.exp(number)
        return f"x{ratio:.2f} ({ratio - 1:+.0%})"
    return f"{number:+.3f}"


def figure_noise(figure: str, noise: Any, threshold: Any) -> str:
    """`noise +-16%, flagged beyond x/1.61`: the spread and the change it had to exceed."""
    spread, limit = finite(noise), finite(threshold)
    if figure not in FIGURE_BY_NAME or spread is None or limit is None:
        return "-"
    if FIGURE_BY_NAME[figure].of.relative:
        return f"noise ±{math.exp(spread) - 1:.0%}, flagged beyond x/÷{math.exp(limit):.2f}"
    return f"noise ±{spread:.3f}, flagged beyond ±{limit:.3f}"


def figure_value(figure: str, value: Any) -> str:
    """A nightly figure as its measure shows it (verdicts as they are)."""
    if figure in FIGURE_BY_NAME:
        return FIGURE_BY_NAME[figure].of.format(value)
    return "-" if value is None or pd.isna(value) else str(value)


def regression_rows(found: pd.DataFrame) -> list[dict[str, Any]]:
    """The regressions with their evidence, formatted by each figure's measure."""
    rows = []
    for _, r in found.iterrows():
        figure = str(r["figure"])
        known = FIGURE_BY_NAME.get(figure)

        def shown(name: str, figure: str = figure, r: pd.Series = r) -> str:
            return figure_value(figure, r.get(name))

        rows.append(
            {
                **{key: r[key] for key in ("night", "dataset", "algorithm", "protocol")},
                "figure": f"{figure} ({known.of.title})" if known else figure,
                "current": (
                    f"{shown('current')} [{shown('current_low')} .. {shown('current_high')}]"
                ),
                "previous": (
                    f"{shown('previous')} [{shown('previous_low')} .. {shown('previous_high')}]"
                ),
                "nights": int(r["nights"]),
                "change": figure_change(figure, r.get("change")),
                "evidence": figure_noise(figure, r.get("noise"), r.get("threshold")),
            }
        )
    return rows
