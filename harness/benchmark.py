"""The one entry point: run a `RunRequest` and get its results.

Used by the CLI (`python run.py`), the nightly suite and Python users alike:

    from harness.benchmark import run
    from harness.core.request import RunRequest

    results = run(RunRequest(dataset="random-xs-20-angular", algorithms=("hnswlib",)))

The request's dataset is opened (a registry set is built on first use), the protocol's
options are checked against it, the chosen definitions are expanded into jobs, runs that
already have a finished result of the same identity are skipped (unless `force`; the
identity covers the dataset's and runbook's contents, k, batch mode, `runs` and the protocol
options, `harness.core.identity`), the rest run on the chosen executor, and the request's
results come back as a DataFrame (one row per run, exactly the runs it planned). The data
folder (where a dataset is to be built) and the results folder (once the inputs are checked)
must be writable, else nothing runs; an algorithm asked for twice, or two run groups with the
same build, run once.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.core import definitions
from harness.core.definitions import Algorithm, DefinitionError, combinations
from harness.core.identity import dataset_digest, option_files
from harness.core.job import Job
from harness.core.request import RequestError, RunRequest
from harness.core.results import load_results
from harness.data.datasets import Dataset, DatasetError, load_dataset
from harness.data.sources import DATASETS, dataset_path
from harness.protocols import PROTOCOLS
from harness.runner.local import default_memory_limit, run_local
from harness.runner.scheduling import Limits, Outcome, pending
from harness.runner.storage import building, check_writable


def run(request: RunRequest, algorithms: dict[str, Algorithm] | None = None) -> pd.DataFrame:
    """Run what `request` asks for; its runs' results (finished earlier ones included).

    `algorithms` replaces the request's definitions file (e.g. the nightly suite's chosen
    run groups); the request's `algorithms` names still select among them.
    """
    if request.protocol not in PROTOCOLS:
        raise RequestError(
            f"unknown protocol {request.protocol!r}: use one of {', '.join(PROTOCOLS)}"
        )
    known = (
        algorithms if algorithms is not None else definitions.load_algorithms(request.definitions)
    )
    dataset, path = open_dataset(request)
    selected = definitions.select(known, request.algorithms or None, dataset.metric)
    chosen = list({a.name: a for a in selected}.values())  # asked for twice: run once
    for algorithm in chosen:
        definitions.check_importable(algorithm)
        check_grids(algorithm)
    jobs = plan_jobs(request, chosen, dataset, path)
    planned = [job.run_id(q) for job in jobs for q in job.query_groups]
    folders = {job.result_path(q).parent for job in jobs for q in job.query_groups}
    todo, skipped = pending(jobs, request.force)
    if skipped:
        print(f"skipping {skipped} run(s) with results already (use --force to redo them)")
    if todo:
        check_writable(request.results, "--results")
    execute(request, todo, dataset.metric)
    return load_results(request.results, runs=planned, folders=folders)


def open_dataset(request: RunRequest) -> tuple[Dataset, Path]:
    """The request's dataset (named by its registry name, or by its file's stem) and file."""
    if request.dataset in DATASETS and not Path(request.dataset).is_file():
        check_writable(request.data_dir, "--data-dir")
    with building(request.data_dir, "--data-dir"):
        path = dataset_path(request.dataset, request.data_dir)
    name = dataset_name(request.dataset)
    dataset = load_dataset(path, name=name)
    stored = dataset.neighbors.shape[1]
    if request.k > stored:
        raise DatasetError(
            f"--count {request.k} exceeds the {stored} true neighbours stored in {path}; "
            "use a smaller --count"
        )
    return dataset, path


def dataset_name(dataset: str) -> str:
    """The name a dataset's runs are stored under: a file's stem, else its registry name."""
    return Path(dataset).stem if Path(dataset).is_file() else dataset


def check_grids(algorithm: Algorithm) -> None:
    """Every run group expands to at least one build and one query group (an axis given as
    an empty list would silently run nothing)."""
    for group, spec in algorithm.run_groups.items():
        for key in ("args", "query_args"):
            if not combinations(spec.get(key, [])):
                raise DefinitionError(
                    f"algorithm {algorithm.name!r}: run group {group!r}: {key!r} expands to "
                    "no combination (an axis is an empty list); give every axis a value"
                )


def plan_jobs(
    request: RunRequest, chosen: list[Algorithm], dataset: Dataset, path: Path
) -> list[Job]:
    """One job per distinct build of every chosen algorithm, with all its distinct query
    groups (run groups that share a build share its job). The input files are hashed here,
    once for all jobs (`harness.core.identity`)."""
    options = PROTOCOLS[request.protocol].options(request, dataset)
    dataset_sha256, files = dataset_digest(path), option_files(options)
    jobs: dict[Path, Job] = {}
    for algorithm in chosen:
        for definition in definitions.expand(
            algorithm, dataset.metric, dataset.dimension, request.k
        ):
            job = Job(
                definition=definition,
                dataset=dataset.name,
                dataset_path=str(path),
                protocol=request.protocol,
                k=request.k,
                runs=request.runs,
                batch=request.batch,
                results_dir=str(request.results),
                query_groups=definition.query_argument_groups,
                protocol_args=options,
                dataset_sha256=dataset_sha256,
                option_files=files,
            )
            same = jobs.setdefault(job.log_path(), job)
            if same is not job:
                same.query_groups = same.query_groups + job.query_groups
    for job in jobs.values():
        job.query_groups = list({job.result_path(q): q for q in job.query_groups}.values())
    return list(jobs.values())


def execute(request: RunRequest, jobs: list[Job], metric: str) -> list[Outcome]:
    """Run the jobs on the request's executor (docker and Ray are imported only when used)."""
    memory = request.memory_limit or default_memory_limit(request.parallelism)
    limits = Limits(request.timeout, memory)
    if request.executor == "docker":
        from harness.runner.docker import run_docker

        return run_docker(jobs, metric, limits, request.parallelism)
    if request.executor == "ray":
        from harness.runner.ray_executor import run_ray

        return run_ray(jobs, metric, limits, request.ray_address)
    return run_local(jobs, metric, limits, request.parallelism)
