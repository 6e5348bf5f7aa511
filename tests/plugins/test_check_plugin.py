"""`python -m harness.check_plugin`: the contract on a user's own definitions file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.check_plugin import main
from harness.core.environment import PROJECT_ROOT
from plugins.base import check_deletable
from plugins.bruteforce.module import BruteForce

SAMPLED = PROJECT_ROOT / "tests/support/annb_sampled/config.yml"


class ForgetsNothing(BruteForce):
    """Claims a hard delete but only hides ids from its own bookkeeping."""

    def delete(self, ids: np.ndarray) -> None:
        check_deletable(ids, self.index.row_of)
        self.hidden = getattr(self, "hidden", set()) | set(np.asarray(ids).tolist())


class IgnoresIds(BruteForce):
    """Answers with row positions, whatever ids `fit` was given."""

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        super().fit(X)


def definitions(tmp_path: Path, constructor: str, metrics: str = "") -> Path:
    path = tmp_path / "my-algos.yaml"
    path.write_text(
        f"mine:\n  module: {__name__}\n  constructor: {constructor}\n"
        f"  docker_image: mine\n{metrics}  run_groups:\n    exact: {{}}\n"
    )
    return path


def test_an_ann_benchmarks_config_passes_and_the_setting_is_measured(
    data_dir: Path, capsys
) -> None:
    argv = ["--definitions", str(SAMPLED), "--algorithm", "sampled-scan"]
    assert main([*argv, "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "PASS  euclidean query: best-first int64 ids at recall 0.9" in out
    assert "PASS  angular   external ids and bad input" in out
    assert "SKIP  euclidean delete: no deleted id returned, recall kept: sampled-scan has no" in out
    assert "PASS  euclidean an unsupported metric is refused" in out  # ip: NotImplementedError
    assert "FAIL" not in out and out.rstrip().endswith("all checks passed")


def test_a_plugin_that_does_not_forget_fails_with_the_reason(
    tmp_path: Path, data_dir: Path, capsys
) -> None:
    path = definitions(tmp_path, "ForgetsNothing")
    code = main(["--definitions", str(path), "--algorithm", "mine", "--data-dir", str(data_dir),
                 "--check", "delete:"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "FAIL  euclidean delete: no deleted id returned, recall kept: deleted ids returned" in out
    )
    assert "replace" not in out  # --check ran only the delete check
    assert "2 check(s) failed" in out


def test_a_plugin_that_ignores_ids_fails_naming_the_row(
    tmp_path: Path, data_dir: Path, capsys
) -> None:
    path = definitions(tmp_path, "IgnoresIds", "  metrics: [euclidean]\n")
    code = main(["--definitions", str(path), "--algorithm", "mine", "--data-dir", str(data_dir),
                 "--check", "external ids", "--check", "metric"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  euclidean external ids and bad input: fit(X, ids): row 0 answered [0, " in out
    assert "FAIL  euclidean an unsupported metric is refused: metric 'angular'" in out
    assert "angular   external" not in out  # only the metrics it lists are checked


def test_bad_input_exits_2_naming_what_exists(tmp_path: Path, capsys) -> None:
    assert main(["--definitions", str(SAMPLED), "--algorithm", "nosuch"]) == 2
    assert (
        "unknown algorithm 'nosuch'; the definitions have: sampled-scan" in capsys.readouterr().err
    )
    assert main(["--definitions", str(tmp_path / "none.yaml"), "--algorithm", "x"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_module_that_does_not_import_fails_the_import_check(
    tmp_path: Path, data_dir: Path, capsys
) -> None:
    path = definitions(tmp_path, "Missing")
    assert (
        main(["--definitions", str(path), "--algorithm", "mine", "--data-dir", str(data_dir)]) == 1
    )
    assert "FAIL  import: algorithm 'mine': key 'constructor'" in capsys.readouterr().out


def test_help_describes_the_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "harness.check_plugin", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    ).stdout
    assert "--definitions" in out and "--algorithm" in out and "config.yml" in out


@pytest.mark.parametrize("check", ["query", "replace"])
def test_the_checks_pass_on_a_correct_plugin(check: str, tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "algos.yaml"
    path.write_text(
        "bruteforce:\n  module: plugins.bruteforce.module\n  constructor: BruteForce\n"
        "  docker_image: b\n  run_groups:\n    exact: {}\n"
    )
    argv = ["--definitions", str(path), "--algorithm", "bruteforce", "--check", check]
    assert main([*argv, "--data-dir", str(data_dir)]) == 0
