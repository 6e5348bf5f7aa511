"""What containers cost: building every image from scratch, and a run in a container
against the same run in a local worker.

    python benchmarks/docker_overhead.py build [--base-image forget-benchmarks-python:3.11]
    python benchmarks/docker_overhead.py runs [--dataset random-xs-20-angular] [--rounds 10]

`build` deletes the project's images (not the Python base) and its wheelhouse, then times
`python install.py --no-cache` for every image: the wheelhouse (made by this machine's pip,
from its download and wheel caches when they are warm, which it says it cannot see), each
image with its conformance check, and the total; then each image's size.

`runs` runs the quick default suite's definitions (bruteforce, hnsw, hnswlib) under the local
and the docker runner, interleaved round by round (alternating which goes first). Per
definition: the wall time of its worker (local: the subprocess; docker: the job folder, the
container's start, run, log, removal and the copy back of its results), and per query group
the QPS under both; the fixed cost of a docker suite (engine check, image check, sweep,
reaper) is the wall time of a `run_jobs` call minus its jobs'. Medians over the rounds, and
the fastest round for wall times (the least disturbed by other load on a shared machine).
A container is pinned to one CPU (`cpuset_cpus`); a local worker may move between CPUs, which
on a loaded machine is the main difference in QPS.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.core import definitions
from harness.core.environment import PROJECT_ROOT
from harness.core.job import Job
from harness.core.results import load_results
from harness.data.datasets import load_dataset
from harness.data.sources import dataset_path
from harness.runner import docker, local
from harness.runner.scheduling import Limits
from harness.runner.wheelhouse import WHEELHOUSE

GiB = 2**30


def build(base_image: str) -> None:
    client = docker.engine()
    for image in client.images.list(name="forget-benchmarks-*"):
        if not any(t.startswith("forget-benchmarks-python") for t in image.tags):
            client.images.remove(image.id, force=True)
    client.images.prune(filters={"dangling": True})
    subprocess.run(["rm", "-rf", str(WHEELHOUSE)], check=True)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "install.py", "--no-cache", "--base-image", base_image],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    total = time.monotonic() - start
    if done.returncode:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    built = re.findall(r"^  (\S+?)(?:, \S+)*: built in ([\d.]+) s", done.stdout, re.M)
    building = sum(float(seconds) for _, seconds in built)
    print(f"all {len(built)} images from scratch: {total:.0f} s wall")
    print(f"  wheelhouse (pip download and build on the host): {total - building:.0f} s")
    print(f"{'image':34} {'build s':>8} {'size MB':>8}")
    for tag, seconds in built:
        size = client.images.get(tag).attrs["Size"] / 1e6
        print(f"{tag:34} {float(seconds):8.1f} {size:8.0f}")


def suite_jobs(dataset: str, data_dir: Path, results: Path) -> tuple[list[Job], str]:
    """The default suite's jobs on `dataset` (one query-group run each of its definitions)."""
    path = dataset_path(dataset, data_dir)
    data = load_dataset(path, name=dataset)
    algorithms = definitions.select(definitions.load_algorithms(), None, data.metric)
    jobs = [
        Job(d, dataset, str(path), "qps-recall", runs=3, results_dir=str(results),
            query_groups=d.query_argument_groups)
        for a in algorithms
        for d in definitions.expand(a, data.metric, data.dimension, 10)
    ]  # fmt: skip
    return jobs, data.metric


def runs(dataset: str, data_dir: Path, rounds: int) -> None:
    seconds: dict[tuple[str, str], list[float]] = {}
    qps: dict[tuple[str, str, str], list[float]] = {}
    fixed: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(rounds):
            for executor in ("local", "docker")[:: 1 if round_ % 2 else -1]:
                results = Path(scratch) / f"{executor}-{round_}"
                jobs, metric = suite_jobs(dataset, data_dir, results)
                run = docker.run_docker if executor == "docker" else local.run_local
                start = time.monotonic()
                outcomes = run(jobs, metric, Limits(3600.0, 4 * GiB))
                wall = time.monotonic() - start
                if executor == "docker":
                    fixed.append(wall - sum(o.seconds for o in outcomes))
                for outcome in outcomes:
                    assert outcome.status == "ok", outcome.detail
                    key = (outcome.job.describe(), executor)
                    seconds.setdefault(key, []).append(outcome.seconds)
                for _, row in load_results(results).iterrows():
                    key = (row["algorithm"], str(row["query_args"]), executor)
                    qps.setdefault(key, []).append(row["qps"])
    median = statistics.median
    print(f"{dataset}, {rounds} rounds, medians; docker suite fixed cost {median(fixed):.2f} s")
    print(f"{'definition':34} {'local s':>8} {'docker s':>9} {'extra s':>8} {'fastest':>16}")
    for name in sorted({n for n, _ in seconds}):
        ours, theirs = seconds[name, "docker"], seconds[name, "local"]
        extra, fastest = median(ours) - median(theirs), f"{min(theirs):.2f} / {min(ours):.2f}"
        print(f"{name:34} {median(theirs):8.2f} {median(ours):9.2f} {extra:8.2f} {fastest:>16}")
    print(f"{'algorithm':12} {'query args':18} {'local QPS':>10} {'docker QPS':>11} {'ratio':>6}")
    for algorithm, query in sorted({(a, q) for a, q, _ in qps}):
        ours, theirs = (
            median(qps[algorithm, query, "docker"]),
            median(qps[algorithm, query, "local"]),
        )
        print(f"{algorithm:12} {query:18} {theirs:10.0f} {ours:11.0f} {ours / theirs:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("build", "runs"))
    parser.add_argument("--base-image", default="forget-benchmarks-python:3.11")
    parser.add_argument("--dataset", default="random-xs-20-angular")
    parser.add_argument("--data-dir", default="data", type=Path)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    if args.what == "build":
        build(args.base_image)
    else:
        docker.check_images(docker.engine(), suite_jobs(args.dataset, args.data_dir, Path("x"))[0])
        runs(args.dataset, args.data_dir, args.rounds)


if __name__ == "__main__":
    main()
