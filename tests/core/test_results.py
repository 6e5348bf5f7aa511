"""Result files: HDF5 round trip, atomic writes, loading into pandas."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from harness.core.results import is_finished, load_results, read_result, result_path, write_result


def write_example(root: Path, algorithm: str = "demo", recall: float = 0.5) -> Path:
    path = result_path(root, "tiny", 10, algorithm, "qps-recall", "M=4__ef=8")
    write_result(
        path,
        {"status": "ok", "algorithm": algorithm, "protocol": "qps-recall", "query_args": {"ef": 8}},
        {"neighbors": np.arange(20).reshape(2, 10), "times": np.array([0.1, 0.2])},
        "qps-recall",
        {"recall": recall, "qps": 10.0},
        {"recalls": np.array([recall, recall])},
        {"cpu": "test cpu"},
    )
    return path


def test_round_trip_keeps_attributes_arrays_measures_and_environment(tmp_path: Path) -> None:
    path = write_example(tmp_path)
    assert path == tmp_path / "tiny" / "10" / "demo" / "qps-recall" / "M=4__ef=8.hdf5"
    result = read_result(path)
    assert result["attrs"]["query_args"] == '{"ef": 8}'
    assert np.array_equal(result["arrays"]["neighbors"], np.arange(20).reshape(2, 10))
    assert result["measures"] == {"recall": 0.5, "qps": 10.0}
    assert np.array_equal(result["measure_arrays"]["recalls"], [0.5, 0.5])
    assert result["environment"] == {"cpu": "test cpu"}
    assert is_finished(path)


def test_a_failed_write_leaves_neither_a_result_nor_a_partial_file(tmp_path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", broken)
    with pytest.raises(OSError, match="disk full"):
        write_example(tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_failed_runs_are_not_finished(tmp_path: Path) -> None:
    path = result_path(tmp_path, "tiny", 10, "demo", "qps-recall", "x")
    write_result(path, {"status": "failed", "failure_cause": "timeout"})
    assert not is_finished(path)
    assert not is_finished(tmp_path / "missing.hdf5")


def test_load_results_filters_by_dataset_algorithm_protocol_and_k(tmp_path: Path) -> None:
    write_example(tmp_path, "first", 0.25)
    write_example(tmp_path, "second", 0.75)
    (tmp_path / "tiny" / "10" / "first" / "qps-recall" / "y.hdf5.partial-123").write_bytes(b"")
    frame = load_results(tmp_path)
    assert sorted(frame["algorithm"]) == ["first", "second"]
    assert set(frame["recall"]) == {0.25, 0.75}
    assert list(load_results(tmp_path, algorithms=["second"])["recall"]) == [0.75]
    assert load_results(tmp_path, datasets=["other"]).empty
    assert load_results(tmp_path, protocols=["deletion"]).empty
    assert list(load_results(tmp_path, count=10)["recall"].sort_values()) == [0.25, 0.75]
    assert load_results(tmp_path, count=100).empty
