"""The command line's small guards: Ctrl-C, an empty grid, run groups given twice, a memory
limit too small to start a worker, and exporting the runs of a dataset given by path."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from harness.cli import main
from harness.core.environment import PROJECT_ROOT
from harness.core.results import read_result

FAULTS = "tests.support.fault_plugins"


def definitions(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "algos.yaml"
    path.write_text(text)
    return path


def run(dataset: Path, tmp_path: Path, *extra: str) -> int:
    results = tmp_path / "results"
    return main(["--dataset", str(dataset), "--results", str(results), "--runs", "1", *extra])


@pytest.mark.timeout(120)
def test_ctrl_c_stops_with_a_message_and_no_traceback(tiny_dataset: Path, tmp_path: Path) -> None:
    algos = definitions(
        tmp_path,
        f"sleep:\n  module: {FAULTS}\n  constructor: Sleep\n  docker_image: none\n"
        "  run_groups: {one: {args: {}}}\n",
    )
    command = [
        sys.executable, "-c",
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from harness.cli import main; sys.exit(main(sys.argv[1:]))",
        "--dataset", str(tiny_dataset), "--definitions", str(algos), "--algorithm", "sleep",
        "--results", str(tmp_path / "results"),
    ]  # fmt: skip
    runner = subprocess.Popen(command, cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not psutil.Process(runner.pid).children():
        assert time.monotonic() < deadline, "no worker started"
        time.sleep(0.2)
    time.sleep(1)
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130
    assert "interrupted: finished runs are kept" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "group", ["{args: {M: []}}", "{args: {}, query_args: {ef: []}}", "{args: [[], 4]}"]
)
def test_a_grid_that_expands_to_nothing_is_refused(
    tiny_dataset: Path, tmp_path: Path, capsys, group: str
) -> None:
    algos = definitions(
        tmp_path,
        "bruteforce:\n  module: plugins.bruteforce.module\n  constructor: BruteForce\n"
        f"  docker_image: none\n  run_groups:\n    empty: {group}\n",
    )
    code = run(tiny_dataset, tmp_path, "--definitions", str(algos), "--algorithm", "bruteforce")
    assert code == 2
    assert "run group 'empty'" in capsys.readouterr().err


def test_run_groups_and_algorithms_given_twice_run_once(
    tiny_dataset: Path, tmp_path: Path, monkeypatch
) -> None:
    builds = tmp_path / "builds.log"
    monkeypatch.setenv("FAULT_BUILDS_LOG", str(builds))
    algos = definitions(
        tmp_path,
        f"slow:\n  module: {FAULTS}\n  constructor: Slow\n  docker_image: none\n"
        "  run_groups:\n"
        "    first: {args: {tag: 1}}\n"
        "    again: {args: {tag: 1}}\n",
    )
    chosen = ("--definitions", str(algos), "--algorithm", "slow", "--algorithm", "slow")
    assert run(tiny_dataset, tmp_path, *chosen) == 0
    assert builds.read_text().split() == ["1"]
    assert len(list((tmp_path / "results").rglob("*.hdf5"))) == 1


@pytest.mark.parametrize("limit", ["0.05", "0.1", "0.3"])  # killed importing; either; refused
def test_a_memory_limit_too_small_to_start_is_said_so(
    limit: str, tiny_dataset: Path, tmp_path: Path
) -> None:
    chosen = ("--algorithm", "bruteforce", "--memory-limit", limit)
    assert run(tiny_dataset, tmp_path, *chosen) == 0
    [path] = (tmp_path / "results").rglob("*.failed.h5")
    attrs = read_result(path)["attrs"]
    assert attrs["failure_cause"] == "memory"
    assert f"the memory limit of {float(limit):.2f} GiB leaves no room" in attrs["failure_detail"]


def test_export_of_a_dataset_given_by_path(tiny_dataset: Path, tmp_path: Path, capsys) -> None:
    assert run(tiny_dataset, tmp_path, "--algorithm", "bruteforce") == 0
    export = tmp_path / "runs.csv"
    arguments = ["--results", str(tmp_path / "results"), "--export", str(export)]
    assert main([*arguments, "--dataset", str(tiny_dataset)]) == 0
    assert "wrote 1 run(s)" in capsys.readouterr().out
    assert pd.read_csv(export)["dataset"].tolist() == [tiny_dataset.stem]
