"""The nightly suite: every enabled algorithm under every protocol on the small sets.

`python run.py --suite nightly` runs each enabled algorithm's curated `nightly: true` run
groups (its `default: true` ones where it has none), redoing every run; the timed protocols
twice over the whole suite (`REPEATS`): a figure's spread between repeats, minutes apart,
is its measured noise, against which `harness.suites.history.regressions` judges the night.
It appends one row per (repeat, dataset, algorithm, protocol) to
`<results>/nightly/history.csv`, the wall time of each step to
`<results>/nightly/timing.csv`, and reports the regressions with their evidence.

Churn replays `nightly-runbook.yaml` (two sliding-window rounds) on the sets it names.
A step is one protocol on one dataset; a line before each says how far the night is and how
long it should still take (this night's time of the same step, else the previous night's,
else this night's mean step).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

from harness import benchmark
from harness.core import definitions
from harness.core.definitions import Algorithm, marked
from harness.core.environment import git_revision
from harness.core.request import RunRequest
from harness.protocols import PROTOCOLS
from harness.suites.history import (
    append_history,
    history_path,
    read_timing,
    record_timing,
    regressions,
    summarise,
    timing_path,
)

#: The small sets: 9k rows each, so a night stays within a CI budget on two cores.
DATASETS = ("random-xs-20-euclidean", "random-xs-20-angular")
#: How often a night runs each protocol: the timed ones twice, so the spread between the
#: repeats is each timing's noise; churn and erasure, whose figures are recall and verdicts
#: (seeded, hardly noisy), once.
REPEATS = {"qps-recall": 2, "deletion": 2, "churn": 1, "erasure": 1}
#: The churn runbook of the nightly sets: 3 search steps instead of sliding-window's 11.
RUNBOOK = Path(__file__).with_name("nightly-runbook.yaml")
BAR_WIDTH = 24


@dataclass(frozen=True)
class Step:
    repeat: int
    dataset: str
    protocol: str

    @property
    def key(self) -> tuple[str, str]:
        return self.dataset, self.protocol


def nightly_algorithms(algorithms: dict[str, Algorithm]) -> dict[str, Algorithm]:
    """Every enabled algorithm with its `nightly: true` groups, else its `default: true`
    ones; an algorithm with neither is left out (its full grid would blow the budget)."""
    chosen = {}
    for name, algorithm in algorithms.items():
        groups = marked(algorithm, "nightly") or marked(algorithm, "default")
        if not algorithm.disabled and groups:
            chosen[name] = replace(algorithm, run_groups=groups)
    return chosen


def run_suite(
    request: RunRequest,
    datasets: list[str] | None = None,
    repeats: dict[str, int] | None = None,
    protocols: tuple[str, ...] = tuple(PROTOCOLS),
    say: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Run the night on `datasets` (default `DATASETS`) under `protocols` with the request's
    settings, append its rows to the history and its step times to the timing file; this
    night's regressions."""
    repeats = {**REPEATS, **(repeats or {})}
    night = datetime.now(timezone.utc).isoformat(timespec="seconds")
    known = definitions.load_algorithms(request.definitions)
    selected = nightly_algorithms(known)
    left_out = sorted(set(known) - set(selected))
    if left_out:
        say(f"nightly: left out (disabled, or no nightly/default run group): {', '.join(left_out)}")
    steps = [
        Step(r, d, p)
        for r in range(max(repeats.get(p, 1) for p in protocols))
        for d in datasets or DATASETS
        for p in protocols
        if r < repeats.get(p, 1)
    ]
    previous = last_night_seconds(read_timing(timing_path(request.results)))
    rows, times = [], []
    started = time.perf_counter()
    for done, step in enumerate(steps):
        say(progress_line(done, steps, time.perf_counter() - started, times, previous))
        step_start = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        clock = time.perf_counter()
        runs = benchmark.run(step_request(request, step), selected)
        if not runs.empty:
            runs = runs[runs["finished"].fillna("").astype(str) >= step_start]
        seconds = time.perf_counter() - clock
        times.append((step, seconds))
        rows += summarise(runs, step.protocol, step.repeat)
        record_timing(request.results, night, step.repeat, step.key, seconds, len(runs))
    say(f"nightly: {len(steps)} steps in {clock_text(time.perf_counter() - started)}")
    table = pd.DataFrame(rows).assign(night=night, git_revision=git_revision())
    history = append_history(history_path(request.results), table)
    return regressions(history)


def step_request(request: RunRequest, step: Step) -> RunRequest:
    """The request of one step: every selected algorithm, every run redone; churn on the
    nightly runbook where it names the dataset."""
    one = replace(
        request, dataset=step.dataset, protocol=step.protocol, algorithms=("all",), force=True
    )
    if step.protocol == "churn" and step.dataset in yaml.safe_load(RUNBOOK.read_text()):
        one = replace(one, runbook=str(RUNBOOK))
    return one


def last_night_seconds(timing: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The previous night's mean seconds per (dataset, protocol) step."""
    if timing.empty:
        return {}
    last = timing[timing["night"] == timing["night"].max()]
    return {k: float(v) for k, v in last.groupby(["dataset", "protocol"])["seconds"].mean().items()}


def remaining_estimate(
    todo: list[Step], times: list[tuple[Step, float]], previous: dict[tuple[str, str], float]
) -> float | None:
    """Seconds the steps still to do should take: this night's time of the same step (an
    earlier repeat), else the previous night's, else this night's mean step; None with no
    basis yet."""
    tonight = {step.key: seconds for step, seconds in times}
    mean = sum(s for _, s in times) / len(times) if times else None
    total = 0.0
    for step in todo:
        guess = tonight.get(step.key, previous.get(step.key, mean))
        if guess is None:
            return None
        total += guess
    return total


def progress_line(
    done: int,
    steps: list[Step],
    elapsed: float,
    times: list[tuple[Step, float]],
    previous: dict[tuple[str, str], float],
) -> str:
    """`nightly [######------] 3/16 deletion on random-xs-20-angular (repeat 1/2), 2m10s
    elapsed, about 6m left`."""
    step = steps[done]
    filled = round(BAR_WIDTH * done / len(steps))
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    repeats = max(s.repeat for s in steps) + 1
    left = remaining_estimate(steps[done:], times, previous)
    estimate = "estimate after the first step" if left is None else f"about {clock_text(left)} left"
    return (
        f"\n=== nightly [{bar}] {done + 1}/{len(steps)}: {step.protocol} on {step.dataset} "
        f"(repeat {step.repeat + 1}/{repeats}), {clock_text(elapsed)} elapsed, {estimate} ==="
    )


def clock_text(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
