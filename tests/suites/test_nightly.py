"""The nightly suite end to end on tiny data: its history rows, two nights of identical code
that flag nothing, and a planted 2x slowdown that is flagged with its evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.cli import main
from harness.core.definitions import load_algorithms
from harness.core.request import RunRequest
from harness.protocols import PROTOCOLS
from harness.report.console import regression_table
from harness.suites import nightly
from harness.suites.history import COLUMNS, history_path, read_history, read_timing, timing_path

DEFINITIONS = """
bruteforce:
  module: plugins.bruteforce.module
  constructor: BruteForce
  docker_image: forget-benchmarks-bruteforce
  base_args: ["@metric"]
  run_groups:
    exact: {nightly: true}
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
STEADY = """
steady:
  module: tests.support.nightly_plugins
  constructor: {constructor}
  docker_image: none
  base_args: ["@metric"]
  run_groups:
    small: {{nightly: true}}
"""


def test_nightly_suite_end_to_end(tiny_dataset: Path, data_dir: Path, tmp_path: Path, capsys):
    definitions = tmp_path / "algos.yaml"
    definitions.write_text(DEFINITIONS)
    results = tmp_path / "results"
    argv = ["--suite", "nightly", "--dataset", str(tiny_dataset), "--runs", "1"]
    argv += ["--definitions", str(definitions), "--results", str(results)]
    assert main([*argv, "--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out
    assert "nightly [" in printed and "about" in printed  # the progress line and its estimate
    assert "no regressions" in printed  # a first night has nothing to compare with

    history = read_history(history_path(results))
    assert list(history.columns) == COLUMNS
    # one row per (repeat, dataset, algorithm, protocol); the disabled algorithm is left out;
    # the timed protocols twice, churn and erasure once
    assert history.groupby("protocol").size().to_dict() == nightly.REPEATS
    assert set(nightly.REPEATS) == set(PROTOCOLS)
    assert set(history["algorithm"]) == {"bruteforce"}
    assert (history["failed"] == 0).all() and history["night"].nunique() == 1
    row = history[history["repeat"] == 0].set_index("protocol")
    assert row.loc["qps-recall", "max_recall"] == 1.0  # bruteforce is exact
    assert row.loc["qps-recall", "best_qps"] > 0
    assert np.isnan(row.loc["qps-recall", "delete_p50"])  # not a qps-recall figure
    assert row.loc["deletion", "delete_p50"] > 0 and row.loc["deletion", "speedup"] > 0
    assert row.loc["churn", "mean_recall"] == 1.0
    assert row.loc["erasure", "verdict"] == "erased"  # bruteforce overwrites deleted rows
    timing = read_timing(timing_path(results))
    assert len(timing) == sum(nightly.REPEATS.values()) and (timing["seconds"] > 0).all()


def steady_night(kind: str, tiny: Path, data: Path, tmp: Path) -> pd.DataFrame:
    """One night of the steady plugin (or its 2x slowed twin, under the same name)."""
    definitions = tmp / f"{kind}.yaml"
    definitions.write_text(STEADY.format(constructor=kind))
    request = RunRequest(
        dataset=str(tiny), runs=3, definitions=definitions, results=tmp / "results", data_dir=data
    )
    protocols = ("qps-recall", "deletion")
    return nightly.run_suite(request, [str(tiny)], protocols=protocols, say=lambda _: 0)


def test_identical_nights_flag_nothing_and_a_planted_2x_slowdown_is_flagged(
    tiny_dataset: Path, data_dir: Path, tmp_path: Path
):
    for _ in range(2):  # nothing is judged before two earlier nights
        assert steady_night("Steady", tiny_dataset, data_dir, tmp_path).empty
    assert steady_night("Steady", tiny_dataset, data_dir, tmp_path).empty  # identical code
    found = steady_night("Slowed2x", tiny_dataset, data_dir, tmp_path)
    flagged = set(zip(found["protocol"], found["figure"], strict=True))
    # query, delete and build twice as slow: QPS halves, delete p50 and build time double
    assert ("qps-recall", "best_qps") in flagged and ("deletion", "delete_p50") in flagged
    assert ("qps-recall", "build_time") in flagged
    assert not {f for _, f in flagged} & {"max_recall", "speedup"}  # what did not change
    qps = found[(found["protocol"] == "qps-recall") & (found["figure"] == "best_qps")].iloc[0]
    assert 0.4 < qps["current"] / qps["previous"] < 0.6  # the evidence: about half
    assert qps["nights"] == 3 and qps["current_high"] < qps["previous_low"]
    assert abs(qps["change"]) > qps["threshold"] == 3 * qps["noise"]
    printed = regression_table(found)
    assert "best_qps (QPS)" in printed and "x0.5" in printed and "flagged beyond" in printed


def test_nightly_runs_each_algorithms_nightly_groups_else_its_default_ones(tmp_path: Path):
    definitions = tmp_path / "algos.yaml"
    text = DEFINITIONS.replace("disabled: true", "disabled: false")
    text += STEADY.format(constructor="Steady")
    text += "plain:\n  module: m\n  constructor: C\n  docker_image: x\n"
    text += "  run_groups:\n    big: {args: {M: [4, 8, 16]}}\n"
    definitions.write_text(text)
    chosen = nightly.nightly_algorithms(load_algorithms(definitions))
    assert {n: list(a.run_groups) for n, a in chosen.items()} == {
        "bruteforce": ["exact"],
        "hnswlib": ["second"],  # its default group: it has no nightly one
        "steady": ["small"],
    }  # plain has neither: left out rather than run its whole grid


def test_the_shipped_nightly_groups_are_small():
    chosen = nightly.nightly_algorithms(load_algorithms("algos.yaml"))
    enabled = {n for n, a in load_algorithms("algos.yaml").items() if not a.disabled}
    assert set(chosen) == enabled  # every enabled algorithm has a nightly group
    for name, algorithm in chosen.items():
        assert list(algorithm.run_groups) == ["nightly"], name


def test_a_night_repeats_the_timed_protocols(tmp_path: Path, monkeypatch):
    planned = []
    monkeypatch.setattr(
        nightly.benchmark, "run", lambda one, _: planned.append(one) or pd.DataFrame()
    )
    request = RunRequest(definitions=Path("algos.yaml"), results=tmp_path)
    nightly.run_suite(request, say=lambda _: None)
    steps = [(r.dataset, r.protocol) for r in planned]
    assert len(steps) == len(nightly.DATASETS) * sum(nightly.REPEATS.values())
    for protocol, times in nightly.REPEATS.items():
        assert steps.count((nightly.DATASETS[0], protocol)) == times
    assert steps[: len(PROTOCOLS)] == [(nightly.DATASETS[0], p) for p in PROTOCOLS]
    assert all(r.force and r.algorithms == ("all",) for r in planned)
    churn = next(r for r in planned if r.protocol == "churn")
    assert Path(churn.runbook) == nightly.RUNBOOK  # the short nightly runbook


def test_the_progress_line_estimates_from_the_previous_night_then_from_tonight():
    steps = [nightly.Step(r, "d", p) for r in range(2) for p in ("a", "b")]
    line = nightly.progress_line(0, steps, 0.0, [], {("d", "a"): 60.0, ("d", "b"): 30.0})
    assert "1/4: a on d (repeat 1/2)" in line and "about 3m00s left" in line
    line = nightly.progress_line(1, steps, 50.0, [(steps[0], 40.0)], {})
    assert "2/4" in line and "about 2m00s left" in line  # b, a, b at this night's mean 40 s
    assert "estimate after the first step" in nightly.progress_line(0, steps, 0, [], {})
