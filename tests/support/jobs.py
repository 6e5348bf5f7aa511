"""Building runner jobs by hand, for tests that drive the runner without the CLI."""

from __future__ import annotations

from pathlib import Path

from harness.core.definitions import Arguments, Definition
from harness.core.job import Job


def make_job(
    module: str,
    constructor: str,
    dataset: Path,
    results: Path,
    build_args: Arguments | None = None,
    query_args: Arguments | None = None,
) -> Job:
    """A one-query-group qps-recall job (one run) of a plugin on a euclidean dataset."""
    query_args = [] if query_args is None else query_args
    definition = Definition(
        algorithm=constructor.lower(),
        module=module,
        constructor=constructor,
        docker_image="none",
        arguments=["euclidean"],
        build_args={} if build_args is None else build_args,
        query_argument_groups=[query_args],
    )
    return Job(
        definition,
        dataset="tiny",
        dataset_path=str(dataset),
        protocol="qps-recall",
        runs=1,
        results_dir=str(results),
        query_groups=[query_args],
    )


def fault_job(constructor: str, dataset: Path, results: Path) -> Job:
    """A job of one of `tests.support.fault_plugins` (or the plain `BruteForce`)."""
    module = "plugins.bruteforce.module" if constructor == "BruteForce" else FAULTS
    return make_job(module, constructor, dataset, results)


FAULTS = "tests.support.fault_plugins"
