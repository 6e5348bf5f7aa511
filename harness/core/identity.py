"""What identifies a run: everything that changes its figures, as one canonical JSON text.

A result file stores the identity of the run that wrote it. A run is skipped as finished
only when the file at its path holds a successful result whose identity equals the one the
run would have now; anything else (another dataset file of the same name, an edited
runbook, another k, batch mode, `--runs` or protocol option, a file of an earlier version
without an identity) is redone and its file overwritten.

Input files are identified by content, not by name: a dataset by a digest of its arrays and
metric, any other file a protocol option names (a runbook) by a digest of its bytes. Both
are computed once per file and process and cached by the file's path, size, modification
time and inode, so planning many runs on a large dataset hashes it once.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

#: Bumped when what an identity holds changes: results of earlier versions are then redone.
IDENTITY_VERSION = 1
#: The arrays and attribute that make a dataset's figures (ann-benchmarks' format).
DATASET_ARRAYS = ("train", "test", "neighbors", "distances", "learn_queries")
DATASET_ATTRIBUTE = "distance"
#: How a protocol option naming a file appears in an identity: `sha256:<hex digest>`.
FILE_PREFIX = "sha256:"
CHUNK_BYTES = 1 << 24


def canonical(identity: dict[str, Any]) -> str:
    """The one text of an identity: JSON, keys sorted, no spaces."""
    return json.dumps(identity, sort_keys=True, separators=(",", ":"))


def digest(text: str) -> str:
    """A short digest of an identity's text, for tables and filters."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def dataset_digest(path: str | Path) -> str:
    """SHA-256 of a dataset file's arrays (name, dtype, shape, bytes) and its metric."""
    return _cached(Path(path), _hash_dataset)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return _cached(Path(path), _hash_bytes)


def option_files(options: dict[str, Any]) -> dict[str, str]:
    """The protocol options that name a file (absolute paths, as `options()` resolve them),
    each with the digest of that file's bytes."""
    return {
        key: file_digest(value)
        for key, value in options.items()
        if isinstance(value, str) and Path(value).is_absolute() and Path(value).is_file()
    }


def identified_options(options: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    """The options as an identity holds them: a file by its content, not its path."""
    return {key: f"{FILE_PREFIX}{files[key]}" if key in files else v for key, v in options.items()}


def _cached(path: Path, compute: Any) -> str:
    stat = path.stat()
    return _memo(str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino, compute)


@functools.lru_cache(maxsize=64)
def _memo(path: str, size: int, mtime_ns: int, inode: int, compute: Any) -> str:
    return compute(Path(path))


def _hash_dataset(path: Path) -> str:
    sha = hashlib.sha256()
    with h5py.File(path, "r") as f:
        metric = f.attrs.get(DATASET_ATTRIBUTE)
        metric = metric.decode() if isinstance(metric, bytes) else metric
        sha.update(f"{DATASET_ATTRIBUTE}={metric!s};".encode())
        for name in DATASET_ARRAYS:
            if name in f:
                array = np.ascontiguousarray(f[name][()])
                sha.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
                sha.update(array)
    return sha.hexdigest()


def _hash_bytes(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            sha.update(chunk)
    return sha.hexdigest()
