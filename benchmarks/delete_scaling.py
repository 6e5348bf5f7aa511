"""How delete and rebuild costs grow with the index: per-delete latency at n = 10k, 100k, 400k.

For every enabled plugin of `algos.yaml` with native deletion (its quick-default build, or its
first), on the first n of a fixed-seed shuffle of GloVe 6B 50-d (train and test of
glove-50-angular: 400k words): build, delete `--deletes` random ids one `delete` call each
(timed), then fit a fresh index on the n - deletes remaining rows (the rebuild). The speed-up
is rebuild time / mean single-delete latency: how many deletes one rebuild is worth.
Single-threaded, as the harness's workers run.

    python benchmarks/delete_scaling.py [--data-dir data] [--sizes 10000 100000 400000]
                                        [--algorithm NAME ...]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from threadpoolctl import threadpool_limits

from harness.core import definitions
from harness.core.definitions import Definition, arguments_label
from harness.data.sources import get_dataset
from harness.protocols._measure import has_native_delete

SEED = 7


def deletable(algos: str, metric: str, names: list[str]) -> list[Definition]:
    """One definition per chosen plugin with native deletion."""
    chosen = []
    for algorithm in definitions.select(definitions.load_algorithms(algos), names, metric):
        defaults = {g: s for g, s in algorithm.run_groups.items() if s.get("default")}
        if defaults:
            algorithm = replace(algorithm, run_groups=defaults)
        first = definitions.expand(algorithm, metric, 50, 10)[0]
        if has_native_delete(first.instantiate()):
            chosen.append(first)
    return chosen


def measure(definition: Definition, X: np.ndarray, deletes: int, rng) -> dict[str, float]:
    plugin = definition.instantiate()
    start = time.perf_counter()
    plugin.fit(X)
    build = time.perf_counter() - start
    doomed = rng.choice(len(X), size=deletes, replace=False).astype(np.int64)
    latencies = np.empty(deletes)
    for i in range(deletes):
        start = time.perf_counter()
        plugin.delete(doomed[i : i + 1])
        latencies[i] = time.perf_counter() - start
    plugin.done()
    keep = np.setdiff1d(np.arange(len(X)), doomed)
    fresh = definition.instantiate()
    rest = X[keep]
    start = time.perf_counter()
    fresh.fit(rest, keep)
    rebuild = time.perf_counter() - start
    fresh.done()
    p50, p99 = np.percentile(latencies, [50, 99])
    return {
        "build": build,
        "mean": latencies.mean(),
        "p50": p50,
        "p99": p99,
        "max": latencies.max(),
        "rebuild": rebuild,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--definitions", default="algos.yaml")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 400_000])
    parser.add_argument("--deletes", type=int, default=1000, help="single deletes timed per n")
    parser.add_argument(
        "--algorithm", action="append", help="repeatable; default: every enabled plugin"
    )
    args = parser.parse_args()

    data = get_dataset("glove-50-angular", args.data_dir)
    words = np.vstack([data.train, data.test])
    order = np.random.default_rng(SEED).permutation(len(words))
    print(
        "| algorithm | n | build s | delete p50 µs | p99 µs | max µs | rebuild s "
        "| speed-up (rebuild / mean delete) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with threadpool_limits(1):
        for definition in deletable(args.definitions, data.metric, args.algorithm or ["all"]):
            name = f"{definition.algorithm} {arguments_label(definition.build_args)}"
            for n in args.sizes:
                X = np.ascontiguousarray(words[order[: min(n, len(words))]])
                m = measure(definition, X, min(args.deletes, n // 2), np.random.default_rng(n))
                print(
                    f"| {name} | {len(X)} | {m['build']:.1f} | {m['p50'] * 1e6:.1f} | "
                    f"{m['p99'] * 1e6:.1f} | {m['max'] * 1e6:.1f} | {m['rebuild']:.2f} | "
                    f"{m['rebuild'] / m['mean']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
