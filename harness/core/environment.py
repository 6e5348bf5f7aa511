"""The environment a result was measured in: CPU, library versions, git revision."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: The variables that size BLAS and OpenMP thread pools; a worker sets them all.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

#: The folder holding the `harness` package (the checkout, or site-packages when installed).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The revision of code that runs outside a git checkout (an image's), set by its runner.
REVISION_VARIABLE = "FORGET_BENCHMARKS_REVISION"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return os.environ.get(REVISION_VARIABLE, "unknown")
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def loaded_packages() -> dict[str, str]:
    """Version of every installed distribution with a module imported in this process.

    Called in the worker after the plugin ran, so the plugin's own library is included.
    """
    imported = {name.partition(".")[0] for name in list(sys.modules)}
    versions = {}
    for module, distributions in metadata.packages_distributions().items():
        if module in imported:
            for distribution in distributions:
                versions[distribution] = metadata.version(distribution)
    return dict(sorted(versions.items()))


def describe(revision: str | None = None) -> dict[str, str]:
    """Attributes for a result file's `environment` group; `revision` as read when the run
    began (the checkout may move while it runs: the code it loaded is the one it began with)."""
    info = {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "git_revision": git_revision() if revision is None else revision,
    }
    info.update({f"version:{name}": v for name, v in loaded_packages().items()})
    return info
