"""Our HNSW after deletion against rebuilds on X \\ D: recall@10 at equal ef, and the costs.

On glove-100k-50-angular (M=16, efConstruction=200): one index on all rows; for each deletion
set (`random` and `cluster` policies of `harness.protocols.deletion.sets`, each
`--fractions`, seed 0)
a copy of it deletes the set in one call (timed), and `--rebuilds` indices are built on the
rows left with seeds 0, 1, ... (the first timed). Recall@10 of the 1000 test queries against
the exact neighbours among the rows left, at each `--ef`: the repaired index, the rebuilds'
mean and range (a rebuild's recall varies with its seed). Times are CPU times of the process,
single-threaded.

    python benchmarks/hnsw_delete_recall.py [--data-dir data] [--fractions 0.1 0.5]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits

from algorithms.hnsw import HNSW
from harness.core.scoring import knn_recall
from harness.data.groundtruth import ground_truth
from harness.data.sources import get_dataset
from harness.protocols._measure import neighbor_distances
from harness.protocols.deletion.sets import deletion_set

K = 10
BUILD = {"M": 16, "ef_construction": 200}


def built(X: np.ndarray, ids: np.ndarray, seed: int) -> tuple[HNSW, float]:
    start = time.process_time()
    index = HNSW(X.shape[1], "angular", seed=seed, **BUILD)
    index.add(X, ids)
    return index, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.5])
    parser.add_argument("--ef", type=int, nargs="+", default=[10, 20, 40, 80])
    parser.add_argument("--rebuilds", type=int, default=3)
    args = parser.parse_args()
    data = get_dataset("glove-100k-50-angular", args.data_dir)
    X, Q = data.train, data.test
    print(
        "| policy | deleted | delete s | rebuild s | rebuild / delete | "
        + " | ".join(f"ef={ef}: repaired - rebuilds' mean (their range)" for ef in args.ef)
        + " |"
    )
    print("|---|---|---|---|---|" + "---|" * len(args.ef))
    with threadpool_limits(1), tempfile.TemporaryDirectory() as saved:
        built(X, np.arange(len(X)), 0)[0].save(saved)
        for policy in ("random", "cluster"):
            for fraction in args.fractions:
                deleted = deletion_set(X, "angular", policy, fraction, seed=0)
                kept = np.setdiff1d(np.arange(len(X)), deleted)
                truth = ground_truth(X, Q, "angular", K, kept)[1]

                def recall(index: HNSW, ef: int, truth: np.ndarray = truth) -> float:
                    found = index.batch_search(Q, K, ef, threads=1)[0]
                    distances = neighbor_distances("angular", Q, X, found)
                    return float(knn_recall(truth, distances, found, K).mean())

                index = HNSW.load(saved)
                start = time.process_time()
                index.delete(deleted)
                delete = time.process_time() - start
                rebuilds = [built(X[kept], kept, seed) for seed in range(args.rebuilds)]
                cells = []
                for ef in args.ef:
                    ref = [recall(r, ef) for r, _ in rebuilds]
                    cells.append(
                        f"{recall(index, ef) - np.mean(ref):+.4f} ({min(ref):.4f}-{max(ref):.4f})"
                    )
                print(
                    f"| {policy} | {fraction:.0%} | {delete:.2f} | {rebuilds[0][1]:.1f} | "
                    f"{rebuilds[0][1] / delete:.1f} | " + " | ".join(cells) + " |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
