"""`python install.py [--algorithm X]`: build the Docker images of the docker runner.

First the base image (`Dockerfile`: the harness and its core dependencies, tagged
`forget-benchmarks-base`), then each plugin's image (`plugins/<name>/Dockerfile`, built on the
base, tagged with the `docker_image` of its `algos.yaml` entries). A failing plugin image is
reported and the others are still built; the exit status is 1 if any image failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.core.definitions import DefinitionError, load_algorithms
from harness.runner.docker import BASE_IMAGE, DockerError, engine

ROOT = Path(__file__).resolve().parent
LOG_TAIL = 20


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


def build(client, dockerfile: Path, tags: list[str]) -> str:
    """Build one image with the repository as context; "" on success, else why it failed."""
    import docker

    print(f"building {', '.join(tags)} from {dockerfile.relative_to(ROOT)} ...", flush=True)
    try:
        image, _ = client.images.build(
            path=str(ROOT), dockerfile=str(dockerfile.relative_to(ROOT)), tag=tags[0], rm=True
        )
        for tag in tags[1:]:
            image.tag(tag)
    except docker.errors.BuildError as error:
        lines = [str(c.get("stream") or c.get("error") or "").rstrip() for c in error.build_log]
        tail = "\n".join(line for line in lines if line)
        return f"{error.msg}\n" + "\n".join(tail.splitlines()[-LOG_TAIL:])
    except docker.errors.APIError as error:
        return str(error)
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="install.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--algorithm", action="append", help="only this algorithm's image (repeatable)"
    )
    parser.add_argument("--definitions", default=ROOT / "algos.yaml", type=Path)
    args = parser.parse_args(argv)
    try:
        images = plugin_images(args.definitions, args.algorithm)
        client = engine()
    except (DefinitionError, DockerError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = {}
    if error := build(client, ROOT / "Dockerfile", [BASE_IMAGE]):
        failed[BASE_IMAGE] = error
    else:
        for folder, tags in images.items():
            if error := build(client, ROOT / "plugins" / folder / "Dockerfile", tags):
                failed[", ".join(tags)] = error
    every = [BASE_IMAGE, *(", ".join(tags) for tags in images.values())]
    built = [t for t in every if t not in failed]
    print(f"\nbuilt {len(built)} image(s): {', '.join(built) or '-'}")
    for tag, error in failed.items():
        print(f"\nFAILED {tag}:\n{error}", file=sys.stderr)
    if BASE_IMAGE in failed:
        print("the base image failed: no plugin image was built", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
