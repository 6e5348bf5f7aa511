"""Runbooks: big-ann-benchmarks' YAML read as it reads it, errors naming the step, built-ins."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.core.request import BUILT_IN_RUNBOOKS, RunRequest
from harness.data.datasets import Dataset, load_dataset
from harness.protocols import PROTOCOLS
from harness.protocols.churn.bigann import parse_runbook
from harness.protocols.churn.generators import (
    GENERATORS,
    ROUND_CLUSTERS,
    clustered_rounds,
    clusters_of,
    delete_clusters,
    sliding_window,
)
from harness.protocols.churn.protocol import load_runbook
from harness.protocols.churn.runbooks import Runbook, RunbookError, Step, TagMap, validate
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


def parsed(text: str, n_rows: int = 500, entry: str | None = None):
    runbook = parse_runbook(text, "good", n_rows, "tiny", entry)
    validate(runbook, n_rows)
    return runbook


def churn_options(tmp_path: Path, dataset: Path, text: str, **request) -> dict:
    """The churn protocol's options for a runbook file: what every run checks first."""
    runbook = tmp_path / "runbook.yaml"
    runbook.write_text(text)
    data = load_dataset(dataset)
    return PROTOCOLS["churn"].options(RunRequest(runbook=str(runbook), **request), data)


def test_a_big_ann_benchmarks_runbook_parses_into_tag_ranges() -> None:
    runbook = parsed(GOOD)
    assert [s.operation for s in runbook.steps] == [
        "insert",
        "search",
        "delete",
        "insert",
        "search",
    ]
    assert runbook.steps[2].tags.tolist() == list(range(20))
    assert runbook.steps[0].rows.tolist() == list(range(60))  # an inserted tag is its row
    assert runbook.max_pts == 100


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("3: {operation: delete,", "3: {operation: remove,", "step 3: unknown operation 'remove'"),
        ("end: 100}", "end: 501}", "step 4 (insert): ids 60 to 501 exceed the dataset's 500"),
        ("60, end: 100}", "50, end: 100}", "step 4 (insert): tag 50 is already in the index"),
        ("start: 0, end: 20}", "start: 0, end: 70}", "step 3 (delete): tag 60 is not in the index"),
        ("start: 0, end: 20}", "start: 30, end: 20}", "step 3 (delete): start 30 is after end 20"),
        ("  3: {operation: delete, start: 0, end: 20}\n", "", "step 3 is missing"),
        ("  1: {operation: insert, start: 0, end: 60}", "  1: {operation: search}",
         "step 1 (search): the index is empty"),
        ("max_pts: 100", "max_pts: 50",
         "step 1 (insert): 60 points would be live, more than max_pts 50"),
        ("max_pts: 100", "max_pts: 0", "max_pts (the index capacity"),
        ("tiny:", "other:", "no entry named like the dataset 'tiny' (it has: other)"),
        ("  gt_url: none", "  notes: x", "unknown key 'notes'"),
        ("{operation: insert, start: 0, end: 60}", "{operation: insert, start: 0}",
         "step 1 (insert): 'end' must be a non-negative integer, got None"),
        ("{operation: insert, start: 0, end: 60}", "{operation: insert, start: true, end: 60}",
         "step 1 (insert): 'start' must be a non-negative integer, got True"),
        ("2: {operation: search}", "2: search", "step 2: expected a mapping with an 'operation'"),
    ],
)  # fmt: skip
def test_a_malformed_runbook_is_refused_naming_the_step(replace, by, message) -> None:
    assert replace in GOOD
    with pytest.raises(RunbookError, match=re.escape(message)):
        parsed(GOOD.replace(replace, by))


# Issue 16 item 12: what big-ann-benchmarks' load_runbook would drop or merge silently
# (it reads steps 1, 2, ... while the next number is a key) is refused, naming the step.
@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("  1: {operation: insert, start: 0, end: 60}",
         "  0: {operation: insert, start: 0, end: 10}\n"
         "  1: {operation: insert, start: 10, end: 60}",
         "step 0: steps are numbered from 1"),
        ("  2: {operation: search}", "  2: {operation: search}\n  01: {operation: search}",
         "key '01' reads as the number 1"),
        ("  2: {operation: search}", "  2: {operation: search}\n  2: {operation: search}",
         "key '2' is given twice"),
        ("  2: {operation: search}", '  "2": {operation: search}', "key '2' is text, not a step"),
        ("  2: {operation: search}", "  02: {operation: search}", "key '02' reads as the number 2"),
        ("  5: {operation: search}", "  08: {operation: search}", "key '08' is text, not a step"),
        ("  2: {operation: search}", "  0x2: {operation: search}",
         "key '0x2' reads as the number 2"),
        ("  5: {operation: search}", "  7: {operation: search}", "step 5 is missing"),
        ("2: {operation: search}", "2: {operation: search, start: 0, end: 5}",
         "step 2 (search): unexpected key 'start'; search takes only operation"),
        ("end: 60}", "end: 60, stop: 80}",
         "step 1 (insert): unexpected key 'stop'; insert takes only operation, start, end"),
        ("3: {operation: delete, start: 0, end: 20}",
         "3: {operation: delete, start: 0, end: 20, start: 5}", "key 'start' is given twice"),
    ],
)  # fmt: skip
def test_steps_big_ann_benchmarks_would_drop_or_merge_are_errors_naming_them(
    replace, by, message, tmp_path: Path, tiny_dataset: Path
) -> None:
    text = GOOD.replace("tiny:", "tiny-8-euclidean:")
    assert replace in text
    with pytest.raises(RunbookError, match=re.escape(message)):
        churn_options(tmp_path, tiny_dataset, text.replace(replace, by))


def test_the_entry_is_the_one_named_like_the_dataset_or_the_one_asked_for(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    two = GOOD.replace("tiny:", "random-xs:") + GOOD.replace("tiny:", "msturing-10M:").replace(
        "max_pts: 100", "max_pts: 90"
    )
    missing = (
        "no entry named like the dataset 'tiny-8-euclidean' (it has: random-xs, msturing-10M); "
        "choose one with --runbook-dataset"
    )
    with pytest.raises(RunbookError, match=re.escape(missing)):
        churn_options(tmp_path, tiny_dataset, two)
    options = churn_options(tmp_path, tiny_dataset, two, runbook_dataset="msturing-10M")
    assert options["runbook_dataset"] == "msturing-10M"
    data = load_dataset(tiny_dataset)
    runbook = load_runbook(
        options["runbook"], data.name, data.train, data.metric, entry=options["runbook_dataset"]
    )
    assert runbook.max_pts == 90
    with pytest.raises(RunbookError, match="no entry 'msturing-1M'"):
        churn_options(tmp_path, tiny_dataset, two, runbook_dataset="msturing-1M")


def test_a_runbook_entry_for_a_built_in_runbook_is_refused(tiny_dataset: Path) -> None:
    request = RunRequest(runbook="sliding-window", runbook_dataset="random-xs")
    with pytest.raises(RunbookError, match="is a built-in runbook"):
        PROTOCOLS["churn"].options(request, load_dataset(tiny_dataset))


def test_max_pts_is_a_capacity_not_a_bound_on_ids() -> None:
    """big-ann-benchmarks' delete_runbook: capacity 6400 on a 10,000-point dataset."""
    text = """
random-xs-clustered:
  max_pts: 6400
  1:
    operation: "insert"
    start: 0
    end: 6400
  2:
    operation: "search"
  3:
    operation: "delete"
    start: 0
    end: 3600
  4:
    operation: "insert"
    start: 6400
    end: 10000
  5:
    operation: "search"
  gt_url: "https://example.org/delete_runbook/"
"""
    runbook = parse_runbook(text, "delete_runbook", 10_000, "random-xs-clustered")
    validate(runbook, 10_000)
    assert runbook.max_pts == 6400 and runbook.steps[3].tags.max() == 9999
    over = text.replace("end: 3600", "end: 3599")
    with pytest.raises(RunbookError, match="step 4 \\(insert\\): 6401 points would be live"):
        validate(parse_runbook(over, "delete_runbook", 10_000, "random-xs-clustered"), 10_000)


REPLACE = """
tiny:
  max_pts: 300
  1: {operation: insert, start: 0, end: 200}
  2: {operation: search}
  3: {operation: replace, tags_start: 0, tags_end: 50, ids_start: 300, ids_end: 350}
  4: {operation: search}
"""


def test_replace_points_live_tags_at_new_rows() -> None:
    runbook = parsed(REPLACE)
    step = runbook.steps[2]
    assert step.tags.tolist() == list(range(50)) and step.rows.tolist() == list(range(300, 350))
    tags = TagMap(500)
    for s in runbook.steps:
        tags.apply(s)
    assert tags.live_count == 200
    assert tags.rows_of(np.array([0, 49, 50, 250, -1])).tolist() == [300, 349, 50, -1, -1]


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("ids_end: 350}", "ids_end: 360}", "step 3 (replace): 50 tags but 60 new ids"),
        ("tags_start: 0, tags_end: 50", "tags_start: 180, tags_end: 230",
         "step 3 (replace): tag 200 is not in the index (30 such tags); replace acts on live tags"),
        ("ids_start: 300, ids_end: 350", "ids_start: 100, ids_end: 150",
         "step 3 (replace): train row 100 would back two live tags"),
        ("ids_end: 350}", "ids_end: 350, start: 0}", "unexpected key 'start'; replace takes only"),
    ],
)  # fmt: skip
def test_a_replace_that_cannot_apply_is_refused(replace, by, message) -> None:
    assert replace in REPLACE
    with pytest.raises(RunbookError, match=re.escape(message)):
        parsed(REPLACE.replace(replace, by))


def test_a_replace_may_move_tags_back_to_their_own_rows() -> None:
    """big-ann-benchmarks' simple_replace_runbook moves tags away and back."""
    back = REPLACE + (
        "  5: {operation: replace, tags_start: 0, tags_end: 50, ids_start: 0, ids_end: 50}\n"
        "  6: {operation: search}\n"
    )
    tags = TagMap(500)
    for step in parsed(back).steps:
        tags.apply(step)
    assert np.array_equal(tags.rows_of(np.arange(200)), np.arange(200))


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


def test_the_built_in_names_are_the_generators() -> None:
    assert tuple(GENERATORS) == BUILT_IN_RUNBOOKS


def test_sliding_window_keeps_half_the_data_live_and_moves_by_five_percent() -> None:
    runbook = sliding_window(np.zeros((1000, 2), dtype=np.float32), "euclidean")
    validate(runbook, 1000)
    assert runbook.max_pts == 500
    tags, sizes = TagMap(1000), []
    for step in runbook.steps:
        tags.apply(step)
        if step.operation == "search":
            sizes.append(tags.live_count)
    assert sizes == [500] * 11
    assert np.array_equal(tags.live_tags(), np.arange(500, 1000))  # the oldest half is gone


def test_delete_clusters_deletes_whole_neighbourhoods_with_a_search_after_each() -> None:
    X = np.random.default_rng(0).normal(size=(400, 4)).astype(np.float32)
    runbook = delete_clusters(X, "euclidean", seed=3)
    operations = [s.operation for s in runbook.steps]
    assert operations == ["insert", "search"] + ["delete", "search"] * CLUSTERS
    deleted = np.concatenate([s.tags for s in runbook.steps if s.operation == "delete"])
    assert len(deleted) == 40 and len(np.unique(deleted)) == 40
    again = delete_clusters(X, "euclidean", seed=3)
    assert all(
        np.array_equal(a.tags, b.tags) for a, b in zip(runbook.steps, again.steps, strict=True)
    )


@pytest.fixture(scope="module")
def blobs(xs_angular: Path) -> Dataset:
    return load_dataset(xs_angular)


def test_clustered_rounds_is_big_ann_benchmarks_final_runbook_for_any_dataset(blobs) -> None:
    """final_runbook_gen.py: per round every cluster inserts its next rows, then every
    cluster deletes 50-90% of its oldest live rows, a search after each."""
    runbook = clustered_rounds(blobs.train, blobs.metric, seed=5)
    validate(runbook, len(blobs.train))
    updates = [s for s in runbook.steps if s.operation != "search"]
    assert [s.operation for s in runbook.steps] == [
        op for s in updates for op in (s.operation, "search")
    ]
    rng = np.random.default_rng(5)
    clusters = clusters_of(blobs.train, blobs.metric, ROUND_CLUSTERS, rng)  # as the generator
    assert 60 <= len(clusters) <= ROUND_CLUSTERS  # the final runbook's 64 (empty ones dropped)
    label = np.empty(len(blobs.train), dtype=np.int64)
    for c, rows in enumerate(clusters):
        label[rows] = c
    inserted: dict[int, list[int]] = {}
    deleted: dict[int, int] = {}
    live = max_live = 0
    for step in updates:
        [cluster] = np.unique(label[step.tags])  # every step moves rows of one cluster
        rows = inserted.setdefault(int(cluster), [])
        if step.operation == "insert":
            assert np.all(np.diff(step.tags) > 0) and (not rows or step.tags[0] > rows[-1])
            rows += step.tags.tolist()
            live += len(step.tags)
        else:
            start = deleted.get(int(cluster), 0)
            assert step.tags.tolist() == rows[start : start + len(step.tags)]  # its oldest
            alive = len(rows) - start
            assert 0.5 * alive - 1 <= len(step.tags) <= 0.9 * alive
            deleted[int(cluster)] = start + len(step.tags)
            live -= len(step.tags)
        max_live = max(max_live, live)
    assert runbook.max_pts == max_live
    assert sum(map(len, inserted.values())) > 0.95 * len(blobs.train)  # shares sum to one
    again = clustered_rounds(blobs.train, blobs.metric, seed=5)
    assert len(again.steps) == len(runbook.steps)
    assert all(
        np.array_equal(a.tags, b.tags) for a, b in zip(runbook.steps, again.steps, strict=True)
    )
    other = clustered_rounds(blobs.train, blobs.metric, seed=6)
    assert len(other.steps) != len(runbook.steps) or any(
        not np.array_equal(a.tags, b.tags) for a, b in zip(runbook.steps, other.steps, strict=True)
    )


def test_a_generated_step_with_a_row_outside_the_dataset_is_refused() -> None:
    runbook = Runbook("made", 10, [Step(1, "insert", np.array([3, 12]), np.array([3, 12]))])
    with pytest.raises(RunbookError, match="tag 12 is outside the dataset's 10 train rows"):
        validate(runbook, 10)


def test_an_unknown_runbook_name_says_what_to_give() -> None:
    X = np.zeros((10, 2), dtype=np.float32)
    with pytest.raises(RunbookError, match=r"neither a built-in .* nor a file"):
        load_runbook("nosuch", "tiny", X, "euclidean")
