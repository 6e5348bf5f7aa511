"""The nightly history file and the regressions it shows, judged against measured noise.

`<results>/nightly/history.csv` has one row per (night, repeat, dataset, algorithm,
protocol) with that repeat's headline figures: each night runs the whole suite `repeats`
times, so every figure comes with its own run-to-run spread.

A figure of the latest night is a regression only when both hold:

1. every repeat of the latest night is worse than every value of the last `WINDOW` nights
   (outside their range: one noisy repeat cannot raise a flag; with fewer than
   `MIN_NIGHTS` earlier nights nothing is judged), and
2. the change of its median from theirs exceeds `K` times the figure's noise: the largest of
   its spread within those nights (the range of a night's repeats, their median), its
   spread between them (1.4826 x median absolute deviation, from three nights on) and the
   measure's own floor (`Measure.noise`).

Changes are log ratios for timings and throughput (a 2x slowdown is log 2 = 0.69 whatever
the figure) and differences for bounded figures such as recall (`Measure.relative`). A
verdict regresses when every repeat of the latest night is worse than every verdict of the
reference nights; a figure that every reference night had and the latest night lacks is
flagged as gone, and more failed runs in every repeat than in any earlier night as
`failed`. Each figure's direction comes from its measure (`harness.core.measures`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.core.io import atomic_path
from harness.core.measures import MEASURES, RECALL_TARGET, Measure, verdict_rank, worst_verdict

#: Nights a figure is compared with (at most `WINDOW`, at least `MIN_NIGHTS`: one night
#: says nothing of how nights differ), and how many times its noise a change must exceed.
WINDOW = 5
MIN_NIGHTS = 2
K = 3.0
#: The normal-consistent scale of a median absolute deviation.
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Figure:
    """A headline figure of a night: one number per (dataset, algorithm, protocol)."""

    name: str
    measure: str  # the measure it summarises (its direction, scale and noise floor)
    summary: str  # "max", "min", or "max_at_target" (the best among runs at the recall target)

    @property
    def of(self) -> Measure:
        return MEASURES[self.measure]


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
FIGURE_BY_NAME = {f.name: f for f in FIGURES}
KEYS = ["dataset", "algorithm", "protocol"]
#: `runs` and `failed` count the row's runs and how many of them failed.
COLUMNS = ["night", "repeat", *KEYS, "git_revision", *FIGURE_NAMES, "verdict", "runs", "failed"]
#: A regression and its evidence: the latest night's value (median of its repeats) and
#: range, the reference nights' median and range, the noise and the threshold it crossed.
REGRESSION_COLUMNS = [
    "night", *KEYS, "figure", "current", "current_low", "current_high", "previous",
    "previous_low", "previous_high", "nights", "change", "noise", "threshold",
]  # fmt: skip
TIMING_COLUMNS = ["night", "repeat", "dataset", "protocol", "seconds", "runs"]
#: The figures each protocol reports; others stay empty in its rows.
PROTOCOL_FIGURES = {
    "qps-recall": ("best_qps", "max_recall", "build_time"),
    "deletion": ("best_qps", "max_recall", "delete_p50", "speedup"),
    "churn": ("mean_recall",),
    "erasure": ("max_recall", "unlearning_gap", "verdict"),
}


def history_path(results: str | Path) -> Path:
    return Path(results) / "nightly" / "history.csv"


def timing_path(results: str | Path) -> Path:
    """The wall time of every step (one protocol on one dataset) of every night."""
    return Path(results) / "nightly" / "timing.csv"


def read_timing(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=TIMING_COLUMNS)
    return pd.read_csv(path, dtype={"night": str})


def record_timing(
    results: Path, night: str, repeat: int, step: tuple[str, str], seconds: float, runs: int
) -> None:
    """Append one step's wall time (atomically, so an interrupted night keeps the rest)."""
    path = timing_path(results)
    before = read_timing(path)
    line = pd.DataFrame([[night, repeat, *step, round(seconds, 2), runs]], columns=TIMING_COLUMNS)
    timing = pd.concat([before, line], ignore_index=True) if len(before) else line
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        timing.to_csv(partial, index=False)


def summarise(runs: pd.DataFrame, protocol: str, repeat: int = 0) -> list[dict[str, object]]:
    """One row per (dataset, algorithm) of one protocol's runs: the best of each figure."""
    rows: list[dict[str, object]] = []
    if runs.empty:
        return rows
    wanted = PROTOCOL_FIGURES.get(protocol, (*FIGURE_NAMES, "verdict"))
    for (dataset, algorithm), group in runs.groupby(["dataset", "algorithm"]):
        ok = group[group["status"] == "ok"]
        figures = night_figures(ok)
        row = {"dataset": dataset, "algorithm": algorithm, "protocol": protocol}
        row.update({f: figures[f] if f in wanted else np.nan for f in [*FIGURE_NAMES, "verdict"]})
        row.update(repeat=repeat, runs=len(group), failed=len(group) - len(ok))
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
    """The history file as a DataFrame; an empty one with the columns if there is none.

    A history written before nights had repeats reads as one repeat (0) per night."""
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
    if "repeat" not in history:
        history.insert(1, "repeat", 0)
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


def regressions(history: pd.DataFrame, window: int = WINDOW, k: float = K) -> pd.DataFrame:
    """Every figure of the latest night that regressed beyond its noise (module docstring)."""
    found: list[dict[str, object]] = []
    if history.empty:
        return pd.DataFrame(columns=REGRESSION_COLUMNS)
    history = history.reindex(columns=list(dict.fromkeys([*COLUMNS, *history.columns])))
    latest = history["night"].max()
    for key, rows in history.groupby(KEYS, sort=True):
        current = rows[rows["night"] == latest]
        nights = sorted(rows.loc[rows["night"] < latest, "night"].unique())[-window:]
        reference = rows[rows["night"].isin(nights)]
        if current.empty or len(nights) < MIN_NIGHTS:
            continue
        where = {"night": latest, **dict(zip(KEYS, key, strict=True))}
        for figure in FIGURES:
            evidence = figure_regression(figure, current, reference, k)
            if evidence is not None:
                found.append({**where, "figure": figure.name, **evidence})
        if verdict_regressed(current, reference):
            found.append({**where, "figure": "verdict", **verdict_evidence(current, reference)})
        failures = failures_evidence(current, reference)
        if failures is not None:
            found.append({**where, "figure": "failed", **failures})
    return pd.DataFrame(found, columns=REGRESSION_COLUMNS)


def figure_regression(
    figure: Figure, current: pd.DataFrame, reference: pd.DataFrame, k: float
) -> dict[str, object] | None:
    """The evidence of one figure's regression, or None when it is within its noise."""
    measure = figure.of
    now = pd.to_numeric(current[figure.name], errors="coerce").dropna()
    before = pd.to_numeric(reference[figure.name], errors="coerce")
    if before.isna().any() or before.empty or measure.better is None:
        return None  # only a figure every reference repeat had can regress
    if now.empty:
        return {**ranges(now, before, reference), "change": math.nan, "noise": math.nan}  # gone
    value, typical = float(now.median()), float(before.median())
    worst_before = before.min() if measure.better == "higher" else before.max()
    best_now = now.max() if measure.better == "higher" else now.min()
    if not measure.worse(worst_before, best_now):
        return None  # some repeat of the latest night is within the earlier nights' range
    change = measure.change(typical, value)
    noise = figure_noise(measure, reference[["night", figure.name]], figure.name)
    if not math.isfinite(change) or abs(change) <= k * noise:
        return None
    evidence = {"change": change, "noise": noise, "threshold": k * noise}
    return {**ranges(now, before, reference), **evidence}


def figure_noise(measure: Measure, reference: pd.DataFrame, name: str) -> float:
    """The largest of: the median spread within the reference nights (the range of each
    night's repeats), the spread between them, and the measure's floor (the check's scale)."""
    per_night = reference.assign(value=transform(measure, reference[name])).groupby("night")
    spans = per_night["value"].agg(lambda v: v.max() - v.min())
    within_before = float(spans.median()) if len(spans) else 0.0
    medians = per_night["value"].median()
    between = (
        MAD_SCALE * float((medians - medians.median()).abs().median()) if len(medians) > 2 else 0.0
    )
    return max(within_before, between, measure.noise)


def transform(measure: Measure, values: pd.Series) -> pd.Series:
    """Values on the check's scale: log for relative measures (non-positive ones dropped)."""
    numeric = pd.to_numeric(values, errors="coerce").astype(float)
    if measure.relative:
        return np.log(numeric.where(numeric > 0))
    return numeric


def ranges(now: pd.Series, before: pd.Series, reference: pd.DataFrame) -> dict[str, object]:
    return {
        "current": float(now.median()) if len(now) else math.nan,
        "current_low": float(now.min()) if len(now) else math.nan,
        "current_high": float(now.max()) if len(now) else math.nan,
        "previous": float(before.median()),
        "previous_low": float(before.min()),
        "previous_high": float(before.max()),
        "nights": int(reference["night"].nunique()),
        "threshold": math.nan,
    }


def failures_evidence(current: pd.DataFrame, reference: pd.DataFrame) -> dict[str, object] | None:
    """More failed runs in every repeat than in any earlier night: a plugin that broke."""
    now = pd.to_numeric(current["failed"], errors="coerce").fillna(0)
    before = pd.to_numeric(reference["failed"], errors="coerce").fillna(0)
    if now.min() <= before.max():
        return None
    return {
        **ranges(now, before, reference),
        "change": float(now.median() - before.median()),
        "noise": 0.0,
    }


def verdict_regressed(current: pd.DataFrame, reference: pd.DataFrame) -> bool:
    now = [v for v in current["verdict"] if isinstance(v, str)]
    before = [v for v in reference["verdict"] if isinstance(v, str)]
    if not before:
        return False
    if not now:
        return len(before) == len(reference)  # every reference repeat had one: gone
    return min(map(verdict_rank, now)) > max(map(verdict_rank, before))


def verdict_evidence(current: pd.DataFrame, reference: pd.DataFrame) -> dict[str, object]:
    now = [v for v in current["verdict"] if isinstance(v, str)]
    before = [v for v in reference["verdict"] if isinstance(v, str)]
    best_now = min(now, key=verdict_rank) if now else None
    return {
        "current": worst_verdict(now),
        "current_low": best_now,
        "current_high": worst_verdict(now),
        "previous": worst_verdict(before),
        "previous_low": min(before, key=verdict_rank),
        "previous_high": worst_verdict(before),
        "nights": int(reference["night"].nunique()),
        "change": float(verdict_rank(best_now) - verdict_rank(worst_verdict(before)))
        if best_now
        else math.nan,
        "noise": 0.0,
        "threshold": 0.0,
    }
