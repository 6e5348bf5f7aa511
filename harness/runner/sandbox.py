"""The container a job runs in, and what comes back out of it.

A plugin is untrusted code: its container runs as a fixed unprivileged user with no
capabilities, no way to gain privileges, a process limit, no network, a read-only root
filesystem with a small tmpfs, and one writable folder: the job's own, a fresh host folder.
The dataset and its ground truth (computed by the host beforehand) are mounted read-only;
the results folder is not mounted at all. After the container ends, the runner copies the
job's own result files (and nothing else: no link, no other run's name) into the results
folder, so they are owned by the caller, and deletes the job folder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.core.environment import REVISION_VARIABLE, THREAD_VARIABLES
from harness.core.io import PARTIAL
from harness.core.job import Job
from harness.data.gt_cache import cache_dir

#: The container's user and group: in the range 65520-65533, which Debian reserves and
#: systemd leaves unused, so no account or service of the host owns files with it.
SANDBOX_UID = 65530
PIDS_LIMIT = 256  # processes and threads of a container
TMPFS = {"/tmp": "rw,nosuid,nodev,size=64m"}
SHM_SIZE = 64 * 2**20
CODE = "/home/app"  # the image's working directory (its tests; the code is installed)
DATA = "/data"
JOB = "/job"  # the job's folder: job.json, status.json, results/, tmp/
STATUS_LIMIT = 2**20  # bytes of status.json read back, at most


def container_job(job: Job) -> Job:
    """The job as the worker inside the container sees it: paths under the mounts."""
    inner = Job.from_json(job.to_json())
    inner.dataset_path = f"{DATA}/{Path(job.dataset_path).name}"
    inner.results_dir = f"{JOB}/results"
    return inner


def container_arguments(
    job: Job,
    folder: Path,
    memory_limit: int,
    cpuset: str,
    labels: dict[str, str],
    revision: str,
) -> dict[str, Any]:
    """The keyword arguments of `client.containers.run` for one job (a pure function);
    `folder` is the host folder mounted as the job's (see `make_job_folder`)."""
    dataset = Path(job.dataset_path).resolve()
    volumes = {
        str(folder.resolve()): {"bind": JOB, "mode": "rw"},
        str(dataset): {"bind": f"{DATA}/{dataset.name}", "mode": "ro"},
    }
    groundtruth = cache_dir(dataset, job.dataset)
    if groundtruth.is_dir():  # computed by the host beforehand (`docker.prepare_ground_truth`)
        inside = cache_dir(container_job(job).dataset_path, job.dataset)
        volumes[str(groundtruth)] = {"bind": str(inside), "mode": "ro"}
    threads = len(cpuset.split(",")) if job.batch else 1  # batch mode: every CPU it is given
    environment = dict.fromkeys(THREAD_VARIABLES, str(threads))
    environment.update(
        PYTHONFAULTHANDLER="1",
        HOME="/tmp",
        TMPDIR=f"{JOB}/tmp",  # large temporary files (saved indices) go to the host's disk
        **{REVISION_VARIABLE: revision},
    )
    worker = f"python -m harness.runner.worker {JOB}/job.json {JOB}/status.json {memory_limit}"
    return {
        "image": job.definition.docker_image,
        # files the worker makes are the runner's to read and delete (the folder is private)
        "command": ["sh", "-c", f"umask 0 && exec {worker}"],
        "volumes": volumes,
        "environment": environment,
        "working_dir": CODE,
        "user": f"{SANDBOX_UID}:{SANDBOX_UID}",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "pids_limit": PIDS_LIMIT,
        "read_only": True,
        "tmpfs": dict(TMPFS),
        "shm_size": SHM_SIZE,
        "network_mode": "none",
        "cpuset_cpus": cpuset,
        "mem_limit": memory_limit,
        "memswap_limit": memory_limit,  # no swap beyond the limit: exceeding it is an OOM kill
        "init": True,  # a real PID 1, so a crashing worker dies of its signal
        "labels": labels,
        "detach": True,
    }


def make_job_folder(folder: Path, job: Job) -> Path:
    """Inside the private `folder` (0700, the caller's), the job's folder that the container
    may write: world-writable, since the container's user is nobody on this host."""
    inner = folder / "job"
    for path in (inner, inner / "tmp"):
        path.mkdir()
        path.chmod(0o777)
    (inner / "job.json").write_text(container_job(job).to_json())
    return inner


def check_readable(path: Path) -> None:
    """The container's user, a stranger to this host, can read `path` (a dataset, a ground
    truth file) only if everyone may; say how to allow it rather than fail inside."""
    mode = path.stat().st_mode
    needed = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0)
    if mode & needed != needed:
        kind = "folder" if path.is_dir() else "file"
        raise PermissionError(
            f"the container's user cannot read the {kind} {path} (mode {stat.filemode(mode)}): "
            f"allow it with `chmod o+r{'x' if path.is_dir() else ''} {path}`"
        )


def harvest(job: Job, inner: Path) -> Path | None:
    """Copy the job's result files out of its folder into the results folder (written
    atomically, owned by the caller); return the worker's status file, checked, or None.

    Only regular files count (a link the plugin planted would point into the host), and
    only the names of this job's runs in this job's run folder.
    """
    results = inner / "results"
    run_folder = job.result_path([]).parent.relative_to(job.results_dir)
    for path in _regular_files(results):
        relative = path.relative_to(results)
        if relative.parent == run_folder and _is_own_run(job, relative.name):
            _copy_into_place(path, Path(job.results_dir) / relative)
    return _checked_status(inner / "status.json")


def _is_own_run(job: Job, name: str) -> bool:
    for query_args in job.query_groups:
        stem = job.result_path(query_args).stem
        if name == f"{stem}.hdf5" or (name.startswith(f"{stem}__") and name.endswith(".hdf5")):
            return PARTIAL not in name
    return False


def _regular_files(top: Path) -> Iterator[Path]:
    """Regular files under `top`, never following a link (nor `top` itself if it is one)."""
    if not top.is_dir() or top.is_symlink():
        return
    for directory, _, names in os.walk(top, followlinks=False):
        for name in names:
            path = Path(directory) / name
            if stat.S_ISREG(path.lstat().st_mode):
                yield path


def _copy_into_place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}{PARTIAL}{os.getpid()}")
    descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, "rb") as src, partial.open("wb") as out:
        shutil.copyfileobj(src, out)
    os.replace(partial, target)


def _checked_status(path: Path) -> Path | None:
    """The worker's status file if it is a regular file holding a cause and a detail."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        text = f.read(STATUS_LIMIT + 1)
    try:
        status = json.loads(text) if len(text) <= STATUS_LIMIT else None
    except ValueError:
        status = None
    valid = (
        isinstance(status, dict)
        and status.get("cause") in ("memory", "exception")
        and isinstance(status.get("detail"), str)
    )
    if not valid:
        return None
    checked = path.parent.parent / "status.json"  # in the private folder, out of reach
    checked.write_text(json.dumps({"cause": status["cause"], "detail": status["detail"]}))
    return checked
