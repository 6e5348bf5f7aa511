"""The Dockerfiles, the wheelhouse and the build contexts, checked without an engine.

Every plugin folder (also ones added later) has a Dockerfile that builds on the base image
with the network off: it installs from its wheelhouse folder the packages its code imports
(each pinned in requirements.txt) and ends with the plugin's conformance check; the base
installs exactly the harness's dependencies. The image builds themselves are tested on a real
engine in test_docker_engine.py.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tarfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from harness.core.environment import PROJECT_ROOT
from harness.runner import images, wheelhouse

PLUGINS = sorted(p.parent.name for p in (PROJECT_ROOT / "plugins").glob("*/module.py"))
PROJECT_PACKAGES = {"plugins", "algorithms", "harness", "tests"}
INSTRUCTIONS = {
    "FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "LABEL", "USER", "CMD",
    "ENTRYPOINT", "EXPOSE", "VOLUME", "SHELL", "HEALTHCHECK", "STOPSIGNAL", "ONBUILD",
}  # fmt: skip
NETWORK_COMMANDS = ("apt-get", "apt ", "curl", "wget", "git clone")
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
    PROJECT_ROOT / "tests" / "support" / "check_plugin.py",
    PROJECT_ROOT / "tests" / "plugins" / "test_conformance.py",
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
    tests = [str(p.relative_to(PROJECT_ROOT)) for p in IN_IMAGE if "tests" in p.parts]
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
    assert (last["instruction"], last["value"]) == (
        "RUN",
        f"python -m tests.support.check_plugin {plugin}",
    )


def test_the_test_image_adds_the_probes_only():
    path = PROJECT_ROOT / "tests" / "support" / "probe.Dockerfile"
    structure = parse(path)
    check_offline(path, structure)
    assert structure[0]["value"] == images.BASE_IMAGE
    assert images.copied_sources(path) == [
        "tests/__init__.py",  # the package markers the probes' module names need
        "tests/support/__init__.py",
        "tests/support/fault_plugins.py",
        "tests/support/sandbox_probe.py",
    ]


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("hnsw", {"hnsw"}),
        ("hnswlib", {"hnswlib"}),
        (
            "faiss",
            {"faiss-flat", "faiss-hnsw", "faiss-ivf", "faiss-ivfpq", "faiss-ivfpqfs", "faiss-lsh"},
        ),
    ],
)
def test_the_check_selects_exactly_the_plugin_folders_algorithms(folder, expected):
    """What pytest itself collects with the image build's selection: every check of the
    folder's algorithms in both metrics, nothing of another algorithm (`hnsw` is not
    `hnswlib` nor `leanvec-hnsw`)."""
    from harness.conformance import CHECKS
    from tests.support import check_plugin

    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/plugins/test_conformance.py", "-k", check_plugin.selection(folder)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ids = re.findall(
        r"test_the_contract\[(\w+)-(.+?)-(?:" + "|".join(map(re.escape, CHECKS)) + r")\]", collected
    )
    assert {name for _, name in ids} == expected, collected[-2000:]
    assert len(ids) == len(expected) * len(CHECKS) * len(check_plugin.METRICS)


def test_the_check_names_an_unknown_folder():
    from tests.support import check_plugin

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
