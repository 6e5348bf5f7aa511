"""A run's numbers are its own: a result is reused only for the very same run.

Each test runs the real harness (worker subprocesses, real folders, real dataset and
runbook files) twice with one thing changed, and checks that the second run is redone and
reports its own figures, never the first's; `force` still redoes a matching run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from harness import benchmark
from harness.core import identity
from harness.core.request import RunRequest
from harness.core.results import ResultFileWarning, load_results, result_files
from harness.data.datasets import load_dataset, write_dataset

SKIPPED = "skipping"


def blobs(path: Path, seed: int = 7, zero_distances: bool = False, queries: int = 20) -> Path:
    """A 500-row blob set; with `zero_distances` its ground truth is wrong on purpose (every
    true distance 0), so exact search scores recall 0 on it instead of 1."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(10, 8)) * 5
    X = centers[rng.integers(0, 10, 500 + queries)] + rng.normal(size=(500 + queries, 8))
    X = X.astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(path, X[:500], X[500:], "euclidean")
    if zero_distances:
        data = load_dataset(path)
        write_dataset(
            path, data.train, data.test, "euclidean", data.neighbors, np.zeros_like(data.distances)
        )
    return path


def run(capsys, dataset: Path | str, results: Path, **options) -> tuple[pd.DataFrame, bool]:
    """One benchmark run of bruteforce; its results and whether it skipped its runs."""
    options.setdefault("runs", 1)
    request = RunRequest(
        dataset=str(dataset), algorithms=("bruteforce",), results=results, **options
    )
    frame = benchmark.run(request)
    skipped = SKIPPED in capsys.readouterr().out
    return frame, skipped


def stamps(results: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in result_files(results)}


def test_a_matching_run_is_skipped_and_force_redoes_it(tmp_path: Path, capsys) -> None:
    data, results = blobs(tmp_path / "tiny-8-euclidean.hdf5"), tmp_path / "results"
    first, skipped = run(capsys, data, results)
    assert not skipped and first["recall"].tolist() == [1.0]
    before = stamps(results)
    again, skipped = run(capsys, data, results)
    assert skipped and stamps(results) == before
    assert again["run_id"].tolist() == first["run_id"].tolist()
    forced, skipped = run(capsys, data, results, force=True)
    assert not skipped and all(stamps(results)[p] != t for p, t in before.items())
    assert forced["run_id"].tolist() == first["run_id"].tolist()


def test_another_file_of_the_same_name_is_rerun_and_shows_its_own_numbers(
    tmp_path: Path, capsys
) -> None:
    right = blobs(tmp_path / "a" / "tiny-8-euclidean.hdf5")
    wrong = blobs(tmp_path / "b" / "tiny-8-euclidean.hdf5", zero_distances=True)
    results = tmp_path / "results"
    first, _ = run(capsys, right, results)
    assert first["recall"].tolist() == [1.0]
    second, skipped = run(capsys, wrong, results)
    assert not skipped, "a different file of the same name is a different run"
    assert second["recall"].tolist() == [0.0]
    assert second["dataset_sha256"].tolist() == [identity.dataset_digest(wrong)]
    assert second["dataset"].tolist() == ["tiny-8-euclidean"]
    back, skipped = run(capsys, right, results)
    assert not skipped and back["recall"].tolist() == [1.0]
    assert back["dataset_sha256"].tolist() == [identity.dataset_digest(right)]


def test_a_dataset_file_changed_in_place_is_rerun(tmp_path: Path, capsys) -> None:
    data, results = blobs(tmp_path / "tiny-8-euclidean.hdf5"), tmp_path / "results"
    assert run(capsys, data, results)[0]["recall"].tolist() == [1.0]
    blobs(data, zero_distances=True)  # the user regenerates the file under the same path
    frame, skipped = run(capsys, data, results)
    assert not skipped and frame["recall"].tolist() == [0.0]


def test_a_user_file_named_like_a_registry_set_is_its_own_run(
    tmp_path: Path, data_dir: Path, xs_angular: Path, capsys
) -> None:
    results = tmp_path / "results"
    registry, _ = run(capsys, "random-xs-20-angular", results, data_dir=data_dir)
    assert registry["recall"].tolist() == [1.0]
    mine = tmp_path / "mine" / "random-xs-20-angular.hdf5"
    mine.parent.mkdir()
    data = load_dataset(xs_angular)
    write_dataset(
        mine, data.train, data.test, "angular", data.neighbors, np.zeros_like(data.distances)
    )
    frame, skipped = run(capsys, mine, results, data_dir=data_dir)
    assert not skipped and frame["recall"].tolist() == [0.0]
    assert frame["dataset"].tolist() == ["random-xs-20-angular"]
    assert frame["dataset_sha256"].tolist() != registry["dataset_sha256"].tolist()


RUNBOOK = (
    "tiny-8-euclidean:\n  max_pts: 400\n"
    "  1: {operation: insert, start: 0, end: 300}\n  2: {operation: search}\n"
    "  3: {operation: delete, start: 0, end: 100}\n  4: {operation: search}\n"
)


def test_a_changed_runbook_file_is_rerun(tmp_path: Path, capsys) -> None:
    data, results = blobs(tmp_path / "tiny-8-euclidean.hdf5"), tmp_path / "results"
    runbook = tmp_path / "my-runbook.yaml"
    runbook.write_text(RUNBOOK)
    churn = {"protocol": "churn", "runbook": str(runbook)}
    first, _ = run(capsys, data, results, **churn)
    assert steps(first) == [2, 4]
    assert run(capsys, data, results, **churn)[1], "the same runbook file is the same run"
    runbook.write_text(RUNBOOK + "  5: {operation: insert, start: 300, end: 400}\n")
    runbook.write_text(runbook.read_text() + "  6: {operation: search}\n")
    second, skipped = run(capsys, data, results, **churn)
    assert not skipped and steps(second) == [2, 4, 6]
    moved = tmp_path / "elsewhere" / "my-runbook.yaml"
    moved.parent.mkdir()
    shutil.copy(runbook, moved)
    assert run(capsys, data, results, protocol="churn", runbook=str(moved))[1], (
        "a runbook is identified by its content, not its folder"
    )


def steps(frame: pd.DataFrame) -> list[int]:
    [path] = frame["path"]
    with h5py.File(path, "r") as f:
        return f["churn"]["search_step"][()].tolist()


def test_batch_mode_after_a_plain_run_is_its_own_run(tmp_path: Path, capsys) -> None:
    data, results = blobs(tmp_path / "tiny-8-euclidean.hdf5"), tmp_path / "results"
    plain, _ = run(capsys, data, results)
    batch, skipped = run(capsys, data, results, batch=True)
    assert not skipped and batch["batch_mode"].tolist() == [True]
    assert plain["batch_mode"].tolist() == [False]
    assert Path(batch["path"][0]).parent.name == "bruteforce-batch"
    assert Path(plain["path"][0]).exists()  # side by side, as in ann-benchmarks
    assert run(capsys, data, results)[1] and run(capsys, data, results, batch=True)[1]


def test_pr_auc_after_a_plain_run_is_rerun(tmp_path: Path, capsys) -> None:
    data, results = blobs(tmp_path / "tiny-8-euclidean.hdf5"), tmp_path / "results"
    plain, _ = run(capsys, data, results)
    assert "pr_auc" not in plain
    curve, skipped = run(capsys, data, results, pr_auc=True)
    assert not skipped and curve["pr_auc"].tolist() == [pytest.approx(0.9)]
    again, skipped = run(capsys, data, results)
    assert not skipped and "pr_auc" not in again


def test_another_k_is_its_own_run(tmp_path: Path, capsys) -> None:
    data, results = blobs(tmp_path / "tiny-8-euclidean.hdf5"), tmp_path / "results"
    run(capsys, data, results)
    frame, skipped = run(capsys, data, results, k=5)
    assert not skipped and frame["count"].tolist() == [5]
    with h5py.File(frame["path"][0], "r") as f:
        assert f["neighbors"].shape[1] == 5


def test_changed_protocol_options_and_runs_are_rerun(tmp_path: Path, capsys) -> None:
    data, results = blobs(tmp_path / "tiny-8-euclidean.hdf5"), tmp_path / "results"
    deletion = {"protocol": "deletion", "delete_count": 25, "delete_singles": 5}
    run(capsys, data, results, **deletion)
    assert run(capsys, data, results, **deletion)[1]
    changed = [
        {**deletion, "delete_singles": 10},  # same file, another measurement
        {**deletion, "delete_singles": 10, "runs": 2},
        {**deletion, "delete_singles": 10, "runs": 2, "delete_seed": 2},  # another variant
    ]
    for options in changed:
        frame, skipped = run(capsys, data, results, **options)
        assert not skipped, options
        stored = json.loads(frame["protocol_args"][0])
        assert stored["singles"] == 10 and frame["run_count"].tolist() == [options.get("runs", 1)]
    erasure = {"protocol": "erasure", "delete_count": 25}
    run(capsys, data, results, **erasure)
    assert not run(capsys, data, results, **erasure, erasure_seed=2)[1]


def test_a_result_of_an_earlier_version_is_redone_never_reused(tmp_path: Path, capsys) -> None:
    data, results = blobs(tmp_path / "tiny-8-euclidean.hdf5"), tmp_path / "results"
    first, _ = run(capsys, data, results)
    [path] = first["path"]
    with h5py.File(path, "r+") as f:
        del f.attrs["identity"]  # as written before runs had an identity
        f["qps-recall"].attrs["recall"] = 0.123
    old_layout = results / "tiny-8-euclidean" / "10" / "bruteforce" / "qps-recall" / "old.hdf5"
    old_layout.parent.mkdir()
    shutil.copy(path, old_layout)
    frame, skipped = run(capsys, data, results)
    assert not skipped and frame["recall"].tolist() == [1.0]
    assert old_layout.exists(), "a file the user did not ask to delete stays"
    with pytest.warns(ResultFileWarning, match="without a run identity") as caught:
        everything = load_results(results)
    assert str(old_layout) in str(caught[0].message) and len(everything) == 1


def test_a_dataset_is_hashed_once_however_many_runs_it_has(tmp_path: Path, monkeypatch) -> None:
    data = blobs(tmp_path / "tiny-8-euclidean.hdf5")
    calls = []
    real = identity._hash_dataset
    monkeypatch.setattr(identity, "_hash_dataset", lambda path: calls.append(path) or real(path))
    identity._memo.cache_clear()
    digests = {identity.dataset_digest(data) for _ in range(50)}
    assert len(digests) == 1 and len(calls) == 1
    blobs(data, seed=8)  # a new file at the same path is hashed again
    assert identity.dataset_digest(data) not in digests and len(calls) == 2
