"""The nightly history file and the regressions between nights.

`<results>/nightly/history.csv` has one row per (night, dataset, algorithm, protocol) with
the night's headline figures. `regressions` compares the latest night with the previous
night of each row: a figure that got worse beyond the tolerance is flagged. Each figure's
direction comes from the measure it summarises (`harness.core.measures`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.core.io import atomic_path
from harness.core.measures import (
    GAP_TOLERANCE,
    MEASURES,
    RECALL_TARGET,
    verdict_rank,
    worst_verdict,
)

#: A relative drop (higher-is-better) or rise (lower-is-better) beyond this is a regression;
#: shared CI runners vary by 10-20 % between nights, so smaller changes are noise.
TOLERANCE = 0.25


@dataclass(frozen=True)
class Figure:
    """A headline figure of a night: one number per (dataset, algorithm, protocol)."""

    name: str
    measure: str  # the measure it summarises (its direction)
    summary: str  # "max", "min", or "max_at_target" (the best among runs at the recall target)


FIGURES = (
    Figure("best_qps", "qps", "max_at_target"),
    Figure("max_recall", "recall", "max"),
    Figure("build_time", "build_time", "min"),
    Figure("delete_p50", "single_p50", "min"),
    Figure("speedup", "speedup", "max"),
    Figure("mean_recall", "mean_recall", "max"),
    Figure("unlearning_gap", "unlearning_gap", "min"),
)
FIGURE_NAMES = [f.name for f in FIGURES]
KEYS = ["dataset", "algorithm", "protocol"]
#: `runs` and `failed` count the row's runs and how many of them failed.
COLUMNS = ["night", *KEYS, "git_revision", *FIGURE_NAMES, "verdict", "runs", "failed"]
REGRESSION_COLUMNS = ["night", *KEYS, "figure", "previous", "current", "change"]
#: The figures each protocol reports; others stay empty in its rows.
PROTOCOL_FIGURES = {
    "qps-recall": ("best_qps", "max_recall", "build_time"),
    "deletion": ("best_qps", "max_recall", "delete_p50", "speedup"),
    "churn": ("mean_recall",),
    "erasure": ("max_recall", "unlearning_gap", "verdict"),
}


def history_path(results: str | Path) -> Path:
    return Path(results) / "nightly" / "history.csv"


def summarise(runs: pd.DataFrame, protocol: str) -> list[dict[str, object]]:
    """One row per (dataset, algorithm) of one protocol's runs: the best of each figure."""
    rows = []
    if runs.empty:
        return rows
    wanted = PROTOCOL_FIGURES.get(protocol, (*FIGURE_NAMES, "verdict"))
    for (dataset, algorithm), group in runs.groupby(["dataset", "algorithm"]):
        ok = group[group["status"] == "ok"]
        figures = night_figures(ok)
        row = {"dataset": dataset, "algorithm": algorithm, "protocol": protocol}
        row.update({f: figures[f] if f in wanted else np.nan for f in [*FIGURE_NAMES, "verdict"]})
        row.update(runs=len(group), failed=len(group) - len(ok))
        rows.append(row)
    return rows


def night_figures(ok: pd.DataFrame) -> dict[str, object]:
    """Every figure of FIGURES (and the worst verdict) from one group of successful runs."""

    def column(name: str) -> pd.Series:
        return pd.to_numeric(ok[name], errors="coerce") if name in ok else pd.Series(dtype=float)

    recall = column("recall")
    out: dict[str, object] = {}
    for figure in FIGURES:
        values = column(figure.measure)
        if figure.summary == "max_at_target":
            values = values[recall >= RECALL_TARGET] if len(recall) else values
        out[figure.name] = values.min() if figure.summary == "min" else values.max()
    verdict = worst_verdict(ok["verdict"]) if "verdict" in ok else None
    out["verdict"] = verdict if verdict is not None else np.nan
    return out


class HistoryError(ValueError):
    """A history file that is not one; the message says what to do."""


def read_history(path: str | Path) -> pd.DataFrame:
    """The history file as a DataFrame; an empty one with the columns if there is none."""
    path = Path(path)
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    try:
        history = pd.read_csv(path, dtype={"night": str, "git_revision": str, "verdict": object})
    except (ValueError, UnicodeDecodeError) as error:  # pandas' parser errors are ValueErrors
        raise HistoryError(
            f"{path} is not a readable nightly history file ({error}); move it away and rerun "
            "`python run.py --suite nightly`"
        ) from None
    missing = [c for c in COLUMNS if c not in history]
    if missing:
        raise HistoryError(
            f"{path} lacks the column(s) {', '.join(missing)}: it is not a nightly history "
            "file; move it away and rerun `python run.py --suite nightly`"
        )
    return history


def append_history(path: Path, night: pd.DataFrame) -> pd.DataFrame:
    """Add one night's rows, rewriting the file atomically; returns the whole history."""
    before = read_history(path)
    night = night.reindex(columns=COLUMNS)
    history = pd.concat([before, night], ignore_index=True) if len(before) else night
    with atomic_path(path) as partial:
        history[COLUMNS].to_csv(partial, index=False)
    return history


def regressions(history: pd.DataFrame, tolerance: float = TOLERANCE) -> pd.DataFrame:
    """Each figure of the latest night that is worse than the previous night of its row.

    Worse means: a relative change beyond `tolerance` in the wrong direction of the figure's
    measure (the unlearning gap, an AUC difference near 0: an absolute rise beyond the
    erasure verdict's own `GAP_TOLERANCE`), a worse erasure verdict, or a figure that is
    gone (e.g. no run reaches the recall target any more). `change` is relative (absolute
    for the gap, the number of steps down the verdict order for the verdict).
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
        for figure in [*FIGURE_NAMES, "verdict"]:
            before, now = row[f"{figure}_previous"], row[figure]
            change = worsening(figure, before, now, tolerance)
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


def worsening(figure: str, before: object, now: object, tolerance: float) -> float | None:
    """The change if it is a regression, else None."""
    if pd.isna(before):
        return None
    if pd.isna(now):
        return np.nan  # the figure is gone
    if figure == "verdict":
        step = verdict_rank(now) - verdict_rank(before)
        return float(-step) if step > 0 else None
    before, now = float(before), float(now)
    if figure == "unlearning_gap":
        return now - before if now - before > GAP_TOLERANCE else None
    measure = MEASURES[next(f.measure for f in FIGURES if f.name == figure)]
    if before == 0:
        return None if (measure.better == "higher" or now == 0) else np.inf
    change = (now - before) / abs(before)
    return change if measure.worse(0.0, change) and abs(change) > tolerance else None
