"""The docker runner, checked without an engine.

The container arguments are a pure function checked here; what comes out of a container
(links, other runs' names, forged status files) is filtered; runner identities tell a live
runner from a dead one; the runner's handling of a container's end is driven with a
stand-in client. The tests on a real engine are in test_docker_engine.py and test_sandbox.py,
the Dockerfiles' in test_dockerfiles.py.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from pathlib import Path

import h5py
import pytest

from harness.core.environment import PROJECT_ROOT
from harness.core.results import failure_path, write_result
from harness.runner import docker as runner
from harness.runner import images, reaper, sandbox
from harness.runner.scheduling import Limits, Session
from tests.support.jobs import make_job

MEMORY = 2**30


def hardened(args: dict) -> None:
    """The sandbox every container gets, whatever the job."""
    assert args["user"] == f"{sandbox.SANDBOX_UID}:{sandbox.SANDBOX_UID}"
    assert args["cap_drop"] == ["ALL"] and "no-new-privileges:true" in args["security_opt"]
    assert args["pids_limit"] == sandbox.PIDS_LIMIT and args["read_only"] is True
    assert args["network_mode"] == "none" and "privileged" not in args
    assert set(args["tmpfs"]) == {"/tmp"} and "size=" in args["tmpfs"]["/tmp"]


def test_container_arguments(tiny_dataset: Path, tmp_path: Path):
    dataset = tmp_path / "data" / tiny_dataset.name  # a folder with no ground-truth cache yet
    dataset.parent.mkdir()
    shutil.copy(tiny_dataset, dataset)
    job = make_job("plugins.bruteforce.module", "BruteForce", dataset, tmp_path / "res")
    labels = {reaper.LABEL: "me"}
    folder = tmp_path / "job"
    args = sandbox.container_arguments(job, folder, MEMORY, "1", labels, "abc123")
    hardened(args)
    assert args["image"] == job.definition.docker_image and args["labels"] == labels
    assert (args["cpuset_cpus"], args["mem_limit"], args["memswap_limit"]) == ("1", MEMORY, MEMORY)
    writable = [host for host, mount in args["volumes"].items() if mount["mode"] != "ro"]
    assert writable == [str(folder.resolve())]  # only the job's own folder
    assert args["volumes"][str(dataset.resolve())]["bind"] == f"/data/{dataset.name}"
    assert str(PROJECT_ROOT) not in args["volumes"]  # the image carries its code
    assert len(args["volumes"]) == 2  # no ground truth cache yet: nothing more
    assert args["command"][-1].endswith(f"/status.json {MEMORY}")
    environment = args["environment"]
    assert environment["OMP_NUM_THREADS"] == "1" and environment["TMPDIR"].startswith("/job")
    assert environment["FORGET_BENCHMARKS_REVISION"] == "abc123"
    inner = sandbox.container_job(job)
    assert inner.dataset_path == f"/data/{dataset.name}"
    assert inner.result_path([]).is_relative_to("/job")
    assert job.results_dir == str(tmp_path / "res")  # the host's job is unchanged


def test_a_batch_job_gets_every_cpu_it_is_given_as_threads(tiny_dataset: Path, tmp_path: Path):
    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path / "res")
    job.batch = True
    args = sandbox.container_arguments(job, tmp_path / "job", MEMORY, "0,1", {}, "")
    assert args["cpuset_cpus"] == "0,1" and args["environment"]["OMP_NUM_THREADS"] == "2"
    job.batch = False
    args = sandbox.container_arguments(job, tmp_path / "job", MEMORY, "1", {}, "")
    assert args["environment"]["OMP_NUM_THREADS"] == "1"


def test_the_ground_truth_cache_is_mounted_read_only(tiny_dataset: Path, tmp_path: Path):
    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path / "res")
    cache = tiny_dataset.parent / "groundtruth" / job.dataset
    cache.mkdir(parents=True, exist_ok=True)
    args = sandbox.container_arguments(job, tmp_path / "job", MEMORY, "0", {}, "")
    assert args["volumes"][str(cache.resolve())] == {
        "bind": f"/data/groundtruth/{job.dataset}",
        "mode": "ro",
    }


def job_folder(job, tmp_path: Path) -> Path:
    folder = tmp_path / "private"
    folder.mkdir()
    return sandbox.make_job_folder(folder, job)


def test_only_the_jobs_own_regular_result_files_come_back(tiny_dataset: Path, tmp_path: Path):
    results = tmp_path / "results"
    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, results)
    job.query_groups = [{"ef": 10}, {"ef": 20}]
    inner = job_folder(job, tmp_path)
    inside = sandbox.container_job(job)
    own = inside.result_path({"ef": 10}).relative_to(inside.results_dir)
    other = own.parent.parent.parent / "victim" / own.parent.name / own.name
    secret = tmp_path / "secret"
    secret.write_text("the host's")
    planted = {
        own: b"own",
        own.with_name(own.stem + "__state=compacted.hdf5"): b"own, second state",
        own.with_name(own.name + ".partial-7"): b"partial",
        own.with_name(own.stem + "0.hdf5"): b"the name of no run of this job",
        other: b"another algorithm's",
        Path("elsewhere.hdf5"): b"outside the run folder",
    }
    for relative, content in planted.items():
        path = inner / "results" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    link = inner / "results" / inside.result_path({"ef": 20}).relative_to(inside.results_dir)
    link.symlink_to(secret)  # a link to the host's file, named as a run of the job
    victim = results / other
    write_result(victim, {"status": "ok"})
    before = victim.read_bytes()

    assert sandbox.harvest(job, inner) is None  # no status file
    copied = sorted(p.relative_to(results) for p in results.rglob("*") if p.is_file())
    assert copied == sorted([own, own.with_name(own.stem + "__state=compacted.hdf5"), other])
    assert (results / own).read_bytes() == b"own"
    assert victim.read_bytes() == before
    assert not (results / link.relative_to(inner / "results")).exists()
    assert all(p.stat().st_uid == os.getuid() for p in results.rglob("*"))


@pytest.mark.parametrize(
    ("content", "valid"),
    [
        ('{"cause": "exception", "detail": "Traceback ..."}', True),
        ('{"cause": "memory", "detail": "MemoryError"}', True),
        ('{"cause": "ok", "detail": "a plugin claiming success"}', False),
        ('{"cause": "exception"}', False),
        ("[1, 2]", False),
        ("not json", False),
        ('{"cause": "exception", "detail": "' + "x" * sandbox.STATUS_LIMIT + '"}', False),
        ("link", False),
    ],
)
def test_a_forged_status_file_is_not_believed(content, valid, tiny_dataset, tmp_path):
    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path / "r")
    inner = job_folder(job, tmp_path)
    if content == "link":
        (tmp_path / "host.json").write_text('{"cause": "exception", "detail": "host file"}')
        (inner / "status.json").symlink_to(tmp_path / "host.json")
    else:
        (inner / "status.json").write_text(content)
    status = sandbox.harvest(job, inner)
    assert (status is not None) == valid
    if valid:
        assert status.parent == inner.parent  # out of the container's reach


def test_an_unreadable_dataset_is_refused_with_the_fix(tmp_path: Path):
    path = tmp_path / "private.hdf5"
    path.write_bytes(b"")
    path.chmod(0o600)
    with pytest.raises(PermissionError, match=r"chmod o\+r .*private.hdf5"):
        sandbox.check_readable(path)
    path.chmod(0o644)
    sandbox.check_readable(path)


def test_a_runner_identity_names_one_process_only():
    me = reaper.Identity.current()
    assert reaper.Identity.parse(str(me)) == me and me.alive() is True
    assert reaper.Identity.parse("garbage") is None and reaper.Identity.parse("1-2") is None
    reused = reaper.Identity(me.host, me.pid, "1.00")  # the same pid, started at another time
    assert reused.alive() is False
    assert reaper.Identity(me.host, 2**22 + 7, me.started).alive() is False
    assert reaper.Identity(f"not-{socket.gethostname()}", 1, "1.00").alive() is None


def test_a_folder_we_may_not_delete_is_emptied_by_the_cleaner_first(tmp_path, monkeypatch):
    folder = tmp_path / "job-x"
    (folder / "inner").mkdir(parents=True)
    real_rmtree, refused, cleaned = reaper.shutil.rmtree, [], []

    def rmtree(path, *args, **kwargs):
        if not refused:  # what a runner that is not root meets first
            refused.append(path)
            raise PermissionError(13, "Permission denied", str(path))
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(reaper.shutil, "rmtree", rmtree)
    reaper.remove_tree(folder, cleaned.append)
    assert refused == cleaned == [folder] and not folder.exists()
    reaper.remove_tree(folder, cleaned.append)  # gone already: nothing to do


class FakeContainer:
    """Stands in for a container: ends as told, records whether it was removed."""

    def __init__(self, ends: int | None, oom: bool = False) -> None:
        self.ends, self.removed, self.killed = ends, False, False
        self.attrs = {"State": {"OOMKilled": oom}}

    def wait(self, timeout: float) -> dict[str, int]:
        if self.ends is None:
            time.sleep(timeout)
            raise TimeoutError("read timed out")
        return {"StatusCode": self.ends}

    def kill(self) -> None:
        self.killed = True

    def reload(self) -> None:
        pass

    def logs(self, stdout: bool, stderr: bool) -> bytes:
        return b"worker output\n"

    def remove(self, force: bool) -> None:
        self.removed = force


class FakeClient:
    def __init__(self, container: FakeContainer) -> None:
        self.container = container
        self.containers = self
        self.arguments: dict = {}

    def run(self, **arguments) -> FakeContainer:
        self.arguments = arguments
        return self.container


@pytest.mark.parametrize(
    ("container", "cause", "detail"),
    [
        (FakeContainer(None), "timeout", "timeout"),
        (FakeContainer(128 + 11), "signal", "SIGSEGV"),
        (FakeContainer(137, oom=True), "memory", "OOMKilled"),
        (FakeContainer(3), "exit", "code 3"),
        (FakeContainer(0), "exit", "without writing every result"),
    ],
)
def test_a_container_failure_is_recorded_and_removed(
    container: FakeContainer, cause: str, detail: str, tiny_dataset: Path, tmp_path: Path
):
    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path)
    client = FakeClient(container)
    identity = reaper.Identity.current()
    outcome = runner.Runner(client, 1, identity).run_job(
        job, "euclidean", Limits(2.0, MEMORY), Session()
    )
    assert (outcome.status, outcome.cause) == ("failed", cause)
    assert container.removed and container.killed == (cause == "timeout")
    hardened(client.arguments)
    assert client.arguments["labels"] == {reaper.LABEL: str(identity)}
    with h5py.File(failure_path(job.result_path([])), "r") as f:
        assert f.attrs["failure_cause"] == cause
        assert detail in f.attrs["failure_detail"]
        assert "worker output" in f.attrs["failure_detail"]  # the container's log
    assert not list((tmp_path / reaper.SCRATCH).glob("*/*")), "the job's folder was left behind"


def test_a_stale_image_is_refused_with_the_command_that_rebuilds_it(tiny_dataset: Path):
    class Images:
        def get(self, name):
            return type("Image", (), {"labels": {images.SOURCE_LABEL: "old code"}})()

    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, Path("r"))
    client = type("Client", (), {"images": Images()})()
    with pytest.raises(runner.DockerError, match=re.escape("python install.py --algorithm")):
        runner.check_images(client, [job])
