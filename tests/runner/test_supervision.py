"""A supervised worker: it dies with its runner from its first instant, nothing its plugin
starts outlives it, and what a killed runner left behind is cleaned by the next one."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from harness.core.environment import PROJECT_ROOT
from harness.core.io import PARTIAL
from harness.core.results import read_result
from harness.runner import local
from harness.runner.local import ORPHANED, SCRATCH_PREFIX, run_local, tied_to
from harness.runner.scheduling import Limits, Session, run_jobs
from tests.support.jobs import fault_job, make_job

GiB = 2**30
FAULTS = "tests.support.fault_plugins"

#: A runner that SIGKILLs itself the moment its worker process exists (Popen returned).
KILLED_AT_ONCE = """
import os, signal, subprocess, sys
from pathlib import Path
from tests.support.jobs import fault_job
from harness.runner.local import run_local
from harness.runner.scheduling import Limits

start = subprocess.Popen.__init__
def start_then_die(self, *args, **kwargs):
    start(self, *args, **kwargs)
    Path(sys.argv[3]).write_text(str(self.pid))
    os.kill(os.getpid(), signal.SIGKILL)
subprocess.Popen.__init__ = start_then_die
run_local([fault_job("BruteForce", Path(sys.argv[1]), Path(sys.argv[2]))], "euclidean",
          Limits(600, 2**32))
"""


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for its new parent counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.timeout(120)
def test_a_runner_killed_the_moment_its_worker_starts_leaves_no_orphan(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    results, pid_file = tmp_path / "results", tmp_path / "worker.pid"
    runner = subprocess.run(
        [sys.executable, "-c", KILLED_AT_ONCE, str(tiny_dataset), str(results), str(pid_file)],
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    assert runner.returncode == -9
    worker = int(pid_file.read_text())
    survived = not wait_gone(worker, 5)
    if survived:
        psutil.Process(worker).kill()  # clean up before failing
    time.sleep(8)  # what an orphan needs to finish the job (about 3 s here)
    assert not survived, "the worker outlived its runner"
    assert not list(results.rglob("*.hdf5")), "an orphaned worker wrote a result unsupervised"


def test_a_child_whose_runner_died_before_it_was_tied_exits_before_running(
    tmp_path: Path,
) -> None:
    """The race: the runner dies between fork and the parent-death setup. The child then
    has another parent already; it must notice and exit before its program runs."""
    marker = tmp_path / "ran"
    not_my_parent = os.getppid()  # any live process but the parent the child will have
    child = subprocess.Popen(
        [sys.executable, "-c", f"open({str(marker)!r}, 'w')"], preexec_fn=tied_to(not_my_parent)
    )
    assert child.wait(30) == ORPHANED
    assert not marker.exists()
    tied = subprocess.Popen(
        [sys.executable, "-c", f"open({str(marker)!r}, 'w')"], preexec_fn=tied_to(os.getpid())
    )
    assert tied.wait(30) == 0 and marker.exists()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("plugin", ["SpawnsChild", "SpawnsChildThenCrashes", "SpawnsEscapingChild"])
def test_processes_a_plugin_starts_do_not_outlive_its_worker(
    tiny_dataset: Path, tmp_path: Path, plugin: str, monkeypatch
) -> None:
    monkeypatch.setenv("FAULT_PID_DIR", str(tmp_path))
    job = make_job(FAULTS, plugin, tiny_dataset, tmp_path)
    [outcome] = run_local([job], "euclidean", Limits(120, 4 * GiB))
    assert outcome.cause == ("signal" if plugin == "SpawnsChildThenCrashes" else ""), outcome
    child = int((tmp_path / f"{plugin}.pid").read_text())
    survived = not wait_gone(child, 2)
    if survived:
        psutil.Process(child).kill()
    assert not survived, f"the plugin's child (a real `sleep`) outlived the {plugin} worker"


@pytest.mark.timeout(120)
def test_what_a_killed_runner_left_is_cleaned_by_the_next(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{dead.pid}-"))
    (scratch / "job.json").write_text("{}")
    live = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
    job = fault_job("BruteForce", tiny_dataset, tmp_path)
    result = job.result_path([])
    result.parent.mkdir(parents=True)
    partial = result.with_name(f"{result.name}{PARTIAL}{dead.pid}")
    partial.write_bytes(b"half a result")
    cache = local.cache_dir(job.dataset_path, job.dataset)
    cache.mkdir(parents=True, exist_ok=True)
    cached = cache / f"step1-0123.npz{PARTIAL}{dead.pid}"
    cached.write_bytes(b"half a cache file")
    try:
        [outcome] = run_local([job], "euclidean", Limits(120, 4 * GiB))
        assert outcome.status == "ok", outcome.detail
        assert not scratch.exists() and not partial.exists() and not cached.exists()
        assert live.exists(), "a live runner's scratch folder is not touched"
        assert read_result(result)["attrs"]["status"] == "ok"
    finally:
        live.rmdir()


def test_an_interrupt_in_one_session_does_not_leak_into_the_next(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    """After an interrupted run, a later unrelated failure is recorded as what it is."""

    def interrupted(*args):
        raise KeyboardInterrupt

    first = fault_job("Sleep", tiny_dataset, tmp_path / "first")
    with pytest.raises(KeyboardInterrupt):
        run_jobs([first], "euclidean", Limits(60, 4 * GiB), 1, interrupted)
    later = fault_job("Raise", tiny_dataset, tmp_path / "later")
    [outcome] = run_local([later], "euclidean", Limits(60, 4 * GiB))
    assert outcome.cause == "exception"
    assert read_result(later.result_path([]))["attrs"]["failure_cause"] == "exception"
    assert not Session().interrupted.is_set()
