"""How delete and rebuild costs grow with the index: per-delete latency at n = 10k, 100k, 400k.

For every enabled plugin of `algos.yaml` with native deletion (its quick-default build, or its
first), on n rows of a fixed-seed shuffle of GloVe 6B 50-d (train and test of
glove-50-angular: 400k words; the first 1000 of the shuffle are the queries, the next n the
rows): build; delete `--deletes` random ids one `delete` call each (timed: p50, p99, max);
then a 10% cluster deletion set (`harness.protocols.deletion.sets`, the rest of it after the
singles)
in one `delete` call (timed: the batch delete with its repair); then fit a fresh index on
the rows left (the rebuild). Two speed-ups: rebuild time / mean single-delete latency (how
many deletes one rebuild is worth) and rebuild time / batch time. Recall@10 of the deleted
index and of the rebuild against the exact neighbours among the rows left, at `--ef` for
plugins whose query argument is `ef`. Single-threaded, as the harness's workers run; times
are CPU times of the process.

    python benchmarks/delete_scaling.py [--data-dir data] [--sizes 10000 100000 400000]
                                        [--algorithm NAME ...] [--ef 40]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from threadpoolctl import threadpool_limits

from harness.core import definitions
from harness.core.definitions import Definition, arguments_label
from harness.core.scoring import knn_recall
from harness.data.groundtruth import ground_truth
from harness.data.sources import get_dataset
from harness.protocols._measure import has_native_delete, neighbor_distances
from harness.protocols.deletion.sets import deletion_set
from plugins.base import BasePlugin

SEED = 7
QUERIES = 1000
#: Every figure is the process's CPU time: on a machine shared with other jobs it is what
#: the work cost, where wall time would add whatever else ran meanwhile.
clock = time.process_time
K = 10
CLUSTER_FRACTION = 0.1


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


def recall(plugin: BasePlugin, X: np.ndarray, Q: np.ndarray, truth: np.ndarray) -> float:
    found = np.asarray(plugin.batch_query(Q, K), dtype=np.int64)
    distances = neighbor_distances("angular", Q, X, found)
    return float(knn_recall(truth, distances, found, K).mean())


def measure(
    definition: Definition, X: np.ndarray, Q: np.ndarray, deletes: int, ef: int, seed: int
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    singles = rng.choice(len(X), size=deletes, replace=False).astype(np.int64)
    cluster = deletion_set(X, "angular", "cluster", CLUSTER_FRACTION, seed)
    batch = cluster[~np.isin(cluster, singles)]
    keep = np.setdiff1d(np.arange(len(X)), np.concatenate([singles, batch]))
    truth = ground_truth(X, Q, "angular", K, keep)[1]
    groups = definition.query_argument_groups
    with_ef = bool(groups) and isinstance(groups[0], dict) and set(groups[0]) == {"ef"}

    plugin = definition.instantiate()
    start = clock()
    plugin.fit(X)
    build = clock() - start
    latencies = np.empty(deletes)
    for i in range(deletes):
        start = clock()
        plugin.delete(singles[i : i + 1])
        latencies[i] = clock() - start
    start = clock()
    plugin.delete(batch)
    batch_time = clock() - start
    if with_ef:
        plugin.set_query_arguments(ef=ef)
    deleted_recall = recall(plugin, X, Q, truth) if with_ef else np.nan
    plugin.done()

    fresh = definition.instantiate()
    start = clock()
    fresh.fit(X[keep], keep)
    rebuild = clock() - start
    if with_ef:
        fresh.set_query_arguments(ef=ef)
    rebuilt_recall = recall(fresh, X, Q, truth) if with_ef else np.nan
    fresh.done()
    p50, p99 = np.percentile(latencies, [50, 99])
    return {
        "build": build,
        "mean": latencies.mean(),
        "p50": p50,
        "p99": p99,
        "max": latencies.max(),
        "batch": batch_time,
        "batch_size": len(batch),
        "rebuild": rebuild,
        "recall": deleted_recall,
        "rebuilt_recall": rebuilt_recall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--definitions", default="algos.yaml")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 400_000])
    parser.add_argument("--deletes", type=int, default=1000, help="single deletes timed per n")
    parser.add_argument("--ef", type=int, default=40, help="query ef for the recall columns")
    parser.add_argument(
        "--algorithm", action="append", help="repeatable; default: every enabled plugin"
    )
    args = parser.parse_args()

    data = get_dataset("glove-50-angular", args.data_dir)
    words = np.vstack([data.train, data.test])
    order = np.random.default_rng(SEED).permutation(len(words))
    Q = np.ascontiguousarray(words[order[:QUERIES]])
    print(
        "| algorithm | n | build s | delete p50 µs | p99 µs | max µs | rebuild s "
        "| speed-up (rebuild / mean delete) | 10% cluster batch s | speed-up (rebuild / batch) "
        f"| recall@10 after, ef={args.ef} | rebuild's |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    with threadpool_limits(1):
        for definition in deletable(args.definitions, data.metric, args.algorithm or ["all"]):
            name = f"{definition.algorithm} {arguments_label(definition.build_args)}"
            for n in args.sizes:
                rows = order[QUERIES : QUERIES + min(n, len(words) - QUERIES)]
                X = np.ascontiguousarray(words[rows])
                m = measure(definition, X, Q, min(args.deletes, n // 2), args.ef, n)
                print(
                    f"| {name} | {len(X)} | {m['build']:.1f} | {m['p50'] * 1e6:.1f} | "
                    f"{m['p99'] * 1e6:.1f} | {m['max'] * 1e6:.1f} | {m['rebuild']:.2f} | "
                    f"{m['rebuild'] / m['mean']:.0f} | {m['batch']:.3f} ({m['batch_size']}) | "
                    f"{m['rebuild'] / m['batch']:.1f} | {m['recall']:.4f} | "
                    f"{m['rebuilt_recall']:.4f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
