"""The Ray executor on a local Ray instance: same result files as the local runner, and a
crashing plugin or a lost task recorded as failed runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import ray

from harness.core.definitions import Definition
from harness.core.job import Job
from harness.core.results import failure_path, read_result
from harness.runner import local, ray_executor
from harness.runner.scheduling import Limits
from tests.support.jobs import make_job

TIMEOUT, MEMORY = 120.0, 4 * 2**30


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local Ray instance for the whole module (its start-up is the slow part)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def suite(dataset: Path, results: Path) -> list[Job]:
    """bruteforce and two hnswlib query groups: two definitions, three runs."""
    hnsw = Definition(
        algorithm="hnswlib",
        module="plugins.hnswlib.module",
        constructor="Hnswlib",
        docker_image="forget-benchmarks-hnswlib",
        arguments=["euclidean"],
        build_args={"M": 8, "efConstruction": 100},
        query_argument_groups=[{"ef": 10}, {"ef": 40}],
    )
    hnsw_job = Job(
        hnsw,
        dataset="tiny",
        dataset_path=str(dataset),
        protocol="qps-recall",
        runs=1,
        results_dir=str(results),
        query_groups=hnsw.query_argument_groups,
    )
    brute = make_job("plugins.bruteforce.module", "BruteForce", dataset, results)
    return [brute, hnsw_job]


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_ray_results_match_the_local_runner(cluster, tiny_dataset: Path, tmp_path: Path):
    here, there = tmp_path / "local", tmp_path / "ray"
    local.run_local(suite(tiny_dataset, here), "euclidean", Limits(TIMEOUT, MEMORY))
    outcomes = ray_executor.run_ray(
        suite(tiny_dataset, there), "euclidean", Limits(TIMEOUT, MEMORY)
    )
    assert [o.status for o in outcomes] == ["ok", "ok"]
    assert files(there) == files(here)
    hdf5 = sorted(p for p in files(here) if p.endswith(".hdf5"))
    assert len(hdf5) == 3
    for name in hdf5:
        a, b = read_result(here / name), read_result(there / name)
        assert b["attrs"]["status"] == "ok"
        np.testing.assert_array_equal(a["arrays"]["neighbors"], b["arrays"]["neighbors"])
        assert a["measures"]["recall"] == b["measures"]["recall"]


def test_a_crashing_plugin_is_a_failed_run(cluster, tiny_dataset: Path, tmp_path: Path):
    job = make_job("tests.support.fault_plugins", "Segfault", tiny_dataset, tmp_path)
    [outcome] = ray_executor.run_ray([job], "euclidean", Limits(TIMEOUT, MEMORY))
    assert (outcome.status, outcome.cause) == ("failed", "signal")
    with h5py.File(failure_path(job.result_path([])), "r") as f:
        assert f.attrs["status"] == "failed"
        assert f.attrs["failure_cause"] == "signal"
        assert "SIGSEGV" in f.attrs["failure_detail"]
    assert job.log_path().is_file()  # the worker log came back from the node


def test_a_lost_task_is_a_failed_run(cluster, tiny_dataset: Path, tmp_path: Path):
    """The task's own process dies (as when its node is lost): recorded, not raised."""

    @ray.remote(max_retries=0)
    def dies() -> None:
        os._exit(1)

    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path)
    outcome = ray_executor.collect(job, dies.remote(), "euclidean")
    assert (outcome.status, outcome.cause) == ("failed", ray_executor.LOST)
    with h5py.File(failure_path(job.result_path([])), "r") as f:
        assert f.attrs["failure_cause"] == ray_executor.LOST
        assert "Ray task did not complete" in f.attrs["failure_detail"]
