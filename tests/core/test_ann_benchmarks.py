"""ann-benchmarks reads our qps-recall results as its own, and nothing else as them.

`AnnBenchmarks` re-implements, from ann-benchmarks' documented layout, what its `plot.py`
and `data_export.py` do with a results folder: `load_all_results` (walk
`results/<dataset>/<count>/` at any depth, open every `.hdf5` read-write, keep those whose
`batch_mode` matches), `get_unique_algorithms` (every file's `algo`, both modes) and
`compute_metrics` / `compute_metrics_all_runs` (knn recall from the run's `distances`
against the dataset's with epsilon 1e-3, QPS = 1 / `best_search_time`, and the other
attributes its metrics read). Run on a folder holding every kind of our files, it must find
exactly our qps-recall runs and compute our recall and QPS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from harness import benchmark
from harness.core.request import RunRequest
from harness.core.results import load_results
from harness.data.datasets import load_dataset, write_dataset

DEFINITIONS = """
hnswlib:
  module: plugins.hnswlib.module
  constructor: Hnswlib
  docker_image: none
  run_groups:
    tiny:
      args: {M: 2, efConstruction: 10}
      query_args: {ef: [10, 20, 80]}
bruteforce:
  module: plugins.bruteforce.module
  constructor: BruteForce
  docker_image: none
  run_groups:
    exact: {}
raise:
  module: tests.support.fault_plugins
  constructor: Raise
  docker_image: none
  run_groups:
    fails: {}
"""


class AnnBenchmarks:
    """What ann-benchmarks' loader and metrics do with a `results` folder."""

    def __init__(self, results: Path) -> None:
        self.results = results
        self.unreadable: list[str] = []

    def load_all_results(
        self, dataset: str | None = None, count: int | None = None, batch_mode: bool = False
    ) -> Iterator[tuple[dict, h5py.File]]:
        parts = [
            str(self.results),
            *([dataset] if dataset else []),
            *([str(count)] if count else []),
        ]
        for root, _, files in os.walk(os.path.join(*parts)):
            for filename in files:
                if os.path.splitext(filename)[-1] != ".hdf5":
                    continue
                try:
                    with h5py.File(os.path.join(root, filename), "r+") as f:
                        properties = dict(f.attrs)
                        if batch_mode != properties["batch_mode"]:
                            continue
                        yield properties, f
                except Exception:
                    self.unreadable.append(os.path.join(root, filename))

    def get_unique_algorithms(self) -> set[str]:
        return {
            properties["algo"]
            for batch_mode in (False, True)
            for properties, _ in self.load_all_results(batch_mode=batch_mode)
        }

    @staticmethod
    def knn_recall(true_distances: np.ndarray, run_distances: np.ndarray, count: int) -> float:
        found = np.zeros(len(run_distances))
        for i in range(len(run_distances)):
            threshold = true_distances[i][count - 1] + 1e-3
            found[i] = sum(1 for d in run_distances[i][:count] if d <= threshold)
        return float(np.mean(found) / float(count))

    def compute_metrics_all_runs(
        self, true_distances: np.ndarray, runs: Iterator[tuple[dict, h5py.File]]
    ) -> Iterator[dict]:
        for properties, run in runs:
            run_distances, times = np.array(run["distances"]), np.array(run["times"])
            if "metrics" not in run:
                run.create_group("metrics")  # its metrics cache, written into our file
            yield {
                "algorithm": properties["algo"],
                "parameters": properties["name"],
                "count": properties["count"],
                "dataset": properties["dataset"],
                "file": run.filename,
                "k-nn": self.knn_recall(true_distances, run_distances, properties["count"]),
                "qps": 1.0 / properties["best_search_time"],
                "p50": np.percentile(times, 50.0) * 1000.0,
                "build": properties["build_time"],
                "candidates": properties["candidates"],
                "indexsize": properties.get("index_size", 0),
                "distcomps": properties.get("dist_comps", 0)
                / (properties["run_count"] * len(true_distances)),
            }


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A results folder with every kind of our files, on a set hard enough that a small
    HNSW graph misses neighbours: qps-recall single and batch, a failed run, deletion,
    churn and erasure runs."""
    root = tmp_path_factory.mktemp("ann")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3050, 16)).astype(np.float32)
    dataset = root / "data" / "gauss-16-euclidean.hdf5"
    dataset.parent.mkdir()
    write_dataset(dataset, X[:3000], X[3000:], "euclidean")
    definitions = root / "algos.yaml"
    definitions.write_text(DEFINITIONS)
    results = root / "results"
    common = {"dataset": str(dataset), "definitions": definitions, "results": results, "runs": 1}
    everything = ("hnswlib", "bruteforce", "raise")
    benchmark.run(RunRequest(algorithms=everything, **common))
    benchmark.run(RunRequest(algorithms=everything, batch=True, **common))
    for protocol in ("deletion", "churn", "erasure"):
        benchmark.run(
            RunRequest(algorithms=("bruteforce",), protocol=protocol, delete_count=30, **common)
        )
    return results, dataset


def test_ann_benchmarks_finds_exactly_our_qps_recall_runs(folder: tuple[Path, Path]) -> None:
    results, _ = folder
    ours = load_results(results)
    assert set(ours["protocol"]) == {"qps-recall", "deletion", "churn", "erasure"}
    assert (ours["status"] == "failed").sum() == 2  # the planted failure, single and batch
    ann = AnnBenchmarks(results)
    for batch in (False, True):
        mine = ours[(ours["protocol"] == "qps-recall") & (ours["status"] == "ok")]
        mine = mine[mine["batch_mode"] == batch]
        found = {run.filename for _, run in ann.load_all_results("gauss-16-euclidean", 10, batch)}
        assert found == set(mine["path"]) and len(found) == 4
    everywhere = {run.filename for _, run in ann.load_all_results("gauss-16-euclidean")}
    assert len(everywhere) == 4  # data_export's walk (no count): no other protocol either
    assert ann.get_unique_algorithms() == {"hnswlib", "bruteforce"}
    assert ann.unreadable == []


def test_ann_benchmarks_metrics_give_our_recall_and_qps(folder: tuple[Path, Path]) -> None:
    results, dataset = folder
    true_distances = load_dataset(dataset).distances
    ann = AnnBenchmarks(results)
    ours = load_results(results).set_index("path")
    for batch in (False, True):
        runs = ann.load_all_results("gauss-16-euclidean", 10, batch)
        computed = list(ann.compute_metrics_all_runs(true_distances, runs))
        assert len(computed) == 4
        for theirs in computed:
            mine = ours.loc[theirs["file"]]
            assert theirs["algorithm"] == mine["algorithm"] and theirs["count"] == 10
            assert theirs["k-nn"] == pytest.approx(mine["recall"], abs=1e-12)
            assert theirs["qps"] == mine["qps"]
            assert theirs["build"] == mine["build_time"]
            assert theirs["p50"] == pytest.approx(mine["p50_latency"] * 1000.0)
        recalls = sorted(t["k-nn"] for t in computed)
        assert recalls[0] < 0.9 and recalls[-1] == 1.0  # a real trade-off, exact search on top
    again = load_results(results)  # ann-benchmarks' metrics cache changes none of ours
    assert again.set_index("path")["recall"].dropna().to_dict() == ours["recall"].dropna().to_dict()
