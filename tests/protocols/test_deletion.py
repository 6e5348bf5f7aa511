"""Deletion: seeded deletion sets, ground truth on X\\D, and the deletion protocol's measures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.core.definitions import Definition
from harness.core.job import Job
from harness.core.results import read_result
from harness.data import gt_cache
from harness.data.datasets import load_dataset
from harness.protocols import PROTOCOLS
from harness.protocols.deletion.sets import deletion_set, rows_to_delete
from plugins.bruteforce.module import BruteForce


class RebuildOnly(BruteForce):
    """Claims no native deletion: the harness must measure it by its rebuild."""

    deletion = "none"


def job_for(constructor: str, dataset: Path, module: str, query_groups=None, **options) -> Job:
    definition = Definition(constructor.lower(), module, constructor, "none", ["euclidean"], {})
    if constructor == "Hnswlib":
        definition = Definition("hnswlib", module, constructor, "none", ["angular"], {"M": 16})
    return Job(
        definition,
        dataset=dataset.stem,
        dataset_path=str(dataset),
        protocol="deletion",
        runs=1,
        query_groups=query_groups or [[]],
        protocol_args={
            "policy": "random",
            "delete_count": 0.1,
            "delete_seed": 1,
            "singles": 20,
            **options,
        },
    )


def test_deletion_sets_are_fixed_by_seed_and_counts_or_fractions() -> None:
    X = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    for policy in ("random", "cluster"):
        first = deletion_set(X, "euclidean", policy, 0.1, seed=5)
        assert len(first) == 30 and len(np.unique(first)) == 30
        assert np.array_equal(first, deletion_set(X, "euclidean", policy, 0.1, seed=5))
        assert not np.array_equal(first, deletion_set(X, "euclidean", policy, 0.1, seed=6))
    assert rows_to_delete(25, 300) == 25
    with pytest.raises(ValueError, match="cannot delete 301 of 300 rows"):
        rows_to_delete(301, 300)


def test_a_cluster_set_is_whole_neighbourhoods() -> None:
    X = np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32)
    deleted = deletion_set(X, "euclidean", "cluster", 50, seed=2)
    for cluster in np.split(deleted, 10):  # 10 neighbourhoods of 5, seed first
        seed = X[cluster[0]]
        nearest = np.argsort(np.linalg.norm(X - seed, axis=1), kind="stable")
        taken_before = set(deleted[: np.flatnonzero(deleted == cluster[0])[0]].tolist())
        expected = [i for i in nearest if i not in taken_before][:5]
        assert sorted(cluster.tolist()) == sorted(expected)


def test_ground_truth_after_deletion_is_brute_force_on_the_rest(
    tiny_dataset: Path, tmp_path: Path, monkeypatch
) -> None:
    data = load_dataset(tiny_dataset)
    deleted = deletion_set(data.train, data.metric, "cluster", 0.2, seed=1)
    rows = np.setdiff1d(np.arange(len(data.train)), deleted)
    ids, dists = gt_cache.cached_ground_truth(tmp_path, "d", data, rows, 10)
    full = np.linalg.norm(data.test[:, None, :] - data.train[None, :, :], axis=2)
    full[:, deleted] = np.inf
    expected = np.argsort(full, axis=1, kind="stable")[:, :10]
    assert np.array_equal(ids, expected)
    assert np.allclose(dists, np.take_along_axis(full, expected, axis=1), atol=1e-5)
    assert not np.isin(ids, deleted).any()

    def no_recompute(*args, **kwargs):
        raise AssertionError("the cached ground truth was recomputed")

    monkeypatch.setattr(gt_cache, "ground_truth", no_recompute)
    again = gt_cache.cached_ground_truth(tmp_path, "d", data, rows, 10)
    assert np.array_equal(again[0], ids)


def test_bruteforce_deletes_exactly_and_reports_every_cost(tiny_dataset: Path) -> None:
    job = job_for("BruteForce", tiny_dataset, "plugins.bruteforce.module")
    [record] = PROTOCOLS["deletion"].run(job, load_dataset(tiny_dataset))
    m = record.measures
    assert m["recall"] == 1.0 and m["deleted_returned"] == 0 and m["deleted"] == 50
    assert m["rows_before"] == 500  # n, as the figures plot delete latency against it
    assert m["singles"] == 20 and m["batch_size"] == 30
    assert m["single_p50"] <= m["single_p99"] <= m["single_max"]
    assert m["speedup"] == pytest.approx(m["rebuild_time"] / m["delete_time"])
    assert len(record.measure_arrays["deleted_ids"]) == 50


def test_a_plugin_without_native_deletion_is_measured_by_its_rebuild(tiny_dataset: Path) -> None:
    job = job_for("RebuildOnly", tiny_dataset, __name__)
    [record] = PROTOCOLS["deletion"].run(job, load_dataset(tiny_dataset))
    m = record.measures
    assert not m["native_delete"] and "single_p50" not in m
    assert m["delete_time"] == m["rebuild_time"] and m["speedup"] == 1.0
    assert m["recall"] == 1.0


@pytest.mark.timeout(120)
def test_hnswlib_never_returns_a_deleted_cluster_and_reports_its_recall(
    xs_angular: Path,
) -> None:
    job = job_for(
        "Hnswlib", xs_angular, "plugins.hnswlib.module", [{"ef": 10}, {"ef": 100}],
        policy="cluster",
    )  # fmt: skip
    records = list(PROTOCOLS["deletion"].run(job, load_dataset(xs_angular)))
    deleted = records[0].measure_arrays["deleted_ids"]
    for record in records:
        assert not np.isin(record.arrays["neighbors"], deleted).any()
        assert record.measures["deleted_returned"] == 0
    assert 0.8 < records[0].measures["recall"] <= records[1].measures["recall"]
    assert records[1].measures["recall"] >= 0.99


def test_the_command_line_writes_a_deletion_result_per_policy(
    tiny_dataset: Path, tmp_path: Path, capsys
) -> None:
    results = tmp_path / "results"
    for policy in ("random", "cluster"):
        code = main(
            [
                "--dataset", str(tiny_dataset), "--algorithm", "bruteforce",
                "--protocol", "deletion", "--delete-policy", policy, "--delete-count", "25",
                "--runs", "1", "--results", str(results),
            ]
        )  # fmt: skip
        assert code == 0
    folder = results / "protocol=deletion" / "tiny-8-euclidean" / "10" / "bruteforce"
    names = sorted(p.name for p in folder.glob("*.hdf5"))
    assert names == [
        "default__default__policy=cluster,delete_count=25,delete_seed=1.hdf5",
        "default__default__policy=random,delete_count=25,delete_seed=1.hdf5",
    ]
    result = read_result(folder / names[0])
    assert result["measures"]["recall"] == 1.0 and result["measures"]["deleted"] == 25
    assert "speed-up" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--dataset", str(tiny_dataset), "--delete-count", "1.5"])
    assert "give a count of rows (1, 2, ...) or a fraction" in capsys.readouterr().err
    too_many = ["--dataset", str(tiny_dataset), "--protocol", "deletion", "--delete-count", "501"]
    assert main([*too_many, "--results", str(results)]) == 2
    assert "cannot delete 501 of 500 rows" in capsys.readouterr().err
