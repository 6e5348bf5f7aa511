"""What the full erasure check costs against the protocol it replaced, run side by side.

    python benchmarks/erasure_cost.py --baseline-revision b2938fd \\
        --algorithm bruteforce --algorithm faiss-ivf --algorithm hnswlib

The baseline revision (the last one with the previous erasure protocol: leak, retrain gap,
a float32/float16 remanence scan, a top-1 membership attack) is exported with `git archive`
into a temporary folder; both protocols run the same definitions
(`benchmarks/erasure_scorecard.yaml`) on glove-50-angular with 1% random deletion, each
algorithm old then new, each in a fresh results folder, with the same datasets and
ground-truth cache, one thread each (the plugin's host runs on one thread anyway; with
`--batch`, the rest of each run uses every core, where a shared machine measures its other
load as much as the protocol). Printed per algorithm: wall and CPU seconds (the runner and
its workers) of each protocol and the ratio new / old; the target is at most 2.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-revision", required=True)
    parser.add_argument("--algorithm", action="append", required=True)
    parser.add_argument("--dataset", default="glove-50-angular")
    parser.add_argument("--delete-count", default="0.01")
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    parser.add_argument("--batch", action="store_true", help="run both protocols with --batch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="erasure-cost-") as scratch:
        baseline = Path(scratch) / "baseline"
        export(args.baseline_revision, baseline)
        print(f"{'algorithm':<14} {'old wall s':>10} {'new wall s':>10} {'ratio':>6} "
              f"{'old CPU s':>10} {'new CPU s':>10} {'ratio':>6}")  # fmt: skip
        for algorithm in args.algorithm:
            old = timed(baseline, algorithm, Path(scratch) / f"old-{algorithm}", args)
            new = timed(ROOT, algorithm, Path(scratch) / f"new-{algorithm}", args)
            print(
                f"{algorithm:<14} {old[0]:>10.1f} {new[0]:>10.1f} {new[0] / old[0]:>6.2f} "
                f"{old[1]:>10.1f} {new[1]:>10.1f} {new[1] / old[1]:>6.2f}",
                flush=True,
            )


def export(revision: str, destination: Path) -> None:
    """The tree of `revision` (without its history) in `destination`."""
    destination.mkdir(parents=True)
    archive = destination.with_suffix(".tar")
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), revision],
        check=True,
    )
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="data")


def timed(tree: Path, algorithm: str, results: Path, args: argparse.Namespace):
    """Wall and CPU seconds (this runner and its workers) of one erasure run from `tree`."""
    command = [
        sys.executable, "run.py", "--definitions", str(ROOT / "benchmarks/erasure_scorecard.yaml"),
        "--algorithm", algorithm, "--protocol", "erasure", "--dataset", args.dataset,
        "--delete-count", args.delete_count, "--delete-policy", "random", "--runs", "1",
        "--parallelism", "1", "--results", str(results), "--data-dir", args.data_dir,
        *(["--batch"] if args.batch else []),
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=tree, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


if __name__ == "__main__":
    main()
