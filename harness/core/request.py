"""A run request: everything one benchmark invocation asks for, as plain data.

The CLI builds one from its flags, the nightly suite one per (dataset, protocol), and a
Python user writes one directly; `harness.benchmark.run` takes it. Values are checked here,
at the edge, so the modules below trust them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATASET = "glove-100k-50-angular"
EXECUTORS = ("local", "docker", "ray")
DELETE_POLICIES = ("random", "cluster")
BUILT_IN_RUNBOOKS = ("sliding-window", "delete-clusters", "clustered-rounds")
#: Single deletions the deletion protocol times one by one, by default.
DELETE_SINGLES = 1000


class RequestError(ValueError):
    """A request that cannot run as given; the message says what to change."""


@dataclass(frozen=True)
class RunRequest:
    """One benchmark invocation: which runs, measured how, written where, executed where."""

    dataset: str = DEFAULT_DATASET  # registry name or path of an ann-benchmarks HDF5 file
    #: Algorithm names from the definitions; `("all",)` every enabled one with all its run
    #: groups; empty: the quick default suite (the run groups marked `default: true`).
    algorithms: tuple[str, ...] = ()
    protocol: str = "qps-recall"
    k: int = 10
    runs: int = 5
    batch: bool = False
    force: bool = False
    # protocol options
    delete_policy: str = "random"
    delete_count: int | float = 0.1  # rows, or a fraction of train in (0, 1)
    delete_seed: int = 1  # the deletion set D
    delete_singles: int = DELETE_SINGLES
    runbook: str = "sliding-window"
    #: The entry of a runbook file to run (its dataset key); None: the one named like the
    #: dataset.
    runbook_dataset: str | None = None
    runbook_seed: int = 1  # the seeded built-in runbooks (delete-clusters, clustered-rounds)
    erasure_seed: int = 1  # the membership-inference and control samples
    pr_auc: bool = False
    # files
    definitions: Path = field(default=Path("algos.yaml"))
    results: Path = field(default=Path("results"))
    data_dir: Path = field(default=Path("data"))
    # execution
    executor: str = "local"
    ray_address: str | None = None
    timeout: float = 7200.0
    memory_limit: int | None = None  # bytes per worker; None: a share of this machine's RAM
    parallelism: int = 1

    def __post_init__(self) -> None:
        for name in ("k", "runs", "parallelism"):
            if getattr(self, name) < 1:
                raise RequestError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.delete_singles < 0:
            raise RequestError(f"delete_singles must be at least 0, got {self.delete_singles}")
        if self.timeout <= 0:
            raise RequestError(f"timeout must be positive, got {self.timeout}")
        if self.memory_limit is not None and self.memory_limit <= 0:
            raise RequestError(f"memory_limit must be positive, got {self.memory_limit}")
        if self.executor not in EXECUTORS:
            raise RequestError(f"unknown executor {self.executor!r}: use {', '.join(EXECUTORS)}")
        if self.delete_policy not in DELETE_POLICIES:
            raise RequestError(
                f"unknown deletion policy {self.delete_policy!r}: use {', '.join(DELETE_POLICIES)}"
            )
        object.__setattr__(self, "delete_count", check_delete_count(self.delete_count))
        object.__setattr__(self, "algorithms", tuple(self.algorithms))
        for name in ("definitions", "results", "data_dir"):
            object.__setattr__(self, name, Path(getattr(self, name)))

    @property
    def default_suite(self) -> bool:
        return not self.algorithms


def check_delete_count(count: int | float) -> int | float:
    """A whole number of rows (>= 1) or a fraction in (0, 1); anything else is refused."""
    if isinstance(count, bool) or not isinstance(count, int | float):
        raise RequestError(f"delete_count must be a number, got {count!r}")
    if isinstance(count, float) and count.is_integer() and count >= 1:
        return int(count)
    if (isinstance(count, int) and count >= 1) or (isinstance(count, float) and 0 < count < 1):
        return count
    raise RequestError(
        f"delete_count {count!r}: give a count of rows (1, 2, ...) or a fraction between 0 "
        "and 1 (0.1)"
    )
