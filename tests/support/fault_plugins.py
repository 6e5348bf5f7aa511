"""Plugins that fail on purpose, to show the runner survives every way a worker can die."""

from __future__ import annotations

import ctypes
import mmap
import os
import signal
import time

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
