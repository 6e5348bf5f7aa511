"""Runbooks: the big-ann-benchmarks YAML format, errors that name the step, the built-ins."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.protocols.churn.runbooks import (
    RunbookError,
    delete_clusters,
    load_runbook,
    parse_runbook,
    sliding_window,
    validate,
)
from harness.protocols.deletion.sets import CLUSTERS

GOOD = """
tiny:
  max_pts: 100
  1: {operation: insert, start: 0, end: 60}
  2: {operation: search}
  3: {operation: delete, start: 0, end: 20}
  4: {operation: insert, start: 60, end: 100}
  5: {operation: search}
  gt_url: none
"""


def test_a_big_ann_benchmarks_runbook_parses_into_id_ranges() -> None:
    runbook = parse_runbook(GOOD, "tiny", 500, "good")
    validate(runbook)
    assert [s.operation for s in runbook.steps] == [
        "insert",
        "search",
        "delete",
        "insert",
        "search",
    ]
    assert runbook.steps[2].ids.tolist() == list(range(20))
    assert runbook.max_pts == 100


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("3: {operation: delete,", "3: {operation: remove,", "step 3: unknown operation 'remove'"),
        ("end: 100}", "end: 101}", "step 4: ids 60 to 101 are out of range"),
        ("60, end: 100}", "50, end: 100}", "step 4 (insert): id 50 is already in the index"),
        ("start: 0, end: 20}", "start: 0, end: 70}", "step 3 (delete): id 60 is not in the index"),
        ("  3: {operation: delete, start: 0, end: 20}\n", "", "step 3 is missing"),
        ("  1: {operation: insert, start: 0, end: 60}", "  1: {operation: search}",
         "step 1 (search): the index is empty"),
        ("max_pts: 100", "max_pts: 1000", "max_pts must be an integer from 1 to the 500"),
        ("tiny:", "other:", "no entry for dataset 'tiny' (it has: other)"),
        ("  gt_url: none", "  notes: x", "unknown key 'notes'"),
    ],
)  # fmt: skip
def test_a_malformed_runbook_is_refused_naming_the_step(replace, by, message) -> None:
    assert replace in GOOD
    with pytest.raises(RunbookError, match=re.escape(message)):
        runbook = parse_runbook(GOOD.replace(replace, by), "tiny", 500, "bad")
        validate(runbook)


def test_a_malformed_runbook_fails_at_the_command_line_before_any_work(
    tmp_path: Path, tiny_dataset: Path, capsys
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD.replace("tiny:", "tiny-8-euclidean:").replace("operation: delete", "operation: upsert")
    )
    code = main(
        [
            "--dataset", str(tiny_dataset), "--algorithm", "bruteforce", "--protocol", "churn",
            "--runbook", str(bad), "--results", str(tmp_path / "results"),
        ]
    )  # fmt: skip
    assert code == 2
    assert "step 3: unknown operation 'upsert'" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_sliding_window_keeps_half_the_data_live_and_moves_by_five_percent() -> None:
    runbook = sliding_window(1000)
    validate(runbook)
    live = np.zeros(1000, dtype=bool)
    sizes = []
    for step in runbook.steps:
        live[step.ids] = step.operation == "insert"
        if step.operation == "search":
            sizes.append(int(live.sum()))
    assert sizes == [500] * 11
    assert live[500:].all() and not live[:500].any()  # the oldest half is gone at the end


def test_delete_clusters_deletes_whole_neighbourhoods_with_a_search_after_each() -> None:
    X = np.random.default_rng(0).normal(size=(400, 4)).astype(np.float32)
    runbook = delete_clusters(X, "euclidean", seed=3)
    operations = [s.operation for s in runbook.steps]
    assert operations == ["insert", "search"] + ["delete", "search"] * CLUSTERS
    deleted = np.concatenate([s.ids for s in runbook.steps if s.operation == "delete"])
    assert len(deleted) == 40 and len(np.unique(deleted)) == 40
    again = delete_clusters(X, "euclidean", seed=3)
    assert all(
        np.array_equal(a.ids, b.ids) for a, b in zip(runbook.steps, again.steps, strict=True)
    )


def test_an_unknown_runbook_name_says_what_to_give() -> None:
    X = np.zeros((10, 2), dtype=np.float32)
    with pytest.raises(RunbookError, match=r"neither a built-in .* nor a file"):
        load_runbook("nosuch", "tiny", X, "euclidean")
