"""The process the plugin under test lives in during an erasure run (its *host*).

Started by `harness.protocols.erasure.hosted.start_host` as `python -m harness.runner.host
FD DEFINITION` in private directories (a working directory, HOME and TMPDIR made for the
run), it builds the plugin from its definition and answers calls over the socket FD: the
plugin contract, plus `timed` (per-query latencies measured here, where the plugin runs)
and the memory probe of `fit`. It imports only the plugin, `plugins.base` and
`harness.core.definitions`, so that its own memory is small and holds nothing of the run.

The host holds no copy of D outside the plugin. Training rows arrive as a file, read
straight into an anonymous mapping (no intermediate buffer) that is unmapped after `fit`;
if the plugin kept a reference to it, the mapping stays, and is the plugin's memory. Right
after `fit`, before any deleted vector reaches it as a query, the host forks: the child
deletes D by id and `dump`s its memory, compacts and dumps again (or, without native
deletion, releases the index and dumps), then exits; the host waits for it. A dump is every
readable, writable mapping of the child (from /proc/self/smaps, read through
/proc/self/mem), its own copy buffer left out, and of every process the plugin started
(read through /proc/PID/mem); the worker scans it (`harness.protocols.erasure.memory`).
"""

from __future__ import annotations

import ctypes
import gc
import json
import mmap
import os
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from harness.core.definitions import Definition
from plugins.base import BasePlugin, offers

MEMBERS = ("delete", "insert", "compact", "save", "fit_queries")
COPY_BUFFER = 1 << 22  # bytes of memory copied to a dump at a time
SKIPPED = ("[vvar]", "[vsyscall]", "[vdso]", "[vvar_vclock]")


class Host:
    """The plugin and the calls the erasure protocol makes of it."""

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self.plugin: BasePlugin = definition.instantiate()

    def describe(self) -> dict[str, Any]:
        plugin = self.plugin
        offered = [m for m in MEMBERS if offers(plugin, m)]
        return {"name": str(plugin), "deletion": plugin.deletion, "offers": offered}

    def fit(
        self, rows: str, ids: str | None, learn: str | None, probe: dict | None
    ) -> dict[str, Any]:
        """Fit from files (rows float32, ids int64, learn queries), then the memory probe."""
        if learn is not None and offers(self.plugin, "fit_queries"):
            queries = Mapped(learn)
            self.plugin.fit_queries(queries.array)
            queries.release()
        before = self.plugin.memory_usage()
        train = Mapped(rows)
        labels = None if ids is None else np.fromfile(ids, dtype=np.int64)
        start = time.perf_counter()
        self.plugin.fit(train.array, labels)
        seconds = time.perf_counter() - start
        out = {
            "build_time": seconds,
            "index_size": max(0, self.plugin.memory_usage() - before),
            "kept_input": not train.release(),
        }
        if probe is not None:
            out["memory"] = self.memory(**probe)
        return out

    def memory(self, deleted: str, dumps: dict[str, str], timeout: float) -> dict[str, Any]:
        """Fork; the child deletes and dumps (`child`); wait for it. Its report, or why not."""
        reason = memory_readable()
        if reason:
            return {"ran": False, "why_not": reason}
        ids = np.fromfile(deleted, dtype=np.int64)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            die_with_worker()  # here: with the host, its parent
            code = 1
            try:
                self.child(ids, dumps)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return {"ran": False, "why_not": f"the forked copy did not finish in {timeout:g} s"}
        if os.waitstatus_to_exitcode(status) != 0:
            return {"ran": False, "why_not": "the forked copy failed (see the worker log)"}
        report = {}
        for state, path in dumps.items():
            report[state] = json.loads(Path(f"{path}.report").read_text())
        return {"ran": True, "states": report}

    def child(self, ids: np.ndarray, dumps: dict[str, str]) -> None:
        """In the forked copy: the deletion life cycle, a dump after each step."""
        plugin = self.plugin
        if offers(plugin, "delete") and plugin.deletion != "none":
            plugin.delete(ids)
        else:
            plugin.done()
            self.plugin = plugin = None
        gc.collect()
        for state, path in dumps.items():
            if state == "compacted":
                if plugin is None or not offers(plugin, "compact"):
                    continue
                plugin.compact()
                gc.collect()
            report = dump(path)
            Path(f"{path}.report").write_text(json.dumps(report))

    def rebuild(self, rows: str, ids: str, learn: str | None) -> dict[str, Any]:
        """A plugin without deletion: release the index, fit a new one on X\\D."""
        self.plugin.done()
        self.plugin = self.definition.instantiate()
        gc.collect()
        return self.fit(rows, ids, learn, None)

    def set_query_arguments(self, query_args: Any) -> None:
        if isinstance(query_args, dict):
            self.plugin.set_query_arguments(**query_args)
        else:
            self.plugin.set_query_arguments(*query_args)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.plugin.query(q, k))

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.plugin.batch_query(Q, k))

    def timed(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-query latencies and answers (-1 padded), only the `query` call timed (the
        loop of `harness.protocols._measure.timed_queries`, here where the plugin runs)."""
        times = np.empty(len(Q))
        answers = np.full((len(Q), k), -1, dtype=np.int64)
        query, clock = self.plugin.query, time.perf_counter
        for i, q in enumerate(Q):
            start = clock()
            found = query(q, k)
            times[i] = clock() - start
            found = np.asarray(found)[:k]
            answers[i, : len(found)] = found
        return times, answers

    def delete(self, ids: np.ndarray) -> None:
        self.plugin.delete(ids)

    def compact(self) -> None:
        self.plugin.compact()

    def save(self, directory: str) -> None:
        self.plugin.save(directory)

    def done(self) -> None:
        if self.plugin is not None:
            self.plugin.done()


class Mapped:
    """A float32 or int64 file read straight into an anonymous mapping (`array`)."""

    def __init__(self, path: str) -> None:
        header = json.loads(Path(f"{path}.json").read_text())
        size = os.path.getsize(path)
        self.buffer = mmap.mmap(-1, max(1, size))
        with open(path, "rb", buffering=0) as source:
            view = memoryview(self.buffer)
            read = 0
            while read < size:
                read += source.readinto(view[read:size])
            del view
        dtype = np.dtype(header["dtype"])
        flat = np.frombuffer(self.buffer, dtype=dtype, count=size // dtype.itemsize)
        self.array = flat.reshape(header["shape"])

    def release(self) -> bool:
        """Drop our reference and unmap; False if something else (the plugin) still refers to
        the array, which then keeps the mapping as its own memory."""
        del self.array
        gc.collect()
        try:
            self.buffer.close()
        except BufferError:
            return False
        return True


def memory_readable() -> str:
    """Why this process cannot read its own memory, or "" if it can."""
    if not sys.platform.startswith("linux"):
        return f"no /proc/self/mem on {sys.platform}"
    try:
        with open("/proc/self/smaps") as smaps:
            smaps.readline()
        with open("/proc/self/mem", "rb", buffering=0) as mem:
            mem.seek(id(mem))
            mem.read(8)
    except OSError as error:
        return f"/proc/self/mem is not readable ({error})"
    return ""


def writable_mappings(process: str = "self") -> list[tuple[int, int, str, str]]:
    """(start, end, perms, path) of a process's readable, writable mappings that can hold
    data (`process`: a pid, or `self`)."""
    out, current, resident = [], None, {}
    with open(f"/proc/{process}/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if len(head) >= 5 and "-" in head[0] and not head[0].endswith(":"):
                start, end = (int(x, 16) for x in head[0].split("-"))
                current = (start, end, head[1], head[5] if len(head) > 5 else "")
                if current[2][:2] == "rw" and current[3] not in SKIPPED:
                    out.append(current)
            elif head and head[0] == "Rss:" and current is not None:
                resident[current] = int(head[1])
    # a private mapping never touched holds nothing; a shared one may show no resident page
    # in a forked child (its pages are mapped in lazily) and still hold data
    return [m for m in out if resident.get(m, 0) > 0 or m[2][3] == "s"]


def plugin_processes() -> list[int]:
    """The processes the plugin started (at fit, in the host, or at delete, in this forked
    copy): every descendant of the host but this copy. A library that hands D to a helper
    process keeps it there."""
    try:
        family = psutil.Process(os.getppid()).children(recursive=True)
    except psutil.Error:
        return []
    return [p.pid for p in family if p.pid != os.getpid()]


def dump(path: str) -> dict[str, int]:
    """Every readable, writable mapping of this process and of the processes the plugin
    started into `path`, an index of them into `path`.json; the copy buffer is the one
    mapping left out. A process that ends or refuses to be read counts as unreadable."""
    copy = mmap.mmap(-1, COPY_BUFFER)
    view = memoryview(copy)
    own = np.frombuffer(copy, dtype=np.uint8).ctypes.data
    index: list[list[Any]] = []
    failed = 0
    with open(path, "wb", buffering=0) as out:
        for process in ["self", *map(str, plugin_processes())]:
            try:
                mappings = writable_mappings(process)
                with open(f"/proc/{process}/mem", "rb", buffering=0) as mem:
                    if process == "self":
                        mappings = [m for m in mappings if not m[0] <= own < m[1]]
                    failed += copy_mappings(mem, mappings, out, view, index, process)
            except OSError:  # ended, or not ours to read
                failed += 1
    written = os.path.getsize(path)
    Path(f"{path}.json").write_text(json.dumps({"mappings": index, "unreadable": failed}))
    return {"bytes": written, "mappings": len(index), "unreadable": failed}


def copy_mappings(
    mem: Any, mappings: list[tuple[int, int, str, str]], out: Any, view: memoryview,
    index: list[list[Any]], process: str,
) -> int:  # fmt: skip
    """Append each mapping's bytes to `out` and its entry (start, end, perms, name, offset in
    the dump) to `index`; return the bytes that could not be read."""
    failed = 0
    for start, end, perms, name in mappings:
        offset = out.tell()
        for at in range(start, end, COPY_BUFFER):
            length = min(COPY_BUFFER, end - at)
            try:
                mem.seek(at)
                got = mem.readinto(view[:length])
            except OSError:
                failed += length
                continue
            out.write(view[:got])
        label = name if process == "self" else f"{name or 'anonymous'} of process {process}"
        index.append([start, end, perms, label, offset])
    return failed


def serve(connection: Connection, host: Host) -> None:
    """Answer calls until `stop`: (method, args) -> ("ok", result) or ("error", ...)."""
    while True:
        method, args = connection.recv()
        if method == "stop":
            host.done()
            connection.send(("ok", None))
            return
        try:
            result = getattr(host, method)(*args)
            connection.send(("ok", result))
        except BaseException as error:  # the worker re-raises it, with this traceback
            detail = "".join(traceback.format_exception(error))
            connection.send(("error", (type(error).__name__, str(error), detail)))
            if isinstance(error, (KeyboardInterrupt, SystemExit, MemoryError)):
                return


def die_with_worker() -> None:
    """On Linux, have the kernel kill this process when its parent (the worker, or for the
    forked copy the host) dies, even by SIGKILL: an orphan would go on fitting or dumping
    for a run that no longer exists."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)


def main(argv: list[str]) -> int:
    die_with_worker()
    connection = Connection(int(argv[0]))
    definition = Definition(**json.loads(argv[1]))
    try:
        host = Host(definition)
    except BaseException as error:
        detail = "".join(traceback.format_exception(error))
        connection.send(("error", (type(error).__name__, str(error), detail)))
        return 1
    connection.send(("ok", host.describe()))
    serve(connection, host)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
