"""The USR-LSH paper's Fig. 1 (seed 002, sec. 4.4): QPS against precision@10 for SimHash,
super-bit LSH and USR-LSH at equal bits (m*d, Table 2's GloVe grid), hash-code ranking of
every code, one query at a time, no re-ranking (k' = k = 10, so precision@10 = recall@10).

    python benchmarks/lsh_qps_precision.py --data-dir /tmp/dsdata
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from algorithms.lsh.hashing import equal_budget_hasher
from algorithms.lsh.index import LSHIndex
from harness.data.datasets import load_dataset
from harness.data.sources import dataset_path

METHODS = ("simhash", "sblsh", "usr-lsh")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="glove-100k-50-angular")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--m", type=int, nargs="+", default=[2, 4, 8, 12, 20])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data = load_dataset(dataset_path(args.dataset, args.data_dir))
    queries, truth = data.test[: args.queries], data.neighbors[: args.queries, :10]
    ids = np.arange(len(data.train), dtype=np.int64)
    print("| method | m | bits | precision@10 | QPS | build s |")
    print("|---|---|---|---|---|---|")
    for m in args.m:
        for method in METHODS:
            index = LSHIndex(data.metric, equal_budget_hasher(method, data.dimension, m, args.seed))
            start = time.perf_counter()
            index.add(data.train, ids)
            build = time.perf_counter() - start
            times, hits = np.empty(len(queries)), 0
            for i, q in enumerate(queries):
                start = time.perf_counter()
                found = index.search(q, 10)
                times[i] = time.perf_counter() - start
                hits += int(np.isin(found, truth[i]).sum())
            precision = hits / (10 * len(queries))
            bits = m * data.dimension
            print(
                f"| {method} | {m} | {bits} | {precision:.3f} | {1 / times.mean():.0f} "
                f"| {build:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
