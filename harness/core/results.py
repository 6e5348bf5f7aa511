"""Result files: one HDF5 per run in the ann-benchmarks layout, written atomically.

`results/<dataset>/<k>/<algorithm>/<protocol>/<run label>.hdf5` holds the run's attributes
(algorithm, parameters, build time, index size, status), the `times`, `neighbors` and
`distances` datasets, one group named after the protocol with its own measures, and an
`environment` group. A failed run is a file with `status = failed` and its cause.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from harness.core.io import atomic_path


@dataclass
class RunRecord:
    """What a protocol produces for one run (one build and one query-argument group)."""

    query_args: Any
    attrs: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    measures: dict[str, Any] = field(default_factory=dict)
    measure_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    #: Appended to the run label when one query group yields several files (erasure states).
    label_suffix: str = ""


def result_path(
    root: str | Path, dataset: str, count: int, algorithm: str, protocol: str, label: str
) -> Path:
    return Path(root) / dataset / str(count) / algorithm / protocol / f"{label}.hdf5"


def write_result(
    path: Path,
    attrs: dict[str, Any],
    arrays: dict[str, np.ndarray] | None = None,
    protocol: str | None = None,
    measures: dict[str, Any] | None = None,
    measure_arrays: dict[str, np.ndarray] | None = None,
    environment: dict[str, str] | None = None,
) -> None:
    """Write one result file atomically (`harness.core.io.atomic_path`): a process killed
    mid-write leaves only a partial file, which readers ignore and the runner removes."""
    with atomic_path(path) as partial, h5py.File(partial, "w") as f:
        _set_attrs(f.attrs, attrs)
        for name, array in (arrays or {}).items():
            f.create_dataset(name, data=array)
        if protocol is not None:
            group = f.create_group(protocol)
            _set_attrs(group.attrs, measures or {})
            for name, array in (measure_arrays or {}).items():
                group.create_dataset(name, data=array)
        _set_attrs(f.create_group("environment").attrs, environment or {})


def read_result(path: str | Path) -> dict[str, Any]:
    """Attributes, arrays, protocol measures and environment of one result file."""
    with h5py.File(path, "r") as f:
        out: dict[str, Any] = {"attrs": _get_attrs(f.attrs), "arrays": {}, "measures": {}}
        for name, item in f.items():
            if isinstance(item, h5py.Dataset):
                out["arrays"][name] = item[()]
            elif name == "environment":
                out["environment"] = _get_attrs(item.attrs)
            else:
                out["measures"] = _get_attrs(item.attrs)
                out["measure_arrays"] = {k: v[()] for k, v in item.items()}
    return out


def is_finished(path: Path) -> bool:
    """A successful result exists at `path` (failed runs are retried)."""
    if not path.exists():
        return False
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("status") == "ok"
    except OSError:
        return False


def load_results(
    root: str | Path = "results",
    datasets: Iterable[str] | None = None,
    algorithms: Iterable[str] | None = None,
    protocols: Iterable[str] | None = None,
    count: int | None = None,
) -> pd.DataFrame:
    """Every run under `root` as one row: its attributes and its protocol's scalar measures."""
    keep = {
        "dataset": set(datasets) if datasets else None,
        "algorithm": set(algorithms) if algorithms else None,
        "protocol": set(protocols) if protocols else None,
    }
    rows = []
    for path in sorted(Path(root).glob("*/*/*/*/*.hdf5")):
        dataset, k, algorithm, protocol = path.relative_to(root).parts[:4]
        values = {"dataset": dataset, "algorithm": algorithm, "protocol": protocol}
        if any(keep[c] is not None and values[c] not in keep[c] for c in keep):
            continue
        if count is not None and k != str(count):
            continue
        rows.append(_summary_row(path))
    return pd.DataFrame(rows)


def _summary_row(path: Path) -> dict[str, Any]:
    try:
        with h5py.File(path, "r") as f:
            row = _get_attrs(f.attrs)
            protocol = row.get("protocol")
            if protocol in f:
                row.update(_get_attrs(f[protocol].attrs))
    except OSError as error:
        return {"status": "unreadable", "failure_detail": str(error), "path": str(path)}
    row["path"] = str(path)
    return row


def _set_attrs(target: h5py.AttributeManager, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, (dict, list, tuple)):
            value = json.dumps(value)
        target[key] = value


def _get_attrs(source: h5py.AttributeManager) -> dict[str, Any]:
    out = {}
    for key, value in source.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out
