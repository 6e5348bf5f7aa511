"""Churn: replaying runbooks step by step, with exact recall and cached ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.cli import main
from harness.core.definitions import Definition
from harness.core.job import Job
from harness.core.results import read_result
from harness.data import gt_cache
from harness.data.datasets import load_dataset
from harness.protocols import PROTOCOLS
from harness.protocols.deletion.sets import CLUSTERS
from plugins.base import BasePlugin
from plugins.bruteforce.module import BruteForce


class RebuildOnly(BruteForce):
    """Neither native insert nor delete: every step after the first is a rebuild."""

    deletion = "none"
    insert = BasePlugin.insert


def churn_job(constructor: str, dataset: Path, module: str, runbook: str) -> Job:
    return Job(
        Definition(constructor.lower(), module, constructor, "none", ["euclidean"], {}),
        dataset=dataset.stem,
        dataset_path=str(dataset),
        protocol="churn",
        runs=1,
        query_groups=[[]],
        protocol_args={"runbook": runbook},
    )


def test_bruteforce_replays_the_sliding_window_at_recall_one(
    tiny_dataset: Path, monkeypatch
) -> None:
    data = load_dataset(tiny_dataset)
    job = churn_job("BruteForce", tiny_dataset, "plugins.bruteforce.module", "sliding-window")
    [record] = PROTOCOLS["churn"].run(job, data)
    m, arrays = record.measures, record.measure_arrays
    assert np.array_equal(arrays["search_recall"], np.ones(11))
    assert m["mean_recall"] == 1.0 and m["search_steps"] == 11 and m["rebuilds"] == 0
    assert len(arrays["step_time"]) == 32 and np.isfinite(arrays["step_time"]).all()
    assert arrays["step_operation"][:3].tolist() == [b"insert", b"search", b"delete"]

    def no_recompute(*args, **kwargs):
        raise AssertionError("a cached step's ground truth was recomputed")

    monkeypatch.setattr(gt_cache, "ground_truth", no_recompute)
    [again] = PROTOCOLS["churn"].run(job, data)
    assert again.measures["mean_recall"] == 1.0


def test_a_plugin_without_insert_or_delete_is_rebuilt_at_every_step(tiny_dataset: Path) -> None:
    data = load_dataset(tiny_dataset)
    job = churn_job("RebuildOnly", tiny_dataset, __name__, "delete-clusters")
    [record] = PROTOCOLS["churn"].run(job, data)
    assert record.measures["rebuilds"] == CLUSTERS  # one per deleted cluster
    assert np.array_equal(record.measure_arrays["search_recall"], np.ones(CLUSTERS + 1))
    assert record.measures["delete_time"] > 0


def test_the_command_line_runs_a_runbook_file(tiny_dataset: Path, tmp_path: Path, capsys) -> None:
    runbook = tmp_path / "my-runbook.yaml"
    runbook.write_text(
        "tiny-8-euclidean:\n  max_pts: 400\n"
        "  1: {operation: insert, start: 0, end: 300}\n  2: {operation: search}\n"
        "  3: {operation: delete, start: 0, end: 100}\n  4: {operation: search}\n"
        "  5: {operation: insert, start: 300, end: 400}\n  6: {operation: search}\n"
    )
    results = tmp_path / "results"
    args = ["--dataset", str(tiny_dataset), "--algorithm", "bruteforce", "--runs", "1"]
    assert (
        main([*args, "--protocol", "churn", "--runbook", str(runbook), "--results", str(results)])
        == 0
    )
    path = (
        results
        / "protocol=churn/tiny-8-euclidean/10/bruteforce/default__default__runbook=my-runbook.hdf5"
    )
    result = read_result(path)
    assert result["measure_arrays"]["search_step"].tolist() == [2, 4, 6]
    assert result["measures"]["mean_recall"] == 1.0
    assert "mean recall" in capsys.readouterr().out
