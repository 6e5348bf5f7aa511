"""Erasure verification (protocol 4): the checks, the verdict, and known plugins told apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.core.measures import GAP_TOLERANCE
from harness.core.results import load_results
from harness.protocols.erasure.membership import attack_auc
from harness.protocols.erasure.remanence import scan_buffers, scan_directory, stored_elsewhere
from harness.protocols.erasure.verdict import verdict
from harness.runner.worker import execute
from tests.support.jobs import make_job


def test_scan_finds_every_encoding_at_any_byte_offset() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 24)).astype(np.float32)
    unit = X[:100] / np.linalg.norm(X[:100], axis=1, keepdims=True)
    parts = [
        b"odd",  # 3 bytes: the stored rows start off any word boundary
        X[1000:].tobytes(),
        b"q",
        unit.astype(np.float32).tobytes(),
        b"xy1",
        X[100:200].astype(np.float16).tobytes(),
    ]
    buffer = np.frombuffer(b"".join(parts), dtype=np.uint8)
    found = scan_buffers([buffer], X[:1000])
    assert found.found[:200].all()
    assert not found.found[200:1000].any()  # never stored: never "found"
    assert found.normalized == pytest.approx(0.1) and found.float16 == pytest.approx(0.1)
    assert found.float32 == pytest.approx(0.0)
    assert found.fraction == pytest.approx(0.2)


def test_scan_of_repetitive_data_has_no_false_positive(tmp_path: Path) -> None:
    """Image-like rows (mostly zero, small integers) must be matched whole, not by a prefix."""
    rng = np.random.default_rng(1)
    images = np.zeros((600, 64), dtype=np.float32)
    images[:, 20:40] = rng.integers(0, 256, size=(600, 20))
    images = np.unique(images, axis=0)
    (tmp_path / "index.bin").write_bytes(b"\0" * 5 + images[300:].tobytes())
    found = scan_directory(tmp_path, images)
    assert not found.found[:300].any() and found.found[300:].all()
    assert found.bytes_scanned == 5 + images[300:].nbytes


def test_twins_among_kept_rows_are_recognised() -> None:
    rng = np.random.default_rng(2)
    kept = rng.standard_normal((50, 16)).astype(np.float32)
    deleted = np.vstack([kept[3], 2 * kept[4], rng.standard_normal(16)]).astype(np.float32)
    assert stored_elsewhere(deleted, kept).tolist() == [True, True, False]


def test_attack_auc() -> None:
    assert attack_auc(np.zeros(50), np.ones(50)) == 1.0
    assert attack_auc(np.ones(50), np.ones(50)) == 0.5
    assert attack_auc(np.full(5, np.inf), np.ones(5)) == 0.0
    rng = np.random.default_rng(3)
    members, outsiders = rng.integers(0, 6, 70).astype(float), rng.integers(0, 6, 40)
    pairwise = (members[:, None] < outsiders) + 0.5 * (members[:, None] == outsiders)
    assert attack_auc(members, outsiders) == pytest.approx(pairwise.mean())


def test_verdict_rules() -> None:
    assert verdict(3, 0.0, 0.0)[0] == "leaking"
    assert verdict(0, 0.5, 0.0)[0] == "hidden"
    assert verdict(0, 0.0, GAP_TOLERANCE + 0.01)[0] == "hidden"
    assert verdict(0, 0.0, GAP_TOLERANCE)[0] == "erased"
    assert verdict(0, None, 0.0)[0] == "unverified"
    assert verdict(0, 0.0, 0.0, control=0.0)[0] == "unverified"  # the scan sees nothing
    assert verdict(0, 0.0, 0.0, control=1.0)[0] == "erased"


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
    ("module", "constructor", "expected", "remanent"),
    [
        ("plugins.bruteforce.module", "BruteForce", "erased", 0.0),
        ("tests.support.erasure_plugins", "Tombstones", "hidden", 1.0),
        ("tests.support.erasure_plugins", "Unfiltered", "leaking", 1.0),
        ("tests.support.erasure_plugins", "Unsaveable", "unverified", None),
    ],
)
def test_verdicts_of_known_plugins(
    tiny_dataset: Path, tmp_path: Path, module, constructor, expected, remanent
) -> None:
    run = erasure(tiny_dataset, tmp_path, module, constructor).iloc[0]
    assert run["status"] == "ok" and run["state"] == "deleted"
    assert run["verdict"] == expected, run["verdict_reason"]
    assert run["deleted"] == 50
    assert run["auc_before"] > 0.95  # members are stored exactly: distance 0 to themselves
    assert run["self_rank1_before"] == 1.0
    if remanent is None:
        assert "remanent_fraction" not in run or np.isnan(run["remanent_fraction"])
    else:
        assert run["remanent_fraction"] == remanent
        assert run["remanence_control"] == 1.0  # every kept vector is found: the scan sees
    if expected == "leaking":
        assert run["leaks"] > 0 and run["self_returned_after"] == 1.0
    else:
        assert run["leaks"] == 0 and run["self_returned_after"] == 0.0
        # an exact index that forgets answers like one retrained without D
        assert run["recall"] == run["recall_retrain"] == 1.0
        assert run["overlap"] == 1.0 and run["unlearning_gap"] <= GAP_TOLERANCE


def test_hnswlib_tombstones_are_hidden(tiny_dataset: Path, tmp_path: Path) -> None:
    run = erasure(tiny_dataset, tmp_path, "plugins.hnswlib.module", "Hnswlib").iloc[0]
    assert run["leaks"] == 0 and run["remanent_fraction"] == 1.0  # mark_deleted keeps them
    assert run["verdict"] == "hidden"


def test_compact_is_measured_as_a_second_state(tiny_dataset: Path, tmp_path: Path) -> None:
    runs = erasure(tiny_dataset, tmp_path, "tests.support.erasure_plugins", "Compacting")
    verdicts = dict(zip(runs["state"], runs["verdict"], strict=True))
    assert verdicts == {"deleted": "hidden", "compacted": "erased"}
    assert sorted(Path(p).name for p in runs["path"])[1].endswith("__state=compacted.hdf5")


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
