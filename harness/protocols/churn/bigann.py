"""big-ann-benchmarks streaming runbooks (its `neurips23/runbooks/*.yaml`), read unchanged.

A file maps dataset keys to entries. An entry holds `max_pts` (the index capacity: the most
points live at once), optionally `gt_url` (where big-ann-benchmarks downloads precomputed
ground truth; ours is computed, so it is not used) and steps numbered 1, 2, ...:

    insert, delete   start, end            tags start .. end-1 (an inserted tag t is row t)
    replace          tags_start, tags_end,  the live tags tags_start .. now point at the
                     ids_start, ids_end     train rows ids_start .. (their new vectors)
    search           nothing else

Ids are bounded by the dataset's train rows, as big-ann-benchmarks bounds them by its
dataset size. Accepted is what big-ann-benchmarks' `load_runbook` runs; what it would
silently drop or merge is refused, naming the step or line: a step 0 or a gap in the
numbers (it reads 1, 2, ... up to the first missing one), a step number written `01`,
`0x1`, `+1` or quoted (YAML reads them as other numbers or as text), a key given twice
(YAML keeps the last), a key the step's operation does not take.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Hashable
from typing import Any

import numpy as np
import yaml

from harness.protocols.churn.runbooks import Runbook, RunbookError, Step

#: The keys each operation takes besides `operation`.
STEP_KEYS: dict[str, tuple[str, ...]] = {
    "insert": ("start", "end"),
    "delete": ("start", "end"),
    "replace": ("tags_start", "tags_end", "ids_start", "ids_end"),
    "search": (),
}
ENTRY_KEYS = ("max_pts", "gt_url")
PLAIN_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)")


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a repeated key and a number key not written as plain digits."""


def _strict_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        where = f"line {key_node.start_mark.line + 1}: key {key_node.value!r}"
        if not isinstance(key, Hashable):
            raise RunbookError(f"{where} is not a name or a number")
        number = isinstance(key, int) and not isinstance(key, bool)
        if number and not PLAIN_NUMBER.fullmatch(key_node.value):
            raise RunbookError(
                f"{where} reads as the number {key}; write step numbers as plain digits "
                f"({key}) so that what runs is what a reader sees"
            )
        if isinstance(key, str) and key.isdigit():
            raise RunbookError(
                f"{where} is text, not a step number (quoted, or with a leading zero), and "
                "big-ann-benchmarks would skip it; write it as plain digits without quotes"
            )
        if key in mapping:
            raise RunbookError(f"{where} is given twice (YAML would keep only the last)")
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def parse_runbook(
    text: str, name: str, n_rows: int, dataset: str, entry: str | None = None
) -> Runbook:
    """The entry `entry` (default: the one named like `dataset`) of a runbook YAML text;
    named `name`, or `<name>-<entry>` for an entry not named like the dataset."""
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except RunbookError as error:
        raise RunbookError(f"runbook {name}, {error}") from None
    except yaml.YAMLError as error:
        raise RunbookError(f"runbook {name} is not valid YAML: {error}") from None
    if not isinstance(raw, dict) or not raw:
        raise RunbookError(f"runbook {name}: expected a mapping of dataset keys to entries")
    key = dataset if entry is None else entry
    if key not in raw:
        keys = ", ".join(map(str, raw))
        asked = f"named like the dataset {dataset!r}" if entry is None else f"{entry!r}"
        raise RunbookError(
            f"runbook {name} has no entry {asked} (it has: {keys}); choose one with "
            "--runbook-dataset KEY"
        )
    if not isinstance(raw[key], dict):
        raise RunbookError(f"runbook {name}: the entry {key!r} must be a mapping")
    runbook = _entry(raw[key], name, n_rows)
    if key != dataset:  # another entry of the file than the dataset's own: say which
        runbook = dataclasses.replace(runbook, name=f"{name}-{key}")
    return runbook


def _entry(entry: dict[Any, Any], name: str, n_rows: int) -> Runbook:
    max_pts = entry.get("max_pts")
    if isinstance(max_pts, bool) or not isinstance(max_pts, int) or max_pts < 1:
        raise RunbookError(
            f"runbook {name}: max_pts (the index capacity, the most points live at once) "
            f"must be a positive integer, got {max_pts!r}"
        )
    numbered = {}
    for key, value in entry.items():
        if isinstance(key, int) and not isinstance(key, bool):
            numbered[key] = value
        elif key not in ENTRY_KEYS:
            raise RunbookError(
                f"runbook {name}: unknown key {key!r}; an entry holds max_pts, gt_url and "
                "steps numbered 1, 2, ..."
            )
    if not numbered:
        raise RunbookError(f"runbook {name}: no steps; add steps numbered 1, 2, ...")
    if min(numbered) < 1:
        raise RunbookError(
            f"runbook {name}, step {min(numbered)}: steps are numbered from 1 (big-ann-"
            "benchmarks never runs a step 0 or below); renumber them 1, 2, ..."
        )
    last = max(numbered)
    for number in range(1, last + 1):
        if number not in numbered:
            raise RunbookError(
                f"runbook {name}, step {number} is missing: big-ann-benchmarks stops reading "
                f"at a gap, so steps {number + 1} to {last} would never run; number the steps "
                f"1 to {last} without gaps"
            )
    steps = [_step(f"runbook {name}, step {n}", n, numbered[n], n_rows) for n in range(1, last + 1)]
    return Runbook(name, max_pts, steps)


def _step(where: str, number: int, raw: Any, n_rows: int) -> Step:
    if not isinstance(raw, dict) or "operation" not in raw:
        raise RunbookError(f"{where}: expected a mapping with an 'operation', got {raw!r}")
    operation = raw["operation"]
    if operation not in STEP_KEYS:
        raise RunbookError(
            f"{where}: unknown operation {operation!r}; use one of {', '.join(STEP_KEYS)}"
        )
    takes = ("operation", *STEP_KEYS[operation])
    for key in raw:
        if key not in takes:
            raise RunbookError(
                f"{where} ({operation}): unexpected key {key!r}; {operation} takes only "
                f"{', '.join(takes)}"
            )
    values = {}
    for key in STEP_KEYS[operation]:
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RunbookError(
                f"{where} ({operation}): {key!r} must be a non-negative integer, got {value!r}"
            )
        values[key] = value
    if operation == "search":
        return Step(number, operation)
    if operation == "replace":
        tags = _range(where, operation, values["tags_start"], values["tags_end"], n_rows)
        rows = _range(where, operation, values["ids_start"], values["ids_end"], n_rows)
        if len(tags) != len(rows):
            raise RunbookError(
                f"{where} (replace): {len(tags)} tags but {len(rows)} new ids; give ranges "
                "of the same length"
            )
        return Step(number, operation, tags, rows)
    tags = _range(where, operation, values["start"], values["end"], n_rows)
    return Step(number, operation, tags, tags if operation == "insert" else np.zeros(0, np.int64))


def _range(where: str, operation: str, start: int, end: int, n_rows: int) -> np.ndarray:
    if start > end:
        raise RunbookError(f"{where} ({operation}): start {start} is after end {end}")
    if end > n_rows:
        raise RunbookError(
            f"{where} ({operation}): ids {start} to {end} exceed the dataset's {n_rows} train "
            "rows (ids are rows of the dataset, as in big-ann-benchmarks); use a dataset with "
            "enough rows"
        )
    return np.arange(start, end, dtype=np.int64)
