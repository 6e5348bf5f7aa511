"""The sandbox on a real engine: a plugin that tries to escape its container, and fails.

`tests/support/sandbox_probe.py` tries every escape from inside a container of the base image and
reports the outcome of each attempt; these tests read that report, and check on the host
that nothing it tried to reach changed.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import h5py
import pytest

from harness.core.results import read_result, result_path, write_result
from harness.runner import docker as runner
from harness.runner import sandbox
from harness.runner.scheduling import Limits
from tests.support import jobs, sandbox_probe
from tests.support.containers import docker_client, in_image, probe_image

MEMORY = 2**30
FINISHED = {"status": "ok", "algorithm": sandbox_probe.VICTIM, "recall": 0.5}


class Listener:
    """A TCP listener on every address of the host, counting who connects."""

    def __init__(self) -> None:
        self.server = socket.create_server(("0.0.0.0", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.server.close()


def gateway(client) -> str:
    """The host's address on the engine's default bridge, where containers could reach it."""
    config = client.networks.get("bridge").attrs["IPAM"]["Config"]
    return config[0].get("Gateway", "172.17.0.1") if config else "172.17.0.1"


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path):
    """One probe run in the test image: (report, job, listener, the victim's result)."""
    client = docker_client()
    image = probe_image(client)
    results = tmp_path_factory.mktemp("results")
    listener = Listener()
    job = in_image(
        jobs.make_job(
            "tests.support.sandbox_probe",
            "Probe",
            tiny_dataset,
            results,
            build_args={"gateway": gateway(client), "port": listener.port},
        ),
        image,
    )
    victim = result_path(results, "tiny", 10, sandbox_probe.VICTIM, "qps-recall", "finished")
    write_result(victim, FINISHED)
    before = victim.read_bytes()
    try:
        [outcome] = runner.run_docker([job], "euclidean", Limits(300.0, MEMORY))
    finally:
        listener.close()
    assert outcome.status == "ok", outcome.detail
    return sandbox_probe.report(job.log_path()), job, listener, (victim, before)


def test_runs_as_a_user_that_is_nobody_on_the_host(probed) -> None:
    report = probed[0]
    assert (report["uid"], report["euid"], report["gid"]) == (sandbox.SANDBOX_UID,) * 3


def test_cannot_become_root(probed) -> None:
    report = probed[0]
    status = report["status"]
    for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[capabilities], 16) == 0, f"{capabilities} = {status[capabilities]}"
    assert status["NoNewPrivs"] == "1"  # a setuid program cannot raise privileges
    assert report["setuid_programs"] == []  # and the image has none
    for attempt in ("setuid(0)", "setgid(0)", "unshare(user)"):
        assert report[attempt].startswith(("PermissionError", "OSError")), report[attempt]


def test_cannot_open_a_connection(probed) -> None:
    report, _, listener, _ = probed
    assert report["connect"], "the probe tried nothing"
    for target, outcome in report["connect"].items():
        assert outcome != "ok", f"the container reached {target}"
    assert listener.connections == 0, "the host's listener was reached from the container"
    assert report["resolve"] != "ok"
    assert report["docker.sock"].startswith(("FileNotFoundError", "ConnectionRefusedError"))


def test_cannot_write_outside_its_folder(probed) -> None:
    report, job, _, (victim, before) = probed
    written = report["write"]
    outside = [p for p in written if not p.startswith(tuple(sandbox_probe.INSIDE))]
    assert any(p.startswith("/data/") and p.endswith(".hdf5") for p in outside), written
    for path in outside:
        assert written[path] != "ok", f"the container wrote {path}"
    for path in sandbox_probe.INSIDE:  # its own folder and private scratch space
        assert written[path] == "ok", f"{path}: {written[path]}"
    assert victim.read_bytes() == before, "another algorithm's finished result was overwritten"
    assert read_result(victim)["attrs"]["recall"] == FINISHED["recall"]
    with h5py.File(Path(job.dataset_path), "r") as f:
        assert "probe-was-here" not in f.attrs


def test_cannot_write_the_images_code(probed) -> None:
    for path, outcome in probed[0]["write_code"].items():
        assert outcome.startswith(("OSError", "PermissionError")), f"{path}: {outcome}"
        assert "Read-only file system" in outcome or "Permission denied" in outcome


def test_cannot_fork_past_the_limit(probed) -> None:
    fork = probed[0]["fork"]
    assert 0 < fork["forked"] < sandbox.PIDS_LIMIT
    assert "Resource temporarily unavailable" in fork["stopped_by"] or "BlockingIO" in str(fork)


def test_nothing_is_left_behind(probed) -> None:
    _, job, _, _ = probed
    results = Path(job.results_dir)
    assert not (results / ".containers").exists()
    owned = {p.stat().st_uid for p in results.rglob("*")}
    assert sandbox.SANDBOX_UID not in owned  # everything written back is the caller's
