"""The worker process: runs one job's protocol and writes its result files.

Started by a runner as `python -m harness.runner.worker JOB.json STATUS.json [MEMORY_BYTES]`.
An exception is written to STATUS.json (cause and traceback) before exiting with code 1;
a crash leaves no status and the runner reads the cause from the exit status.
"""

from __future__ import annotations

import ctypes
import json
import resource
import signal
import sys
import traceback
from pathlib import Path

from harness.core.environment import describe
from harness.core.job import Job
from harness.core.results import write_result
from harness.data.datasets import load_dataset
from harness.protocols import PROTOCOLS


def limit_memory(limit_bytes: int) -> None:
    """Cap the data segment (heap and private mappings): allocations past it fail."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, hard))


def die_with_runner() -> None:
    """On Linux, have the kernel kill this worker when the runner dies, even by SIGKILL.

    A runner interrupted with Ctrl-C stops its workers itself; one that is killed outright
    cannot, and its workers would go on computing (and writing results) as orphans.
    """
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)


def execute(job: Job) -> None:
    dataset = load_dataset(job.dataset_path, name=job.dataset)
    environment = None
    for record in PROTOCOLS[job.protocol].run(job, dataset):
        environment = environment or describe()
        write_result(
            job.result_path(record.query_args, record.label_suffix),
            {**job.attrs(record.query_args, dataset.metric), **record.attrs},
            record.arrays,
            job.protocol,
            record.measures,
            record.measure_arrays,
            environment,
        )


def main(argv: list[str]) -> int:
    die_with_runner()
    job_file, status_file = Path(argv[0]), Path(argv[1])
    if len(argv) > 2:
        limit_memory(int(argv[2]))
    try:
        execute(Job.from_json(job_file.read_text()))
    except BaseException as error:  # everything, so the runner learns the cause
        cause = "memory" if isinstance(error, MemoryError) else "exception"
        detail = "".join(traceback.format_exception(error))
        status_file.write_text(json.dumps({"cause": cause, "detail": detail}))
        print(detail, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
