"""The fault matrix: every way a plugin can fail, run side by side under the local runner.

Each fault is recorded as a failed run with its cause (and a normal run beside them
succeeds); nothing is lost (every run has a result file), nothing partial remains (no
`.partial-` file, no worker scratch folder, no lock), and no process a plugin started is left.
The recorded cause of each is printed (`pytest -s` shows the table).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psutil
import pytest

from harness.core.results import read_result
from harness.runner.claims import LOCK_SUFFIX
from harness.runner.local import SCRATCH_PREFIX, run_local
from harness.runner.scheduling import DETAIL_LIMIT, LINE_LIMIT, Limits
from tests.support.jobs import fault_job

GiB = 2**30

#: plugin -> (the cause recorded, a phrase its failure detail must hold)
MATRIX = {
    "Segfault": ("signal", "SIGSEGV"),
    "Exit": ("exit", "code 1"),
    "Sleep": ("timeout", "timeout"),
    "Allocate": ("memory", "MemoryError"),
    "AllocateShared": ("memory", "resident memory"),
    "Raise": ("exception", "RuntimeError: planted failure in fit"),
    "KilledWhileWriting": ("signal", "SIGKILL"),
    "WrongBatchShape": ("answers", "batch_query returned shape (1, 10) for 20 queries"),
    "FloatIds": ("answers", "float64 ids"),
    "OutOfRangeIds": ("answers", "id 1000000000"),
    "DuplicateIds": ("answers", "twice"),
    "HugeOutput": ("exception", "RuntimeError: planted failure after huge output"),
    "SpawnsChildThenCrashes": ("signal", "SIGSEGV"),
    "SpawnsChild": ("", ""),
    "BruteForce": ("", ""),
}
CHILDREN = ("SpawnsChild", "SpawnsChildThenCrashes")


@pytest.mark.timeout(300)
def test_every_fault_is_recorded_with_its_cause_and_nothing_is_left(
    tiny_dataset: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FAULT_PID_DIR", str(tmp_path))
    results = tmp_path / "results"
    jobs = [fault_job(name, tiny_dataset, results) for name in MATRIX]
    jobs[list(MATRIX).index("WrongBatchShape")].batch = True
    outcomes = run_local(jobs, "euclidean", Limits(15, GiB), parallelism=2)

    recorded = {}
    for job in jobs:
        attrs = read_result(job.result_path([]))["attrs"]  # none lost: every run has a file
        recorded[job.definition.constructor] = (attrs.get("failure_cause", ""), attrs)
    print("\nfault                    status  recorded cause: first line of the detail")
    for name, (cause, attrs) in recorded.items():
        first = str(attrs.get("failure_detail", "")).splitlines()[:1]
        print(f"{name:24} {attrs['status']:7} {cause or '-'}: {' '.join(first)[:70]}")

    assert {o.job.definition.constructor: o.cause for o in outcomes} == {
        name: cause for name, (cause, _) in MATRIX.items()
    }
    for name, (cause, phrase) in MATRIX.items():
        got, attrs = recorded[name]
        assert got == cause, name
        assert attrs["status"] == ("failed" if cause else "ok"), name
        detail = str(attrs.get("failure_detail", ""))
        assert phrase in detail, (name, detail[:500])
        assert len(detail) <= DETAIL_LIMIT + 4 * LINE_LIMIT, name

    assert read_result(jobs[-1].result_path([]))["measures"]["recall"] == 1.0
    leftovers = [p.name for p in results.rglob("*") if ".partial-" in p.name]
    assert leftovers == [], "a worker killed mid-write left a partial result file"
    assert not list(results.rglob(f"*{LOCK_SUFFIX}"))
    assert not list(Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}{os.getpid()}-*"))
    for name in CHILDREN:
        child = int((tmp_path / f"{name}.pid").read_text())
        assert gone(child), f"the child of {name} (a real `sleep`) outlived its worker"


def gone(pid: int) -> bool:
    """Ended (a zombie waiting for its new parent to reap it counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
