"""Fault isolation: every way a worker can die is recorded, and the runs beside it succeed."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.definitions import Definition
from harness.results import read_result
from harness.runner.job import Job
from harness.runner.local import run_jobs

GiB = 2**30


def make_job(constructor: str, dataset: Path, results: Path) -> Job:
    module = "plugins.bruteforce.module" if constructor == "BruteForce" else "tests.fault_plugins"
    definition = Definition(
        algorithm=constructor.lower(),
        module=module,
        constructor=constructor,
        docker_image="none",
        arguments=["euclidean"],
        build_args={},
        query_argument_groups=[[]],
    )
    return Job(
        definition,
        dataset="tiny",
        dataset_path=str(dataset),
        protocol="qps-recall",
        runs=1,
        results_dir=str(results),
        query_groups=[[]],
    )


@pytest.mark.timeout(180)
def test_each_fault_is_recorded_with_its_cause_and_the_normal_run_succeeds(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    expected = {
        "Segfault": "signal",
        "Exit": "exit",
        "Sleep": "timeout",
        "Allocate": "memory",
        "AllocateShared": "memory",
        "Raise": "exception",
        "KilledWhileWriting": "signal",
        "BruteForce": "",
    }
    jobs = [make_job(name, tiny_dataset, tmp_path) for name in expected]
    outcomes = run_jobs(jobs, "euclidean", timeout=15, memory_limit=GiB, parallelism=2)

    causes = {o.job.definition.constructor: o.cause for o in outcomes}
    assert causes == expected
    for job in jobs:
        result = read_result(job.result_path([]))
        attrs = result["attrs"]
        if job.definition.constructor == "BruteForce":
            assert attrs["status"] == "ok"
            assert result["measures"]["recall"] == 1.0
        else:
            assert attrs["status"] == "failed"
            assert attrs["failure_cause"] == expected[job.definition.constructor]
    details = {o.job.definition.constructor: o.detail for o in outcomes}
    assert "SIGSEGV" in details["Segfault"]
    assert "code 1" in details["Exit"]
    assert "planted failure in fit" in details["Raise"]
    assert "MemoryError" in details["Allocate"]
    assert "resident memory" in details["AllocateShared"]
    assert "SIGKILL" in details["KilledWhileWriting"]
    leftovers = [p.name for p in tmp_path.rglob("*") if ".partial-" in p.name]
    assert leftovers == [], "a worker killed mid-write left a partial result file"


def test_workers_run_blas_and_openmp_on_one_thread(tiny_dataset: Path, tmp_path: Path) -> None:
    job = make_job("ReportsThreads", tiny_dataset, tmp_path)
    [outcome] = run_jobs([job], "euclidean", timeout=60, memory_limit=4 * GiB)
    assert outcome.status == "ok", outcome.detail
    assert read_result(job.result_path([]))["attrs"]["name"] == "threads=1"
