"""Result files: layout, HDF5 round trip, atomic writes, identity, robust loading."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from harness.cli import main
from harness.core.identity import canonical, digest
from harness.core.results import (
    ResultFileWarning,
    failure_path,
    is_finished,
    load_results,
    read_result,
    result_path,
    write_result,
)


def identity(dataset: str = "tiny", sha: str = "a" * 64, **extra: object) -> dict:
    return {"dataset": dataset, "dataset_sha256": sha, **extra}


def attrs(algorithm: str = "demo", status: str = "ok", **extra: object) -> dict:
    run = extra.pop("identity", identity(algorithm=algorithm))
    return {
        "status": status,
        "algorithm": algorithm,
        "dataset": run["dataset"],
        "count": 10,
        "protocol": "qps-recall",
        "query_args": {"ef": 8},
        "identity": canonical(run),
        "finished": "2025-01-01T00:00:00+00:00",
        **extra,
    }


def write_example(
    root: Path, algorithm: str = "demo", recall: float = 0.5, label: str = "M=4__ef=8", **kw
) -> Path:
    path = result_path(root, kw.pop("dataset", "tiny"), 10, algorithm, "qps-recall", label)
    return write_result(
        path,
        attrs(algorithm, **kw),
        {"neighbors": np.arange(20).reshape(2, 10), "times": np.array([0.1, 0.2])},
        "qps-recall",
        {"recall": recall, "qps": 10.0},
        {"recalls": np.array([recall, recall])},
        {"cpu": "test cpu"},
    )


def test_round_trip_keeps_attributes_arrays_measures_and_environment(tmp_path: Path) -> None:
    path = write_example(tmp_path)
    assert path == tmp_path / "tiny" / "10" / "demo" / "M=4__ef=8.hdf5"
    result = read_result(path)
    assert result["attrs"]["query_args"] == '{"ef": 8}'
    assert np.array_equal(result["arrays"]["neighbors"], np.arange(20).reshape(2, 10))
    assert result["measures"] == {"recall": 0.5, "qps": 10.0}
    assert np.array_equal(result["measure_arrays"]["recalls"], [0.5, 0.5])
    assert result["environment"] == {"cpu": "test cpu"}
    assert is_finished(path, identity(algorithm="demo"))


def test_the_layout_is_ann_benchmarks_for_qps_recall_and_apart_for_the_rest(tmp_path) -> None:
    assert result_path(tmp_path, "glove", 10, "hnsw", "qps-recall", "x", batch=True) == (
        tmp_path / "glove" / "10" / "hnsw-batch" / "x.hdf5"
    )
    assert result_path(tmp_path, "glove", 10, "hnsw", "deletion", "x") == (
        tmp_path / "protocol=deletion" / "glove" / "10" / "hnsw" / "x.hdf5"
    )
    hostile = result_path(tmp_path, "../../d", 10, "a/../../b", "qps-recall", "x")
    assert hostile.parent.parent.parent.parent == tmp_path
    for label in ("../x", "a/b", ".hidden", "x\x00", "", "y" * 300):
        with pytest.raises(ValueError, match="not a safe file name"):
            result_path(tmp_path, "d", 10, "a", "qps-recall", label)


def test_a_failed_write_leaves_neither_a_result_nor_a_partial_file(tmp_path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", broken)
    with pytest.raises(OSError, match="disk full"):
        write_example(tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_failure_record_sits_beside_and_replaces_or_is_replaced(tmp_path: Path) -> None:
    path = result_path(tmp_path, "tiny", 10, "demo", "qps-recall", "x")
    written = write_result(path, attrs(status="failed", failure_cause="timeout"))
    assert written == failure_path(path) == path.with_name("x.failed.h5") and not path.exists()
    assert not is_finished(path, identity(algorithm="demo"))
    write_example(tmp_path, label="x")
    assert path.exists() and not failure_path(path).exists()  # the run now succeeded
    write_result(path, attrs(status="failed", failure_cause="exit"))
    assert failure_path(path).exists() and not path.exists()  # its redo failed: no stale result
    assert not is_finished(tmp_path / "missing.hdf5", identity())


def test_a_result_of_another_identity_or_of_none_is_not_finished(tmp_path: Path) -> None:
    path = write_example(tmp_path)
    assert is_finished(path, identity(algorithm="demo"))
    assert not is_finished(path, identity(algorithm="demo", k=100))
    assert not is_finished(path, identity(sha="b" * 64, algorithm="demo"))
    with h5py.File(path, "r+") as f:
        del f.attrs["identity"]  # a file of an earlier version
    assert not is_finished(path, identity(algorithm="demo"))
    path.write_bytes(b"not hdf5")
    assert not is_finished(path, identity(algorithm="demo"))


def test_ann_benchmarks_metrics_cache_does_not_change_what_is_read(tmp_path: Path) -> None:
    path = write_example(tmp_path, recall=0.25)
    with h5py.File(path, "r+") as f:  # what ann-benchmarks' plotting adds to a file it reads
        f.create_group("metrics").create_group("knn").attrs["mean"] = 0.99
        f["metrics"].attrs["recall"] = 0.99
    assert read_result(path)["measures"]["recall"] == 0.25
    assert list(load_results(tmp_path)["recall"]) == [0.25]


def test_load_results_filters_by_dataset_algorithm_protocol_k_and_run(tmp_path: Path) -> None:
    write_example(tmp_path, "first", 0.25)
    write_example(tmp_path, "second", 0.75)
    (tmp_path / "tiny" / "10" / "first" / "y.hdf5.partial-123").write_bytes(b"")
    frame = load_results(tmp_path)
    assert sorted(frame["algorithm"]) == ["first", "second"]
    assert set(frame["recall"]) == {0.25, 0.75}
    assert list(load_results(tmp_path, algorithms=["second"])["recall"]) == [0.75]
    assert load_results(tmp_path, datasets=["other"]).empty
    assert load_results(tmp_path, protocols=["deletion"]).empty
    assert list(load_results(tmp_path, count=10)["recall"].sort_values()) == [0.25, 0.75]
    assert load_results(tmp_path, count=100).empty
    second = digest(canonical(identity(algorithm="second")))
    assert list(load_results(tmp_path, runs=[second])["algorithm"]) == ["second"]
    assert set(frame["dataset_sha256"]) == {"a" * 64}


def test_the_newer_of_a_result_and_a_failure_record_counts(tmp_path: Path) -> None:
    path = write_example(tmp_path, finished="2025-01-02T00:00:00+00:00")
    stale = attrs(status="failed", failure_cause="exit", finished="2025-01-01T00:00:00+00:00")
    with h5py.File(failure_path(path), "w") as f:  # as a writer killed between the two leaves
        put(f, stale)
    assert list(load_results(tmp_path)["status"]) == ["ok"]


def test_runs_on_different_contents_of_one_dataset_name_are_told_apart(tmp_path) -> None:
    write_example(tmp_path, "first", identity=identity(sha="1" * 64, algorithm="first"))
    write_example(tmp_path, "second", identity=identity(sha="2" * 64, algorithm="second"))
    frame = load_results(tmp_path).sort_values("algorithm")
    assert list(frame["dataset"]) == ["tiny@11111111", "tiny@22222222"]
    only = load_results(tmp_path, algorithms=["first"])
    assert list(only["dataset"]) == ["tiny"]


def put(f: h5py.File, values: dict) -> None:
    f.attrs.update({k: json.dumps(v) if isinstance(v, dict) else v for k, v in values.items()})


def broken_files(folder: Path, good: Path) -> dict[str, Path]:
    """Result-named files of every broken kind: what a crash, a copy or a user leaves."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "garbage": folder / "garbage.hdf5",
        "empty": folder / "empty.hdf5",
        "truncated": folder / "truncated.hdf5",
        "array status": folder / "array-status.hdf5",
        "numeric names": folder / "numeric.hdf5",
        "bad identity": folder / "bad-identity.failed.h5",
    }
    made["garbage"].write_bytes(b"\x89HDF not really")
    made["empty"].write_bytes(b"")
    made["truncated"].write_bytes(good.read_bytes()[:2000])
    (folder / "folder.hdf5").mkdir()  # not a file: passed over
    with h5py.File(made["array status"], "w") as f:
        put(f, {**attrs(), "status": np.array([1, 2])})
    with h5py.File(made["numeric names"], "w") as f:
        put(f, {**attrs(), "algorithm": 3, "dataset": np.arange(3)})
    with h5py.File(made["bad identity"], "w") as f:
        put(f, {**attrs(status="failed"), "identity": "{not json"})
    return made


def test_every_unreadable_or_malformed_file_is_skipped_with_a_warning_naming_it(tmp_path):
    good = write_example(tmp_path / "results")
    made = broken_files(good.parent, good)
    with h5py.File(good.parent / "foreign.hdf5", "w") as f:  # e.g. an ann-benchmarks result
        f.attrs.update({"algo": "x", "batch_mode": False})
    with pytest.warns(ResultFileWarning) as caught:
        frame = load_results(tmp_path / "results")
    assert len(frame) == 1 and frame["status"].tolist() == ["ok"]
    messages = [str(w.message) for w in caught]
    for path in made.values():
        assert any(str(path) in m for m in messages), path
    assert any("without a run identity" in m and "foreign.hdf5" in m for m in messages)


def test_a_broken_file_under_results_does_not_stop_later_runs(
    tiny_dataset: Path, tmp_path: Path, capsys
) -> None:
    results = tmp_path / "results"
    write_example(results, dataset="tiny-8-euclidean", algorithm="bruteforce")
    folder = results / "tiny-8-euclidean" / "10" / "bruteforce"
    made = broken_files(folder, next(folder.glob("*.hdf5")))
    with h5py.File(folder / "no-attributes.hdf5", "w"):
        pass  # what made the summary crash with a TypeError
    args = ["--dataset", str(tiny_dataset), "--algorithm", "bruteforce", "--runs", "1"]
    with pytest.warns(ResultFileWarning) as caught:
        assert main([*args, "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "bruteforce" in out and "best QPS at recall >= 0.9" in out and "FAILED" not in out
    messages = " ".join(str(w.message) for w in caught)
    assert all(str(path) in messages for path in made.values())


def test_a_result_names_the_revision_its_run_began_with(
    tiny_dataset: Path, tmp_path: Path, monkeypatch
) -> None:
    """A checkout moved while a run is under way (a pull during a long scorecard) does not
    relabel the run: its result names the revision of the code it loaded."""
    import harness.core.environment as environment
    import harness.runner.worker as worker
    from harness.core.results import read_result
    from tests.support.jobs import make_job

    monkeypatch.setattr(worker, "git_revision", lambda: "began-with")
    monkeypatch.setattr(environment, "git_revision", lambda: "moved-to")
    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path)
    worker.execute(job)
    [path] = tmp_path.rglob("*.hdf5")
    assert read_result(path)["environment"]["git_revision"] == "began-with"
