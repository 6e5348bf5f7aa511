"""Our HNSW (`algorithms.hnsw`) against hnswlib, same M and efConstruction, in one run.

For each dataset both indices are built single-threaded (timed), then an ef sweep runs the
same queries one at a time through each library's Python search call, alternating run by run
so both see the same machine load; every query keeps its fastest of `--runs` repetitions.
Build time is reported as wall time and as CPU time of the process (the fair figure on a
shared, overloaded machine). Recall@10 counts ties as the harness does. QPS at recall 0.9
and 0.95 is interpolated linearly between the two ef values around the target; the ratios
are ours / hnswlib.

With `--batch`, each run is one call over all the queries on `--threads` threads (default:
every core the process may use), ours `batch_search`, hnswlib `knn_query(num_threads=...)`,
as ann-benchmarks' batch mode; the fastest of `--runs` wall times counts.

    python benchmarks/hnsw_vs_hnswlib.py --data-dir data [--batch [--threads T]]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import hnswlib
import numpy as np

from algorithms.hnsw import HNSW, available_cores
from harness.core.scoring import knn_recall
from harness.data.datasets import Dataset, load_dataset
from harness.data.sources import dataset_path
from harness.protocols._measure import neighbor_distances

SPACES = {"euclidean": "l2", "angular": "cosine", "ip": "ip"}
EFS = (10, 20, 40, 60, 80, 120, 160, 200, 300, 400, 800)
TARGETS = (0.9, 0.95)
K = 10


def timed(searches: dict[str, Callable], queries: np.ndarray, runs: int) -> dict[str, tuple]:
    """Answers and QPS (1 / mean of each query's fastest time) of each search, one query at a
    time; the searches alternate run by run so that both see the same machine load."""
    best = {name: np.full(len(queries), np.inf) for name in searches}
    answers = {name: np.full((len(queries), K), -1, dtype=np.int64) for name in searches}
    for _ in range(runs):
        for name, search in searches.items():
            for i, q in enumerate(queries):
                start = time.perf_counter()
                found = search(q)
                best[name][i] = min(best[name][i], time.perf_counter() - start)
                answers[name][i, : len(found)] = found
    return {name: (answers[name], 1.0 / best[name].mean()) for name in searches}


def timed_batch(searches: dict[str, Callable], queries: np.ndarray, runs: int) -> dict[str, tuple]:
    """Answers and QPS of one call over all queries per run (the fastest run counts), the
    searches alternating run by run."""
    best = dict.fromkeys(searches, np.inf)
    answers = {}
    for _ in range(runs):
        for name, search in searches.items():
            start = time.perf_counter()
            answers[name] = np.asarray(search(queries), dtype=np.int64)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (answers[name], len(queries) / best[name]) for name in searches}


def qps_at(points: list[tuple[float, float]], target: float) -> float:
    """QPS at `target` recall, linear between the sweep points around it; when even the
    smallest ef (k) passes the target, the best QPS at recall >= target; nan if unreached."""
    points = sorted(points)
    for (r0, q0), (r1, q1) in itertools.pairwise(points):
        if r0 <= target <= r1:
            return q0 if r1 == r0 else q0 + (q1 - q0) * (target - r0) / (r1 - r0)
    above = [q for r, q in points if r >= target]
    return max(above) if above else float("nan")


def compare(
    data: Dataset, M: int, ef_construction: int, queries: int, runs: int, threads: int
) -> None:
    """Build both, then the ef sweep; `threads` > 0 times batch calls on that many threads."""
    X, Q = data.train, data.test[:queries]
    ids = np.arange(len(X), dtype=np.int64)
    print(
        f"\n## {data.name}: {X.shape[0]} x {X.shape[1]}, {len(Q)} queries, M={M}, "
        f"efConstruction={ef_construction}"
        + (f", batch mode on {threads} threads" if threads else ", one query at a time"),
        flush=True,
    )
    start, cpu = time.perf_counter(), time.process_time()
    ours = HNSW(X.shape[1], data.metric, M, ef_construction)
    ours.add(X, ids)
    build_ours, cpu_ours = time.perf_counter() - start, time.process_time() - cpu
    print(f"build ours {build_ours:.1f} s ({cpu_ours:.1f} s CPU)", flush=True)
    start, cpu = time.perf_counter(), time.process_time()
    theirs = hnswlib.Index(space=SPACES[data.metric], dim=X.shape[1])
    theirs.init_index(max_elements=len(X), M=M, ef_construction=ef_construction, random_seed=100)
    theirs.set_num_threads(1)
    theirs.add_items(X, ids)
    build_theirs, cpu_theirs = time.perf_counter() - start, time.process_time() - cpu
    print(f"build hnswlib {build_theirs:.1f} s ({cpu_theirs:.1f} s CPU)", flush=True)

    def recall(answers: np.ndarray) -> float:
        distances = neighbor_distances(data.metric, Q, X, answers)
        return float(knn_recall(data.distances[: len(Q)], distances, answers, K).mean())

    curves: dict[str, list[tuple[float, float]]] = {"ours": [], "hnswlib": []}
    print("| ef | recall ours | QPS ours | recall hnswlib | QPS hnswlib | QPS ratio |")
    print("|---|---|---|---|---|---|")
    for ef in EFS:
        theirs.set_ef(ef)
        if threads:
            measured = timed_batch(
                {
                    "ours": lambda Q, ef=ef: ours.batch_search(Q, K, ef, threads)[0],
                    "hnswlib": lambda Q: theirs.knn_query(Q, K, num_threads=threads)[0],
                },
                Q,
                runs,
            )
        else:
            measured = timed(
                {
                    "ours": lambda q, ef=ef: ours.search(q, K, ef)[0],
                    "hnswlib": lambda q: theirs.knn_query(q, K)[0][0],
                },
                Q,
                runs,
            )
        (a_ours, q_ours), (a_theirs, q_theirs) = measured["ours"], measured["hnswlib"]
        r_ours, r_theirs = recall(a_ours), recall(a_theirs)
        curves["ours"].append((r_ours, q_ours))
        curves["hnswlib"].append((r_theirs, q_theirs))
        print(
            f"| {ef} | {r_ours:.4f} | {q_ours:.0f} | {r_theirs:.4f} | {q_theirs:.0f} | "
            f"{q_ours / q_theirs:.2f} |",
            flush=True,
        )
    print(
        f"\nbuild: ours {build_ours:.1f} s wall / {cpu_ours:.1f} s CPU, hnswlib "
        f"{build_theirs:.1f} s / {cpu_theirs:.1f} s; speed ratio (hnswlib time / ours) "
        f"{build_theirs / build_ours:.2f} wall, {cpu_theirs / cpu_ours:.2f} CPU"
    )
    for target in TARGETS:
        a, b = qps_at(curves["ours"], target), qps_at(curves["hnswlib"], target)
        print(f"QPS at recall@10 = {target}: ours {a:.0f}, hnswlib {b:.0f}, ratio {a / b:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--dataset",
        action="append",
        help="repeatable; default glove-50-angular and fashion-mnist-784-euclidean",
    )
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--M", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--queries", type=int, default=2000, help="test queries used")
    parser.add_argument("--runs", type=int, default=3, help="repetitions, fastest counts")
    parser.add_argument("--batch", action="store_true", help="time one call over all queries")
    parser.add_argument("--threads", type=int, help="batch mode's threads (default: all cores)")
    args = parser.parse_args()
    threads = (args.threads or available_cores()) if args.batch else 0
    for name in args.dataset or ["glove-50-angular", "fashion-mnist-784-euclidean"]:
        data = load_dataset(dataset_path(name, args.data_dir))
        compare(data, args.M, args.ef_construction, args.queries, args.runs, threads)


if __name__ == "__main__":
    main()
