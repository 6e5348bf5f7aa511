"""The USR-LSH paper's Fig. 4 (seed 002, sec. 4.6): mean time of one deletion in USR-LSH
(hard removal, alpha recomputed from running sums, no rehash) against rebuilding ScaNN,
Annoy and FAISS IVFPQ-fastscan on the remaining points at the same n, as ratios.

Ten points are deleted one at a time; each baseline is rebuilt `--rebuilds` times on
X minus the deleted point (the paper retrains after each deletion) with the first, cheapest
definition of its algos.yaml entry (the paper picks the fastest-training settings).

    python benchmarks/lsh_delete_vs_rebuild.py --data-dir /tmp/dsdata
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from harness.core import definitions
from harness.data.datasets import load_dataset
from harness.data.sources import dataset_path
from harness.protocols._measure import rebuild
from harness.protocols.deletion.protocol import delete_costs

LSH = ("usr-lsh", "simhash", "sblsh")
BASELINES = ("scann", "annoy", "faiss-ivfpqfs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="glove-100k-50-angular")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--m", type=int, default=20, help="Table 2's highest GloVe setting")
    parser.add_argument("--deletes", type=int, default=10)
    parser.add_argument("--rebuilds", type=int, default=2)
    args = parser.parse_args()
    data = load_dataset(dataset_path(args.dataset, args.data_dir))
    algorithms = definitions.load_algorithms(Path("algos.yaml"))
    deleted = np.random.default_rng(0).choice(len(data.train), args.deletes, replace=False)
    seconds: dict[str, float] = {}
    for name in LSH:
        definition = definitions.expand(algorithms[name], data.metric, data.dimension, 10)[0]
        plugin = replace(
            definition, build_args={**definition.build_args, "m": args.m}
        ).instantiate()
        plugin.fit(data.train)
        seconds[name] = delete_costs(plugin, deleted, args.deletes)["single_mean"]
        print(f"{name} (m={args.m}): {seconds[name] * 1e3:.3f} ms per delete", flush=True)
        plugin.done()
    rows = np.setdiff1d(np.arange(len(data.train)), deleted[:1])
    for name in BASELINES:
        definition = definitions.expand(algorithms[name], data.metric, data.dimension, 10)[0]
        times = []
        for _ in range(args.rebuilds):
            elapsed, plugin = rebuild(definition, data.train, rows)
            plugin.done()
            times.append(elapsed)
        seconds[name] = float(np.mean(times))
        print(f"{name} {definition.build_args}: rebuild {seconds[name]:.2f} s", flush=True)
    base = seconds["usr-lsh"]
    print(f"\n{args.dataset}, n = {len(data.train)}")
    print("| method | seconds per deletion | / USR-LSH delete |")
    print("|---|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value:.6f} | {value / base:,.0f}x |")


if __name__ == "__main__":
    main()
