"""Results and data folders that cannot be written: a clear exit 2 naming the folder, before
any work; a disk that fills mid-suite records the run that hit it and stops cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.environment import PROJECT_ROOT
from harness.core.results import read_result

FAULTS = "tests.support.fault_plugins"


def run(dataset: str, results: Path, data: Path, *extra: str) -> int:
    return main(
        ["--dataset", dataset, "--results", str(results), "--data-dir", str(data),
         "--algorithm", "bruteforce", "--runs", "1", *extra]
    )  # fmt: skip


def blocked(tmp_path: Path) -> Path:
    """A folder that cannot exist, for anyone, root included: its parent is a file."""
    parent = tmp_path / "a-file"
    parent.write_text("not a folder")
    return parent / "folder"


def test_a_results_folder_that_cannot_be_made_is_a_clear_error(
    tiny_dataset: Path, tmp_path: Path, capsys
) -> None:
    target = blocked(tmp_path)
    assert run(str(tiny_dataset), target, tmp_path / "data") == 2
    err = capsys.readouterr().err
    assert f"cannot write to {target} (--results)" in err and "Traceback" not in err


def test_a_data_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path, capsys) -> None:
    target = blocked(tmp_path)
    assert run("random-xs-20-euclidean", tmp_path / "results", target) == 2
    err = capsys.readouterr().err
    assert f"cannot write to {target} (--data-dir)" in err and "Traceback" not in err
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_results_folder_is_a_clear_error(
    tiny_dataset: Path, tmp_path: Path, capsys
) -> None:
    target = tmp_path / "read-only"
    target.mkdir(mode=0o500)
    try:
        assert run(str(tiny_dataset), target, tmp_path / "data") == 2
        assert f"cannot write to {target} (--results)" in capsys.readouterr().err
    finally:
        target.chmod(0o700)


def test_missing_results_and_data_folders_are_created(tiny_dataset: Path, tmp_path) -> None:
    results = tmp_path / "new" / "results"
    assert run(str(tiny_dataset), results, tmp_path / "new" / "data") == 0
    [path] = results.rglob("*.hdf5")
    assert read_result(path)["attrs"]["status"] == "ok"


FAULT_DEFINITIONS = """
bruteforce:
  module: plugins.bruteforce.module
  constructor: BruteForce
  docker_image: none
  run_groups: {{one: {{args: {{}}}}}}
fills-disk:
  module: {faults}
  constructor: FillsDisk
  docker_image: none
  run_groups: {{one: {{args: {{}}}}}}
bruteforce-later:
  module: plugins.bruteforce.module
  constructor: BruteForce
  docker_image: none
  run_groups: {{one: {{args: {{}}}}}}
"""


def private_tmpfs_available() -> bool:
    if not shutil.which("unshare"):
        return False
    done = in_private_mounts("mount -t tmpfs -o size=1m tmpfs /mnt", timeout=30)
    return done.returncode == 0


def in_private_mounts(script: str, timeout: float) -> subprocess.CompletedProcess:
    """A shell script in a mount namespace of its own (its mounts vanish with it)."""
    return subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.timeout(120)
@pytest.mark.skipif(not private_tmpfs_available(), reason="no private mount namespace here")
def test_a_results_folder_on_a_read_only_filesystem_is_a_clear_error(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    suite = [
        sys.executable, "run.py", "--dataset", str(tiny_dataset), "--algorithm", "bruteforce",
        "--results", str(disk / "results"), "--data-dir", str(tmp_path / "data"),
    ]  # fmt: skip
    done = in_private_mounts(f"mount -t tmpfs -o ro tmpfs {disk} && {' '.join(suite)}", 100)
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"cannot write to {disk / 'results'} (--results): Read-only file system" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(300)
@pytest.mark.skipif(not private_tmpfs_available(), reason="no private mount namespace here")
def test_a_disk_that_fills_mid_suite_records_the_run_and_stops_cleanly(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    """The results folder is a real 4 MiB filesystem (a tmpfs in a private mount namespace);
    the second of three runs fills it while its worker runs."""
    disk = tmp_path / "disk"
    disk.mkdir()
    results = disk / "results"
    algos = tmp_path / "faults.yaml"
    algos.write_text(FAULT_DEFINITIONS.format(faults=FAULTS))
    suite = [
        sys.executable, "run.py", "--dataset", str(tiny_dataset), "--definitions", str(algos),
        "--results", str(results), "--data-dir", str(tmp_path / "data"), "--runs", "1",
        "--algorithm", "bruteforce", "--algorithm", "fills-disk", "--algorithm", "bruteforce-later",
    ]  # fmt: skip
    script = (
        f"mount -t tmpfs -o size=4m tmpfs {disk} && "
        f"FAULT_FILL_FOLDER={results} {' '.join(suite)}; code=$?; "
        f"cp -r {results} {tmp_path / 'kept'}; exit $code"
    )
    done = in_private_mounts(script, timeout=280)
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"cannot write to {results}" in done.stderr and "Traceback" not in done.stderr
    kept = tmp_path / "kept"
    statuses = {}
    for path in [*kept.rglob("*.hdf5"), *kept.rglob("*.failed.h5")]:
        attrs = read_result(path)["attrs"]
        statuses[attrs["algorithm"]] = (attrs["status"], attrs.get("failure_cause"))
    assert statuses == {"bruteforce": ("ok", None), "fills-disk": ("failed", "disk")}
    assert "No space left on device" in read_failure(kept, "fills-disk")
    assert not [p for p in kept.rglob("*") if ".partial-" in p.name]


def read_failure(results: Path, algorithm: str) -> str:
    [path] = (p for p in results.rglob("*.failed.h5") if f"/{algorithm}/" in str(p))
    return read_result(path)["attrs"]["failure_detail"]
