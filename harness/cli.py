"""`python run.py`: run protocols over algorithms and datasets, list them, export, render.

With no arguments it runs the quick default suite (the run groups marked `default: true`)
on the embedded GloVe sample under the qps-recall protocol, prints a summary table and
renders the results website. The flags become a `RunRequest` (`harness.core.request`),
which `harness.benchmark.run` executes; everything else here is printing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import benchmark
from harness.core import definitions
from harness.core.definitions import DefinitionError
from harness.core.request import (
    BUILT_IN_RUNBOOKS,
    DEFAULT_DATASET,
    DELETE_POLICIES,
    DELETE_SINGLES,
    EXECUTORS,
    RequestError,
    RunRequest,
    check_delete_count,
)
from harness.core.results import load_results
from harness.data.datasets import DatasetError
from harness.data.sources import list_datasets
from harness.protocols import PROTOCOLS
from harness.protocols.churn.runbooks import RunbookError
from harness.report.console import regression_table, summary_table
from harness.report.outdir import OutputFolderError
from harness.runner.storage import StorageError
from harness.suites.history import HistoryError

#: Errors the user can fix: exit status 2 with the message, no traceback.
USER_ERRORS = (
    DatasetError,
    DefinitionError,
    RunbookError,
    RequestError,
    StorageError,
    OutputFolderError,
    HistoryError,
)
#: Exit status after Ctrl-C, as a shell reports a process stopped by SIGINT.
INTERRUPTED = 130


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows `(default: X)` only where there is a default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "%(default)" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run.py",
        description="Benchmark ANN indices that must forget: QPS-recall, deletion, erasure.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--dataset", help=f"registry name or HDF5 path (default: {DEFAULT_DATASET})")
    p.add_argument(
        "--algorithm",
        action="append",
        help="algorithm name from the definitions (repeatable): NAME runs its `default: true` "
        "run groups (all if none is marked), NAME:GROUP one group, NAME:all every group; "
        "'all' every enabled algorithm; without it, the quick default suite",
    )
    p.add_argument(
        "--protocol", default="qps-recall", choices=list(PROTOCOLS), help="what to measure"
    )
    p.add_argument(
        "--delete-policy",
        default="random",
        choices=DELETE_POLICIES,
        help="deletion, erasure: which rows",
    )
    p.add_argument(
        "--delete-count",
        default="0.1",
        type=delete_count,
        help="deletion, erasure: rows to delete, a count (1000) or a fraction of train (0.1)",
    )
    p.add_argument("--delete-seed", type=int, default=1, help="deletion, erasure: seed of D")
    p.add_argument(
        "--delete-singles",
        type=int,
        default=DELETE_SINGLES,
        help="deletion: how many deletes are timed one by one (the rest is one batch)",
    )
    p.add_argument(
        "--runbook",
        default="sliding-window",
        metavar="NAME|FILE",
        help=f"churn: a built-in ({', '.join(BUILT_IN_RUNBOOKS)}) or a big-ann-benchmarks "
        "runbook YAML",
    )
    p.add_argument(
        "--runbook-dataset",
        metavar="KEY",
        help="churn: the entry of the runbook file to run (a big-ann-benchmarks dataset key "
        "such as random-xs); without it, the entry named like --dataset",
    )
    p.add_argument(
        "--runbook-seed",
        type=int,
        default=1,
        help="churn: seed of delete-clusters and clustered-rounds",
    )
    p.add_argument(
        "--erasure-seed",
        type=int,
        default=1,
        help="erasure: seed of the membership-inference and control samples",
    )
    p.add_argument("--count", "-k", type=int, default=10, help="neighbours per query")
    p.add_argument("--runs", type=int, default=5, help="repetitions; the best counts")
    p.add_argument("--batch", action="store_true", help="time batch_query, not query")
    p.add_argument(
        "--pr-auc",
        action="store_true",
        help="qps-recall: also the precision-recall curve over k'=1..100 and its area (PR-AUC)",
    )
    p.add_argument("--timeout", type=float, default=7200.0, help="seconds per worker")
    p.add_argument(
        "--memory-limit", type=float, help="GiB per worker; without it, 80%% of RAM / parallelism"
    )
    p.add_argument("--parallelism", type=int, default=1, help="workers at once")
    p.add_argument(
        "--executor",
        default="local",
        choices=EXECUTORS,
        help="where workers run: subprocesses here, containers of the plugin images, or "
        "Ray tasks on a cluster (docs/cluster.md)",
    )
    p.add_argument("--ray-address", help="ray executor: the cluster to join (else a local one)")
    p.add_argument(
        "--suite",
        choices=("nightly",),
        help="nightly: every enabled algorithm's `nightly: true` run groups under every "
        "protocol on the small sets, twice; appends to <results>/nightly/history.csv and "
        "lists regressions beyond each figure's measured noise",
    )
    p.add_argument("--force", action="store_true", help="redo runs that have results")
    p.add_argument("--definitions", default="algos.yaml", type=Path)
    p.add_argument("--results", default="results", type=Path, help="results folder")
    p.add_argument("--data-dir", default="data", type=Path, help="dataset cache folder")
    p.add_argument("--list-algorithms", action="store_true")
    p.add_argument("--list-datasets", action="store_true")
    p.add_argument(
        "--export", metavar="FILE.csv", type=Path, help="write the results as CSV and stop"
    )
    p.add_argument(
        "--plot", action="store_true", help="draw the figures (PNG, SVG) of --results and stop"
    )
    p.add_argument(
        "--website", action="store_true", help="render the static site of --results and stop"
    )
    p.add_argument(
        "--outputdir", default="website-out", type=Path, help="where --website/--plot write"
    )
    return p


def delete_count(text: str) -> int | float:
    """`--delete-count`: a whole number of rows, or a fraction in (0, 1)."""
    try:
        return check_delete_count(float(text))
    except (ValueError, RequestError) as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def request_from(args: argparse.Namespace) -> RunRequest:
    """The run request the flags describe."""
    memory = int(args.memory_limit * 2**30) if args.memory_limit is not None else None
    return RunRequest(
        dataset=args.dataset or DEFAULT_DATASET,
        algorithms=tuple(args.algorithm or ()),
        protocol=args.protocol,
        k=args.count,
        runs=args.runs,
        batch=args.batch,
        force=args.force,
        delete_policy=args.delete_policy,
        delete_count=args.delete_count,
        delete_seed=args.delete_seed,
        delete_singles=args.delete_singles,
        runbook=args.runbook,
        runbook_dataset=args.runbook_dataset,
        runbook_seed=args.runbook_seed,
        erasure_seed=args.erasure_seed,
        pr_auc=args.pr_auc,
        definitions=args.definitions,
        results=args.results,
        data_dir=args.data_dir,
        executor=args.executor,
        ray_address=args.ray_address,
        timeout=args.timeout,
        memory_limit=memory,
        parallelism=args.parallelism,
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.list_datasets:
            for name, description in list_datasets():
                print(f"{name:32} {description}")
            return 0
        if args.plot or args.website:
            return render(args.results, args.outputdir, site=args.website)
        if args.list_algorithms:
            return list_algorithms(args.definitions)
        if args.export:
            return export(args)
        request = request_from(args)
        if args.suite == "nightly":
            return nightly(request, [args.dataset] if args.dataset else None)
        return run(request, args.outputdir)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished runs are kept; run the same command again to do the rest",
            file=sys.stderr,
        )
        return INTERRUPTED


def run(request: RunRequest, outdir: Path) -> int:
    """Run the request, print its summary; the quick default suite ends on the site."""
    results = benchmark.run(request)
    name = results["dataset"].iloc[0] if len(results) else request.dataset
    print(f"\n{request.protocol} on {name} (k={request.k}):")
    print(summary_table(results))
    if request.default_suite:
        render(request.results, outdir, site=True)
    return 0


def list_algorithms(path: Path) -> int:
    for name, algorithm in sorted(definitions.load_algorithms(path).items()):
        state = " (disabled)" if algorithm.disabled else ""
        print(f"{name:20} {algorithm.description}{state}")
    return 0


def render(results: Path, outdir: Path, site: bool) -> int:
    """`--website` (the site, its figures included) or `--plot` (figures only)."""
    from harness.report import figures  # matplotlib, Jinja2: only here
    from harness.report import site as website
    from harness.report.outdir import note_written

    if site:
        index = website.build_site(results, outdir)
        print(f"\nwebsite of {results}: {index.resolve().as_uri()}")
    else:
        written = figures.plot_all(results, outdir / "plots")
        note_written(outdir, written)
        print(f"wrote {len(written)} figure file(s) to {outdir / 'plots'}")
    return 0


def export(args: argparse.Namespace) -> int:
    datasets = [benchmark.dataset_name(args.dataset)] if args.dataset else None
    algorithms = None if not args.algorithm or "all" in args.algorithm else args.algorithm
    if algorithms is not None:
        algorithms = [definitions.algorithm_name(a) for a in algorithms]
    results = load_results(args.results, datasets, algorithms)
    args.export.parent.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.export, index=False)
    print(f"wrote {len(results)} run(s) to {args.export}")
    return 0


def nightly(request: RunRequest, datasets: list[str] | None) -> int:
    """`--suite nightly`: run the night, append its history rows, list its regressions."""
    from harness.suites import history
    from harness.suites import nightly as suite

    found = suite.run_suite(request, datasets)
    print(f"\nnightly history: {history.history_path(request.results)}")
    print(regression_table(found))
    return 0
