"""A job: one definition on one dataset under one protocol, as handed to a worker."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.definitions import Arguments, Definition, arguments_label, run_label
from harness.results import result_path


@dataclass
class Job:
    """Everything a worker needs; `query_groups` are the runs still to do."""

    definition: Definition
    dataset: str
    dataset_path: str
    protocol: str
    count: int = 10
    runs: int = 3
    batch: bool = False
    results_dir: str = "results"
    query_groups: list[Arguments] = field(default_factory=list)

    def result_path(self, query_args: Arguments) -> Path:
        label = run_label(self.definition.build_args, query_args)
        return result_path(
            self.results_dir,
            self.dataset,
            self.count,
            self.definition.algorithm,
            self.protocol,
            label,
        )

    def attrs(self, query_args: Arguments, metric: str, status: str = "ok") -> dict[str, Any]:
        """The attributes every result file of this job carries."""
        return {
            "status": status,
            "algorithm": self.definition.algorithm,
            "dataset": self.dataset,
            "count": self.count,
            "distance": metric,
            "protocol": self.protocol,
            "build_args": self.definition.build_args,
            "query_args": query_args,
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
