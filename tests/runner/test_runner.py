"""The local runner: workers on one BLAS thread, and an interrupted or killed runner stops its
workers and records nothing (the faults themselves: `test_fault_matrix`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.core.environment import PROJECT_ROOT
from harness.core.results import read_result
from harness.runner.local import run_local
from harness.runner.scheduling import Limits
from tests.support.jobs import fault_job

GiB = 2**30


@pytest.mark.parametrize("batch", [False, True])
def test_workers_run_blas_and_openmp_on_one_thread_or_in_batch_mode_on_every_core(
    tiny_dataset: Path, tmp_path: Path, batch: bool
) -> None:
    job = fault_job("ReportsThreads", tiny_dataset, tmp_path)
    job.batch = batch
    [outcome] = run_local([job], "euclidean", Limits(60, 4 * GiB))
    assert outcome.status == "ok", outcome.detail
    cores = len(os.sched_getaffinity(0)) if batch else 1
    attrs = read_result(job.result_path([]))["attrs"]
    assert attrs["name"] == f"threads={cores}" and attrs["threads"] == cores


INTERRUPTED_RUNNER = """
import signal
import sys
from pathlib import Path
# as at a terminal: a shell that starts us in the background would have SIGINT ignored
signal.signal(signal.SIGINT, signal.default_int_handler)
from tests.support.jobs import fault_job
from harness.runner.local import run_local
from harness.runner.scheduling import Limits
jobs = [fault_job("Sleep", Path(sys.argv[1]), Path(sys.argv[2])) for _ in range(3)]
run_local(jobs, "euclidean", Limits(600, 2**31), parallelism=1)
"""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_or_killed_runner_stops_its_workers_and_records_nothing(
    tiny_dataset: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_RUNNER, str(tiny_dataset), str(tmp_path)],
        cwd=PROJECT_ROOT,
    )
    deadline = time.monotonic() + 60
    while not (workers := psutil.Process(runner.pid).children(recursive=True)):
        assert time.monotonic() < deadline, "no worker started"
        time.sleep(0.2)
    time.sleep(2)
    runner.send_signal(stop)
    runner.wait(30)
    psutil.wait_procs(workers, timeout=10)
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    assert list(tmp_path.rglob("*.hdf5")) == [], "an interrupted run is not a plugin failure"
