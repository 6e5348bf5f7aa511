"""Protocol 4, erasure: after `delete(D)`, is the deleted data really gone?

The index is built on all of X and probed (each deleted vector queried for itself, the
membership-inference sample scored); the same definition is fitted from scratch on X\\D, the
gold standard; then D is deleted and every check runs, and again after `compact()` where the
plugin offers it:

- E1 leak: deleted ids in the answers to every test query and to every deleted vector, and
  the rank of each deleted vector in its own answer before and after deletion.
- E2 retrain gap: recall of both indices against ground truth on X\\D, and the mean
  overlap of their top-k answers.
- E3 remanence: `save()` into a fresh folder, then a scan of every byte for D (`remanence`);
  vectors with a byte-identical twin among the kept rows are left out.
- E4 membership inference: AUC of the top-1-distance attack before deletion, after, and on
  the retrained index (`membership`).

The verdict (`verdict`): `leaking`, `unverified`, `hidden` or `erased`. A plugin without
native deletion (`deletion = none`) is measured on its rebuild, as in the deletion protocol.

One result file per query group and state; the `deleted` state has the run's plain label,
the `compacted` state the suffix `state=compacted`.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from harness.core.job import Job
from harness.core.request import RunRequest
from harness.core.results import RunRecord
from harness.data.datasets import Dataset
from harness.data.groundtruth import distances_to
from harness.protocols._measure import (
    build,
    has_native_delete,
    measure,
    rebuild,
    set_query_arguments,
)
from harness.protocols._plan import deletion_options, deletion_plan
from harness.protocols.erasure.membership import attack_auc, sample_pairs
from harness.protocols.erasure.remanence import Remanence, scan_directory, stored_elsewhere
from harness.protocols.erasure.verdict import Probe, Sample, erasure_measures
from plugins.base import BasePlugin, offers

CONTROL = 1000  # kept vectors scanned for, to show the scan can see the saved form


def options(request: RunRequest, dataset: Dataset) -> dict[str, Any]:
    return {**deletion_options(request, dataset), "erasure_seed": request.erasure_seed}


def run(job: Job, dataset: Dataset) -> Iterator[RunRecord]:
    args = job.protocol_args
    deleted, live, truth = deletion_plan(job, dataset)
    members, outsiders = sample_pairs(deleted, len(dataset.test), args["erasure_seed"])
    sample = Sample(deleted, members, dataset.test[outsiders])
    records = {}
    plugin = job.definition.instantiate()
    try:
        build_time, index_size = build(plugin, dataset.train, dataset.learn_queries)
        before = probe_groups(plugin, job, dataset, sample)
        _, retrained = rebuild(
            job.definition, dataset.train, np.flatnonzero(live), dataset.learn_queries
        )
        gold = {}
        for key, query_args in enumerate(job.query_groups):
            set_query_arguments(retrained, query_args)
            once = dataclasses.replace(job, runs=1, batch=True)  # untimed: only answers count
            gold[key] = (
                measure(retrained, dataset, once, truth, live),
                probe(retrained, dataset, sample, job.k),
            )
        native = has_native_delete(plugin)
        if native:
            plugin.delete(deleted)
            retrained.done()
        else:  # measured on its rebuild: the retrained index is exactly that
            plugin.done()
            plugin = retrained
        states = ["deleted", "compacted"] if native and offers(plugin, "compact") else ["deleted"]
        for state in states:
            if state == "compacted":
                plugin.compact()
            remanence = remanence_of(plugin, dataset, live, deleted, args["erasure_seed"])
            for key, query_args in enumerate(job.query_groups):
                set_query_arguments(plugin, query_args)
                record = measure(plugin, dataset, job, truth, live)
                after = probe(plugin, dataset, sample, job.k)
                record.query_args = query_args
                record.label_suffix = "" if state == "deleted" else f"state={state}"
                record.attrs.update(build_time=build_time, index_size=index_size)
                record.measures.update(
                    erasure_measures(record, before[key], after, gold[key], remanence, sample)
                )
                record.measures.update(state=state, native_delete=native, deletion=plugin.deletion)
                record.measure_arrays.update(
                    deleted_ids=deleted,
                    self_rank_before=before[key].self_rank,
                    self_rank_after=after.self_rank,
                )
                records[state, key] = record
    finally:
        plugin.done()
    # the plain-labelled file last: its presence marks the whole run as finished
    for state in reversed(states):
        for key in range(len(job.query_groups)):
            yield records[state, key]


def probe_groups(
    plugin: BasePlugin, job: Job, dataset: Dataset, sample: Sample
) -> dict[int, Probe]:
    """The index before deletion, probed under every query group."""
    probes = {}
    for key, query_args in enumerate(job.query_groups):
        set_query_arguments(plugin, query_args)
        probes[key] = probe(plugin, dataset, sample, job.k)
    return probes


def probe(plugin: BasePlugin, dataset: Dataset, sample: Sample, k: int) -> Probe:
    """Query each deleted vector and each non-member; ranks and the attack's AUC.

    Untimed, so through `batch_query` (the contract's own loop over `query` by default).
    """
    vectors = dataset.train[sample.deleted]
    answers = np.asarray(plugin.batch_query(vectors, k), dtype=np.int64)[:, :k]
    hit = answers == sample.deleted[:, None]
    self_rank = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)
    member_distances = top1_distances(dataset, vectors[sample.members], answers[sample.members, 0])
    outsider_answers = np.asarray(plugin.batch_query(sample.non_members, 1), dtype=np.int64)
    outsider_distances = top1_distances(dataset, sample.non_members, outsider_answers[:, 0])
    return Probe(answers, self_rank, attack_auc(member_distances, outsider_distances))


def top1_distances(dataset: Dataset, queries: np.ndarray, top1: np.ndarray) -> np.ndarray:
    """Distance of each query to its top-1 answer (a train row); inf where none."""
    out = np.full(len(queries), np.inf)
    valid = (top1 >= 0) & (top1 < len(dataset.train))
    for i in np.flatnonzero(valid):
        out[i] = distances_to(dataset.metric, queries[i], dataset.train[top1[i] : top1[i] + 1])[0]
    return out


def remanence_of(
    plugin: BasePlugin, dataset: Dataset, live: np.ndarray, deleted: np.ndarray, seed: int
) -> tuple[Remanence, float] | None:
    """Save the index into a fresh folder and scan it for D; None without `save()`.

    Also the control: the fraction of a sample of *kept* vectors the same scan finds. A
    control of 0 means the saved form is one the scan cannot see (quantised, hashed), so
    finding no deleted vector proves nothing there.
    """
    if not offers(plugin, "save"):
        return None
    vectors = dataset.train[deleted]
    unique = ~stored_elsewhere(vectors, dataset.train[live])
    kept = np.flatnonzero(live)
    control = np.random.default_rng(seed).choice(kept, min(CONTROL, len(kept)), replace=False)
    with tempfile.TemporaryDirectory(prefix="erasure-") as folder:
        plugin.save(folder)
        found = scan_directory(folder, vectors[unique])
        control_found = scan_directory(folder, dataset.train[np.sort(control)]).fraction
    return dataclasses.replace(found, excluded=int((~unique).sum())), control_found
