"""Per-job claims: two runners on one results folder share the work and never run a job twice;
a claim dies with its holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.environment import PROJECT_ROOT
from harness.core.results import read_result
from harness.runner.claims import Claim, lock_path
from tests.support.jobs import fault_job, make_job

FAULTS = "tests.support.fault_plugins"
JOBS = 4

RUNNER = """
import sys
from pathlib import Path
from tests.support.jobs import make_job
from harness.runner.local import run_local
from harness.runner.scheduling import Limits
dataset, results = Path(sys.argv[1]), Path(sys.argv[2])
jobs = [make_job("tests.support.fault_plugins", "Slow", dataset, results, {"tag": i})
        for i in range(int(sys.argv[3]))]
for outcome in run_local(jobs, "euclidean", Limits(300, 2**32)):
    print("OUTCOME", outcome.job.definition.build_args["tag"], outcome.status, flush=True)
"""

HOLDER = """
import sys, time
from pathlib import Path
from tests.support.jobs import fault_job
from harness.runner.claims import Claim
claim = Claim(fault_job("BruteForce", Path(sys.argv[1]), Path(sys.argv[2])))
assert claim.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_claim_is_exclusive_and_released(tiny_dataset: Path, tmp_path: Path) -> None:
    job = fault_job("BruteForce", tiny_dataset, tmp_path)
    first, second = Claim(job), Claim(job)
    assert first.acquire()
    assert not second.acquire()
    assert second.holder().isdigit()
    first.release()
    assert not lock_path(job).exists()
    assert second.acquire()
    second.release()


@pytest.mark.timeout(60)
def test_a_claim_dies_with_its_holder(tiny_dataset: Path, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tiny_dataset), str(tmp_path)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    claim = Claim(fault_job("BruteForce", tiny_dataset, tmp_path))
    assert not claim.acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(30)
    assert claim.acquire(), "the claim of a runner killed outright is free again"
    claim.release()


@pytest.mark.timeout(240)
def test_two_runners_on_one_results_folder_run_each_job_once(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    results, log = tmp_path / "results", tmp_path / "builds.log"
    command = [sys.executable, "-c", RUNNER, str(tiny_dataset), str(results), str(JOBS)]
    environment = {**os.environ, "FAULT_BUILDS_LOG": str(log)}
    runners = [
        subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True, env=environment
        )
        for _ in range(2)
    ]
    outputs = [runner.communicate(timeout=200)[0] for runner in runners]
    assert [runner.returncode for runner in runners] == [0, 0]
    builds = sorted(log.read_text().split())
    assert builds == [str(i) for i in range(JOBS)], f"jobs built more than once: {builds}"
    statuses = [
        [line.split()[2] for line in output.splitlines() if line.startswith("OUTCOME")]
        for output in outputs
    ]
    assert all(len(each) == JOBS and set(each) <= {"ok", "skipped"} for each in statuses)
    assert sum(each.count("ok") for each in statuses) == JOBS, "the work was shared"
    for i in range(JOBS):
        job = make_job(FAULTS, "Slow", tiny_dataset, results, {"tag": i})
        assert read_result(job.result_path([]))["attrs"]["status"] == "ok"
    assert not list(results.rglob("*.lock"))
