"""Containers and job folders never outlive the docker runner that made them.

A runner's identity (host, pid, process start time) labels its containers and names its
folder of job folders. With the runner starts a reaper, a process in its own session whose
stdin is a pipe only the runner holds: it reaches end-of-file the moment the runner ends,
even by SIGKILL, and the reaper then removes the runner's containers and folders. A runner
starting up also removes those of runners that no longer exist (a reaper killed with its
runner), and nothing of a runner still alive or on another host.

`python -m harness.runner.reaper IDENTITY IMAGE [ROOT ...]` is the reaper (see `start`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from harness.core.environment import PROJECT_ROOT

LABEL = "forget-benchmarks.runner"
SCRATCH = ".containers"  # <results>/.containers/<runner identity>/<job folder>
Cleaner = Callable[[Path], None]


@dataclass(frozen=True)
class Identity:
    """Who a runner is: a pid alone could be reused by another process later."""

    host: str
    pid: int
    started: str  # the process's start time, seconds since the epoch, 2 decimals

    @classmethod
    def current(cls) -> Identity:
        return cls(socket.gethostname(), os.getpid(), _start_time(os.getpid()))

    @classmethod
    def parse(cls, text: str) -> Identity | None:
        """From `str(identity)`; None for anything else."""
        pid_started, _, host = text.partition("@")
        pid, _, started = pid_started.partition("-")
        if not (host and pid.isdigit() and started):
            return None
        return cls(host, int(pid), started)

    def __str__(self) -> str:
        """The label of the runner's containers and the name of its folder."""
        return f"{self.pid}-{self.started}@{self.host}"

    def alive(self) -> bool | None:
        """Whether the runner still runs; None if it is on another host (unknowable)."""
        if self.host != socket.gethostname():
            return None
        try:
            return _start_time(self.pid) == self.started
        except psutil.Error:
            return False


def start(identity: Identity, image: str, roots: Iterable[Path]) -> subprocess.Popen:
    """The reaper of this runner (`image` runs its cleaner); close its stdin (`stop`) when
    the runner is done."""
    command = [sys.executable, "-m", "harness.runner.reaper", str(identity), image]
    return subprocess.Popen(
        [*command, *map(str, roots)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
        start_new_session=True,  # not killed with the runner's process group
    )


def stop(reaper: subprocess.Popen, timeout: float = 30) -> None:
    """Tell the reaper the runner is done and wait for it to clear up."""
    with contextlib.suppress(OSError):
        reaper.stdin.close()
    try:
        reaper.wait(timeout)
    except subprocess.TimeoutExpired:
        reaper.kill()
        reaper.wait()


def remove_containers(client: Any, dead: Callable[[Identity], bool]) -> int:
    """Remove (killing if need be) every labelled container whose runner is `dead`."""
    removed = 0
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        owner = Identity.parse(container.labels.get(LABEL, ""))
        if owner is not None and dead(owner):
            with contextlib.suppress(Exception):  # gone already, or being removed
                container.remove(force=True)
                removed += 1
    return removed


def remove_folders(root: Path, dead: Callable[[Identity], bool], cleaner: Cleaner) -> None:
    """Remove the folders under `root` (a results folder's SCRATCH) of `dead` runners."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        owner = Identity.parse(folder.name)
        if owner is not None and dead(owner):
            remove_tree(folder, cleaner)
    with contextlib.suppress(OSError):
        root.rmdir()  # only if empty


def remove_tree(folder: Path, cleaner: Cleaner | None) -> None:
    """Delete a folder; what the container's user made undeletable for us is emptied by
    `cleaner(folder)` (a throwaway container) first."""
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        pass
    except PermissionError:
        if cleaner is None:
            raise
        cleaner(folder)
        shutil.rmtree(folder)


def sweep(client: Any, roots: Iterable[Path], cleaner: Cleaner) -> int:
    """At a runner's start: remove what runners that no longer exist left behind."""
    removed = remove_containers(client, lambda owner: owner.alive() is False)
    for root in roots:
        remove_folders(root, lambda owner: owner.alive() is False, cleaner)
    return removed


def cleaner(client: Any, image: str) -> Cleaner:
    """Empties a folder from a throwaway container of `image` (root in it, without network):
    files the sandbox user made unwritable for a runner that is not root."""

    def empty(folder: Path) -> None:
        client.containers.run(
            image,
            ["find", "/target", "-mindepth", "1", "-delete"],
            volumes={str(folder.resolve()): {"bind": "/target", "mode": "rw"}},
            user="0:0",
            network_mode="none",
            remove=True,
        )

    return empty


def main(argv: list[str]) -> int:
    identity, image = Identity.parse(argv[0]), argv[1]
    if identity is None:
        raise SystemExit(f"not a runner identity: {argv[0]!r}")
    sys.stdin.buffer.read()  # returns when the runner ends, however it ends
    import docker

    client = docker.from_env()
    remove_containers(client, lambda owner: owner == identity)
    for root in map(Path, argv[2:]):
        remove_folders(root, lambda owner: owner == identity, cleaner(client, image))
    return 0


def _start_time(pid: int) -> str:
    return f"{psutil.Process(pid).create_time():.2f}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
