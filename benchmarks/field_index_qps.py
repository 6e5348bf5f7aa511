"""QPS-recall of the field index against hnswlib, from the harness's own qps-recall runs.

Runs (unless `--skip-run`) the harness on one data set for `field-index` and `hnswlib`
(every run group of each in algos.yaml; or `--definitions` for a smaller grid), then prints
each algorithm's Pareto frontier and its best QPS at recall@10 >= 0.90 / 0.95:

    python run.py --dataset glove-50-angular --algorithm field-index --algorithm hnswlib \\
        --data-dir data --results results --runs 3

    python benchmarks/field_index_qps.py [--dataset glove-50-angular] [--data-dir data]
                                         [--results results] [--runs 3] [--skip-run]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import pandas as pd

from harness.core.results import load_results

ALGORITHMS = ("field-index", "hnswlib")


def pareto(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs no other run beats in both recall and QPS, by recall."""
    runs = runs.sort_values(["recall", "qps"], ascending=[False, False])
    best, keep = -1.0, []
    for index, qps in runs["qps"].items():
        if qps > best:
            keep.append(index)
            best = qps
    return runs.loc[keep].sort_values("recall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="glove-50-angular")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--results", default="results")
    parser.add_argument("--definitions", default="algos.yaml")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-run", action="store_true", help="only read existing results")
    args = parser.parse_args()
    if not args.skip_run:
        command = [sys.executable, "run.py", "--dataset", args.dataset, "--runs", str(args.runs)]
        command += ["--data-dir", args.data_dir, "--results", args.results]
        command += ["--definitions", args.definitions]
        for name in ALGORITHMS:
            command += ["--algorithm", name]
        subprocess.run(command, check=True)

    runs = load_results(args.results, [args.dataset], ALGORITHMS, ["qps-recall"])
    runs = runs[runs["status"] == "ok"]
    for name, group in runs.groupby("algorithm"):
        print(f"\n{name}: build {group['build_time'].min():.0f} s")
        print("| parameters | recall@10 | QPS |")
        print("|---|---|---|")
        for _, run in pareto(group).iterrows():
            print(
                f"| {run['build_args']} {run['query_args']} | {run['recall']:.4f} | "
                f"{run['qps']:.0f} |"
            )
        for threshold in (0.90, 0.95):
            above = group[group["recall"] >= threshold]
            best = f"{above['qps'].max():.0f}" if len(above) else "not reached"
            print(f"best QPS at recall >= {threshold:.2f}: {best}")


if __name__ == "__main__":
    main()
