"""Churn runbooks: the big-ann-benchmarks streaming YAML format, validated, and built-ins.

A runbook file maps dataset names to an entry with `max_pts` and numbered steps
(`1`, `2`, ...), each `operation: insert | delete | search`, inserts and deletes with an id
range `start` (inclusive) to `end` (exclusive); ids are rows of the dataset's train set.
Every problem (unknown operation, missing step, ids out of range, inserted twice or deleted
while absent) is found before any work and names the step. The built-in generators work for
any dataset: `sliding-window` and `delete-clusters`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from harness.core.request import BUILT_IN_RUNBOOKS
from harness.protocols.deletion.sets import CLUSTERS, neighbourhoods

OPERATIONS = ("insert", "delete", "search")
IGNORED_KEYS = ("gt_url",)  # big-ann-benchmarks' download address of precomputed truth
WINDOW = 0.05  # sliding-window: the share of the dataset deleted and inserted per round
CLUSTER_SHARE = 0.10  # delete-clusters: the share of the dataset deleted, in CLUSTERS steps


class RunbookError(ValueError):
    """A malformed runbook; the message names the step and what to change."""


@dataclass(frozen=True, eq=False)
class Step:
    """One operation; `ids` are train rows (empty for a search)."""

    number: int
    operation: str
    ids: np.ndarray


@dataclass(frozen=True)
class Runbook:
    name: str
    max_pts: int
    steps: list[Step]


def load_runbook(spec: str, dataset: str, train: np.ndarray, metric: str, seed: int = 1) -> Runbook:
    """A built-in runbook by name, or the entry for `dataset` in a YAML file, validated."""
    if spec == "sliding-window":
        runbook = sliding_window(len(train))
    elif spec == "delete-clusters":
        runbook = delete_clusters(train, metric, seed)
    elif Path(spec).is_file():
        runbook = parse_runbook(Path(spec).read_text(), dataset, len(train), Path(spec).stem)
    else:
        raise RunbookError(
            f"runbook {spec!r} is neither a built-in ({', '.join(BUILT_IN_RUNBOOKS)}) nor a file; "
            "give one of those names or the path of a big-ann-benchmarks runbook YAML file"
        )
    validate(runbook)
    return runbook


def parse_runbook(text: str, dataset: str, n_train: int, name: str) -> Runbook:
    """The entry for `dataset` of a runbook YAML text, checked for structure."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RunbookError(f"runbook {name} is not valid YAML: {error}") from None
    if not isinstance(raw, dict) or dataset not in raw:
        known = ", ".join(map(str, raw)) if isinstance(raw, dict) else "none"
        raise RunbookError(
            f"runbook {name} has no entry for dataset {dataset!r} (it has: {known}); add one "
            "or run it on one of those datasets"
        )
    entry = raw[dataset]
    if not isinstance(entry, dict):
        raise RunbookError(f"runbook {name}: the entry for {dataset!r} must be a mapping")
    max_pts = entry.get("max_pts")
    if not isinstance(max_pts, int) or not 1 <= max_pts <= n_train:
        raise RunbookError(
            f"runbook {name}: max_pts must be an integer from 1 to the {n_train} train rows "
            f"of {dataset}, got {max_pts!r}"
        )
    numbered: dict[int, Any] = {}
    for key, value in entry.items():
        if key == "max_pts" or key in IGNORED_KEYS:
            continue
        if isinstance(key, bool) or not str(key).isdigit():
            raise RunbookError(
                f"runbook {name}: unknown key {key!r}; steps are numbered 1, 2, ... and the "
                "other keys are max_pts and gt_url"
            )
        numbered[int(key)] = value
    if not numbered:
        raise RunbookError(f"runbook {name}: no steps; add steps numbered 1, 2, ...")
    steps = []
    for number in range(1, max(numbered) + 1):
        if number not in numbered:
            raise RunbookError(
                f"runbook {name}: step {number} is missing; number the steps 1 to "
                f"{max(numbered)} without gaps"
            )
        steps.append(_parse_step(name, number, numbered[number], max_pts))
    return Runbook(name, max_pts, steps)


def _parse_step(name: str, number: int, raw: Any, max_pts: int) -> Step:
    where = f"runbook {name}, step {number}"
    if not isinstance(raw, dict) or "operation" not in raw:
        raise RunbookError(f"{where}: expected a mapping with an 'operation', got {raw!r}")
    operation = raw["operation"]
    if operation not in OPERATIONS:
        raise RunbookError(
            f"{where}: unknown operation {operation!r}; use one of {', '.join(OPERATIONS)}"
        )
    if operation == "search":
        return Step(number, operation, np.zeros(0, dtype=np.int64))
    start, end = raw.get("start"), raw.get("end")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        raise RunbookError(f"{where}: {operation} needs integer 'start' and 'end' ids")
    if not 0 <= start < end <= max_pts:
        raise RunbookError(
            f"{where}: ids {start} to {end} are out of range; need 0 <= start < end <= "
            f"max_pts ({max_pts})"
        )
    return Step(number, operation, np.arange(start, end, dtype=np.int64))


def validate(runbook: Runbook) -> None:
    """Replay the id bookkeeping: no id inserted twice or deleted while absent, no search of
    an empty index, at least one search."""
    live = np.zeros(runbook.max_pts, dtype=bool)
    for step in runbook.steps:
        where = f"runbook {runbook.name}, step {step.number} ({step.operation})"
        if step.operation == "search":
            if not live.any():
                raise RunbookError(f"{where}: the index is empty; insert before searching")
            continue
        if step.ids.min() < 0 or step.ids.max() >= runbook.max_pts:
            raise RunbookError(f"{where}: ids out of range 0 to {runbook.max_pts - 1}")
        if len(np.unique(step.ids)) != len(step.ids):
            raise RunbookError(f"{where}: an id is repeated within the step")
        inserting = step.operation == "insert"
        clash = step.ids[live[step.ids] == inserting]
        if len(clash):
            state = "already in the index" if inserting else "not in the index"
            raise RunbookError(
                f"{where}: id {clash[0]} is {state} ({len(clash)} such ids); fix the range"
            )
        live[step.ids] = inserting
    if not any(step.operation == "search" for step in runbook.steps):
        raise RunbookError(f"runbook {runbook.name}: no search step; add one")


def sliding_window(n: int, window: float = WINDOW) -> Runbook:
    """Insert the first half; then delete the oldest `window`, insert the next, search."""
    half, width = n // 2, max(1, round(window * n))
    steps = [_range("insert", 0, half), _search()]
    oldest, newest = 0, half
    while newest < n:
        steps += [
            _range("delete", oldest, oldest + width),
            _range("insert", newest, min(n, newest + width)),
            _search(),
        ]
        oldest, newest = oldest + width, newest + width
    return _numbered("sliding-window", n, steps)


def delete_clusters(
    train: np.ndarray, metric: str, seed: int = 1, share: float = CLUSTER_SHARE
) -> Runbook:
    """Insert everything, search; then delete one whole neighbourhood at a time, searching
    after each (the neighbourhoods of the `cluster` deletion policy, seeded)."""
    n = len(train)
    count = max(CLUSTERS, round(share * n))
    clusters = neighbourhoods(train, metric, count, np.random.default_rng(seed), CLUSTERS)
    steps = [_range("insert", 0, n), _search()]
    for ids in clusters:
        steps += [("delete", ids), _search()]
    return _numbered("delete-clusters", n, steps)


def _range(operation: str, start: int, end: int) -> tuple[str, np.ndarray]:
    return operation, np.arange(start, end, dtype=np.int64)


def _search() -> tuple[str, np.ndarray]:
    return "search", np.zeros(0, dtype=np.int64)


def _numbered(name: str, max_pts: int, steps: list[tuple[str, np.ndarray]]) -> Runbook:
    return Runbook(name, max_pts, [Step(i, op, ids) for i, (op, ids) in enumerate(steps, 1)])
