"""big-ann-benchmarks streaming runbooks replayed unchanged, scored both ways.

The runbooks are written here in big-ann-benchmarks' format (its delete_runbook and
simple_replace_runbook shapes: a capacity below the dataset size, ids up to the dataset
size, `replace` steps). The replay's mean recall is checked against an independent
computation: the tag bookkeeping, the ground truth and big-ann-benchmarks' recall
(compute_recall_with_distance_ties) written again below, from the stored answers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.cli import main
from harness.core.definitions import Definition
from harness.core.job import Job
from harness.core.results import load_results, read_result
from harness.core.scoring import knn_recall, knn_recall_bigann
from harness.data.datasets import Dataset, load_dataset, write_dataset
from harness.protocols import PROTOCOLS
from plugins.base import BasePlugin
from plugins.bruteforce.module import BruteForce

N, DIM, QUERIES, K = 10_000, 20, 200, 10
KEY = "random-xs-clustered"

# delete_runbook's shape: clustered ranges, capacity 6400 < 10,000 points, ids to 10,000;
# plus a replace (tags 0..599 onto the rows 600..1199 that step 5 freed) and a replace back.
DELETE_RUNBOOK = f"""
{KEY}:
  max_pts: 6400
  1:
    operation: "insert"
    start: 0
    end: 2500
  2:
    operation: "search"
  3:
    operation: "insert"
    start: 2500
    end: 5000
  4:
    operation: "search"
  5:
    operation: "delete"
    start: 600
    end: 2400
  6:
    operation: "search"
  7:
    operation: "insert"
    start: 5000
    end: 8200
  8:
    operation: "search"
  9:
    operation: "delete"
    start: 2500
    end: 4500
  10:
    operation: "insert"
    start: 8200
    end: 10000
  11:
    operation: "search"
  12:
    operation: "replace"
    tags_start: 0
    tags_end: 600
    ids_start: 600
    ids_end: 1200
  13:
    operation: "search"
  14:
    operation: "delete"
    start: 5000
    end: 6000
  15:
    operation: "search"
  16:
    operation: "replace"
    tags_start: 0
    tags_end: 600
    ids_start: 0
    ids_end: 600
  17:
    operation: "search"
  gt_url: "https://example.org/delete_runbook/{KEY}/"
"""


@pytest.fixture(scope="module")
def xs10k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 20-d blob points (big-ann-benchmarks' random-xs size) and 200 queries; 300
    rows duplicate others, so the k-th true distance is often tied exactly."""
    rng = np.random.default_rng(11)
    centers = rng.normal(size=(40, DIM)) * 4
    X = centers[rng.integers(0, 40, N + QUERIES)] + rng.normal(size=(N + QUERIES, DIM))
    X = X.astype(np.float32)
    X[9000:9300] = X[100:400]  # twins
    queries = X[N:].copy()
    queries[:50] = X[100:150] + 0.01  # queries next to twins
    path = tmp_path_factory.mktemp("bigann") / "xs-10k-20-euclidean.hdf5"
    write_dataset(path, X[:N], queries, "euclidean")
    return path


@pytest.fixture()
def runbook_file(tmp_path: Path) -> Path:
    path = tmp_path / "delete_runbook.yaml"
    path.write_text(DELETE_RUNBOOK)
    return path


def churn_job(
    dataset: Path, runbook: Path, module: str, constructor: str, args=(), query_groups=([],)
) -> Job:
    return Job(
        Definition(constructor.lower(), module, constructor, "none", ["euclidean", *args], {}),
        dataset=dataset.stem,
        dataset_path=str(dataset),
        protocol="churn",
        k=K,
        runs=1,
        query_groups=list(query_groups),
        protocol_args={"runbook": str(runbook), "runbook_dataset": KEY},
    )


# --- the independent computation: big-ann-benchmarks' bookkeeping and recall, again ---


def tag_maps_at_searches(text: str) -> list[dict[int, int]]:
    """compute_gt.py's tag_to_id after each search step: insert t -> t, delete pops,
    replace points tags at new ids."""
    entry = yaml.safe_load(text)[KEY]
    tag_to_id: dict[int, int] = {}
    maps = []
    number = 1
    while number in entry:
        step = entry[number]
        if step["operation"] == "insert":
            tag_to_id.update({t: t for t in range(step["start"], step["end"])})
        elif step["operation"] == "delete":
            for t in range(step["start"], step["end"]):
                tag_to_id.pop(t)
        elif step["operation"] == "replace":
            for i in range(step["tags_end"] - step["tags_start"]):
                tag_to_id[step["tags_start"] + i] = step["ids_start"] + i
        else:
            maps.append(dict(tag_to_id))
        number += 1
    return maps


def exact_top(data: Dataset, tag_to_id: dict[int, int], depth: int = 100):
    """Tags and L2 distances of each query's `depth` nearest live points (float64 sums,
    stored as float32 as ground-truth files are)."""
    tags = np.array(sorted(tag_to_id))
    vectors = data.train[[tag_to_id[t] for t in tags]].astype(np.float64)
    out_tags, out_dist = [], []
    for q in data.test.astype(np.float64):
        d = np.sqrt(((vectors - q) ** 2).sum(axis=1)).astype(np.float32)
        order = np.argsort(d, kind="stable")[:depth]
        out_tags.append(tags[order])
        out_dist.append(d[order])
    return np.array(out_tags), np.array(out_dist)


def bigann_recall(true_ids, true_dists, run_ids, count: int) -> float:
    """compute_recall_with_distance_ties and get_recall_values, per query, then the mean."""
    recalls = []
    for ids, dists, run in zip(true_ids, true_dists, run_ids, strict=True):
        set_end = len(dists)
        for i in range(count, len(dists)):
            if not abs(dists[count - 1] - dists[i]) < 1e-6:
                set_end = i
                break
        recalls.append(len(set(ids[:set_end].tolist()) & set(run.tolist())))
    return float(np.mean(recalls) / count)


def ours_recall(data, tag_to_id, true_dists, run_ids, count: int) -> float:
    """ann-benchmarks' rule: a distinct live answer within the k-th distance + 1e-3."""
    recalls = []
    for q, dists, run in zip(data.test.astype(np.float64), true_dists, run_ids, strict=True):
        seen, hits = set(), 0
        for tag in run.tolist():
            if tag in tag_to_id and tag not in seen:
                seen.add(tag)
                d = np.float32(np.sqrt(((data.train[tag_to_id[tag]] - q) ** 2).sum()))
                hits += d <= dists[count - 1] + 1e-3
        recalls.append(hits / count)
    return float(np.mean(recalls))


# --- the tests ---


def test_big_ann_benchmarks_delete_runbook_with_replace_replays_exactly(
    xs10k: Path, runbook_file: Path
) -> None:
    data = load_dataset(xs10k)
    job = churn_job(xs10k, runbook_file, "plugins.bruteforce.module", "BruteForce")
    [record] = PROTOCOLS["churn"].run(job, data)
    m, arrays = record.measures, record.measure_arrays
    assert m["max_pts"] == 6400 and arrays["step_live"].max() == 6400
    assert arrays["step_live"].tolist()[:9] == [
        2500,
        2500,
        5000,
        5000,
        3200,
        3200,
        6400,
        6400,
        4400,
    ]
    assert m["rebuilds"] == 0 and m["replace_time"] > 0  # delete + insert, natively
    assert arrays["search_neighbors"].shape == (8, QUERIES, K)
    assert np.array_equal(arrays["search_recall"], np.ones(8))
    assert np.array_equal(arrays["search_recall_bigann"], np.ones(8))
    after_replace = arrays["search_neighbors"][list(arrays["search_step"]).index(13)]
    live = tag_maps_at_searches(DELETE_RUNBOOK)[5]  # tags 0..599 now on rows 600..1199
    assert set(after_replace.ravel().tolist()) <= set(live) and live[0] == 600
    assert np.isin(np.arange(600), after_replace).any()  # the replaced tags are answered


class ReplacingBruteForce(BruteForce):
    """Offers big-ann-benchmarks' `replace` natively; records its calls."""

    calls: list[tuple[np.ndarray, np.ndarray]] = []

    def replace(self, X: np.ndarray, ids: np.ndarray) -> None:
        type(self).calls.append((X.copy(), ids.copy()))
        self.delete(ids)
        self.insert(X, ids)


def test_a_plugin_s_own_replace_is_used(xs10k: Path, runbook_file: Path) -> None:
    data = load_dataset(xs10k)
    ReplacingBruteForce.calls = []
    job = churn_job(xs10k, runbook_file, __name__, "ReplacingBruteForce")
    [record] = PROTOCOLS["churn"].run(job, data)
    (first, tags), (second, back) = ReplacingBruteForce.calls
    assert np.array_equal(tags, np.arange(600)) and np.array_equal(back, np.arange(600))
    assert np.array_equal(first, data.train[600:1200]) and np.array_equal(second, data.train[:600])
    assert record.measures["mean_recall_bigann"] == 1.0


class RebuildOnly(BruteForce):
    """Neither insert nor delete: the harness rebuilds on the live tags at every update."""

    deletion = "none"
    insert = BasePlugin.insert


def test_a_rebuilt_index_answers_with_tags(xs10k: Path, runbook_file: Path) -> None:
    data = load_dataset(xs10k)
    job = churn_job(xs10k, runbook_file, __name__, "RebuildOnly")
    [record] = PROTOCOLS["churn"].run(job, data)
    assert record.measures["rebuilds"] == 8  # every update after the first insert
    assert np.array_equal(record.measure_arrays["search_recall_bigann"], np.ones(8))


def test_mean_recall_of_an_approximate_index_equals_an_independent_computation(
    xs10k: Path, runbook_file: Path
) -> None:
    """hnswlib at a low ef misses some neighbours; both mean recalls are recomputed here from
    the stored answers of every search step and must match to the last bit."""
    data = load_dataset(xs10k)
    job = churn_job(
        xs10k, runbook_file, "plugins.hnswlib.module", "Hnswlib", query_groups=[{"ef": 10}]
    )
    job.definition = Definition(
        "hnswlib", "plugins.hnswlib.module", "Hnswlib", "none", ["euclidean"],
        {"M": 4, "efConstruction": 20},
    )  # fmt: skip
    [record] = PROTOCOLS["churn"].run(job, data)
    answers = record.measure_arrays["search_neighbors"]
    bigann, ours = [], []
    for tag_to_id, run_ids in zip(tag_maps_at_searches(DELETE_RUNBOOK), answers, strict=True):
        true_ids, true_dists = exact_top(data, tag_to_id)
        bigann.append(bigann_recall(true_ids, true_dists, run_ids, K))
        ours.append(ours_recall(data, tag_to_id, true_dists, run_ids, K))
    assert 0.5 < np.mean(bigann) < 0.99  # approximate, so the check has something to check
    assert record.measure_arrays["search_recall_bigann"].tolist() == pytest.approx(
        bigann, abs=1e-12
    )
    assert record.measures["mean_recall_bigann"] == pytest.approx(np.mean(bigann), abs=1e-12)
    assert record.measure_arrays["search_recall"].tolist() == pytest.approx(ours, abs=1e-12)
    assert record.measures["mean_recall"] == pytest.approx(float(np.mean(ours)), abs=1e-12)
    assert record.measures["mean_recall"] >= record.measures["mean_recall_bigann"]


def test_ties_count_once_within_a_millionth_for_big_ann_and_a_thousandth_for_us() -> None:
    """The two rules on crafted answers: a twin at the k-th distance counts in both; an
    answer 1e-4 beyond the k-th counts only in ours."""
    true_ids = np.array([[1, 2, 3, 4]])
    true_dists = np.array([[0.1, 0.2, 0.3, 0.30000001]], dtype=np.float32)
    twin = np.array([[1, 2, 4]])
    assert knn_recall_bigann(true_ids, true_dists, twin, 3).tolist() == [1.0]
    near = np.array([[1, 2, 9]])
    near_dists = np.array([[0.1, 0.2, 0.3001]], dtype=np.float32)
    assert knn_recall_bigann(true_ids, true_dists, near, 3).tolist() == [2 / 3]
    assert knn_recall(true_dists, near_dists, near, 3).tolist() == [1.0]
    repeated = np.array([[1, 1, -1]])
    assert knn_recall_bigann(true_ids, true_dists, repeated, 3).tolist() == [1 / 3]


def test_the_command_line_runs_an_unchanged_runbook_and_shows_both_recalls(
    xs10k: Path, runbook_file: Path, tmp_path: Path, capsys
) -> None:
    results = tmp_path / "results"
    argv = [
        "--dataset", str(xs10k), "--algorithm", "bruteforce", "--protocol", "churn",
        "--runbook", str(runbook_file), "--results", str(results), "--runs", "1",
    ]  # fmt: skip
    assert main(argv) == 2
    assert f"no entry named like the dataset 'xs-10k-20-euclidean' (it has: {KEY})" in (
        capsys.readouterr().err
    )
    assert main([*argv, "--runbook-dataset", KEY]) == 0
    out = capsys.readouterr().out
    assert "mean recall" in out and "big-ann recall" in out
    [path] = load_results(results, protocols=["churn"])["path"]
    assert f"runbook_dataset={KEY}" in Path(path).name
    stored = read_result(path)
    assert stored["measure_arrays"]["search_neighbors"].shape == (8, QUERIES, K)
    assert stored["measures"]["mean_recall_bigann"] == 1.0
    assert stored["measures"]["runbook"] == f"delete_runbook-{KEY}"  # the entry it ran
