"""How much QPS the harness's timed loop costs: hnswlib through the harness vs a plain loop.

Both loops run over the same hnswlib index in this one process, interleaved round by round
(alternating which goes first). The harness side is the protocol's own `timed_queries`
(the plugin's `query`, timed per query); the plain side times each bare `knn_query` call.
The machine is shared and noisy, so each query keeps its fastest time over the rounds and
QPS is the number of queries over the sum of those times. Target: ratio >= 0.9.

    python benchmarks/harness_overhead.py [--dataset glove-100k-50-angular] [--rounds 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from harness.data.sources import get_dataset
from harness.protocols._measure import set_query_arguments, timed_queries
from plugins.hnswlib.module import Hnswlib


def plain_loop(index, queries: np.ndarray, k: int) -> np.ndarray:
    """Per-query seconds straight through the hnswlib binding."""
    knn_query, clock = index.knn_query, time.perf_counter
    times = np.empty(len(queries))
    for i, q in enumerate(queries):
        start = clock()
        knn_query(q, k)
        times[i] = clock() - start
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="glove-100k-50-angular")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--ef", type=int, nargs="+", default=[10, 40, 160])
    parser.add_argument("--rounds", type=int, default=20)
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
        harness = plain = np.full(len(data.test), np.inf)
        for round_ in range(args.rounds):
            for which in ("harness", "plain")[:: 1 if round_ % 2 else -1]:
                if which == "harness":
                    harness = np.minimum(harness, timed_queries(plugin, data.test, args.k)[0])
                else:
                    plain = np.minimum(plain, plain_loop(plugin.index, data.test, args.k))
        n = len(data.test)
        print(
            f"{ef:>5} {n / harness.sum():>12.0f} {n / plain.sum():>12.0f} "
            f"{plain.sum() / harness.sum():>7.3f}"
        )


if __name__ == "__main__":
    main()
