"""A plugin's `warmup` runs before its first build, outside the build's time and memory."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from harness.data.datasets import load_dataset
from harness.protocols import PROTOCOLS
from harness.protocols._measure import WARMUP_ROWS, build
from plugins.base import BasePlugin
from plugins.bruteforce.module import BruteForce
from tests.protocols.test_churn import churn_job

MIB = 2**20


class SlowToWarm(BruteForce):
    """Pays a one-time cost in `warmup`: 0.3 s and 64 MiB the process keeps (as JIT-compiled
    code would be); its memory is read from the process RSS, as the default does."""

    calls: list[tuple[str, int]] = []
    memory_usage = BasePlugin.memory_usage
    deletion = "none"  # every churn step after the first is a rebuild

    def warmup(self, X: np.ndarray) -> None:
        type(self).calls.append(("warmup", len(X)))
        type(self).ballast = np.ones(64 * MIB // 8)
        time.sleep(0.3)

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        type(self).calls.append(("fit", len(X)))
        super().fit(X, ids)


def test_the_build_leaves_the_warm_up_out() -> None:
    SlowToWarm.calls = []
    X = np.random.default_rng(0).normal(size=(5000, 8)).astype(np.float32)
    seconds, size = build(SlowToWarm("euclidean"), X)
    assert SlowToWarm.calls == [("warmup", WARMUP_ROWS), ("fit", 5000)]
    assert seconds < 0.3 and size < 16 * MIB


def test_churn_warms_up_once_before_its_build(tiny_dataset: Path) -> None:
    SlowToWarm.calls = []
    job = churn_job("SlowToWarm", tiny_dataset, __name__, "delete-clusters")
    [record] = PROTOCOLS["churn"].run(job, load_dataset(tiny_dataset))
    operations = [name for name, _ in SlowToWarm.calls]
    assert operations[:2] == ["warmup", "fit"] and operations.count("warmup") == 1
    assert record.measures["rebuilds"] == 10 and record.attrs["build_time"] < 0.3
