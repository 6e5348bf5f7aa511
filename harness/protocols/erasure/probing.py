"""Querying an index with the deleted vectors and the attack sample (E1, E2, E4).

Every deleted vector is asked for its k nearest neighbours (its own rank: 1 before deletion
for an index that stores it; any rank after is a leak). The attack's members (a sample of
D) and non-members are asked with the same k; a sub-sample of both again one query at a
time, in one shuffled order (so that a drift of the machine's speed touches both alike),
timed where the plugin runs, for the latency feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.data.datasets import Dataset
from harness.protocols._measure import neighbor_distances, timed_queries
from harness.protocols.erasure.attack import Answers
from harness.protocols.erasure.membership import attack_auc
from harness.protocols.erasure.reference import Reference
from plugins.base import BasePlugin


@dataclass
class Probe:
    """An index's answers to the deleted vectors and to the attack sample."""

    answers: np.ndarray  # (|D|, k) ids answered to each deleted vector
    self_rank: np.ndarray  # 1-based rank of each deleted vector in its own answer, 0 if absent
    attack: Answers
    top1_auc: float  # the classic attack: distance to the top-1 answer


def probe(
    plugin: BasePlugin, dataset: Dataset, ref: Reference, k: int, latency: bool = True
) -> Probe:
    """The index's answers to D and the attack sample (and its latencies, unless not asked:
    the index before deletion only gives the ranks and the classic AUC)."""
    answers = _ask(plugin, ref.vectors, k)
    hit = answers == ref.deleted[:, None]
    self_rank = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
    outsiders = _ask(plugin, ref.non_members, k)
    queries = np.concatenate([ref.vectors[ref.members], ref.non_members])
    ids = np.concatenate([answers[ref.members], outsiders])
    distances = neighbor_distances(dataset.metric, queries, dataset.train, ids)
    pairs = len(ref.members)
    times = np.full(2 * pairs, np.nan)
    if latency:
        timed = np.concatenate([ref.timed, pairs + ref.timed])
        order = np.random.default_rng(len(timed)).permutation(timed)  # members, others mixed
        times[order] = _latencies(plugin, queries[order], k)
    top1 = attack_auc(distances[:pairs, 0], distances[pairs:, 0])
    return Probe(answers, self_rank, Answers(distances, (ids >= 0).sum(axis=1), times), top1)


def _ask(plugin: BasePlugin, queries: np.ndarray, k: int) -> np.ndarray:
    out = np.full((len(queries), k), -1, dtype=np.int64)
    if len(queries):
        found = np.asarray(plugin.batch_query(queries, k), dtype=np.int64)[:, :k]
        out[:, : found.shape[1]] = found
    return out


def _latencies(plugin: BasePlugin, queries: np.ndarray, k: int) -> np.ndarray:
    """Seconds per query, measured where the plugin runs (its host process, if it has one)."""
    timed = getattr(plugin, "timed", None)
    times, _ = timed(queries, k) if timed is not None else timed_queries(plugin, queries, k)
    return np.asarray(times, dtype=np.float64)
