"""Erasure verification (protocol 4) end to end: known plugins told apart, compact as a second
state, the evidence stored with each run, the scorecard on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.core.results import load_results, read_result
from harness.runner.worker import execute
from tests.support.jobs import make_job


def erasure(tiny_dataset: Path, results: Path, module: str, constructor: str, **options):
    job = make_job(module, constructor, tiny_dataset, results)
    job.protocol = "erasure"
    job.protocol_args = {
        "policy": "random",
        "delete_count": 50,
        "delete_seed": 1,
        "erasure_seed": 1,
        **options,
    }
    execute(job)
    runs = load_results(results, protocols=["erasure"])
    return runs[runs["algorithm"] == constructor.lower()]


@pytest.mark.parametrize(
    ("module", "constructor", "files", "memory", "remanent"),
    [
        ("plugins.bruteforce.module", "BruteForce", "erased", "erased", 0.0),
        ("tests.support.erasure_plugins", "Tombstones", "hidden", "hidden", 1.0),
        ("tests.support.erasure_plugins", "Unfiltered", "leaking", "hidden", 1.0),
        ("tests.support.erasure_plugins", "Unsaveable", "unverified", "erased", None),
    ],
)
def test_verdicts_of_known_plugins(
    tiny_dataset: Path, tmp_path: Path, module, constructor, files, memory, remanent
) -> None:
    run = erasure(tiny_dataset, tmp_path, module, constructor).iloc[0]
    assert run["status"] == "ok" and run["state"] == "deleted"
    assert (run["file_verdict"], run["memory_verdict"]) == (files, memory), run["verdict_reason"]
    assert run["deleted"] == 50
    assert run["auc_before"] > 0.95  # members are stored exactly: distance 0 to themselves
    assert run["self_rank1_before"] == 1.0
    assert run["memory_control"] == 1.0  # the memory scan sees the kept rows
    if remanent is None:
        assert "remanent_fraction" not in run or np.isnan(run["remanent_fraction"])
    else:
        assert run["remanent_fraction"] == remanent
        assert run["remanence_control"] == 1.0  # every kept vector is found: the scan sees
    if files == "leaking":
        assert run["leaks"] > 0 and run["self_returned_after"] == 1.0
    else:
        assert run["leaks"] == 0 and run["self_returned_after"] == 0.0
        # an exact index that forgets answers like one retrained without D
        assert run["recall"] == run["recall_retrain"] == 1.0
        assert run["overlap"] == 1.0 and run["overlap_deleted"] == 1.0
        assert run["unlearning_gap"] <= run["gap_tolerance"]


def test_hnswlib_tombstones_are_hidden_in_files_and_memory(tiny_dataset: Path, tmp_path: Path):
    run = erasure(tiny_dataset, tmp_path, "plugins.hnswlib.module", "Hnswlib").iloc[0]
    assert run["leaks"] == 0 and run["remanent_fraction"] == 1.0  # mark_deleted keeps them
    assert run["memory_fraction"] == 1.0
    assert (run["file_verdict"], run["memory_verdict"]) == ("hidden", "hidden")


def test_compact_is_measured_as_a_second_state(tiny_dataset: Path, tmp_path: Path) -> None:
    runs = erasure(tiny_dataset, tmp_path, "tests.support.erasure_plugins", "Compacting")
    verdicts = dict(zip(runs["state"], runs["verdict"], strict=True))
    assert verdicts == {"deleted": "hidden", "compacted": "erased"}
    memory = dict(zip(runs["state"], runs["memory_fraction"], strict=True))
    assert memory == {"deleted": 1.0, "compacted": 0.0}  # the forked copy compacted too
    assert sorted(Path(p).name for p in runs["path"])[1].endswith("__state=compacted.hdf5")


def test_every_check_is_stored_with_its_figure_and_coverage(tiny_dataset: Path, tmp_path: Path):
    run = erasure(tiny_dataset, tmp_path, "plugins.bruteforce.module", "BruteForce").iloc[0]
    evidence = json.loads(bytes(read_result(run["path"])["measure_arrays"]["evidence"]))
    names = [c["name"] for c in evidence["checks"]]
    assert names == [
        "leak", "decoding", "control", "reconstruction", "differential", "side files",
        "memory", "attack",
    ]  # fmt: skip
    for check in evidence["checks"]:
        assert check["ran"] and check["coverage"] and check["reason"], check
    assert {"build", "retrain", "retrain B", "probes"} <= set(evidence["seconds"])


def test_cli_prints_the_scorecard(
    tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definitions = tmp_path / "algos.yaml"
    definitions.write_text(
        "bruteforce:\n  module: plugins.bruteforce.module\n  constructor: BruteForce\n"
        "  docker_image: none\n  base_args: ['@metric']\n  run_groups:\n    exact: {}\n"
    )
    argv = ["--dataset", str(tiny_dataset), "--protocol", "erasure", "--definitions"]
    argv += [str(definitions), "--results", str(tmp_path / "r"), "--runs", "1"]
    argv += ["--algorithm", "bruteforce", "--delete-count", "0.05", "--delete-policy", "cluster"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "verdict" in out and "erased" in out and "cluster 0.05" in out


def test_a_container_layer_with_d_amends_the_verdict(tiny_dataset: Path, tmp_path: Path) -> None:
    """What `--executor docker` adds: files the plugin wrote anywhere in its container."""
    import io
    import tarfile

    from harness.data.datasets import load_dataset
    from harness.protocols.erasure.layer import amend_results

    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path / "r")
    job.protocol = "erasure"
    job.protocol_args = {"policy": "random", "delete_count": 50, "delete_seed": 1,
                         "erasure_seed": 1}  # fmt: skip
    execute(job)
    dataset = load_dataset(tiny_dataset)
    run = load_results(tmp_path / "r", protocols=["erasure"]).iloc[0]
    deleted = read_result(run["path"])["measure_arrays"]["deleted_ids"]
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as archive:
        data = dataset.train[deleted].tobytes()
        info = tarfile.TarInfo("var/cache/plugin/undo.bin")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    assert run["verdict"] == "erased"
    [path] = amend_results(job, dataset, layer)
    amended = load_results(tmp_path / "r", protocols=["erasure"]).iloc[0]
    assert amended["verdict"] == "hidden" and "container layer" in amended["verdict_reason"]
    evidence = json.loads(bytes(read_result(path)["measure_arrays"]["evidence"]))
    assert evidence["checks"][-1]["name"] == "container layer"


def test_members_and_non_members_are_asked_for_the_same_k(tiny_dataset: Path) -> None:
    """The previous probe asked non-members for one answer only, which made an index that
    returns fewer answers look like one that tells members apart."""
    from harness.data.datasets import load_dataset
    from harness.protocols._plan import DeletionPlan
    from harness.protocols.erasure.probing import probe
    from harness.protocols.erasure.reference import reference
    from plugins.bruteforce.module import BruteForce

    dataset = load_dataset(tiny_dataset)
    deleted = np.arange(0, 500, 10)
    live = np.ones(len(dataset.train), dtype=bool)
    live[deleted] = False
    ref = reference(dataset, DeletionPlan(deleted, live, None), seed=1)
    asked = []

    class Recording(BruteForce):
        def batch_query(self, Q, k):
            asked.append((len(Q), k))
            return super().batch_query(Q, k)

    plugin = Recording("euclidean")
    plugin.fit(dataset.train)
    result = probe(plugin, dataset, ref, 10)
    assert {k for _, k in asked} == {10}
    assert result.attack.distances.shape == (2 * len(ref.members), 10)
    assert np.isfinite(result.attack.latency).sum() == 2 * len(ref.timed)


def test_a_batch_job_on_an_openmp_library_is_checked_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAISS with a two-thread OpenMP pool in a --batch job: the host forks after fit, and a
    forked copy of a running pool would hang at FAISS's parallel `remove_ids` until the
    memory probe's timeout (the host runs on one thread, so the copy deletes and dumps)."""
    from harness.data.datasets import write_dataset
    from harness.protocols.erasure import protocol

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(protocol, "MEMORY_SECONDS", 60)
    rows = np.random.default_rng(1).normal(size=(51_000, 32)).astype(np.float32)
    dataset = tmp_path / "gauss-32-euclidean.hdf5"
    write_dataset(dataset, rows[:50_000], rows[50_000:], "euclidean")
    job = make_job(
        "plugins.faiss.module", "FaissIVF", dataset, tmp_path / "results", {"n_list": 64},
        {"n_probe": 8},
    )  # fmt: skip
    job.protocol, job.batch = "erasure", True
    job.protocol_args = {"policy": "random", "delete_count": 500, "delete_seed": 1,
                         "erasure_seed": 1}  # fmt: skip
    execute(job)
    [path] = load_results(tmp_path / "results", protocols=["erasure"])["path"]
    checks = json.loads(bytes(read_result(path)["measure_arrays"]["evidence"]))["checks"]
    [memory] = [check for check in checks if check["name"] == "memory"]
    assert memory["ran"], memory["reason"]


@pytest.mark.parametrize(
    ("constructor", "ending"), [("Exit", "exit status 1"), ("Segfault", "killed by SIGSEGV")]
)
def test_a_plugin_killing_its_host_is_said_how_it_ended(
    tiny_dataset: Path, tmp_path: Path, constructor: str, ending: str
) -> None:
    """SVS's LeanVec exits the process on a CPU it refuses: the failure says how it ended."""
    from harness.protocols.erasure.hosted import HostError

    with pytest.raises(HostError, match=f"host process died \\({ending}\\)"):
        erasure(tiny_dataset, tmp_path, "tests.support.fault_plugins", constructor)
