"""The worker process: runs one job's protocol and writes its result files.

Started by a runner as `python -m harness.runner.worker JOB.json STATUS.json [MEMORY_BYTES]`
(the local runner ties it to itself before `exec`, `harness.runner.local.launch`).
An exception is written to STATUS.json (cause, and a detail whose first line is the error
itself, then the traceback) before exiting with code 1; a crash leaves no status and the
runner reads the cause from the exit status.
"""

from __future__ import annotations

import contextlib
import errno
import json
import resource
import sys
import traceback
from pathlib import Path

from harness.core.environment import describe, git_revision
from harness.core.job import Job
from harness.core.results import write_result
from harness.data.datasets import load_dataset
from harness.protocols import PROTOCOLS
from harness.protocols._answers import AnswerError
from harness.runner.local import started_marker

#: Data segment the worker needs beyond what it holds once started, to load a dataset and
#: import a plugin: below it native code (h5py) crashes on a failed allocation instead of
#: raising, so a smaller limit is refused up front.
STARTUP_HEADROOM = 128 * 2**20
#: OSError numbers that mean the disk is full, not that one file is wrong.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
GiB = 2**30


def limit_memory(limit_bytes: int) -> None:
    """Cap the data segment (heap and private mappings): allocations past it fail."""
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    needed = data_segment() + STARTUP_HEADROOM
    if limit_bytes < needed:
        raise MemoryError(
            f"the memory limit of {limit_bytes / GiB:.2f} GiB leaves no room for the job: the "
            f"worker needs about {needed / GiB:.2f} GiB just to start; raise --memory-limit"
        )
    resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, hard))


def data_segment() -> int:
    """Bytes of this process's data segment (what RLIMIT_DATA counts), 0 if unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def failure_cause(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return "memory"
    if isinstance(error, AnswerError):
        return "answers"
    if isinstance(error, OSError) and error.errno in DISK_FULL:
        return "disk"
    return "exception"


def describe_error(error: BaseException) -> str:
    """The error's own line first (what a summary shows), then its traceback."""
    message = str(error).strip().splitlines()
    headline = f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
    return f"{headline}\n{''.join(traceback.format_exception(error))}"


def execute(job: Job) -> None:
    revision = git_revision()  # before the plugin runs: the versions after it, its own too
    dataset = load_dataset(job.dataset_path, name=job.dataset)
    environment = None
    for record in PROTOCOLS[job.protocol].run(job, dataset):
        environment = environment or describe(revision)
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
    job_file, status_file = Path(argv[0]), Path(argv[1])
    try:
        if len(argv) > 2:
            limit_memory(int(argv[2]))
        started_marker(status_file).touch()
        execute(Job.from_json(job_file.read_text()))
    except BaseException as error:  # everything, so the runner learns the cause
        cause, detail = failure_cause(error), describe_error(error)
        status_file.write_text(json.dumps({"cause": cause, "detail": detail}))
        with contextlib.suppress(OSError):  # the log may be on the disk that is full
            print(detail, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
