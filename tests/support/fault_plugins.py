"""Plugins that fail on purpose, to show the runner survives every way a worker can die."""

from __future__ import annotations

import ctypes
import mmap
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

from plugins.bruteforce.module import BruteForce


class Segfault(BruteForce):
    def fit(self, X, ids=None):
        ctypes.string_at(0)  # reads address 0: SIGSEGV


class Exit(BruteForce):
    def fit(self, X, ids=None):
        os._exit(1)


class Sleep(BruteForce):
    def fit(self, X, ids=None):
        time.sleep(3600)


class Allocate(BruteForce):
    """Grows past any memory limit, touching every page so it is really resident."""

    def fit(self, X, ids=None):
        hoard = []
        while True:
            hoard.append(np.ones(2**27, dtype=np.uint8))  # 128 MiB


class Raise(BruteForce):
    def fit(self, X, ids=None):
        raise RuntimeError("planted failure in fit")


class AllocateShared(BruteForce):
    """Grows through shared anonymous memory, which the data-segment limit does not count:
    only the runner's watch on resident memory can stop it."""

    def fit(self, X, ids=None):
        hoard = []
        while True:
            block = mmap.mmap(-1, 2**27)
            block.write(b"x" * 2**27)
            hoard.append(block)


class KilledWhileWriting(BruteForce):
    """Dies by SIGKILL as soon as the harness has begun writing its result file."""

    def fit(self, X, ids=None):
        super().fit(X, ids)
        create = h5py.Group.create_dataset

        def create_then_die(group, *args, **kwargs):
            out = create(group, *args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
            return out

        h5py.Group.create_dataset = create_then_die


class ReportsThreads(BruteForce):
    """Names itself after the thread counts of every BLAS/OpenMP pool loaded in the worker."""

    def fit(self, X, ids=None):
        from threadpoolctl import threadpool_info

        super().fit(X, ids)
        counts = sorted({pool["num_threads"] for pool in threadpool_info()})
        self.name = "threads=" + ",".join(map(str, counts))


class WrongBatchShape(BruteForce):
    """`batch_query` answers one row, whatever the number of queries (fast and wrong)."""

    def batch_query(self, Q, k):
        return super().batch_query(Q[:1], k)


class FloatIds(BruteForce):
    """Ids as floats with fractions: truncating them would score made-up neighbours."""

    def query(self, q, k):
        return super().query(q, k).astype(np.float64) + 0.7


class OutOfRangeIds(BruteForce):
    def query(self, q, k):
        found = super().query(q, k)
        found[-1] = 10**9
        return found


class DuplicateIds(BruteForce):
    """Returns its best neighbour k times."""

    def query(self, q, k):
        return np.repeat(super().query(q, 1), k)


class TooManyIds(BruteForce):
    def query(self, q, k):
        return super().query(q, k + 5)


class TwoDimensional(BruteForce):
    def query(self, q, k):
        return super().query(q, k)[None, :]


class HugeOutput(BruteForce):
    """Writes a 5 MiB line to stderr, then raises with a 1 MiB message."""

    def fit(self, X, ids=None):
        sys.stderr.write("x" * 5 * 2**20 + "\n")
        sys.stderr.flush()
        raise RuntimeError("planted failure after huge output " + "y" * 2**20)


class SpawnsChild(BruteForce):
    """Starts a long `sleep` (its pid written to `$FAULT_PID_DIR/<class name>.pid`) and
    finishes normally."""

    def fit(self, X, ids=None):
        child = subprocess.Popen(["sleep", "300"])
        child_pid_file(self).write_text(str(child.pid))
        super().fit(X, ids)


def child_pid_file(plugin: BruteForce) -> Path:
    return Path(os.environ["FAULT_PID_DIR"]) / f"{type(plugin).__name__}.pid"


class SpawnsChildThenCrashes(SpawnsChild):
    def fit(self, X, ids=None):
        super().fit(X, ids)
        ctypes.string_at(0)


class SpawnsEscapingChild(SpawnsChild):
    """Its child leaves the worker's process group (a new session) before the worker exits."""

    def fit(self, X, ids=None):
        child = subprocess.Popen(["sleep", "300"], start_new_session=True)
        child_pid_file(self).write_text(str(child.pid))
        time.sleep(3)  # long enough for the runner's watch to see it
        BruteForce.fit(self, X, ids)


class FillsDisk(BruteForce):
    """Fills the disk of `$FAULT_FILL_FOLDER` from inside the worker with a file it has
    already deleted, so the space comes back when the worker exits: its own result cannot be
    written."""

    def fit(self, X, ids=None):
        super().fit(X, ids)
        path = Path(os.environ["FAULT_FILL_FOLDER"]) / "filler"
        self.filler = os.open(path, os.O_WRONLY | os.O_CREAT)  # open until the worker exits
        path.unlink()
        block = b"\0" * 2**16
        try:
            while True:
                os.write(self.filler, block)
        except OSError:
            pass


class Slow(BruteForce):
    """Notes each build in the file `$FAULT_BUILDS_LOG` (one line: its tag), then takes two
    seconds to build."""

    def __init__(self, metric, tag=0):
        super().__init__(metric)
        self.tag = tag

    def fit(self, X, ids=None):
        with open(os.environ["FAULT_BUILDS_LOG"], "a") as notes:
            notes.write(f"{self.tag}\n")
        time.sleep(2)
        super().fit(X, ids)
