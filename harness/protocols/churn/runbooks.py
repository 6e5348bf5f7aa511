"""Churn runbooks: steps over tags, validated by replaying their bookkeeping before any work.

A runbook is a sequence of steps over *tags* (the ids the index answers with), as in
big-ann-benchmarks: `insert` adds tags pointing at the train rows of the same number,
`delete` removes tags, `replace` points live tags at other train rows (its new vectors), and
`search` runs the test queries. `max_pts` is the index capacity: the most tags live at once.
Tags and rows are bounded by the dataset's train rows. Every problem (a tag inserted twice,
deleted or replaced while absent, the capacity exceeded, a search of an empty index, two
live tags on one row) is found here and names the step. Where runbooks come from: a
big-ann-benchmarks YAML file (`bigann`) or a built-in generator (`generators`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OPERATIONS = ("insert", "delete", "replace", "search")
NO_ROWS = np.zeros(0, dtype=np.int64)


class RunbookError(ValueError):
    """A malformed runbook; the message names the step and what to change."""


@dataclass(frozen=True, eq=False)
class Step:
    """One operation: `tags` it acts on and, for insert and replace, the train `rows` of
    their (new) vectors, one per tag (an insert's rows are its tags)."""

    number: int
    operation: str
    tags: np.ndarray = field(default_factory=lambda: NO_ROWS)
    rows: np.ndarray = field(default_factory=lambda: NO_ROWS)


@dataclass(frozen=True)
class Runbook:
    name: str
    max_pts: int  # the index capacity: the most tags live at any step
    steps: list[Step]


def validate(runbook: Runbook, n_rows: int) -> None:
    """Replay the tag bookkeeping (`TagMap`): every step must apply, at least one search."""
    tags = TagMap(n_rows)
    for step in runbook.steps:
        where = f"runbook {runbook.name}, step {step.number} ({step.operation})"
        tags.check(step, where)
        tags.apply(step)
        if tags.live_count > runbook.max_pts:
            raise RunbookError(
                f"{where}: {tags.live_count} points would be live, more than max_pts "
                f"{runbook.max_pts} (the index capacity); raise max_pts or delete first"
            )
        if step.operation == "search" and not tags.live_count:
            raise RunbookError(f"{where}: the index is empty; insert before searching")
    if not any(step.operation == "search" for step in runbook.steps):
        raise RunbookError(f"runbook {runbook.name}: no search step; add one")


class TagMap:
    """Which train row each live tag points at (-1: the tag is not in the index)."""

    def __init__(self, n_rows: int) -> None:
        self.row_of_tag = np.full(n_rows, -1, dtype=np.int64)
        self.tag_of_row = np.full(n_rows, -1, dtype=np.int64)
        self.live_count = 0

    def live_tags(self) -> np.ndarray:
        return np.flatnonzero(self.row_of_tag >= 0)

    def live_rows(self) -> np.ndarray:
        """The train rows of the live tags, in tag order."""
        return self.row_of_tag[self.live_tags()]

    def is_live(self, tags: np.ndarray) -> np.ndarray:
        """Per tag (any int64, -1 padding included) whether it is in the index."""
        known = (tags >= 0) & (tags < len(self.row_of_tag))
        return known & (self.row_of_tag[np.where(known, tags, 0)] >= 0)

    def rows_of(self, tags: np.ndarray) -> np.ndarray:
        """The train row of each live tag, -1 for any other value."""
        live = self.is_live(tags)
        return np.where(live, self.row_of_tag[np.where(live, tags, 0)], -1)

    def tags_of(self, rows: np.ndarray) -> np.ndarray:
        """The tag of each train row (-1 padding kept), for ground truth computed on rows."""
        return np.where(rows >= 0, self.tag_of_row[np.maximum(rows, 0)], -1)

    def check(self, step: Step, where: str) -> None:
        """Refuse a step that cannot apply to the current tags, naming the first bad id."""
        n = len(self.row_of_tag)
        for name, ids in (("tag", step.tags), ("row", step.rows)):
            outside = ids[(ids < 0) | (ids >= n)]
            if len(outside):
                raise RunbookError(
                    f"{where}: {name} {outside[0]} is outside the dataset's {n} train rows "
                    f"(0 to {n - 1}); use a dataset with enough rows or fix the range"
                )
        if _repeats(step.tags):
            raise RunbookError(f"{where}: a tag is repeated within the step")
        inserting = step.operation == "insert"
        clash = step.tags[self.is_live(step.tags) == inserting]
        if len(clash):
            state = "already in the index" if inserting else "not in the index"
            hint = "; replace acts on live tags, insert adds new ones" * (
                step.operation == "replace"
            )
            raise RunbookError(
                f"{where}: tag {clash[0]} is {state} ({len(clash)} such tags){hint}; fix the range"
            )
        if step.operation in ("insert", "replace"):
            self._check_rows_free(step, where)

    def _check_rows_free(self, step: Step, where: str) -> None:
        """Two live tags on one train row would make the ground truth ambiguous (which tag is
        the true neighbour?); big-ann-benchmarks' runbooks never do this."""
        held = self.tag_of_row[step.rows]
        taken = held >= 0
        if step.operation == "replace":  # the rows the step's own tags leave are free
            taken &= ~np.isin(held, step.tags)
        taken = step.rows[taken]
        if _repeats(step.rows) or len(taken):
            row = taken[0] if len(taken) else step.rows[np.argmax(np.bincount(step.rows))]
            raise RunbookError(
                f"{where}: train row {row} would back two live tags; give every live tag "
                "its own row"
            )

    def apply(self, step: Step) -> None:
        if step.operation == "search":
            return
        self.tag_of_row[self.row_of_tag[step.tags[self.is_live(step.tags)]]] = -1
        if step.operation == "delete":
            self.row_of_tag[step.tags] = -1
            self.live_count -= len(step.tags)
            return
        self.live_count += len(step.tags) * (step.operation == "insert")
        self.row_of_tag[step.tags] = step.rows
        self.tag_of_row[step.rows] = step.tags


def _repeats(ids: np.ndarray) -> bool:
    """Whether a value occurs twice (a sort: `np.unique` is far slower on large arrays)."""
    ordered = np.sort(ids)
    return bool((ordered[1:] == ordered[:-1]).any())
