"""The images and the docker runner, checked without an engine.

Every plugin folder (also ones added later) has a Dockerfile that builds on the base image
with the network off: it installs from its wheelhouse folder the packages its code imports
(each pinned in requirements.txt) and ends with the plugin's conformance check; the base
installs exactly the harness's dependencies. The container arguments are a pure function
checked here; what comes out of a container (links, other runs' names, forged status files)
is filtered; the runner's handling of a container's end is driven with a stand-in client.
The tests on a real engine are in test_docker_engine.py and test_sandbox.py.
"""

from __future__ import annotations

import ast
import os
import re
import socket
import sys
import tarfile
import time
from importlib.metadata import packages_distributions
from pathlib import Path

import h5py
import pytest
from dockerfile_parse import DockerfileParser

from harness.environment import PROJECT_ROOT
from harness.results import write_result
from harness.runner import docker as runner
from harness.runner import images, reaper, sandbox, wheelhouse
from tests.jobs import make_job

PLUGINS = sorted(p.parent.name for p in (PROJECT_ROOT / "plugins").glob("*/module.py"))
PROJECT_PACKAGES = {"plugins", "algorithms", "harness", "tests"}
INSTRUCTIONS = {
    "FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "LABEL", "USER", "CMD",
    "ENTRYPOINT", "EXPOSE", "VOLUME", "SHELL", "HEALTHCHECK", "STOPSIGNAL", "ONBUILD",
}  # fmt: skip
NETWORK_COMMANDS = ("apt-get", "apt ", "curl", "wget", "git clone")
MEMORY = 2**30
DISTRIBUTIONS = packages_distributions()  # import name -> distributions (slow: once)


def imports(path: Path) -> set[str]:
    """Absolute module names a file imports anywhere (lazy imports included), except those
    guarded by `except ImportError` (optional sources)."""
    tree = ast.parse(path.read_text(), str(path))
    optional = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            optional.update(id(n) for statement in node.body for n in ast.walk(statement))
    names = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        isinstance(k, ast.Name) and k.id in ("ImportError", "ModuleNotFoundError") for k in kinds
    )


def module_file(name: str) -> Path | None:
    """The project file of a module name, if it is one."""
    base = PROJECT_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def third_party(files: list[Path]) -> set[str]:
    """Distributions imported by these files and the project modules they import."""
    seen, todo, found = set(), list(files), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports(path):
            top = name.partition(".")[0]
            if top in PROJECT_PACKAGES:
                if (file := module_file(name)) is not None:
                    todo.append(file)
            elif top not in sys.stdlib_module_names and top != "__future__":
                found.update(wheelhouse.normalise(d) for d in DISTRIBUTIONS.get(top, [top]))
    return found


#: What runs inside an image: the worker, and the conformance check of the plugin images.
IN_IMAGE = [
    PROJECT_ROOT / "harness" / "runner" / "worker.py",
    PROJECT_ROOT / "tests" / "check_plugin.py",
    PROJECT_ROOT / "tests" / "test_conformance.py",
    PROJECT_ROOT / "tests" / "conftest.py",
]
#: What the base image must provide, and nothing more.
CORE = third_party(IN_IMAGE)


def parse(path: Path) -> list[dict]:
    assert path.is_file(), f"{path.parent.name}: no Dockerfile; add one (see docs/cluster.md)"
    parsed = DockerfileParser(path=str(path)).structure
    structure = [i for i in parsed if i["instruction"] != "COMMENT"]
    unknown = [i["instruction"] for i in structure if i["instruction"] not in INSTRUCTIONS]
    assert structure and not unknown, f"{path}: does not parse (unknown {unknown})"
    return structure


def check_offline(path: Path, structure: list[dict]) -> None:
    """Nothing in the Dockerfile needs the network: pip only from the wheelhouse."""
    for instruction in structure:
        value = instruction["value"]
        if instruction["instruction"] == "RUN":
            assert not any(c in value for c in NETWORK_COMMANDS), f"{path}: {value} needs a network"
            if "pip install" in value:
                assert "--no-index" in value, f"{path}: pip install without --no-index"
        assert instruction["instruction"] != "ADD" or "://" not in value, f"{path}: ADD of a URL"


def test_every_plugin_folder_is_checked():
    assert {"bruteforce", "hnswlib", "faiss"} <= set(PLUGINS)


def test_the_base_holds_the_harness_dependencies_only():
    assert {"numpy", "h5py", "faiss-cpu", "pytest"} <= CORE
    assert not CORE & {"hnswlib", "annoy", "scann", "scalable-vs", "ray", "docker", "selenium"}
    path = PROJECT_ROOT / "Dockerfile"
    structure = parse(path)
    check_offline(path, structure)
    assert structure[0] == {**structure[0], "instruction": "ARG"}
    assert structure[0]["value"] == f"PYTHON_IMAGE={images.PYTHON_IMAGE}"
    froms = [i["value"].split()[0] for i in structure if i["instruction"] == "FROM"]
    assert froms and set(froms) == {"${PYTHON_IMAGE}"}
    installed = {wheelhouse.normalise(n) for n in wheelhouse.pip_installed(path)}
    assert installed == CORE, f"the base installs {installed ^ CORE} too many or missing"
    assert set(installed) <= set(wheelhouse.pins()), "a base package is not pinned"
    copied = images.copied_sources(path)
    tests = [str(p.relative_to(PROJECT_ROOT)) for p in IN_IMAGE if p.parent.name == "tests"]
    for needed in ("wheelhouse/base", "wheelhouse/project", "algos.yaml", *tests):
        assert needed in copied, f"the base Dockerfile does not COPY {needed}"
    assert "import harness.runner.worker" in structure[-1]["value"]


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_dockerfile(plugin: str):
    folder = PROJECT_ROOT / "plugins" / plugin
    path = folder / "Dockerfile"
    structure = parse(path)
    check_offline(path, structure)
    first = next(i for i in structure if i["instruction"] != "ARG")
    assert (first["instruction"], first["value"]) == ("FROM", images.BASE_IMAGE), (
        f"plugins/{plugin}/Dockerfile must start with FROM {images.BASE_IMAGE}"
    )
    installed = {wheelhouse.normalise(n) for n in wheelhouse.pip_installed(path)}
    needed = third_party(sorted(folder.glob("*.py"))) - CORE
    missing = sorted(needed - installed)
    assert not missing, f"plugins/{plugin}/Dockerfile does not pip install {missing}"
    unpinned = sorted(installed - set(wheelhouse.pins()))
    assert not unpinned, f"plugins/{plugin}/Dockerfile installs {unpinned}, unpinned"
    if installed:
        assert f"wheelhouse/{plugin}" in images.copied_sources(path)
    last = structure[-1]
    assert (last["instruction"], last["value"]) == ("RUN", f"python tests/check_plugin.py {plugin}")


def test_the_test_image_adds_the_probes_only():
    path = PROJECT_ROOT / "tests" / "probe.Dockerfile"
    structure = parse(path)
    check_offline(path, structure)
    assert structure[0]["value"] == images.BASE_IMAGE
    assert images.copied_sources(path) == ["tests/fault_plugins.py", "tests/sandbox_probe.py"]


def test_the_check_selects_exactly_the_plugin_folders_algorithms():
    from tests import check_plugin

    for folder, expected in [
        ("hnsw", {"hnsw"}),
        ("hnswlib", {"hnswlib"}),
        ("faiss", {"faiss-flat", "faiss-hnsw", "faiss-ivf", "faiss-ivfpq", "faiss-ivfpqfs"}),
    ]:
        terms = check_plugin.selection(folder).split(" or ")
        names = {t.strip("[]").split("-", 1)[1] for t in terms}
        assert expected <= names and not names - expected - {"faiss-lsh"}, (folder, names)
    with pytest.raises(SystemExit, match="no algorithm"):
        check_plugin.selection("nonexistent")


def test_the_wheelhouse_reads_what_a_dockerfile_installs(tmp_path: Path):
    path = tmp_path / "Dockerfile"
    path.write_text(
        "FROM forget-benchmarks-base\n"
        "RUN pip install --no-index --find-links /wheels hnswlib annoy==1.17.3 && rm -rf x\n"
        "RUN /opt/venv/bin/pip install -c /c.txt --no-deps /wheels/*.whl scann; echo pip\n"
        "RUN python -m pip --version\n"
    )
    assert wheelhouse.pip_installed(path) == ["hnswlib", "annoy", "scann"]


def test_an_unpinned_package_is_refused_before_any_download(tmp_path: Path):
    with pytest.raises(wheelhouse.WheelhouseError, match=r"not-a-package.*requirements\.txt"):
        wheelhouse.fill(tmp_path / "x", ["numpy", "not-a-package"])
    assert not (tmp_path / "x").exists()


def test_a_build_context_holds_only_what_the_dockerfile_copies(tmp_path: Path):
    (tmp_path / "tests" / "__pycache__").mkdir(parents=True)
    (tmp_path / "tests" / "a.py").write_text("x = 1\n")
    (tmp_path / "tests" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "secret.txt").write_text("not for the engine")
    (tmp_path / "Dockerfile").write_text("FROM x\nCOPY tests tests\nCOPY --from=y /a /b\n")
    first = images.build_context(tmp_path / "Dockerfile", tmp_path).getvalue()
    os.utime(tmp_path / "tests" / "a.py", (1, 1))  # a touched file: the same context
    second = images.build_context(tmp_path / "Dockerfile", tmp_path).getvalue()
    assert first == second
    with tarfile.open(fileobj=images.build_context(tmp_path / "Dockerfile", tmp_path)) as tar:
        names = tar.getnames()
    assert sorted(names) == ["Dockerfile", "tests", "tests/a.py"]
    (tmp_path / "Dockerfile").write_text("FROM x\nCOPY wheelhouse/nothing /w\n")
    with pytest.raises(images.BuildError, match=r"install\.py"):
        images.build_context(tmp_path / "Dockerfile", tmp_path)


def test_the_source_digest_follows_the_code_not_the_tests(tmp_path: Path):
    for name in ("harness/a.py", "algorithms/b.pyx", "tests/c.py", "setup.py", "pyproject.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    digest = images.source_digest(tmp_path)
    (tmp_path / "tests" / "c.py").write_text("changed")
    (tmp_path / "harness" / "a.cpython-311-x86_64-linux-gnu.so").write_bytes(b"built")
    assert images.source_digest(tmp_path) == digest
    (tmp_path / "algorithms" / "b.pyx").write_text("changed")
    assert images.source_digest(tmp_path) != digest


def hardened(args: dict) -> None:
    """The sandbox every container gets, whatever the job."""
    assert args["user"] == f"{sandbox.SANDBOX_UID}:{sandbox.SANDBOX_UID}"
    assert args["cap_drop"] == ["ALL"] and "no-new-privileges:true" in args["security_opt"]
    assert args["pids_limit"] == sandbox.PIDS_LIMIT and args["read_only"] is True
    assert args["network_mode"] == "none" and "privileged" not in args
    assert set(args["tmpfs"]) == {"/tmp"} and "size=" in args["tmpfs"]["/tmp"]


def test_container_arguments(tiny_dataset: Path, tmp_path: Path):
    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path / "res")
    labels = {reaper.LABEL: "me"}
    folder = tmp_path / "job"
    args = sandbox.container_arguments(job, folder, MEMORY, "1", labels, "abc123")
    hardened(args)
    assert args["image"] == job.definition.docker_image and args["labels"] == labels
    assert (args["cpuset_cpus"], args["mem_limit"], args["memswap_limit"]) == ("1", MEMORY, MEMORY)
    writable = [host for host, mount in args["volumes"].items() if mount["mode"] != "ro"]
    assert writable == [str(folder.resolve())]  # only the job's own folder
    assert args["volumes"][str(tiny_dataset.resolve())]["bind"] == f"/data/{tiny_dataset.name}"
    assert str(PROJECT_ROOT) not in args["volumes"]  # the image carries its code
    assert len(args["volumes"]) == 2  # no ground truth cache yet: nothing more
    assert args["command"][-1].endswith(f"/status.json {MEMORY}")
    environment = args["environment"]
    assert environment["OMP_NUM_THREADS"] == "1" and environment["TMPDIR"].startswith("/job")
    assert environment["FORGET_BENCHMARKS_REVISION"] == "abc123"
    inner = sandbox.container_job(job)
    assert inner.dataset_path == f"/data/{tiny_dataset.name}"
    assert inner.result_path([]).is_relative_to("/job")
    assert job.results_dir == str(tmp_path / "res")  # the host's job is unchanged


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
    outcome = runner.Runner(client, 1, identity).run_job(job, "euclidean", 2.0, MEMORY)
    assert (outcome.status, outcome.cause) == ("failed", cause)
    assert container.removed and container.killed == (cause == "timeout")
    hardened(client.arguments)
    assert client.arguments["labels"] == {reaper.LABEL: str(identity)}
    with h5py.File(job.result_path([]), "r") as f:
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
