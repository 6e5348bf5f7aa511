"""The worker's side of the host process (`harness.runner.host`): the plugin at arm's length.

`start_host` launches the host in the run's private directories (`sidefiles`) and returns a
`BasePlugin` whose calls go over a socket; its class overrides exactly the optional members
the real plugin offers, so `plugins.base.offers` answers for the real plugin. Training
rows go through files (`write_array`), never through the socket, so that the host can read
them into a mapping it releases.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.definitions import Definition
from harness.core.environment import THREAD_VARIABLES
from harness.protocols.erasure.sidefiles import Private
from plugins.base import BasePlugin

STOP_SECONDS = 30


class HostError(RuntimeError):
    """The plugin failed inside its host process; the message has its traceback."""


class HostedPlugin(BasePlugin):
    """A plugin living in a host process; see `start_host`."""

    def __init__(self, process: subprocess.Popen, connection: Connection, info: dict) -> None:
        self.process, self.connection = process, connection
        self.name, self.metric = info["name"], ""
        self.deletion = info["deletion"]

    def call(self, method: str, *args: Any) -> Any:
        try:
            self.connection.send((method, args))
            status, value = self.connection.recv()
        except (EOFError, OSError, BrokenPipeError) as error:
            raise HostError(f"the plugin's host process died ({self.ended()}): {error}") from None
        if status == "ok":
            return value
        kind, message, detail = value
        if kind in ("KeyError", "ValueError"):
            raise {"KeyError": KeyError, "ValueError": ValueError}[kind](message)
        raise HostError(f"{kind} in the plugin's host process:\n{detail}")

    def fit_files(
        self, rows: Path, ids: Path | None, learn: Path | None, probe: dict | None
    ) -> dict[str, Any]:
        return self.call("fit", str(rows), _name(ids), _name(learn), probe)

    def rebuild_files(self, rows: Path, ids: Path, learn: Path | None) -> dict[str, Any]:
        return self.call("rebuild", str(rows), str(ids), _name(learn))

    def set_query_arguments(self, *args: Any, **kwargs: Any) -> None:
        self.call("set_query_arguments", kwargs if kwargs else list(args))

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.call("query", np.asarray(q), k)

    def batch_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        return self.call("batch_query", np.asarray(Q), k)

    def timed(self, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.call("timed", np.asarray(Q), k)

    def ended(self) -> str:
        """How the host process ended, once it has (its socket closes just before)."""
        try:
            code = self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            return "still running, its connection lost"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit status {code}"

    def memory_usage(self) -> int:
        return 0

    def done(self) -> None:
        if self.process.poll() is None:
            try:
                self.connection.send(("stop", ()))
                self.connection.recv()
            except (EOFError, OSError):
                pass
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.connection.close()

    def __str__(self) -> str:
        return self.name


def _forward(member: str):
    def method(self: HostedPlugin, *args: Any) -> Any:
        return self.call(member, *(str(a) if isinstance(a, Path) else a for a in args))

    method.__name__ = member
    return method


def start_host(definition: Definition, private: Private) -> HostedPlugin:
    """The plugin of `definition`, built in a host process in `private`'s directories."""
    ours, theirs = socket.socketpair()
    command = [sys.executable, "-m", "harness.runner.host", str(theirs.fileno())]
    command.append(json.dumps(asdict(definition)))
    env = private.environment(os.environ)
    # one thread, even for a --batch job: the host forks after fit, and a forked copy of a
    # process with a running OpenMP pool hangs at its next parallel region (FAISS's delete)
    env.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    # the worker's own import path, so the host imports the same plugin and harness
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p or os.curdir) for p in sys.path)
    process = subprocess.Popen(
        command,
        cwd=private.cwd,
        env=env,
        pass_fds=[theirs.fileno()],
        stdin=subprocess.DEVNULL,
    )
    theirs.close()
    connection = Connection(ours.detach())
    try:
        status, value = connection.recv()
    except EOFError:
        process.wait()
        raise HostError(
            f"the plugin's host process exited with status {process.returncode}"
        ) from None
    if status != "ok":
        process.wait()
        raise HostError(f"{value[0]} building the plugin in its host process:\n{value[2]}")
    offered = {m: _forward(m) for m in value["offers"]}
    cls = type(f"Hosted{definition.constructor}", (HostedPlugin,), offered)
    return cls(process, connection, value)


def write_array(path: Path, array: np.ndarray) -> Path:
    """An array as raw bytes plus a JSON header (dtype, shape), for the host to map."""
    array = np.ascontiguousarray(array)
    array.tofile(path)
    Path(f"{path}.json").write_text(json.dumps({"dtype": array.dtype.str, "shape": array.shape}))
    return path


def _name(path: Path | None) -> str | None:
    return None if path is None else str(path)
