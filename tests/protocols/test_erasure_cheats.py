"""Cheating plugins, one per way of keeping deleted vectors, each caught by the check made for
it (`tests.support.cheating_plugins`); honest plugins erased under the same checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.core.results import load_results, read_result
from harness.data.datasets import write_dataset
from harness.runner.worker import execute
from tests.support.jobs import make_job

CHEATS = "tests.support.cheating_plugins"


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3000 rows of 24-d blobs (20 clusters) and 200 queries: real neighbourhoods, built fast."""
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(20, 24)) * 3
    X = (centers[rng.integers(0, 20, 3200)] + rng.normal(size=(3200, 24))).astype(np.float32)
    path = tmp_path_factory.mktemp("blobs") / "blobs-24-euclidean.hdf5"
    write_dataset(path, X[:3000], X[3000:], "euclidean")
    return path


def run(dataset: Path, results: Path, module: str, constructor: str, policy="random", count=50):
    job = make_job(module, constructor, dataset, results)
    job.protocol = "erasure"
    job.protocol_args = {"policy": policy, "delete_count": count, "delete_seed": 1,
                         "erasure_seed": 1}  # fmt: skip
    execute(job)
    runs = load_results(results, protocols=["erasure"])
    return runs[runs["algorithm"] == constructor.lower()].iloc[0]


def checks(row) -> dict[str, dict]:
    evidence = json.loads(bytes(read_result(row["path"])["measure_arrays"]["evidence"]))
    return {c["name"]: c for c in evidence["checks"]}


@pytest.mark.parametrize(
    ("constructor", "caught_by", "policy", "count"),
    [
        ("Float64Undo", "decoding", "random", 50),
        ("BigEndianUndo", "decoding", "random", 50),
        ("BFloat16Undo", "decoding", "random", 50),
        ("NormalisedHalfUndo", "decoding", "random", 50),
        ("ColumnMajorUndo", "decoding", "random", 50),
        ("BlockedUndo", "decoding", "random", 50),
        ("ZlibUndo", "decoding", "random", 50),
        ("CompressedNpzUndo", "decoding", "random", 50),
        ("JsonLog", "decoding", "random", 50),
        ("NestedStreams", "decoding", "random", 50),
        ("ScalarQuantisedUndo", "reconstruction", "random", 50),
        ("ScalarQuantised16Undo", "reconstruction", "random", 50),
        ("NoisyUndo", "reconstruction", "random", 50),
        ("TombstonedGraph", "reconstruction", "random", 50),
        ("CentredUndo", "reconstruction", "random", 50),
        ("RoundedCsv", "reconstruction", "random", 50),
        ("TrainedCentroids", "reconstruction", "cluster", 200),
        ("UnalignedCentroids", "reconstruction", "cluster", 200),
        ("TempFileUndo", "side files", "random", 50),
        ("BesideUndo", "side files", "random", 50),
        ("RamOnly", "memory", "random", 50),
        ("Borrower", "memory", "random", 50),
        ("HelperProcess", "memory", "random", 50),
        ("RamUsed", "attack", "random", 50),
    ],
)
def test_each_cheat_is_caught_by_its_check(
    blobs: Path, tmp_path: Path, constructor: str, caught_by: str, policy: str, count: int
) -> None:
    row = run(blobs, tmp_path, CHEATS, constructor, policy, count)
    assert row["leaks"] == 0  # every cheat answers exactly from the live rows
    assert row["verdict"] == "hidden", row["verdict_reason"]
    found = checks(row)[caught_by]
    assert found["found"], found
    assert caught_by in row["verdict_reason"]


def test_a_plugin_keeping_its_input_owns_that_memory(blobs: Path, tmp_path: Path) -> None:
    row = run(blobs, tmp_path, CHEATS, "Borrower")
    memory = checks(row)["memory"]
    assert memory["detail"]["kept_input"] and memory["figure"] == 1.0
    assert row["file_verdict"] == "erased" and row["memory_verdict"] == "hidden"


@pytest.mark.parametrize(
    ("constructor", "files", "bytes_per_vector"),
    [("XorUndo", ["undo.key", "undo.xor"], 2 * 24 * 4), ("PermutedUndo", ["undo.perm"], 24 * 4)],
)
def test_a_cheat_no_scan_reads_is_unexplained_residue(
    blobs: Path, tmp_path: Path, constructor: str, files: list[str], bytes_per_vector: int
) -> None:
    """XOR with a key, or shuffled components: only the differential state sees them; the
    files are not erased, and the files holding the residue are named."""
    row = run(blobs, tmp_path, CHEATS, constructor)
    differential = checks(row)["differential"]
    assert differential["blind"] and differential["figure"] == bytes_per_vector
    assert row["file_verdict"] == "unverified"
    assert all(name in row["verdict_reason"] for name in files)


def test_a_file_the_scan_cannot_read_makes_the_verdict_unverified(blobs: Path, tmp_path: Path):
    row = run(blobs, tmp_path, "tests.support.erasure_plugins", "Opaque")
    assert row["file_verdict"] == "unverified" and "rows.xor" in row["verdict_reason"]
    assert checks(row)["control"]["blind"] and row["blind_files"] == 1


@pytest.mark.parametrize(
    ("constructor", "region"),
    [("TrainedCentroids", "centroids.npy"), ("UnalignedCentroids", "quantizer.bin [float run")],
)
def test_the_trained_state_of_a_cheat_is_measurably_nearer_d(
    blobs: Path, tmp_path: Path, constructor: str, region: str
):
    row = run(blobs, tmp_path, CHEATS, constructor, "cluster", 200)
    regions = checks(row)["reconstruction"]["detail"]["regions"]
    assert any(r["measurable"] for name, r in regions.items() if name.startswith(region))


def test_a_flag_array_is_not_trained_state(blobs: Path, tmp_path: Path):
    """A byte per slot (3000 and 2880 slots: rows of 24 flags) with zeros where D was: read
    for copies of D, never compared as a trained set of vectors."""
    row = run(blobs, tmp_path, CHEATS, "FlaggedSlots", "cluster", 120)
    reconstruction = checks(row)["reconstruction"]
    assert reconstruction["ran"] and not reconstruction["found"], reconstruction["reason"]
    assert not any("live.npy" in name for name in reconstruction["detail"]["regions"])
    assert row["leaks"] == 0 and row["memory_verdict"] == "erased"


@pytest.mark.parametrize(
    ("module", "constructor", "policy", "count"),
    [
        (CHEATS, "HardDelete", "random", 50),
        (CHEATS, "HardDelete", "cluster", 200),
        ("plugins.bruteforce.module", "BruteForce", "random", 50),
        ("plugins.amnesia_lsh.module", "AmnesiaLsh", "random", 50),
    ],
)
def test_honest_plugins_are_erased(
    blobs: Path, tmp_path: Path, module: str, constructor: str, policy: str, count: int
) -> None:
    row = run(blobs, tmp_path, module, constructor, policy, count)
    assert row["verdict"] == "erased", row["verdict_reason"]
    every = checks(row)
    assert all(c["ran"] and not c["found"] and not c["blind"] for c in every.values())
    assert row["memory_control"] == 1.0 and row["remanence_control"] == 1.0
