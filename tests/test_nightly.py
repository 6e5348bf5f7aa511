"""The nightly suite end to end on tiny data, its history file, and the regression flag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import nightly
from harness.cli import main
from harness.definitions import load_algorithms
from harness.protocols import PROTOCOLS

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

    history = nightly.read_history(nightly.history_path(results))
    assert list(history.columns) == nightly.COLUMNS
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
    if "erasure" in PROTOCOLS:
        assert row.loc["erasure", "verdict"] == "erased"  # bruteforce overwrites deleted rows
    assert nightly.regressions(history).empty  # a single night has nothing to compare

    # a second night: the same figures but QPS halved, as a regression would
    second = history.copy()
    second["night"] = "9999-01-01T00:00:00+00:00"
    second["best_qps"] = second["best_qps"] / 2
    history = nightly.append_history(nightly.history_path(results), second)
    found = nightly.regressions(history)
    expected = history["best_qps"].notna() & (history["night"] == second["night"][0])
    assert len(found) == expected.sum() >= 2
    assert set(found["figure"]) == {"best_qps"}
    assert np.allclose(found["change"], -0.5)


def history(*nights: dict[str, object]) -> pd.DataFrame:
    rows = [
        {"night": f"2026-01-0{i + 1}", "dataset": "d", "algorithm": "a", "protocol": "p", **n}
        for i, n in enumerate(nights)
    ]
    return pd.DataFrame(rows).reindex(columns=nightly.COLUMNS)


@pytest.mark.parametrize(
    ("figure", "before", "after", "flagged"),
    [
        ("best_qps", 1000.0, 800.0, False),  # -20 %: within the tolerance
        ("best_qps", 1000.0, 700.0, True),  # -30 %
        ("max_recall", 0.95, np.nan, True),  # the figure is gone
        ("build_time", 10.0, 12.0, False),
        ("build_time", 10.0, 13.0, True),  # lower is better: +30 %
        ("delete_p50", 1e-5, 5e-6, False),  # faster is no regression
        ("unlearning_gap", 0.01, 0.05, False),  # absolute rise 0.04
        ("unlearning_gap", 0.01, 0.07, True),
        ("verdict", "erased", "hidden", True),
        ("verdict", "hidden", "erased", False),
        ("verdict", "hidden", "leaking", True),
    ],
)
def test_regression_rules(figure: str, before: object, after: object, flagged: bool):
    found = nightly.regressions(history({figure: before}, {figure: after}))
    assert len(found) == flagged
    if flagged:
        assert found.iloc[0][["figure", "previous"]].tolist() == [figure, before]


def test_compares_with_the_latest_earlier_night_of_each_row():
    nights = history({"best_qps": 100.0}, {"best_qps": 1000.0}, {"verdict": "erased"})
    nights.loc[2, "best_qps"] = 900.0
    assert nightly.regressions(nights).empty  # against 1000, not 100
    nights.loc[2, "best_qps"] = 50.0
    assert nightly.regressions(nights, tolerance=0.99).empty


def test_history_errors_and_empty_history(tmp_path: Path):
    assert list(nightly.read_history(tmp_path / "none.csv").columns) == nightly.COLUMNS
    assert nightly.regressions(nightly.read_history(tmp_path / "none.csv")).empty
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="lacks the column"):
        nightly.read_history(wrong)


def test_nightly_picks_one_run_group_per_enabled_algorithm(tmp_path: Path):
    definitions = tmp_path / "algos.yaml"
    definitions.write_text(DEFINITIONS.replace("disabled: true", "disabled: false"))
    chosen = nightly.nightly_algorithms(load_algorithms(definitions))
    assert {n: list(a.run_groups) for n, a in chosen.items()} == {
        "bruteforce": ["exact"],
        "hnswlib": ["second"],
    }
