"""A job: one definition on one dataset under one protocol, as handed to a worker."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.core import identity as identities
from harness.core import pathnames
from harness.core.definitions import Arguments, Definition
from harness.core.results import ANN_ALGORITHM, is_finished, result_path

#: The protocol options that make a run's variant, in this order; others (e.g. how many
#: single deletes are timed, the erasure samples' seed) change the measurement, not what is
#: measured: they are in the run's identity, and a run with other values replaces its file.
VARIANT_KEYS = (
    "policy",
    "delete_count",
    "delete_seed",
    "runbook",
    "runbook_dataset",
    "runbook_seed",
)


@dataclass
class Job:
    """Everything a worker needs; `query_groups` are the runs still to do."""

    definition: Definition
    dataset: str
    dataset_path: str
    protocol: str
    k: int = 10
    runs: int = 3
    batch: bool = False
    results_dir: str = "results"
    query_groups: list[Arguments] = field(default_factory=list)
    #: Options of the protocol (deletion policy, runbook, ...); they name the run's variant.
    protocol_args: dict[str, Any] = field(default_factory=dict)
    #: Content digests of the input files: the dataset's, and those of the protocol options
    #: that name a file (e.g. `runbook`). Taken once by the planner (`harness.core.identity`),
    #: so a worker, a container or a Ray node never rehashes them.
    dataset_sha256: str = ""
    option_files: dict[str, str] = field(default_factory=dict)

    @property
    def variant(self) -> str:
        """What distinguishes runs of one definition under this protocol, "" if nothing.

        A label group of the run (`<build>__<query>__<variant>`), so results of different
        deletion sets or runbooks sit side by side; a runbook file is named by its stem.
        """
        chosen = {
            key: Path(str(self.protocol_args[key])).stem if key == "runbook" else value
            for key in VARIANT_KEYS
            if (value := self.protocol_args.get(key)) is not None
        }
        return pathnames.options_label(chosen)

    def result_path(self, query_args: Arguments, suffix: str = "") -> Path:
        """Where a run's file goes; `suffix` tells apart several files of one query group."""
        label = pathnames.run_label(
            pathnames.arguments_label(self.definition.build_args),
            pathnames.arguments_label(query_args),
            self.variant,
            pathnames.suffix_label(suffix),
        )
        return result_path(
            self.results_dir,
            self.dataset,
            self.k,
            self.definition.algorithm,
            self.protocol,
            label,
            self.batch,
        )

    def log_path(self) -> Path:
        """The worker log, one per definition and variant, next to its results."""
        name = pathnames.run_label(
            pathnames.arguments_label(self.definition.build_args), self.variant
        )
        return self.result_path([]).parent / f"{name}.log"

    def take_digests(self) -> None:
        """Hash the input files now if the planner has not (a job built by hand)."""
        if not self.dataset_sha256:
            self.dataset_sha256 = identities.dataset_digest(self.dataset_path)
            self.option_files = identities.option_files(self.protocol_args)

    def identity(self, query_args: Arguments) -> dict[str, Any]:
        """Everything that makes one run's figures (`harness.core.identity`)."""
        self.take_digests()
        definition = self.definition
        return {
            "version": identities.IDENTITY_VERSION,
            "dataset": self.dataset,
            "dataset_sha256": self.dataset_sha256,
            "algorithm": definition.algorithm,
            "module": definition.module,
            "constructor": definition.constructor,
            "arguments": definition.arguments,
            "build_args": definition.build_args,
            "query_args": query_args,
            "protocol": self.protocol,
            "protocol_args": identities.identified_options(self.protocol_args, self.option_files),
            "k": self.k,
            "batch": self.batch,
            "runs": self.runs,
        }

    def run_id(self, query_args: Arguments) -> str:
        """The digest of a run's identity: what `load_results` calls its `run_id`."""
        return identities.digest(identities.canonical(self.identity(query_args)))

    def is_finished(self, query_args: Arguments) -> bool:
        """A successful result of exactly this run exists (failed and stale ones do not count)."""
        return is_finished(self.result_path(query_args), self.identity(query_args))

    def attrs(self, query_args: Arguments, metric: str, status: str = "ok") -> dict[str, Any]:
        """The attributes every result file of this job carries: ann-benchmarks' (`algo`,
        `batch_mode`, `run_count`, `count` = k, `distance`, `dataset`), the original names
        and arguments, and the run's identity."""
        return {
            "status": status,
            "algorithm": self.definition.algorithm,
            ANN_ALGORITHM: self.definition.algorithm,
            "dataset": self.dataset,
            "count": self.k,
            "distance": metric,
            "protocol": self.protocol,
            "build_args": self.definition.build_args,
            "query_args": query_args,
            "protocol_args": self.protocol_args or None,
            "batch_mode": self.batch,
            "run_count": self.runs,
            "identity": identities.canonical(self.identity(query_args)),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def describe(self) -> str:
        return (
            f"{self.definition.algorithm} {pathnames.arguments_label(self.definition.build_args)}"
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        data: dict[str, Any] = json.loads(text)
        data["definition"] = Definition(**data["definition"])
        return cls(**data)
