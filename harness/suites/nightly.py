"""The nightly suite: every enabled algorithm under every protocol on small datasets.

`python run.py --suite nightly` runs each enabled algorithm with one run group (its
`default: true` groups, else its first), redoing every run, then appends one row per
(dataset, algorithm, protocol) to `<results>/nightly/history.csv` and reports the
regressions against the previous night (`harness.suites.history`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pandas as pd

from harness import benchmark
from harness.core import definitions
from harness.core.definitions import Algorithm
from harness.core.environment import git_revision
from harness.core.request import RunRequest
from harness.protocols import PROTOCOLS
from harness.suites.history import append_history, history_path, regressions, summarise

#: Small sets: the whole nightly stays within minutes per dataset on a CI runner.
DATASETS = ("random-xs-20-euclidean", "random-xs-20-angular", "ood-s-64-euclidean")


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


def run_suite(request: RunRequest, datasets: list[str] | None = None) -> pd.DataFrame:
    """Run the night on `datasets` (default `DATASETS`) with the request's settings, append
    its rows to the history; the regressions of this night."""
    night = datetime.now(timezone.utc).isoformat(timespec="seconds")
    selected = nightly_algorithms(definitions.load_algorithms(request.definitions))
    rows = []
    for dataset in datasets or DATASETS:
        for protocol in PROTOCOLS:
            print(f"\n=== nightly: {protocol} on {dataset} ===", flush=True)
            one = replace(request, dataset=dataset, protocol=protocol, algorithms=("all",))
            runs = benchmark.run(replace(one, force=True), selected)
            if not runs.empty:
                runs = runs[runs["finished"].fillna("").astype(str) >= night]
            rows += summarise(runs, protocol)
    table = pd.DataFrame(rows).assign(night=night, git_revision=git_revision())
    history = append_history(history_path(request.results), table)
    return regressions(history)
