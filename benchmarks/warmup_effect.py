"""What a plugin's warm-up keeps out of its build time and index size.

Each round builds the same definition twice, each in a fresh process (so JIT caches start
cold): once with the harness's build (`warmup` on the first rows, then the timed `fit`
between two `memory_usage` readings), once with a bare timed `fit` between the readings.
Rounds alternate which goes first. For a JIT-compiled library (numba in pynndescent) the
bare build reports its compilation as build time and its compiled code as index size.

    python benchmarks/warmup_effect.py --definitions plugins/annb/pynndescent/config.yml \\
        --algorithm pynndescent --build 2 [--dataset random-xs-20-euclidean] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from harness.core import definitions
from harness.data.datasets import load_dataset
from harness.data.sources import dataset_path
from harness.protocols._measure import build

MIB = 2**20


def measure(args: argparse.Namespace) -> dict[str, float]:
    """One build in this process: seconds and bytes, with or without the warm-up."""
    data = load_dataset(dataset_path(args.dataset, args.data_dir))
    algorithm = definitions.load_algorithms(args.definitions)[args.algorithm]
    definition = definitions.expand(algorithm, data.metric, data.dimension, 10)[args.build]
    plugin = definition.instantiate()
    if args.mode == "warm":
        seconds, size = build(plugin, data.train)
    else:
        before = plugin.memory_usage()
        start = time.perf_counter()
        plugin.fit(data.train)
        seconds, size = time.perf_counter() - start, plugin.memory_usage() - before
    return {"build_arguments": definition.arguments, "seconds": seconds, "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--definitions", required=True)
    parser.add_argument("--algorithm", required=True)
    parser.add_argument("--build", type=int, default=0, help="which build of its grid")
    parser.add_argument("--dataset", default="random-xs-20-euclidean")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--mode", choices=("warm", "bare"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args), default=str))
        return
    rows = []
    for round_number in range(args.rounds):
        order = ("bare", "warm") if round_number % 2 == 0 else ("warm", "bare")
        for mode in order:
            out = subprocess.run(
                [sys.executable, __file__, *sys.argv[1:], "--mode", mode],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            result = json.loads(out.strip().splitlines()[-1])
            rows.append((round_number + 1, mode, result["seconds"], result["bytes"] / MIB))
            print(f"round {round_number + 1} {mode}: build {rows[-1][2]:.2f} s, "
                  f"index {rows[-1][3]:.1f} MiB", flush=True)  # fmt: skip
    print(f"\n{args.algorithm} {result['build_arguments']} on {args.dataset}")
    print("| round | build | build s | index MiB |\n|---|---|---|---|")
    for round_number, mode, seconds, mib in rows:
        label = "harness build (warm-up first)" if mode == "warm" else "bare timed fit"
        print(f"| {round_number} | {label} | {seconds:.2f} | {mib:.1f} |")


if __name__ == "__main__":
    main()
