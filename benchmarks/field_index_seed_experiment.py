"""Seed 000's experiment: a negative vector deletes nothing in FAISS, a -1 weight does in a field.

For each data set (100k random unit vectors in 128-d, seeded; glove-50-angular's 390k base
words), `--targets` random rows are "deleted" twice:

- FAISS: a flat inner-product index over the unit vectors gets -v added for each target;
  the target's rank for its own query (1 = still the top answer) is reported.
- Field index (exact flat candidates): `delete` appends (v, -1). Reported: the target's own
  net contribution at v and phi(v) before and after, and whether the target is returned in
  the top 10 for its own query in either query mode.

phi(v) is the whole field, so it also holds the neighbours' kernels: with the default sigma
(median nearest-neighbour distance) it drops by exactly 1, with a sigma below the gaps
(`--narrow-sigma`) it goes from 1 to 0, the seed's figure. Targets are deleted one at a
time, so "phi drop - 1" is the error of phi(v) falling by exactly v's own kernel.

    python benchmarks/field_index_seed_experiment.py [--data-dir data] [--targets 20]
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from algorithms.field_index import FieldIndex
from harness.data.sources import get_dataset

K = 10


def unit(X: np.ndarray) -> np.ndarray:
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def faiss_negative_insert(X: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Rank (1-based) of each target for its own query after adding -target to IndexFlatIP."""
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(X)
    index.add(-X[targets])
    _, found = index.search(X[targets], K)
    return np.array(
        [
            list(row).index(t) + 1 if t in row else K + 1
            for t, row in zip(targets, found, strict=True)
        ]
    )


def field_delete(X: np.ndarray, targets: np.ndarray, sigma: float | None) -> dict[str, float]:
    """Delete the targets one by one; phi(v) just before and just after each one's delete."""
    index = FieldIndex("angular", X.shape[1], sigma=sigma, candidates="flat")
    index.fit(X, np.arange(len(X)))
    own, own_after, phi, phi_after = [], [], [], []
    for t in targets:
        own.append(index.contribution(int(t), X[t]))
        phi.append(index.field(X[t]))
        index.delete(np.array([t]))
        own_after.append(index.contribution(int(t), X[t]))
        phi_after.append(index.field(X[t]))
    returned = {
        mode: int(sum(int(t) in index.search(X[t], K, mode=mode) for t in targets))
        for mode in ("contribution", "gradient")
    }
    return {
        "sigma": index.sigma,
        "own_before": float(np.mean(own)),
        "own_after_max": float(np.max(np.abs(own_after))),
        "phi_before": float(np.mean(phi)),
        "phi_after": float(np.mean(phi_after)),
        "phi_drop_error": float(np.max(np.abs(np.subtract(phi, phi_after) - 1.0))),
        "returned_contribution": returned["contribution"],
        "returned_gradient": returned["gradient"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument(
        "--narrow-sigma", type=float, default=0.1, help="a chord-distance sigma below the gaps"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sets = {
        "random-100k-128 (unit)": unit(rng.normal(size=(100_000, 128))),
        "glove-50-angular (390k)": unit(get_dataset("glove-50-angular", args.data_dir).train),
    }
    print(
        "| data | FAISS: target rank after +(-v) | field sigma | own contribution "
        "before -> max after | phi(v) before -> after | phi drop - 1 (max) "
        "| returned (contribution / gradient) | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with threadpool_limits(1):
        for name, X in sets.items():
            targets = np.random.default_rng(1).choice(len(X), args.targets, replace=False)
            ranks = faiss_negative_insert(X, targets)
            for sigma in (None, args.narrow_sigma):
                start = time.perf_counter()
                m = field_delete(X, targets, sigma)
                label = f"{m['sigma']:.3f}" + (" (default)" if sigma is None else "")
                print(
                    f"| {name} | {np.mean(ranks == 1):.0%} at rank 1 | {label} "
                    f"| {m['own_before']:.3f} -> {m['own_after_max']:.1e} "
                    f"| {m['phi_before']:.4g} -> {m['phi_after']:.4g} "
                    f"| {m['phi_drop_error']:.1e} "
                    f"| {m['returned_contribution']} / {m['returned_gradient']} "
                    f"of {len(targets)} | {time.perf_counter() - start:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
