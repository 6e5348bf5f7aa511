"""The command line: run, skip finished runs, --force, listings, export and clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.core.results import read_result


def run(tmp_path: Path, data_dir: Path, *extra: str) -> int:
    return main(
        [
            "--dataset", "random-xs-20-angular", "--results", str(tmp_path / "results"),
            "--data-dir", str(data_dir), "--runs", "1", *extra,
        ]
    )  # fmt: skip


SMALL_HNSWLIB_GRID = """
hnswlib:
  module: plugins.hnswlib.module
  constructor: Hnswlib
  docker_image: forget-benchmarks-hnswlib
  run_groups:
    small:
      args: {M: [8, 16], efConstruction: 100}
      query_args: {ef: [10, 40, 160]}
"""


def test_run_skip_and_force(tmp_path: Path, data_dir: Path, xs_angular, capsys) -> None:
    algos = tmp_path / "algos.yaml"
    algos.write_text(SMALL_HNSWLIB_GRID)
    hnswlib = ("--algorithm", "hnswlib", "--definitions", str(algos))
    assert run(tmp_path, data_dir, *hnswlib) == 0
    out = capsys.readouterr().out
    files = sorted(
        (tmp_path / "results" / "random-xs-20-angular" / "10" / "hnswlib").rglob("*.hdf5")
    )
    assert len(files) == 6 and "best QPS at recall >= 0.9" in out
    stamps = {f: f.stat().st_mtime_ns for f in files}

    assert run(tmp_path, data_dir, *hnswlib) == 0
    assert "skipping 6 run(s)" in capsys.readouterr().out
    assert all(f.stat().st_mtime_ns == stamps[f] for f in files)

    assert run(tmp_path, data_dir, *hnswlib, "--force") == 0
    assert all(f.stat().st_mtime_ns != stamps[f] for f in files)

    export = tmp_path / "all.csv"
    assert main(["--results", str(tmp_path / "results"), "--export", str(export)]) == 0
    frame = pd.read_csv(export)
    assert len(frame) == 6 and (frame["status"] == "ok").all()
    assert frame["recall"].max() >= 0.99


def test_bruteforce_batch_recall_is_exact(tmp_path: Path, data_dir: Path, xs_angular) -> None:
    assert run(tmp_path, data_dir, "--algorithm", "bruteforce", "--batch") == 0
    [path] = (tmp_path / "results").rglob("*.hdf5")
    result = read_result(path)
    assert result["attrs"]["batch_mode"] and result["measures"]["recall"] == 1.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--algorithm", "nosuch"], "unknown algorithm 'nosuch'"),
        (["--dataset", "nosuch"], "unknown dataset 'nosuch'"),
        (["--definitions", "missing.yaml"], "missing.yaml: no such file"),
    ],
)
def test_bad_input_is_a_clear_error(arguments, message, tmp_path: Path, capsys) -> None:
    assert main([*arguments, "--results", str(tmp_path), "--data-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_listings(capsys) -> None:
    assert main(["--list-algorithms"]) == 0
    assert "hnswlib" in capsys.readouterr().out
    assert main(["--list-datasets"]) == 0
    out = capsys.readouterr().out
    assert "glove-50-angular" in out and "fashion-mnist-784-euclidean" in out
