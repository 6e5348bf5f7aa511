"""The images and the docker runner.

Static checks always run: every plugin folder (also ones added later) has a Dockerfile that
parses, builds on the base image, pip-installs the packages its code imports (pinned as in
requirements.txt) and ends with an import check; the container arguments are composed by a
pure function; the runner's handling of a container's end is driven with a stand-in client.
Tests that need a Docker engine skip with the reason when none answers.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import h5py
import numpy as np
import pytest
from dockerfile_parse import DockerfileParser

from harness.core.environment import PROJECT_ROOT
from harness.core.results import failure_path, read_result
from harness.runner import docker as runner
from harness.runner import local
from harness.runner.scheduling import Limits, Session
from tests.support.jobs import make_job

PLUGINS = sorted(p.parent.name for p in (PROJECT_ROOT / "plugins").glob("*/module.py"))
PROJECT_PACKAGES = {"plugins", "algorithms", "harness", "tests"}
INSTRUCTIONS = {
    "FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "LABEL", "USER", "CMD",
    "ENTRYPOINT", "EXPOSE", "VOLUME", "SHELL", "HEALTHCHECK", "STOPSIGNAL", "ONBUILD",
}  # fmt: skip
MEMORY = 2**30
DISTRIBUTIONS = packages_distributions()  # import name -> distributions (slow: once)


def imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in a file (lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


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
                found.update(DISTRIBUTIONS.get(top, [top]))
    return found


def pins() -> dict[str, str]:
    """requirements.txt: normalised distribution name -> pinned version."""
    out = {}
    for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            out[normalise(name)] = version.strip()
    return out


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_installed(structure: list[dict]) -> dict[str, str]:
    """Every `name==version` of a `pip install` in the RUN instructions."""
    out = {}
    for instruction in structure:
        if instruction["instruction"] == "RUN" and "pip install" in instruction["value"]:
            for name, version in re.findall(r"([A-Za-z0-9_.-]+)==([^\s&;]+)", instruction["value"]):
                out[normalise(name)] = version
    return out


#: What the base image provides: the harness's own imports (it installs requirements.txt).
CORE = {normalise(d) for d in third_party(sorted((PROJECT_ROOT / "harness").rglob("*.py")))}


def parse(path: Path) -> list[dict]:
    assert path.is_file(), f"{path.parent.name}: no Dockerfile; add one (see docs/cluster.md)"
    parsed = DockerfileParser(path=str(path)).structure
    structure = [i for i in parsed if i["instruction"] != "COMMENT"]
    unknown = [i["instruction"] for i in structure if i["instruction"] not in INSTRUCTIONS]
    assert structure and not unknown, f"{path}: does not parse (unknown {unknown})"
    return structure


def test_every_plugin_folder_is_checked():
    assert {"bruteforce", "hnswlib", "faiss"} <= set(PLUGINS)


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_dockerfile(plugin: str):
    folder = PROJECT_ROOT / "plugins" / plugin
    structure = parse(folder / "Dockerfile")
    first = next(i for i in structure if i["instruction"] != "ARG")
    assert (first["instruction"], first["value"]) == ("FROM", runner.BASE_IMAGE), (
        f"plugins/{plugin}/Dockerfile must start with FROM {runner.BASE_IMAGE}"
    )
    installed, pinned = pip_installed(structure), pins()
    needed = {normalise(d) for d in third_party(sorted(folder.glob("*.py")))} - CORE
    missing = sorted(needed - set(installed))
    assert not missing, f"plugins/{plugin}/Dockerfile does not pip install {missing}"
    drift = {n: v for n, v in installed.items() if n in pinned and pinned[n] != v}
    assert not drift, f"plugins/{plugin}/Dockerfile pins {drift}, requirements.txt other versions"
    last = structure[-1]
    assert last["instruction"] == "RUN" and f"import plugins.{plugin}.module" in last["value"], (
        f'plugins/{plugin}/Dockerfile must end with RUN python -c "import plugins.{plugin}.module"'
    )


def test_base_dockerfile():
    structure = parse(PROJECT_ROOT / "Dockerfile")
    assert structure[0]["value"].startswith("python:3.11")
    values = [i["value"] for i in structure]
    assert any("pip install" in v and "requirements.txt" in v for v in values)
    copied = " ".join(i["value"] for i in structure if i["instruction"] == "COPY")
    for needed in ("requirements.txt", "setup.py", "algorithms", "harness", "plugins"):
        assert needed in copied, f"the base Dockerfile does not COPY {needed}"
    assert "import harness.runner.worker" in values[-1]


def test_container_arguments(tiny_dataset: Path, tmp_path: Path):
    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path / "res")
    job.definition = job.definition.__class__(
        **{**job.definition.__dict__, "docker_image": "forget-benchmarks-bruteforce"}
    )
    args = runner.container_arguments(job, tmp_path / "scratch", MEMORY, "1", 1000, 1001)
    assert args["image"] == "forget-benchmarks-bruteforce"
    assert args["network_disabled"] is True
    assert args["user"] == "1000:1001"
    assert (args["cpuset_cpus"], args["mem_limit"], args["memswap_limit"]) == ("1", MEMORY, MEMORY)
    volumes = args["volumes"]
    assert volumes[str(PROJECT_ROOT)] == {"bind": runner.CODE, "mode": "ro"}
    assert volumes[str(tiny_dataset.parent)] == {"bind": runner.DATA, "mode": "ro"}
    assert volumes[str((tmp_path / "res").resolve())]["mode"] == "rw"
    assert args["command"][-1] == str(MEMORY)
    assert args["environment"]["OMP_NUM_THREADS"] == "1"
    inner = runner.container_job(job)
    assert inner.dataset_path == f"{runner.DATA}/{tiny_dataset.name}"
    assert inner.result_path([]).is_relative_to(runner.RESULTS)
    assert job.results_dir == str(tmp_path / "res")  # the host's job is unchanged


class FakeContainer:
    """Stands in for a container: ends as told, records whether it was removed."""

    def __init__(self, ends: int | None, oom: bool = False) -> None:
        self.ends, self.removed, self.killed = ends, False, False
        self.attrs = {"State": {"OOMKilled": oom}}

    def wait(self, timeout: float) -> dict[str, int]:
        if self.ends is None:
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
        (FakeContainer(137, oom=True), "memory", "memory"),
        (FakeContainer(3), "exit", "code 3"),
        (FakeContainer(0), "exit", "without writing every result"),
    ],
)
def test_a_container_failure_is_recorded_and_removed(
    container: FakeContainer, cause: str, detail: str, tiny_dataset: Path, tmp_path: Path
):
    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path)
    client = FakeClient(container)
    outcome = runner.Runner(client, 1).run_job(job, "euclidean", Limits(5.0, MEMORY), Session())
    assert (outcome.status, outcome.cause) == ("failed", cause)
    assert container.removed and container.killed == (cause == "timeout")
    assert client.arguments["user"] == f"{os.getuid()}:{os.getgid()}"
    with h5py.File(failure_path(job.result_path([])), "r") as f:
        assert f.attrs["failure_cause"] == cause
        assert detail in f.attrs["failure_detail"]
        assert "worker output" in f.attrs["failure_detail"]  # the container's log


def docker_client():
    """The engine's client, or skip saying why."""
    try:
        return runner.engine()
    except runner.DockerError as error:
        pytest.skip(f"needs a Docker engine: {error}")


def test_runs_in_the_image_like_the_local_runner(tiny_dataset: Path, tmp_path: Path):
    client = docker_client()
    job = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path / "docker")
    job.definition = job.definition.__class__(
        **{**job.definition.__dict__, "docker_image": "forget-benchmarks-bruteforce"}
    )
    try:
        runner.check_images(client, [job])
    except runner.DockerError as error:
        pytest.skip(str(error))
    [outcome] = runner.run_docker([job], "euclidean", Limits(300.0, MEMORY), 1)
    assert outcome.status == "ok", outcome.detail
    here = make_job("plugins.bruteforce.module", "BruteForce", tiny_dataset, tmp_path / "local")
    local.run_local([here], "euclidean", Limits(300.0, MEMORY))
    theirs, ours = read_result(job.result_path([])), read_result(here.result_path([]))
    np.testing.assert_array_equal(theirs["arrays"]["neighbors"], ours["arrays"]["neighbors"])
    assert job.result_path([]).stat().st_uid == os.getuid()  # owned by the invoking user
