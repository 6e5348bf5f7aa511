"""`python install.py [--algorithm X] [--base-image IMAGE]`: build the docker runner's images.

First the wheelhouse (`wheelhouse/`, made by this machine's pip: the wheels every image
installs, the project's own included), then the base image (`Dockerfile`: Python, the
harness's dependencies and code, tagged `forget-benchmarks-base`) on `--base-image`, then each
plugin's image (`plugins/<name>/Dockerfile`, tagged with the `docker_image` of its `algos.yaml`
entries), which ends by running the plugin's conformance tests inside it. Builds run with the
network off; unchanged layers come from the engine's cache. A failing plugin image is reported
and the others are still built; the exit status is 1 if any image failed, 2 for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import time
from pathlib import Path

from harness.core.definitions import DefinitionError, load_algorithms
from harness.runner import images, wheelhouse
from harness.runner.docker import DockerError, engine

ROOT = Path(__file__).resolve().parent
OFFLINE_BASE = "forget-benchmarks-python:3.11"
PROBE = "import platform, sys; print(*sys.version_info[:2], *platform.libc_ver()[1].split('.'))"


def plugin_images(definitions: Path, names: list[str] | None) -> dict[str, list[str]]:
    """Plugin folder -> its image tags (the `docker_image` of every algorithm using it), for
    the named algorithms (every plugin folder if none)."""
    algorithms = load_algorithms(definitions)
    tags: dict[str, list[str]] = {}
    for algorithm in algorithms.values():
        parts = algorithm.module.split(".")
        if len(parts) == 3 and parts[0] == "plugins":
            folder_tags = tags.setdefault(parts[1], [])
            if algorithm.docker_image not in folder_tags:
                folder_tags.append(algorithm.docker_image)
    folders = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/Dockerfile"))
    if names:
        unknown = [n for n in names if n not in algorithms]
        if unknown:
            raise DefinitionError(
                f"unknown algorithm(s) {', '.join(unknown)}: choose from "
                f"{', '.join(sorted(algorithms))}"
            )
        folders = sorted({algorithms[n].module.split(".")[1] for n in names})
    return {folder: tags.get(folder, [f"forget-benchmarks-{folder}"]) for folder in folders}


def check_python_image(client, image: str) -> None:
    """The Python image exists (pulled if it can be) and has this Python and a C library
    at least as new as this machine's: the wheels built here must run in it."""
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        print(f"pulling {image} ...", flush=True)
        try:
            client.images.pull(image)
        except docker.errors.APIError as error:
            raise DockerError(
                f"base image {image!r} is not here and cannot be pulled ({error.explanation}). "
                "Without a registry, make one from Debian packages: "
                f"`bash docker/make-python-base.sh`, then `python install.py --base-image "
                f"{OFFLINE_BASE}`"
            ) from None
    try:
        out = client.containers.run(
            image, ["python3", "-c", PROBE], remove=True, network_mode="none"
        )
    except docker.errors.ContainerError as error:
        raise DockerError(f"base image {image!r} has no working python3: {error}") from None
    major, minor, *libc = (int(x) for x in out.split())
    host_libc = tuple(int(x) for x in platform.libc_ver()[1].split(".") if x.isdigit())
    if (major, minor) != sys.version_info[:2]:
        raise DockerError(
            f"base image {image!r} has Python {major}.{minor}, this Python is "
            f"{sys.version_info.major}.{sys.version_info.minor}: the wheelhouse is built for "
            "this one, so run install.py with the same Python version as the image"
        )
    if host_libc and tuple(libc) < host_libc:
        raise DockerError(
            f"base image {image!r} has glibc {'.'.join(map(str, libc))}, older than this "
            f"machine's {platform.libc_ver()[1]}: wheels compiled here would not load in it; "
            "choose a newer base image"
        )


def make_wheelhouse(plugins: dict[str, list[str]]) -> None:
    """Every folder the Dockerfiles about to be built copy from."""
    base = wheelhouse.WHEELHOUSE / "base"
    wheelhouse.fill(base, wheelhouse.pip_installed(ROOT / "Dockerfile"))
    wheelhouse.project_wheel(wheelhouse.WHEELHOUSE / wheelhouse.PROJECT, images.source_digest())
    for folder in plugins:
        names = wheelhouse.pip_installed(ROOT / "plugins" / folder / "Dockerfile")
        if names:
            wheelhouse.fill(wheelhouse.WHEELHOUSE / folder, names, base=base)


def build(
    client, dockerfile: Path, tags: list[str], nocache: bool, replaced: list[str], **options
) -> str:
    """One image and its extra tags; "" on success, else why it failed. The ids of images
    the tags named before are added to `replaced`."""
    import docker

    print(f"\n{tags[0]} ({dockerfile.relative_to(ROOT)}):", flush=True)
    start = time.monotonic()
    for tag in tags:
        with contextlib.suppress(docker.errors.ImageNotFound):
            replaced.append(client.images.get(tag).id)
    try:
        image_id = images.build(
            client, dockerfile, tags[0], nocache=nocache, say=_say, root=ROOT, **options
        )
    except images.BuildError as error:
        return str(error)
    image = client.images.get(image_id)
    for tag in tags[1:]:
        image.tag(tag)
    print(f"  {', '.join(tags)}: built in {time.monotonic() - start:.1f} s", flush=True)
    return ""


def remove_replaced(client, replaced: list[str]) -> None:
    """Delete the images that rebuilt tags replaced, if nothing uses them any more (the
    children first, so their old base can go too); cached layers of current images stay."""
    import docker

    for image_id in reversed(replaced):
        with contextlib.suppress(docker.errors.APIError):
            if not client.images.get(image_id).tags:
                client.images.remove(image_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="install.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--algorithm", action="append", help="only this algorithm's image (repeatable)"
    )
    parser.add_argument(
        "--base-image",
        default=images.PYTHON_IMAGE,
        help=f"the Python image the base builds on (default {images.PYTHON_IMAGE}; offline: "
        f"{OFFLINE_BASE} from docker/make-python-base.sh)",
    )
    parser.add_argument("--no-cache", action="store_true", help="build every layer again")
    parser.add_argument("--definitions", default=ROOT / "algos.yaml", type=Path)
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        plugins = plugin_images(args.definitions, args.algorithm)
        client = engine()
        check_python_image(client, args.base_image)
        make_wheelhouse(plugins)
    except (DefinitionError, DockerError, wheelhouse.WheelhouseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed, replaced = {}, []
    base = images.BASE_IMAGE
    arguments = {"PYTHON_IMAGE": args.base_image}
    if error := build(
        client, ROOT / "Dockerfile", [base], args.no_cache, replaced, buildargs=arguments
    ):
        failed[base] = error
    else:
        for folder, tags in plugins.items():
            dockerfile = ROOT / "plugins" / folder / "Dockerfile"
            if error := build(client, dockerfile, tags, args.no_cache, replaced):
                failed[", ".join(tags)] = error
    remove_replaced(client, replaced)
    every = [base, *(", ".join(tags) for tags in plugins.values())]
    built = [t for t in every if t not in failed]
    seconds = time.monotonic() - started
    print(f"\nbuilt {len(built)} image(s) in {seconds:.0f} s: {', '.join(built) or '-'}")
    for tag, error in failed.items():
        print(f"\nFAILED {tag}:\n{error}", file=sys.stderr)
    if base in failed:
        print("the base image failed: no plugin image was built", file=sys.stderr)
    return 1 if failed else 0


def _say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
