"""`python run.py`: run protocols over algorithms and datasets, list them, export results.

With no arguments it runs the quick default suite: every enabled algorithm on the embedded
GloVe sample under the qps-recall protocol, then prints a summary table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness import definitions
from harness.datasets import Dataset, DatasetError, dataset_path, list_datasets, load_dataset
from harness.definitions import DefinitionError
from harness.deletion_sets import POLICIES, resolve_count
from harness.protocols import PROTOCOLS
from harness.protocols.deletion import SINGLES
from harness.report import summary_table
from harness.results import load_results
from harness.runbooks import BUILT_INS, RunbookError, load_runbook
from harness.runner.docker import DockerError
from harness.runner.job import Job
from harness.runner.local import default_memory_limit, pending, run_jobs

DEFAULT_DATASET = "glove-100k-50-angular"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Benchmark ANN indices that must forget: QPS-recall, deletion, erasure.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--dataset", help=f"registry name or HDF5 path (default: {DEFAULT_DATASET})"
    )
    parser.add_argument(
        "--algorithm",
        action="append",
        help="algorithm name from the definitions (repeatable), or 'all'; without it, the "
        "quick default suite (the run groups marked `default: true`)",
    )
    parser.add_argument("--protocol", default="qps-recall", choices=sorted(PROTOCOLS))
    parser.add_argument(
        "--delete-policy", default="random", choices=POLICIES, help="deletion, erasure: which rows"
    )
    parser.add_argument(
        "--delete-count",
        default="0.1",
        type=delete_count,
        help="deletion, erasure: rows to delete, a count (1000) or a fraction of train (0.1)",
    )
    parser.add_argument(
        "--delete-seed", type=int, default=1, help="deletion, erasure, delete-clusters: the seed"
    )
    parser.add_argument(
        "--delete-singles",
        type=int,
        default=SINGLES,
        help="deletion: how many deletes are timed one by one (the rest is one batch)",
    )
    parser.add_argument(
        "--runbook",
        default="sliding-window",
        metavar="NAME|FILE",
        help=f"churn: a built-in ({', '.join(BUILT_INS)}) or a big-ann-benchmarks runbook YAML",
    )
    parser.add_argument("--count", "-k", type=int, default=10, help="neighbours per query")
    parser.add_argument("--runs", type=int, default=5, help="repetitions; the best counts")
    parser.add_argument("--batch", action="store_true", help="time batch_query, not query")
    parser.add_argument(
        "--pr-auc",
        action="store_true",
        help="qps-recall: also the precision-recall curve over k'=1..100 and its area (PR-AUC)",
    )
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds per worker")
    parser.add_argument(
        "--memory-limit", type=float, help="GiB per worker (default: 80%% of RAM / parallelism)"
    )
    parser.add_argument("--parallelism", type=int, default=1, help="workers at once")
    parser.add_argument(
        "--executor",
        default="local",
        choices=("local", "docker", "ray"),
        help="where workers run: subprocesses here, containers of the plugin images, or "
        "Ray tasks on a cluster (docs/cluster.md)",
    )
    parser.add_argument(
        "--ray-address", help="ray executor: the cluster to join (default: a local instance)"
    )
    parser.add_argument(
        "--suite",
        choices=("nightly",),
        help="nightly: every enabled algorithm, every protocol, small datasets; appends to "
        "<results>/nightly/history.csv",
    )
    parser.add_argument("--force", action="store_true", help="redo runs that have results")
    parser.add_argument("--definitions", default="algos.yaml", type=Path)
    parser.add_argument("--results", default="results", type=Path, help="results folder")
    parser.add_argument("--data-dir", default="data", type=Path, help="dataset cache folder")
    parser.add_argument("--list-algorithms", action="store_true")
    parser.add_argument("--list-datasets", action="store_true")
    parser.add_argument(
        "--export", metavar="FILE.csv", type=Path, help="write the results as CSV and stop"
    )
    parser.add_argument(
        "--plot", action="store_true", help="draw the figures (PNG, SVG) of --results and stop"
    )
    parser.add_argument(
        "--website", action="store_true", help="render the static site of --results and stop"
    )
    parser.add_argument(
        "--outputdir", default="website-out", type=Path, help="where --website/--plot write"
    )
    args = parser.parse_args(argv)
    if args.delete_singles < 0:
        parser.error("--delete-singles must be at least 0")
    for name in ("count", "runs", "parallelism"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.timeout <= 0 or (args.memory_limit is not None and args.memory_limit <= 0):
        parser.error("--timeout and --memory-limit must be positive")
    return args


def delete_count(text: str) -> int | float:
    """`--delete-count`: a whole number of rows, or a fraction in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a count nor a fraction") from None
    if value.is_integer() and value >= 1:
        return int(value)
    if 0 < value < 1:
        return value
    raise argparse.ArgumentTypeError(
        f"{text!r}: give a count of rows (1, 2, ...) or a fraction between 0 and 1 (0.1)"
    )


def protocol_args(args: argparse.Namespace, dataset: Dataset) -> dict[str, Any]:
    """The chosen protocol's options, checked against the dataset before any work."""
    if args.protocol in ("deletion", "erasure"):
        try:
            resolve_count(args.delete_count, len(dataset.train))
        except ValueError as error:
            raise DatasetError(f"--delete-count: {error}") from None
        options = {
            "policy": args.delete_policy,
            "count": args.delete_count,
            "seed": args.delete_seed,
        }
        if args.protocol == "deletion":
            options["singles"] = args.delete_singles
        return options
    if args.protocol == "churn":
        runbook = (
            str(Path(args.runbook).resolve()) if Path(args.runbook).is_file() else args.runbook
        )
        load_runbook(runbook, dataset.name, dataset.train, dataset.metric, args.delete_seed)
        seeded = {"seed": args.delete_seed} if args.runbook == "delete-clusters" else {}
        return {"runbook": runbook, **seeded}
    if args.protocol == "qps-recall" and args.pr_auc:
        return {"pr_auc": True}
    return {}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.list_datasets:
            for name, description in list_datasets():
                print(f"{name:32} {description}")
            return 0
        if args.plot or args.website:
            return render(args, args.website)
        algorithms = definitions.load_algorithms(args.definitions)
        if args.list_algorithms:
            for name, algorithm in sorted(algorithms.items()):
                state = " (disabled)" if algorithm.disabled else ""
                print(f"{name:20} {algorithm.description}{state}")
            return 0
        if args.export:
            return export(args)
        if args.suite == "nightly":
            return nightly_suite(args, algorithms)
        return run(args, algorithms)
    except (DatasetError, DefinitionError, RunbookError, DockerError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, algorithms: dict[str, definitions.Algorithm]) -> int:
    requested = args.dataset or DEFAULT_DATASET
    path = dataset_path(requested, args.data_dir)
    name = requested if path != Path(requested) else path.stem
    dataset = load_dataset(path, name=name)
    if args.count > dataset.neighbors.shape[1]:
        raise DatasetError(
            f"--count {args.count} exceeds the {dataset.neighbors.shape[1]} true neighbours "
            f"stored in {path}; use a smaller --count"
        )
    options = protocol_args(args, dataset)
    chosen = definitions.select(algorithms, args.algorithm, dataset.metric)
    for algorithm in chosen:
        definitions.check_importable(algorithm)
    jobs = [
        Job(
            definition=definition,
            dataset=name,
            dataset_path=str(path),
            protocol=args.protocol,
            count=args.count,
            runs=args.runs,
            batch=args.batch,
            results_dir=str(args.results),
            query_groups=definition.query_argument_groups,
            protocol_args=options,
        )
        for algorithm in chosen
        for definition in definitions.expand(
            algorithm, dataset.metric, dataset.dimension, args.count
        )
    ]
    todo, skipped = pending(jobs, args.force)
    if skipped:
        print(f"skipping {skipped} run(s) with results already (use --force to redo them)")
    memory_limit = int((args.memory_limit or 0) * 2**30) or default_memory_limit(args.parallelism)
    execute(args, todo, dataset.metric, memory_limit)
    results = load_results(
        args.results, [name], [a.name for a in chosen], [args.protocol], args.count
    )
    print(f"\n{args.protocol} on {name} (k={args.count}):")
    print(summary_table(results))
    if not args.algorithm and args.suite is None:  # the quick default suite ends on the site
        render(args, site=True)
    return 0


def render(args: argparse.Namespace, site: bool) -> int:
    """`--website` (the site, its figures included) or `--plot` (figures only) from --results."""
    from harness import plots, website  # matplotlib and Jinja2 load only when rendering

    if site:
        index = website.build_site(args.results, args.outputdir)
        print(f"\nwebsite of {args.results}: {index.resolve().as_uri()}")
    else:
        written = plots.plot_all(args.results, args.outputdir / "plots")
        print(f"wrote {len(written)} figure file(s) to {args.outputdir / 'plots'}")
    return 0


def export(args: argparse.Namespace) -> int:
    datasets = [args.dataset] if args.dataset else None
    algorithms = None if not args.algorithm or "all" in args.algorithm else args.algorithm
    results = load_results(args.results, datasets, algorithms)
    args.export.parent.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.export, index=False)
    print(f"wrote {len(results)} run(s) to {args.export}")
    return 0


def execute(args: argparse.Namespace, jobs: list[Job], metric: str, memory_limit: int) -> None:
    """Run the jobs with the chosen executor (docker and Ray are imported only when used)."""
    if args.executor == "docker":
        from harness.runner import docker

        docker.run_jobs(jobs, metric, args.timeout, memory_limit, args.parallelism)
    elif args.executor == "ray":
        from harness.runner import ray_executor

        ray_executor.run_jobs(jobs, metric, args.timeout, memory_limit, args.ray_address)
    else:
        run_jobs(jobs, metric, args.timeout, memory_limit, args.parallelism)


def nightly_suite(args: argparse.Namespace, algorithms: dict[str, definitions.Algorithm]) -> int:
    """`--suite nightly`: run the night, append its history rows, list its regressions."""
    from harness import nightly

    found = nightly.run_suite(args, algorithms, run)
    print(f"\nnightly history: {nightly.history_path(args.results)}")
    print(found.to_string(index=False) if len(found) else "no regressions against last night")
    return 0
