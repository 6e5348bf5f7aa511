"""A plugin that tries to break out of its container, and reports what it managed.

Its `fit` tries every escape `tests/test_sandbox.py` asks about (network, writes outside its
folder, the image's code, forking without end, becoming root), prints one line
`PROBE <json>` with the outcome of each attempt (`"ok"` or the error), then builds a brute
force index like any plugin, so its run ends normally and the log is kept.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import harness
from harness.core.results import result_path
from plugins.bruteforce.module import BruteForce

CLONE_NEWUSER = 0x10000000
FORK_CEILING = 4096  # forks tried at most
#: Folders and files to write to: outside the job's folder, then the ones it may write.
OUTSIDE = ["/", "/etc", "/root", "/usr/local", "/var/tmp", "/home/app", "/home/app/tests"]
INSIDE = ["/job", "/job/tmp", "/tmp", "/dev/shm"]
VICTIM = "victim"  # the algorithm whose finished result the probe tries to overwrite


def attempt(action) -> str:
    """ "ok" if `action()` succeeded, else the error it raised."""
    try:
        action()
    except BaseException as error:  # anything the sandbox answers with
        return f"{type(error).__name__}: {error}"
    return "ok"


def write(path: str) -> None:
    target = Path(path)
    if target.is_dir():
        target = target / "probe-was-here"
    with open(target, "ab") as f:
        f.write(b"probe")


def connect(host: str, port: int) -> None:
    with socket.create_connection((host, port), timeout=3):
        pass


def connect_unix(path: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)


def fork_until_refused() -> dict[str, object]:
    """Fork sleeping children until the kernel refuses; how many, and why it stopped."""
    children, error = [], ""
    for _ in range(FORK_CEILING):
        try:
            pid = os.fork()
        except OSError as refused:
            error = f"{type(refused).__name__}: {refused}"
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return {"forked": len(children), "stopped_by": error}


def unshare_user() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def status_fields() -> dict[str, str]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"):
            fields[name] = value.split()[0] if name in ("Uid", "Gid") else value.strip()
    return fields


def setuid_programs() -> list[str]:
    found = []
    for top in ("/usr", "/bin", "/sbin"):
        for directory, _, names in os.walk(top):
            for name in names:
                path = os.path.join(directory, name)
                try:
                    if os.lstat(path).st_mode & 0o6000:
                        found.append(path)
                except OSError:
                    pass
    return found


def data_paths() -> list[str]:
    """The mounted dataset and ground truth, and the folders holding them."""
    paths = []
    for directory, _, names in os.walk("/data"):
        paths.append(directory)
        paths += [os.path.join(directory, n) for n in names]
    return paths


def victim_result() -> str:
    """Where, in the job's folder, another algorithm's result of this dataset would go."""
    job = json.loads(Path("/job/job.json").read_text())
    path = result_path(
        job["results_dir"], job["dataset"], job["k"], VICTIM, job["protocol"], "finished"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


class Probe(BruteForce):
    """Connects to `gateway:port` (a listener of the test on the host) among others."""

    def __init__(self, metric: str, gateway: str = "172.17.0.1", port: int = 9) -> None:
        super().__init__(metric)
        self.targets = [f"{gateway}:{port}", "8.8.8.8:53", "1.1.1.1:443"]
        self.paths = OUTSIDE + data_paths() + INSIDE + [victim_result()]

    def fit(self, X, ids=None):
        code = Path(harness.__file__).parent
        report = {
            "uid": os.getuid(),
            "euid": os.geteuid(),
            "gid": os.getgid(),
            "status": status_fields(),
            "setuid(0)": attempt(lambda: os.setuid(0)),
            "setgid(0)": attempt(lambda: os.setgid(0)),
            "unshare(user)": attempt(unshare_user),
            "setuid_programs": setuid_programs(),
            "connect": {t: attempt(lambda t=t: connect(*self._address(t))) for t in self.targets},
            "resolve": attempt(lambda: socket.getaddrinfo("deb.debian.org", 80)),
            "docker.sock": attempt(lambda: connect_unix("/var/run/docker.sock")),
            "write": {p: attempt(lambda p=p: write(p)) for p in self.paths},
            "write_code": {
                str(code / "__init__.py"): attempt(lambda: write(str(code / "__init__.py"))),
                str(code): attempt(lambda: write(str(code))),
                sys.prefix: attempt(lambda: write(sys.prefix)),
                "chmod": attempt(lambda: os.chmod(code / "__init__.py", 0o777)),
            },
            "fork": fork_until_refused(),
        }
        print("PROBE " + json.dumps(report), flush=True)
        super().fit(X, ids)

    @staticmethod
    def _address(target: str) -> tuple[str, int]:
        host, _, port = target.rpartition(":")
        return host, int(port)


def report(log: Path) -> dict:
    """The probe's report from its run's log."""
    for line in log.read_text().splitlines():
        if line.startswith("PROBE "):
            return json.loads(line[len("PROBE ") :])
    raise AssertionError(f"no probe report in {log}:\n{log.read_text()[-2000:]}")
