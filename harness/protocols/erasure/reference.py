"""What the erasure checks compare with, computed once per run in the worker.

- D, and which deleted vectors can be scanned for: a vector with a twin among the kept rows
  (a duplicate, or a multiple of one once normalised) is legitimately still stored, and one
  with fewer than `patterns.MIN_DISTINCT` distinct components (an all-zero row, a constant
  row) cannot be told from filler bytes; both are left out and counted.
- The control sample: kept rows the scans must find wherever the index stores rows visibly.
- The attack sample: members (a sample of D) and as many non-members (test vectors), and
  a sub-sample of both queried one at a time for latency.
- Distances in the metric's comparison space: each deleted vector's to its nearest kept
  row; the non-members' to their nearest kept row and kept rows' to their nearest other kept
  row (for the distribution warning). An exact scan of the kept rows, so they are cached next
  to the dataset's ground truth: every plugin of a scorecard shares them.
"""

from __future__ import annotations

import errno
import hashlib
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from harness.core.io import atomic_path
from harness.data.datasets import Dataset
from harness.protocols._plan import DeletionPlan
from harness.protocols.erasure.candidates import KeptRows
from harness.protocols.erasure.patterns import Finder, informative

CONTROL = 1000  # kept vectors scanned for
MEMBERS = 1000  # attack pairs at most
LATENCY = 100  # attack pairs also queried one at a time, for latency
SPACING = 500  # non-members and kept rows whose nearest kept row makes the warning


@dataclass
class Reference:
    deleted: np.ndarray  # D's row ids, in deletion order
    vectors: np.ndarray  # D's vectors (float32)
    scannable: np.ndarray  # bool per deleted vector
    twins: int
    uninformative: int
    kept: KeptRows
    control: np.ndarray  # row ids of the control sample
    finder: Finder  # keys of D[scannable] then the control vectors
    members: np.ndarray  # positions in D
    non_members: np.ndarray  # test vectors
    timed: np.ndarray  # positions (in members and in non-members) queried one at a time
    kept_distance: np.ndarray  # per deleted vector (comparison space)
    outsider_distance: np.ndarray
    kept_spacing: np.ndarray
    comparable_deleted: np.ndarray  # D in the comparison space
    comparable_control: np.ndarray

    @property
    def scanned(self) -> np.ndarray:
        return self.vectors[self.scannable]

    @property
    def scanned_count(self) -> int:
        return int(self.scannable.sum())


def reference(
    dataset: Dataset, plan: DeletionPlan, seed: int, cache: Path | None = None
) -> Reference:
    rng = np.random.default_rng(seed)
    train, deleted = dataset.train, plan.deleted
    vectors = np.ascontiguousarray(train[deleted], dtype=np.float32)
    kept_ids = np.flatnonzero(plan.live)
    kept = KeptRows(train[kept_ids], dataset.metric)
    twins = kept.is_kept(vectors)
    uninformative = ~informative(vectors)
    scannable = ~twins & ~uninformative
    control = np.sort(rng.choice(kept_ids, min(CONTROL, len(kept_ids)), replace=False))
    pairs = min(len(deleted), len(dataset.test), MEMBERS)
    members = np.sort(rng.choice(len(deleted), pairs, replace=False))
    outsiders = dataset.test[np.sort(rng.choice(len(dataset.test), pairs, replace=False))]
    timed = np.sort(rng.choice(pairs, min(pairs, LATENCY), replace=False))
    comparable_deleted = kept.comparable(vectors)
    spacing_sample = rng.choice(len(kept_ids), min(len(kept_ids), SPACING), replace=False)
    queries = {
        "kept_distance": (comparable_deleted, 1),
        "outsider_distance": (kept.comparable(outsiders[:SPACING]), 1),
        "kept_spacing": (kept.comparable_rows[spacing_sample], 2),
    }
    distances = _cached(cache, dataset, kept_ids, queries, lambda: _distances(kept, queries))
    finder = Finder(np.concatenate([vectors[scannable], train[control].astype(np.float32)]))
    return Reference(
        deleted=deleted,
        vectors=vectors,
        scannable=scannable,
        twins=int(twins.sum()),
        uninformative=int((uninformative & ~twins).sum()),
        kept=kept,
        control=control,
        finder=finder,
        members=members,
        non_members=outsiders,
        timed=timed,
        kept_distance=distances["kept_distance"],
        outsider_distance=distances["outsider_distance"],
        kept_spacing=distances["kept_spacing"],
        comparable_deleted=comparable_deleted,
        comparable_control=kept.comparable(train[control]),
    )


def _distances(kept: KeptRows, queries: dict) -> dict[str, np.ndarray]:
    """Per query set, each query's distance to its `rank`-th nearest kept row."""
    index = faiss.IndexFlatL2(kept.raw.shape[1])
    index.add(kept.comparable_rows)
    return {name: _nearest(index, rows, rank) for name, (rows, rank) in queries.items()}


#: Errors of a cache folder that may be read but not written (the docker executor mounts the
#: host's ground-truth cache read-only).
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def _cached(cache: Path | None, dataset: Dataset, kept_ids: np.ndarray, queries: dict, compute):
    """`compute()`, or its result stored under a hash of everything it depends on."""
    if cache is None:
        return compute()
    digest = hashlib.sha1(dataset.metric.encode())
    for rows, rank in queries.values():
        digest.update(np.ascontiguousarray(rows).tobytes() + bytes([rank]))
    digest.update(np.ascontiguousarray(kept_ids).tobytes())
    digest.update(np.ascontiguousarray(dataset.train[kept_ids[:100]]).tobytes())
    path = cache / f"erasure-distances-{digest.hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return {name: stored[name] for name in queries}
    values = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as partial, open(partial, "wb") as out:
            np.savez(out, **values)
    except OSError as error:
        if error.errno not in READ_ONLY:
            raise
        # a container reads the host's cache read-only: the figure is computed, not kept
    return values


def _nearest(index: faiss.Index, queries: np.ndarray, rank: int) -> np.ndarray:
    """L2 distance of each query to its `rank`-th nearest indexed row (2: itself skipped)."""
    if not len(queries):
        return np.zeros(0)
    distances, _ = index.search(np.ascontiguousarray(queries, dtype=np.float32), rank)
    return np.sqrt(np.maximum(distances[:, rank - 1].astype(np.float64), 0.0))
