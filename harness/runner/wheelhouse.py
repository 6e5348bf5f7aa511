"""The wheelhouse: every wheel the images install, fetched or built by the host's pip.

Image builds run with the network off, so each image installs from a folder of wheels made
here, with whatever index the host's pip is configured for:

- `wheelhouse/<image>/`: the packages its Dockerfile's `pip install` names, at the versions
  requirements.txt pins, with their dependencies (those the base image holds left out);
- `wheelhouse/project/`: the project's own wheel, its compiled core built on this machine.

A folder is made again only when what it must hold changes (a stamp file records it), so a
second `python install.py` needs no network and the images' layers stay cached. The wheels are
built for this Python, so it must be the images' Python version (checked by `install.py`).
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harness.core.environment import PROJECT_ROOT

WHEELHOUSE = PROJECT_ROOT / "wheelhouse"
PROJECT = "project"
STAMP = "STAMP"
CONSTRAINTS = "constraints.txt"
#: `pip install` options followed by a value (the value is not a package).
VALUED_OPTIONS = {
    "-f", "--find-links", "-c", "--constraint", "-r", "--requirement", "-i", "--index-url",
    "--extra-index-url", "-t", "--target", "--prefix", "--root",
}  # fmt: skip
PIP_TAIL = 25


class WheelhouseError(RuntimeError):
    """The host's pip could not fetch or build a wheel, or a package is not pinned."""


def normalise(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: Path = PROJECT_ROOT / "requirements.txt") -> dict[str, str]:
    """requirements.txt: normalised name -> its `name==version` line."""
    out = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            out[normalise(line.split("==", 1)[0])] = line
    return out


def pip_installed(dockerfile: Path) -> list[str]:
    """The packages the Dockerfile's `RUN ... pip install ...` commands name (paths and
    options left out)."""
    from dockerfile_parse import DockerfileParser

    names = []
    for instruction in DockerfileParser(path=str(dockerfile)).structure:
        if instruction["instruction"] != "RUN":
            continue
        words = shlex.split(instruction["value"].replace(";", " ; "))
        for i, word in enumerate(words[:-1]):
            if word.rpartition("/")[2] in ("pip", "pip3") and words[i + 1] == "install":
                names += _packages(words[i + 2 :])
    return names


def _packages(words: list[str]) -> list[str]:
    found, skip = [], False
    for word in words:
        if word in ("&&", "||", ";", "|"):
            break
        if skip:
            skip = False
        elif word in VALUED_OPTIONS:
            skip = True
        elif (name := re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", word)) and "/" not in word:
            found.append(name.group())  # a version given here must be the pinned one
    return found


def fill(
    folder: Path,
    names: list[str],
    base: Path | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Wheels of `names` (pinned by requirements.txt) and their dependencies in `folder`,
    without the wheels `base` already holds; kept as they are if nothing changed."""
    pinned = pins()
    unpinned = [n for n in names if normalise(n) not in pinned]
    if unpinned:
        raise WheelhouseError(
            f"{', '.join(unpinned)} not pinned in requirements.txt: add `name==version` lines "
            "there, so every image installs the versions the harness was tested with"
        )
    wanted = [pinned[normalise(n)] for n in names]
    constraints = "\n".join(sorted(pinned.values())) + "\n"
    stamp = _stamp(wanted, constraints)
    if _current(folder, stamp):
        say(f"wheelhouse/{folder.name}: up to date")
        return
    say(f"wheelhouse/{folder.name}: pip wheel {' '.join(wanted)}")
    _reset(folder)
    (folder / CONSTRAINTS).write_text(constraints)
    pip("wheel", "--wheel-dir", str(folder), "--constraint", str(folder / CONSTRAINTS), *wanted)
    (folder / CONSTRAINTS).unlink()
    if base is not None:  # the base image has these installed already
        for wheel in folder.glob("*.whl"):
            if (base / wheel.name).is_file():
                wheel.unlink()
    (folder / STAMP).write_text(stamp)


def project_wheel(folder: Path, digest: str, say: Callable[[str], None] = print) -> None:
    """The project's wheel, built again only when its source changed."""
    stamp = _stamp([f"source {digest}"], "")
    if _current(folder, stamp):
        say(f"wheelhouse/{folder.name}: up to date")
        return
    say(f"wheelhouse/{folder.name}: pip wheel . (compiles the HNSW core)")
    _reset(folder)
    pip("wheel", "--no-deps", "--wheel-dir", str(folder), str(PROJECT_ROOT))
    (folder / STAMP).write_text(stamp)


def pip(*args: str) -> None:
    """The host's pip, as configured on this machine; a failure raises with pip's output."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-PIP_TAIL:])
        raise WheelhouseError(f"`{shlex.join(command)}` failed:\n{tail}")


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def _stamp(lines: list[str], constraints: str) -> str:
    digest = hashlib.sha256(constraints.encode()).hexdigest()[:16]
    return "\n".join([python_tag(), f"constraints {digest}", *lines]) + "\n"


def _current(folder: Path, stamp: str) -> bool:
    marker = folder / STAMP
    return marker.is_file() and marker.read_text() == stamp


def _reset(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
