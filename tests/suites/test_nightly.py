"""The nightly suite end to end on tiny data: its history rows and a planted regression."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.cli import main
from harness.core.definitions import load_algorithms
from harness.protocols import PROTOCOLS
from harness.suites import nightly
from harness.suites.history import (
    COLUMNS,
    append_history,
    history_path,
    read_history,
    regressions,
)

DEFINITIONS = """
bruteforce:
  module: plugins.bruteforce.module
  constructor: BruteForce
  docker_image: forget-benchmarks-bruteforce
  base_args: ["@metric"]
  run_groups:
    exact: {}
hnswlib:
  module: plugins.hnswlib.module
  constructor: Hnswlib
  docker_image: forget-benchmarks-hnswlib
  base_args: ["@metric"]
  disabled: true
  run_groups:
    first:
      args: {M: 8, efConstruction: 50}
      query_args: {ef: [10]}
    second:
      default: true
      args: {M: 4, efConstruction: 20}
      query_args: {ef: [10]}
"""


def test_nightly_suite_end_to_end_then_a_planted_drop(
    tiny_dataset: Path, data_dir: Path, tmp_path: Path
):
    definitions = tmp_path / "algos.yaml"
    definitions.write_text(DEFINITIONS)
    results = tmp_path / "results"
    argv = ["--suite", "nightly", "--dataset", str(tiny_dataset), "--runs", "1"]
    argv += ["--definitions", str(definitions), "--results", str(results)]
    assert main([*argv, "--data-dir", str(data_dir)]) == 0

    history = read_history(history_path(results))
    assert list(history.columns) == COLUMNS
    # one row per (dataset, algorithm, protocol); the disabled algorithm is left out
    assert sorted(history["protocol"]) == sorted(PROTOCOLS)
    assert set(history["algorithm"]) == {"bruteforce"}
    assert (history["failed"] == 0).all() and history["night"].nunique() == 1
    row = history.set_index("protocol")
    assert row.loc["qps-recall", "max_recall"] == 1.0  # bruteforce is exact
    assert row.loc["qps-recall", "best_qps"] > 0
    assert np.isnan(row.loc["qps-recall", "delete_p50"])  # not a qps-recall figure
    assert row.loc["deletion", "delete_p50"] > 0 and row.loc["deletion", "speedup"] > 0
    assert row.loc["churn", "mean_recall"] == 1.0
    assert row.loc["erasure", "verdict"] == "erased"  # bruteforce overwrites deleted rows
    assert regressions(history).empty  # a single night has nothing to compare

    # a second night: the same figures but QPS halved, as a regression would
    second = history.copy()
    second["night"] = "9999-01-01T00:00:00+00:00"
    second["best_qps"] = second["best_qps"] / 2
    history = append_history(history_path(results), second)
    found = regressions(history)
    expected = history["best_qps"].notna() & (history["night"] == second["night"][0])
    assert len(found) == expected.sum() >= 2
    assert set(found["figure"]) == {"best_qps"}
    assert np.allclose(found["change"], -0.5)


def test_nightly_picks_one_run_group_per_enabled_algorithm(tmp_path: Path):
    definitions = tmp_path / "algos.yaml"
    definitions.write_text(DEFINITIONS.replace("disabled: true", "disabled: false"))
    chosen = nightly.nightly_algorithms(load_algorithms(definitions))
    assert {n: list(a.run_groups) for n, a in chosen.items()} == {
        "bruteforce": ["exact"],
        "hnswlib": ["second"],
    }
