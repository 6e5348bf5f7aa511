"""How much QPS the harness's timed loop costs: hnswlib through the harness vs a plain loop.

Both loops run over the same hnswlib index in this one process, interleaved round by round,
and each keeps its best round. The ratio harness / plain should be at least 0.9.

    python benchmarks/harness_overhead.py [--dataset glove-100k-50-angular] [--rounds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from harness.datasets import get_dataset
from harness.protocols.qps_recall import set_query_arguments, timed_queries
from plugins.hnswlib.module import Hnswlib


def plain_loop(index, queries: np.ndarray, k: int) -> float:
    """Seconds for all queries straight through the hnswlib binding."""
    knn_query = index.knn_query
    start = time.perf_counter()
    for q in queries:
        knn_query(q, k)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="glove-100k-50-angular")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--ef", type=int, nargs="+", default=[10, 40, 160])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()

    data = get_dataset(args.dataset, args.data_dir)
    plugin = Hnswlib(data.metric, M=16, efConstruction=200)
    start = time.perf_counter()
    plugin.fit(data.train)
    print(
        f"{args.dataset}: built hnswlib M=16 efConstruction=200 in "
        f"{time.perf_counter() - start:.1f} s; {len(data.test)} queries, k={args.k}"
    )
    print(f"{'ef':>5} {'harness QPS':>12} {'plain QPS':>12} {'ratio':>7}")
    for ef in args.ef:
        set_query_arguments(plugin, {"ef": ef})
        harness, plain = np.inf, np.inf
        for _ in range(args.rounds):
            harness = min(harness, timed_queries(plugin, data.test, args.k)[0].sum())
            plain = min(plain, plain_loop(plugin.index, data.test, args.k))
        n = len(data.test)
        print(f"{ef:>5} {n / harness:>12.0f} {n / plain:>12.0f} {plain / harness:>7.3f}")


if __name__ == "__main__":
    main()
