"""Result files: one HDF5 per run, in ann-benchmarks' layout, written atomically.

Under the results folder (every component encoded by `harness.core.pathnames`):

- qps-recall: `<dataset>/<k>/<algorithm>[-batch]/<run label>.hdf5`, where ann-benchmarks'
  loader looks (it walks `results/<dataset>/<count>/` and filters on `batch_mode`), with
  every attribute its plotting reads (`algo`, `name`, `batch_mode`, `count`, `distance`,
  `best_search_time`, `build_time`, `index_size`, `candidates`, `run_count`) and its
  `times`, `neighbors` and `distances` datasets;
- the other protocols: `protocol=<name>/<dataset>/<k>/<algorithm>[-batch]/<run label>.hdf5`,
  outside every `<dataset>/<k>/` folder (an encoded name never holds `=`), so no
  ann-benchmarks reader takes a deletion or churn run for a qps-recall one;
- a failed run: its record beside, as `<run label>.failed.h5` (ann-benchmarks reads every
  `.hdf5` of its folders as a measured run; a failure is not one).

A file holds its run's attributes (the identity among them, `harness.core.identity`), the
arrays, one group named after the protocol with its measures, and an `environment` group.
Writing a run's record replaces the run's previous one, whichever its status.
`load_results` reads any folder of them into one table, skipping (with a warning naming
it) every file that is not a readable result of this version.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from harness.core.identity import canonical, digest
from harness.core.io import atomic_path
from harness.core.pathnames import (
    MAX_COMPONENT,
    SAFE,
    SHORTENED,
    algorithm_component,
    name_component,
)

RESULT_SUFFIX = ".hdf5"
FAILED_SUFFIX = ".failed.h5"
#: The protocol whose files sit where ann-benchmarks reads them.
ANN_PROTOCOL = "qps-recall"
#: ann-benchmarks' name of the `algorithm` attribute (its plotting reads only this one).
ANN_ALGORITHM = "algo"
#: The folder of each other protocol's tree: `protocol=<name>`.
PROTOCOL_FOLDER = "protocol="
#: Characters a run label may hold besides the safe ones: its separators and escapes.
LABEL_CHARACTERS = SAFE | frozenset(f"=,%{SHORTENED}")


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
    root: str | Path,
    dataset: str,
    count: int,
    algorithm: str,
    protocol: str,
    label: str,
    batch: bool = False,
) -> Path:
    """Where a successful run's file goes; `label` is a run label (`pathnames.run_label`),
    the names are encoded here."""
    check_label(label)
    folder = Path(root)
    if protocol != ANN_PROTOCOL:
        folder /= PROTOCOL_FOLDER + name_component(protocol)
    folder = folder / name_component(dataset) / str(int(count))
    return folder / algorithm_component(algorithm, batch) / f"{label}{RESULT_SUFFIX}"


def failure_path(path: Path) -> Path:
    """Where the failure record of the run whose result goes to `path` is written."""
    return path.with_name(path.name.removesuffix(RESULT_SUFFIX) + FAILED_SUFFIX)


def check_label(label: str) -> None:
    """Refuse a label that is not one safe path component."""
    if (
        not label
        or label.startswith(".")
        or len(label) > MAX_COMPONENT
        or not set(label) <= LABEL_CHARACTERS
    ):
        raise ValueError(
            f"run label {label!r} is not a safe file name: build it with "
            "harness.core.pathnames.run_label"
        )


def write_result(
    path: Path,
    attrs: dict[str, Any],
    arrays: dict[str, np.ndarray] | None = None,
    protocol: str | None = None,
    measures: dict[str, Any] | None = None,
    measure_arrays: dict[str, np.ndarray] | None = None,
    environment: dict[str, str] | None = None,
) -> Path:
    """Write the record of the run whose result goes to `path`; the file written.

    A record whose `status` is not `ok` goes to `failure_path(path)`. The run's other record
    (a failure it now succeeds, a result it now fails to redo) is removed afterwards, so a
    report never shows both. Written atomically (`harness.core.io.atomic_path`): a process
    killed mid-write leaves only a partial file, which readers ignore and the runner removes.
    """
    failed = failure_path(path)
    target, other = (path, failed) if attrs.get("status") == "ok" else (failed, path)
    with atomic_path(target) as partial, h5py.File(partial, "w") as f:
        _set_attrs(f.attrs, attrs)
        for name, array in (arrays or {}).items():
            f.create_dataset(name, data=array)
        if protocol is not None:
            group = f.create_group(protocol)
            _set_attrs(group.attrs, measures or {})
            for name, array in (measure_arrays or {}).items():
                group.create_dataset(name, data=array)
        _set_attrs(f.create_group("environment").attrs, environment or {})
    other.unlink(missing_ok=True)
    return target


def read_result(path: str | Path) -> dict[str, Any]:
    """Attributes, arrays, protocol measures and environment of the record of the run whose
    result goes to `path` (its failure record if that is what the run has, as written by
    `write_result`). Groups others add, such as the `metrics` cache ann-benchmarks'
    plotting writes, are ignored."""
    path = Path(path)
    if not path.exists() and failure_path(path).exists():
        path = failure_path(path)
    with h5py.File(path, "r") as f:
        attrs = get_attrs(f.attrs)
        out: dict[str, Any] = {"attrs": attrs, "arrays": {}, "measures": {}}
        for name, item in f.items():
            if isinstance(item, h5py.Dataset):
                out["arrays"][name] = item[()]
        if "environment" in f:
            out["environment"] = get_attrs(f["environment"].attrs)
        protocol = attrs.get("protocol")
        if isinstance(protocol, str) and isinstance(f.get(protocol), h5py.Group):
            out["measures"] = get_attrs(f[protocol].attrs)
            out["measure_arrays"] = {k: v[()] for k, v in f[protocol].items()}
    return out


def is_finished(path: Path, identity: dict[str, Any]) -> bool:
    """A successful result of the run `identity` describes is at `path`.

    Failed runs are retried; a result of another identity (another dataset file of the same
    name, another runbook, k, batch mode, options) or of none (an earlier version) is stale
    and redone.
    """
    try:
        with h5py.File(path, "r") as f:
            status, stored = f.attrs.get("status"), f.attrs.get("identity")
    except Exception:  # missing, unreadable or not HDF5 at all: nothing to reuse
        return False
    return _text(status) == "ok" and _text(stored) == canonical(identity)


class ResultFileWarning(UserWarning):
    """A file under the results folder that is skipped: unreadable, malformed or stale."""


class SkippedFile(Exception):
    """A file that cannot be read as a result; the message names it and says why."""


#: Examples named in the warning about files without an identity.
STALE_EXAMPLES = 3


def load_results(
    root: str | Path = "results",
    datasets: Iterable[str] | None = None,
    algorithms: Iterable[str] | None = None,
    protocols: Iterable[str] | None = None,
    count: int | None = None,
    runs: Iterable[str] | None = None,
    folders: Iterable[Path] | None = None,
) -> pd.DataFrame:
    """Every run under `root` as one row: its attributes and its protocol's scalar measures,
    `run_id` (the digest of its identity), `dataset_sha256` and `path`.

    Filters match the attributes (the original names): `datasets`, `algorithms`,
    `protocols`, `count` (k), `runs` (run ids, e.g. those one request planned); `folders`
    reads only the files directly in those folders (a request's own, not a whole tree of
    thousands of runs). A file that
    cannot be read as a result is skipped with a `ResultFileWarning` naming it, and so are
    files without an identity (earlier versions, other tools), which are never reused.
    Where a run has both a result and a failure record (a writer stopped between the two),
    the newer counts. Runs on different contents under one dataset name are told apart:
    their `dataset` becomes `<name>@<first 8 digits of the content digest>`.
    """
    keep = {
        "dataset": _chosen(datasets),
        "algorithm": _chosen(algorithms),
        "protocol": _chosen(protocols),
        "count": _chosen([count] if count is not None else None),
        "run_id": _chosen(runs),
    }
    latest: dict[Path, dict[str, Any]] = {}
    stale: list[Path] = []
    for path in result_files(root, folders):
        try:
            row = read_row(path)
        except SkippedFile as error:
            warnings.warn(f"skipped {error}", ResultFileWarning, stacklevel=2)
            continue
        if row is None:
            stale.append(path)
        elif all(chosen is None or row[c] in chosen for c, chosen in keep.items()):
            key = _record_key(path)
            if key not in latest or str(row.get("finished")) > str(latest[key].get("finished")):
                latest[key] = row
    if stale:
        examples = ", ".join(str(p) for p in stale[:STALE_EXAMPLES])
        warnings.warn(
            f"skipped {len(stale)} file(s) under {root} without a run identity, written by an "
            f"earlier version or another tool ({examples}): they are never reused; re-run "
            "to redo them, and move them out of the folder (ann-benchmarks' plotting reads "
            "every .hdf5 file under results/<dataset>/<k>/)",
            ResultFileWarning,
            stacklevel=2,
        )
    return _told_apart(pd.DataFrame(list(latest.values())))


def result_files(root: str | Path, folders: Iterable[Path] | None = None) -> list[Path]:
    """Every result and failure record under `root`, or directly in `folders` (partial
    files excluded), sorted."""
    if folders is None:
        listed = [(folder, names) for folder, _, names in os.walk(root)]
    else:
        listed = [
            (f, [p.name for p in Path(f).iterdir()]) for f in set(folders) if Path(f).is_dir()
        ]
    suffixes = (RESULT_SUFFIX, FAILED_SUFFIX)
    return sorted(Path(f, n) for f, names in listed for n in names if n.endswith(suffixes))


def read_row(path: Path) -> dict[str, Any] | None:
    """One file's attributes and measures as a table row; None if it has no identity.

    Raises `SkippedFile` for a file that is not a readable, well-formed result.
    """
    try:
        with h5py.File(path, "r") as f:
            row = get_attrs(f.attrs)
            protocol = row.get("protocol")
            if isinstance(protocol, str) and isinstance(f.get(protocol), h5py.Group):
                row.update(get_attrs(f[protocol].attrs))
    except Exception as error:  # h5py raises OSError, KeyError, RuntimeError, TypeError...
        raise SkippedFile(f"unreadable result file {path}: {error}") from None
    if "identity" not in row:
        return None
    problem = _malformed(row)
    if problem:
        raise SkippedFile(f"malformed result file {path}: {problem}")
    identity = json.loads(row["identity"])
    row.update(run_id=digest(row["identity"]), dataset_sha256=identity["dataset_sha256"])
    row["path"] = str(path)
    row.pop(ANN_ALGORITHM, None)  # ann-benchmarks' copy of `algorithm`
    return row


def _malformed(row: dict[str, Any]) -> str:
    """What makes a row unusable by the reports, or "" if nothing."""
    if not isinstance(row.get("status"), str) or row["status"] not in ("ok", "failed"):
        return f"status {row.get('status')!r} is neither 'ok' nor 'failed'"
    for name in ("algorithm", "dataset", "protocol"):
        if not isinstance(row.get(name), str) or not row[name]:
            return f"attribute {name!r} is {row.get(name)!r}, not a name"
    if not isinstance(row.get("count"), int):
        return f"attribute 'count' is {row.get('count')!r}, not a k"
    try:
        identity = json.loads(row["identity"])
    except (TypeError, ValueError):
        return "its identity is not JSON"
    if not isinstance(identity, dict) or not isinstance(identity.get("dataset_sha256"), str):
        return "its identity names no dataset content"
    return ""


def _chosen(values: Iterable[Any] | None) -> set[Any] | None:
    return set(values) if values is not None else None


def _record_key(path: Path) -> Path:
    """The run a file records: its path without the result or failure suffix."""
    for suffix in (FAILED_SUFFIX, RESULT_SUFFIX):
        if path.name.endswith(suffix):
            return path.with_name(path.name.removesuffix(suffix))
    return path


def _told_apart(frame: pd.DataFrame) -> pd.DataFrame:
    """Name apart the runs of different contents under one dataset name."""
    if frame.empty:
        return frame
    mixed = frame.groupby("dataset")["dataset_sha256"].transform("nunique") > 1
    if mixed.any():
        names, contents = frame.loc[mixed, "dataset"], frame.loc[mixed, "dataset_sha256"]
        frame.loc[mixed, "dataset"] = [
            f"{name}@{sha[:8]}" for name, sha in zip(names, contents, strict=True)
        ]
    return frame


def _set_attrs(target: h5py.AttributeManager, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, (dict, list, tuple)):
            value = json.dumps(value)
        target[key] = value


def get_attrs(source: h5py.AttributeManager) -> dict[str, Any]:
    """HDF5 attributes as Python values (bytes decoded, NumPy scalars unwrapped)."""
    out = {}
    for key, value in source.items():
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def _text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
