"""The docker runner on a real engine: the same results as the local runner, faults recorded
with their causes, ground truth from the host, no container outliving its runner, and
image builds that reuse their layers and leave nothing behind when they fail.

Without an engine or the images these tests skip, saying why (tests/support/containers.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import docker
from harness import cli
from harness.core.environment import PROJECT_ROOT, git_revision
from harness.core.results import load_results, read_result
from harness.protocols import PROTOCOLS
from harness.runner import docker as runner
from harness.runner import images, reaper, sandbox
from harness.runner.images import BASE_IMAGE
from harness.runner.scheduling import Limits
from tests.support import jobs
from tests.support.containers import docker_client, in_image, probe_image, require_images

GiB = 2**30
SUITE_IMAGES = [
    "forget-benchmarks-bruteforce",
    "forget-benchmarks-hnswlib",
    "forget-benchmarks-hnsw",
]


@pytest.fixture(scope="module")
def client():
    engine = docker_client()
    require_images(engine, BASE_IMAGE)
    return engine


def suite(executor: str, root: Path, data: Path, *options: str) -> int:
    return cli.main(
        [
            *("--dataset", "random-xs-20-angular", "--runs", "1"),
            *("--executor", executor, "--results", str(root / executor)),
            *("--data-dir", str(data), "--outputdir", str(root / f"site-{executor}")),
            *options,
        ]
    )


@pytest.mark.timeout(900)
def test_the_default_suite_gives_the_local_recall_per_run(client, tmp_path: Path, data_dir: Path):
    """`run.py` without --algorithm (the default algorithms and run groups) on
    random-xs-20-angular, under both executors: every run, the same recall."""
    require_images(client, *SUITE_IMAGES)
    assert suite("docker", tmp_path, data_dir) == 0
    assert suite("local", tmp_path, data_dir) == 0
    key = ["algorithm", "build_args", "query_args"]
    ours = load_results(tmp_path / "docker").set_index(key).sort_index()
    theirs = load_results(tmp_path / "local").set_index(key).sort_index()
    assert len(ours) >= 17 and list(ours.index) == list(theirs.index)
    assert set(ours["status"]) == {"ok"}
    assert ours["recall"].tolist() == theirs["recall"].tolist()
    assert {a for a, _, _ in ours.index} == {"bruteforce", "hnsw", "hnswlib"}
    one = read_result(ours["path"].iloc[0])
    assert one["environment"]["python"].startswith("3.11")  # measured inside the image
    assert one["environment"]["git_revision"] == git_revision()
    assert Path(ours["path"].iloc[0]).stat().st_uid == Path(tmp_path).stat().st_uid


FAULTS = {
    "Segfault": ("signal", "SIGSEGV"),
    "Exit": ("exit", "code 1"),
    "Sleep": ("timeout", "timeout"),
    "Allocate": ("memory", ""),
    "AllocateShared": ("memory", "OOMKilled"),
    "Raise": ("exception", "planted failure in fit"),
    "KilledWhileWriting": ("signal", "SIGKILL"),
    "BruteForce": ("", ""),
}


@pytest.mark.timeout(300)
def test_each_fault_in_a_container_is_recorded_with_its_cause(
    client, tiny_dataset: Path, tmp_path: Path
):
    image = probe_image(client)
    todo = [
        in_image(jobs.make_job("tests.support.fault_plugins", name, tiny_dataset, tmp_path), image)
        for name in FAULTS
    ]
    outcomes = runner.run_docker(todo, "euclidean", Limits(20, GiB), parallelism=2)
    found = {o.job.definition.constructor: (o.cause, o.detail) for o in outcomes}
    for name, (cause, detail) in FAULTS.items():
        assert found[name][0] == cause, f"{name}: {found[name]}"
        assert detail in found[name][1], f"{name}: {found[name][1]}"
    assert "MemoryError" in found["Allocate"][1] or "OOMKilled" in found["Allocate"][1]
    assert read_result(todo[-1].result_path([]))["measures"]["recall"] == 1.0
    assert not [p for p in tmp_path.rglob("*") if ".partial-" in p.name]
    assert not containers_of(client, os.getpid())


@pytest.mark.parametrize("protocol", ["deletion", "churn", "erasure"])
def test_ground_truth_comes_from_the_host_and_is_read_only(
    client, protocol: str, xs_angular: Path, tmp_path: Path, monkeypatch
):
    require_images(client, "forget-benchmarks-bruteforce")
    options = ["--algorithm", "bruteforce", "--protocol", protocol, "--delete-count", "200"]
    data = xs_angular.parent
    assert suite("docker", tmp_path, data, *options) == 0
    assert suite("local", tmp_path, data, *options) == 0
    ours, theirs = load_results(tmp_path / "docker"), load_results(tmp_path / "local")
    assert set(ours["status"]) == {"ok"} and ours["recall"].tolist() == theirs["recall"].tolist()
    # without the host's computation, the container cannot write the cache: it fails
    for cached in (data / "groundtruth").rglob("*.npz"):
        cached.unlink()
    unprepared = dataclasses.replace(PROTOCOLS[protocol], prepare=lambda job, dataset: None)
    monkeypatch.setitem(PROTOCOLS, protocol, unprepared)
    suite("docker", tmp_path / "again", data, *options, "--force")
    failed = load_results(tmp_path / "again" / "docker")
    assert set(failed["status"]) == {"failed"}
    detail = read_result(failed["path"].iloc[0])["attrs"]["failure_detail"]
    assert "Read-only file system" in detail


RUNNER = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from harness.runner import docker
from harness.runner.scheduling import Limits
from tests.support import jobs
from tests.support.containers import PROBE_IMAGE, in_image
job = jobs.make_job("tests.support.fault_plugins", "Sleep", Path(sys.argv[1]), Path(sys.argv[2]))
docker.run_docker([in_image(job, PROBE_IMAGE)], "euclidean", Limits(600, 2**30))
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_runner_leaves_no_container(
    client, stop: signal.Signals, tiny_dataset: Path, tmp_path: Path
):
    probe_image(client)
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(tiny_dataset), str(tmp_path)], cwd=PROJECT_ROOT
    )
    deadline = time.monotonic() + 60
    while not (mine := containers_of(client, process.pid)):
        assert process.poll() is None and time.monotonic() < deadline, "no container started"
        time.sleep(0.2)
    time.sleep(1)
    process.send_signal(stop)
    process.wait(30)
    deadline = time.monotonic() + 30
    while containers_of(client, process.pid):
        assert time.monotonic() < deadline, f"{mine} outlived the runner by 30 s"
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while (tmp_path / reaper.SCRATCH).exists():
        assert time.monotonic() < deadline, "the runner's job folders were left behind"
        time.sleep(0.2)
    assert list(tmp_path.rglob("*.hdf5")) == [], "a killed run is not a plugin failure"


def containers_of(client, pid: int) -> list[str]:
    found = client.containers.list(all=True, filters={"label": reaper.LABEL})
    return [c.name for c in found if c.labels[reaper.LABEL].startswith(f"{pid}-")]


def test_a_starting_runner_removes_what_dead_runners_left(client, tmp_path: Path):
    me = reaper.Identity.current()
    owners = {
        "dead": reaper.Identity(me.host, me.pid, "1.00"),  # this pid, long ago
        "alive": me,
        "elsewhere": reaper.Identity("another-host", 1, "1.00"),
    }
    started = {
        name: client.containers.run(
            BASE_IMAGE, ["sleep", "300"], labels={reaper.LABEL: str(owner)}, detach=True,
            network_mode="none",
        )
        for name, owner in owners.items()
    }  # fmt: skip
    root = tmp_path / reaper.SCRATCH
    for owner in owners.values():
        (root / str(owner) / "job-x").mkdir(parents=True)
    try:
        reaper.sweep(client, [root], reaper.cleaner(client, BASE_IMAGE))
        left = {c.id for c in client.containers.list(all=True, filters={"label": reaper.LABEL})}
        assert {n for n, c in started.items() if c.id in left} == {"alive", "elsewhere"}
        assert sorted(p.name for p in root.iterdir()) == sorted(
            [str(owners["alive"]), str(owners["elsewhere"])]
        )
    finally:
        for container in started.values():
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


def install(*arguments: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "install.py", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.timeout(600)
def test_the_cleaner_empties_what_the_sandbox_user_locked(client, tmp_path: Path):
    """What a runner that is not root could not delete (a folder the container's user made
    0500), a throwaway container empties."""
    folder = tmp_path / "job-x"
    (folder / "locked").mkdir(parents=True)
    (folder / "locked" / "file").write_text("made in the container")
    for path in (folder / "locked", folder / "locked" / "file"):
        os.chown(path, sandbox.SANDBOX_UID, sandbox.SANDBOX_UID)
    (folder / "locked").chmod(0o500)
    reaper.cleaner(client, BASE_IMAGE)(folder)
    assert folder.is_dir() and not any(folder.iterdir())


def test_an_unchanged_image_is_not_built_again(client):
    require_images(client, "forget-benchmarks-bruteforce")
    base = client.images.get(BASE_IMAGE).labels[images.PYTHON_IMAGE_LABEL]
    install("--algorithm", "bruteforce", "--base-image", base)  # up to date with this checkout
    before = client.images.get("forget-benchmarks-bruteforce").id
    done = install("--algorithm", "bruteforce", "--base-image", base)
    lines = done.stdout.splitlines()
    work = [i for i, line in enumerate(lines) if re.search(r"Step \d+/\d+ : (RUN|COPY)", line)]
    assert work, done.stdout
    assert all(lines[i + 1].strip() == "(cached)" for i in work), done.stdout
    assert "up to date" in done.stdout  # the wheelhouse was not fetched again
    assert client.images.get("forget-benchmarks-bruteforce").id == before


def test_a_failed_build_leaves_no_container(client, tmp_path: Path):
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nRUN echo doomed && exit 3\n")
    before = {c.id for c in client.containers.list(all=True)}
    with pytest.raises(images.BuildError, match="doomed") as failure:
        images.build(client, tmp_path / "Dockerfile", "forget-benchmarks-doomed", root=tmp_path)
    assert "returned a non-zero code: 3" in str(failure.value)
    assert {c.id for c in client.containers.list(all=True)} == before


def test_a_build_has_no_network(client, tmp_path: Path):
    probe = "import socket; socket.create_connection(('deb.debian.org', 80), timeout=5)"
    (tmp_path / "Dockerfile").write_text(f'FROM {BASE_IMAGE}\nRUN python -c "{probe}"\n')
    with pytest.raises(images.BuildError, match=r"gaierror|unreachable|resolution"):
        images.build(client, tmp_path / "Dockerfile", "forget-benchmarks-online", root=tmp_path)


@pytest.mark.timeout(600)
def test_svs_leanvec_exiting_on_this_cpu_is_a_failed_run(client, xs_angular: Path, tmp_path):
    """SVS's LeanVec exits the process on non-Intel CPUs: a recorded failure, not a crash."""
    if "GenuineIntel" in Path("/proc/cpuinfo").read_text():
        pytest.skip("LeanVec runs on Intel CPUs: nothing to survive here")
    require_images(client, "forget-benchmarks-svs")
    options = ["--algorithm", "svs-leanvec", "--algorithm", "bruteforce"]
    require_images(client, "forget-benchmarks-bruteforce")
    assert suite("docker", tmp_path, xs_angular.parent, *options) == 0
    found = load_results(tmp_path / "docker")
    assert set(found[found.algorithm == "bruteforce"]["status"]) == {"ok"}
    leanvec = found[found.algorithm == "svs-leanvec"]
    assert len(leanvec) and set(leanvec["status"]) == {"failed"}
    attrs = read_result(leanvec["path"].iloc[0])["attrs"]
    assert attrs["failure_cause"] in ("exit", "signal")
    assert "worker log" in attrs["failure_detail"]
