"""Per-delete latency of the field index at n = 10k vs 400k: O(1) deletion means a ratio near 1.

On the first n of a fixed-seed shuffle of GloVe 6B 50-d (glove-50-angular's train and test:
400k words), fit the field-index plugin, then time `--deletes` random ids, one `delete` call
each (validation, the log append of (v, -1), the cancellation link), in interleaved rounds
of 100 per size so that load on a shared machine hits every size alike. The candidate index is
never touched by a delete, so the kind (`--candidates`) does not enter the path; `flat`
avoids building a 400k HNSW graph. `fit` reserves 25% spare log capacity, so the timed
deletes never hit a doubling; `--until-growth` also reports the one delete that does (the
amortised cost). Single-threaded.

    python benchmarks/field_index_delete.py [--data-dir data] [--sizes 10000 400000]
                                            [--deletes 1000] [--candidates flat]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from harness.data.sources import get_dataset
from plugins.field_index.module import FieldIndexPlugin

SEED = 7
ROUND = 100  # deletes per size per interleaved round


def delete_latencies(plugin: FieldIndexPlugin, doomed: np.ndarray) -> np.ndarray:
    latencies = np.empty(len(doomed))
    for i in range(len(doomed)):
        start = time.perf_counter()
        plugin.delete(doomed[i : i + 1])
        latencies[i] = time.perf_counter() - start
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 400_000])
    parser.add_argument("--deletes", type=int, default=1000)
    parser.add_argument("--candidates", default="flat", choices=["flat", "hnsw"])
    parser.add_argument("--until-growth", action="store_true", help="delete until the log grows")
    args = parser.parse_args()

    data = get_dataset("glove-50-angular", args.data_dir)
    words = np.vstack([data.train, data.test])
    order = np.random.default_rng(SEED).permutation(len(words))
    with threadpool_limits(1):
        plugins, doomed = {}, {}
        for n in args.sizes:
            plugins[n] = FieldIndexPlugin("angular", candidates=args.candidates)
            plugins[n].fit(np.ascontiguousarray(words[order[: min(n, len(words))]]))
            doomed[n] = np.random.default_rng(n).permutation(min(n, len(words)))
        # interleaved rounds, so a busy moment of a shared machine hits every size alike
        rounds = [
            (start, min(start + ROUND, args.deletes)) for start in range(0, args.deletes, ROUND)
        ]
        parts: dict[int, list[np.ndarray]] = {n: [] for n in args.sizes}
        for lo, hi in rounds:
            for n in args.sizes:
                parts[n].append(delete_latencies(plugins[n], doomed[n][lo:hi]))
        print("| n | deletes | mean µs | p50 µs | p99 µs | max µs | growth delete ms |")
        print("|---|---|---|---|---|---|---|")
        stats = {}
        for n in args.sizes:
            lat = np.concatenate(parts[n])
            growth = ""
            if args.until_growth:
                room = plugins[n].index.capacity - plugins[n].index.log_size
                more = delete_latencies(
                    plugins[n], doomed[n][args.deletes : args.deletes + room + 1]
                )
                growth = f"{more[-1] * 1e3:.1f}"
            stats[n] = (lat.mean(), np.median(lat))
            p50, p99 = np.percentile(lat, [50, 99])
            print(
                f"| {len(doomed[n])} | {len(lat)} | "
                f"{lat.mean() * 1e6:.1f} | {p50 * 1e6:.1f} | {p99 * 1e6:.1f} | "
                f"{lat.max() * 1e6:.1f} | {growth} |",
                flush=True,
            )
    small, large = min(stats), max(stats)
    ratios = np.divide(stats[large], stats[small])
    print(f"\nper-delete latency n={large} / n={small}: mean {ratios[0]:.2f}, p50 {ratios[1]:.2f}")


if __name__ == "__main__":
    main()
