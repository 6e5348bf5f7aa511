"""What the tests on a real Docker engine share: the engine, the images, jobs in an image.

Without an engine, or without an image built from this checkout, those tests skip and the
reason (with the command that fixes it) shows in pytest's summary (`-ra`). `.ci/run` starts
an engine and builds the images they use (`docker/engine.sh`, `install.py`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest

from harness.core.environment import PROJECT_ROOT
from harness.core.job import Job
from harness.runner import docker as runner
from harness.runner import images
from harness.runner.images import BASE_IMAGE, SOURCE_LABEL, source_digest

PROBE_IMAGE = "forget-benchmarks-probe"
#: The images the engine tests run in, and an algorithm whose build makes each; CI builds
#: them (.ci/run).
BUILT_BY = {
    BASE_IMAGE: "bruteforce",
    "forget-benchmarks-bruteforce": "bruteforce",
    "forget-benchmarks-hnswlib": "hnswlib",
    "forget-benchmarks-hnsw": "hnsw",
    "forget-benchmarks-svs": "svs-leanvec",
}


def docker_client() -> Any:
    """The engine's client, or skip saying why."""
    try:
        return runner.engine()
    except runner.DockerError as error:
        pytest.skip(f"needs a Docker engine: {error}")


def require_images(client: Any, *images: str) -> None:
    """Skip unless every image exists and holds this checkout's code."""
    import docker

    digest = source_digest()
    for image in images:
        build = f"`python install.py --algorithm {BUILT_BY.get(image, '...')}`"
        try:
            labels = client.images.get(image).labels or {}
        except docker.errors.ImageNotFound:
            pytest.skip(f"needs the image {image}: build it with {build}")
        if labels.get(SOURCE_LABEL) != digest:
            pytest.skip(f"the image {image} holds other code than this checkout: {build}")


@functools.cache
def probe_image(client: Any) -> str:
    """The test image (tests/support/probe.Dockerfile), built now if it changed: the base with the
    fault and sandbox probe plugins."""
    require_images(client, BASE_IMAGE)
    dockerfile = PROJECT_ROOT / "tests" / "support" / "probe.Dockerfile"
    images.build(client, dockerfile, PROBE_IMAGE, say=lambda line: None)
    return PROBE_IMAGE


def in_image(job: Job, image: str) -> Job:
    """The job, to run in `image`."""
    job.definition = dataclasses.replace(job.definition, docker_image=image)
    return job
