"""A job: one definition on one dataset under one protocol, as handed to a worker."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.core.definitions import Arguments, Definition, arguments_label, run_label
from harness.core.results import result_path

#: The protocol options that make a run's variant; others (e.g. how many single deletes
#: are timed) change the measurement, not what is measured.
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

    @property
    def variant(self) -> str:
        """What distinguishes runs of one definition under this protocol, "" if nothing.

        Appended to the run label (`<build>__<query>__<variant>`), so results of different
        deletion policies or runbooks sit side by side; qps-recall paths stay unchanged.
        """
        values = [
            f"{k}={Path(str(v)).stem if k == 'runbook' else v}"
            for k, v in self.protocol_args.items()
            if k in VARIANT_KEYS
        ]
        return re.sub(r"[^A-Za-z0-9=.,_+-]", "_", "_".join(values))

    def result_path(self, query_args: Arguments, suffix: str = "") -> Path:
        """Where a run's file goes; `suffix` tells apart several files of one query group."""
        label = run_label(self.definition.build_args, query_args)
        for part in (self.variant, suffix):
            if part:
                label = f"{label}__{part}"
        return result_path(
            self.results_dir, self.dataset, self.k, self.definition.algorithm, self.protocol, label
        )

    def log_path(self) -> Path:
        """The worker log, one per definition and variant, next to its results."""
        name = "__".join(filter(None, [arguments_label(self.definition.build_args), self.variant]))
        return self.result_path([]).parent / f"{name}.log"

    def attrs(self, query_args: Arguments, metric: str, status: str = "ok") -> dict[str, Any]:
        """The attributes every result file of this job carries (`count` is k, as in
        ann-benchmarks' files)."""
        return {
            "status": status,
            "algorithm": self.definition.algorithm,
            "dataset": self.dataset,
            "count": self.k,
            "distance": metric,
            "protocol": self.protocol,
            "build_args": self.definition.build_args,
            "query_args": query_args,
            "protocol_args": self.protocol_args or None,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def describe(self) -> str:
        return f"{self.definition.algorithm} {arguments_label(self.definition.build_args)}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        data: dict[str, Any] = json.loads(text)
        data["definition"] = Definition(**data["definition"])
        return cls(**data)
