"""The Docker images of the docker runner: their names, labels and builds.

An image carries the project's code (installed from a wheel the host builds), so a result
names exactly what ran. Every image is labelled with the digest of the source it was built
from (`source_digest`); the runner refuses an image whose code differs from the checkout.
Builds run with the network off, their context holding only the files the Dockerfile copies,
so an unrelated change never invalidates a cached layer.
"""

from __future__ import annotations

import hashlib
import io
import shlex
import tarfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.core.environment import PROJECT_ROOT

BASE_IMAGE = "forget-benchmarks-base"
PYTHON_IMAGE = "python:3.11-slim"  # what users online build on; offline see make-python-base
SOURCE_LABEL = "forget-benchmarks.source"
PYTHON_IMAGE_LABEL = "forget-benchmarks.python-image"  # set by the base Dockerfile
#: What the wheel of the project is built from: a change here changes every image's code.
SOURCE_PACKAGES = ("harness", "plugins", "algorithms")
SOURCE_FILES = ("setup.py", "pyproject.toml")
SOURCE_SUFFIXES = {".py", ".pyx", ".pxd", ".h", ".yaml"}
#: Never sent in a build context.
EXCLUDED = {"__pycache__", ".pytest_cache", ".ruff_cache"}
EXCLUDED_SUFFIXES = {".pyc", ".so"}
LOG_TAIL = 30


class BuildError(RuntimeError):
    """An image did not build; the message ends with the tail of its build log."""


def source_digest(root: Path = PROJECT_ROOT) -> str:
    """SHA-256 of the project's code (paths and contents), as installed into the images."""
    digest = hashlib.sha256()
    files = [root / name for name in SOURCE_FILES]
    for package in SOURCE_PACKAGES:
        files += [p for p in (root / package).rglob("*") if p.suffix in SOURCE_SUFFIXES]
    for path in sorted(p for p in files if p.is_file() and not _excluded(p.relative_to(root))):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def copied_sources(dockerfile: Path) -> list[str]:
    """Paths (relative to the repository) that the Dockerfile's COPY and ADD read."""
    from dockerfile_parse import DockerfileParser

    sources = []
    for instruction in DockerfileParser(path=str(dockerfile)).structure:
        if instruction["instruction"] not in ("COPY", "ADD"):
            continue
        words = shlex.split(instruction["value"])
        if any(w.startswith("--from") for w in words):
            continue  # from another stage, not from the context
        sources += [w for w in words[:-1] if not w.startswith("--")]
    return sources


def build_context(dockerfile: Path, root: Path = PROJECT_ROOT) -> io.BytesIO:
    """A tar of the Dockerfile and what it copies, with fixed owners and times, so that the
    same files give the same context (and the engine's layer cache hits)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add(tar, dockerfile, root)
        for source in copied_sources(dockerfile):
            path = root / source
            if not path.exists():
                raise BuildError(
                    f"{dockerfile.relative_to(root)} copies {source}, which does not exist"
                    + (
                        ": `python install.py` makes the wheelhouse"
                        if "wheelhouse" in source
                        else ""
                    )
                )
            for member in [path, *sorted(path.rglob("*"))] if path.is_dir() else [path]:
                if not _excluded(member.relative_to(root)):
                    _add(tar, member, root)
    buffer.seek(0)
    return buffer


def build(
    client: Any,
    dockerfile: Path,
    tag: str,
    *,
    buildargs: dict[str, str] | None = None,
    nocache: bool = False,
    say: Callable[[str], None] = print,
    root: Path = PROJECT_ROOT,
) -> str:
    """Build one image with the network off; report each step (and whether it was cached)
    through `say`; return the image id, or raise `BuildError` with the log's tail.

    Intermediate containers are removed whether the build succeeds or fails (`forcerm`).
    """
    stream = client.api.build(
        fileobj=build_context(dockerfile, root),
        custom_context=True,
        dockerfile=dockerfile.relative_to(root).as_posix(),
        tag=tag,
        rm=True,
        forcerm=True,
        nocache=nocache,
        network_mode="none",
        buildargs=buildargs or {},
        labels={SOURCE_LABEL: source_digest(root)},
        decode=True,
        use_config_proxy=False,
    )
    return _follow(stream, tag, say)


def _follow(stream: Iterable[dict[str, Any]], tag: str, say: Callable[[str], None]) -> str:
    """Read the engine's build stream: step lines to `say`, the rest kept for errors."""
    log: list[str] = []
    image_id = ""
    started = time.monotonic()
    for chunk in stream:
        if "error" in chunk:
            tail = "\n".join(log[-LOG_TAIL:])
            raise BuildError(
                f"{tag}: {chunk['error'].strip()}\n--- build log (last lines) ---\n{tail}"
            )
        image_id = chunk.get("aux", {}).get("ID", image_id)
        for line in str(chunk.get("stream", "")).splitlines():
            log.append(line)
            if line.startswith("Step "):
                say(f"  [{time.monotonic() - started:6.1f} s] {line}")
            elif line.strip() == "---> Using cache":
                say("           (cached)")
    if not image_id:
        raise BuildError(f"{tag}: the engine reported no image\n" + "\n".join(log[-LOG_TAIL:]))
    return image_id


def _excluded(relative: Path) -> bool:
    return bool(EXCLUDED & set(relative.parts)) or relative.suffix in EXCLUDED_SUFFIXES


def _add(tar: tarfile.TarFile, path: Path, root: Path) -> None:
    info = tar.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    executable = path.is_dir() or bool(info.mode & 0o111)
    info.mode = 0o755 if executable else 0o644
    if info.isfile():
        with path.open("rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)
