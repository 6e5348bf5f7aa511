"""Protocol 4, erasure: after `delete(D)`, is the deleted data really gone?

The plugin under test lives in a host process (`harness.runner.host`) that never holds D outside the
plugin. It is fitted on all of X; right after `fit` a fork of it deletes D and has its
memory read (`memory`). The index is probed (each deleted vector queried for itself, the
attack sample); the same definition is fitted from scratch on X\\D twice in the worker, the
retrained index A (the gold standard) and B (rows in another order, another seed: what two
retrained indices differ by); then D is deleted (a plugin without deletion is rebuilt on
X\\D in its host, and that rebuild is A) and every check runs, again after `compact()`:

- leak (E1): deleted ids in the answers to every test query and every deleted vector;
- retrain gap (E2): recall of both, and the overlap of their answers (also for D's queries);
- decoding scan and per-file control (`filescan`), reconstruction (`reconstruction`),
  differential state (`differential`) on the saved state; side files (`sidefiles`);
- the calibrated attack (E4, `attack`); memory remanence (`memory`).

Each check's evidence is stored with the run; the verdict (`verdict`) rests on all of
them. One result file per query group and state; the `deleted` state has the run's plain
label (written last: its presence marks the run finished), `compacted` the suffix
`state=compacted`.
"""

from __future__ import annotations

import dataclasses
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.job import Job
from harness.core.measures import threshold
from harness.core.request import RunRequest
from harness.core.results import RunRecord
from harness.data.datasets import Dataset
from harness.data.gt_cache import cache_dir
from harness.protocols._measure import has_native_delete, measure, rebuild, set_query_arguments
from harness.protocols._plan import DeletionPlan, deletion_options, deletion_plan
from harness.protocols.erasure import evidence as ev
from harness.protocols.erasure.differential import compare
from harness.protocols.erasure.hosted import HostedPlugin, start_host, write_array
from harness.protocols.erasure.memory import MemoryScan, scan_dump
from harness.protocols.erasure.probing import Probe, probe
from harness.protocols.erasure.reconstruction import recovery
from harness.protocols.erasure.records import Answered, evidence_bytes, figures
from harness.protocols.erasure.reference import Reference, reference
from harness.protocols.erasure.sidefiles import Private
from harness.protocols.erasure.state import SavedState, analyse, folder_files
from harness.protocols.erasure.verdict import verdicts
from plugins.base import BasePlugin, offers

MEMORY_SECONDS = 3600  # the forked copy's delete, compact and dumps at most


def options(request: RunRequest, dataset: Dataset) -> dict[str, Any]:
    return {**deletion_options(request, dataset), "erasure_seed": request.erasure_seed}


def run(job: Job, dataset: Dataset) -> Iterator[RunRecord]:
    seed = job.protocol_args["erasure_seed"]
    plan = deletion_plan(job, dataset)
    ref = reference(dataset, plan, seed, cache_dir(job.dataset_path, job.dataset))
    with tempfile.TemporaryDirectory(prefix="erasure-") as root:
        scratch, private = Path(root) / "scratch", Private(Path(root) / "private").create()
        scratch.mkdir()
        subject = start_host(job.definition, private)
        try:
            records = Run(job, dataset, plan, ref, scratch, private, subject).records()
        finally:
            subject.done()
    yield from sorted(records, key=lambda r: r.label_suffix == "", reverse=False)


class Run:
    """One erasure run: its indices, states and checks."""

    def __init__(
        self,
        job: Job,
        dataset: Dataset,
        plan: DeletionPlan,
        ref: Reference,
        scratch: Path,
        private: Private,
        subject: HostedPlugin,
    ) -> None:
        self.job, self.dataset, self.plan, self.ref = job, dataset, plan, ref
        self.scratch, self.private, self.subject = scratch, private, subject
        self.seed = job.protocol_args["erasure_seed"]
        self.seconds: dict[str, float] = {}
        self.kept_input = False  # whether the plugin kept the array it was fitted from
        self.native = has_native_delete(subject)
        self.states = ["deleted"]
        if self.native and offers(subject, "compact"):
            self.states.append("compacted")

    def records(self) -> list[RunRecord]:
        fitted, memory = self.fit_subject()
        before = self.probe_groups(self.subject, latency=False)
        live = np.flatnonzero(self.plan.live)
        learn = self.dataset.learn_queries
        if self.native:
            with self.timed("retrain"):
                _, retrained = rebuild(self.job.definition, self.dataset.train, live, learn)
            gold = self.gold(retrained)
            retrained_state = self.saved(retrained, "retrained")
            retrained.done()
            with self.timed("delete"):
                self.subject.delete(self.plan.deleted)
        else:
            rows = write_array(self.scratch / "live.f32", self.dataset.train[live])
            ids = write_array(self.scratch / "live.i64", live.astype(np.int64))
            with self.timed("rebuild"):
                self.subject.rebuild_files(rows, ids, self.learn_file())
            gold = self.gold(self.subject)
            retrained_state = None  # the rebuild is A: its saved state is the deleted state
        other = self.other_retrained(live)
        other_probes = self.probe_groups(other)
        other_state = self.saved(other, "other")
        other.done()
        records = []
        for state in self.states:
            if state == "compacted":
                with self.timed("compact"):
                    self.subject.compact()
            saved = self.saved(self.subject, state, scan=True)
            retrained_state = retrained_state or saved
            file_checks = self.file_checks(saved, retrained_state, other_state)
            for key, query_args in enumerate(self.job.query_groups):
                checks = [*file_checks, self.memory_check(memory, state)]
                records.append(
                    self.record(
                        state,
                        key,
                        query_args,
                        fitted,
                        before[key],
                        gold[key],
                        other_probes[key],
                        checks,
                        saved,
                    )
                )
        return records

    # ---- the indices --------------------------------------------------------------------

    def fit_subject(self) -> tuple[dict, dict[str, MemoryScan] | str]:
        """Fit the hosted plugin from files; the forked copy's memory read and scanned."""
        train = write_array(self.scratch / "train.f32", self.dataset.train)
        deleted = write_array(self.scratch / "deleted.i64", self.plan.deleted.astype(np.int64))
        dumps = {s: str(self.scratch / f"memory-{s}") for s in self.states}
        spec = {"deleted": str(deleted), "dumps": dumps, "timeout": MEMORY_SECONDS}
        with self.timed("build"):
            fitted = self.subject.fit_files(train, None, self.learn_file(), spec)
        self.kept_input = bool(fitted.get("kept_input"))
        _remove(train)
        report = fitted["memory"]
        if not report["ran"]:
            return fitted, report["why_not"]
        scans = {}
        with self.timed("memory scan"):
            for state, path in dumps.items():
                if state in report["states"]:
                    scans[state] = scan_dump(path, self.ref.finder, self.ref.scanned_count)
                _remove(Path(path))
        return fitted, scans

    def learn_file(self) -> Path | None:
        learn = self.dataset.learn_queries
        path = self.scratch / "learn.f32"
        if learn is None:
            return None
        return path if path.exists() else write_array(path, learn.astype(np.float32))

    def other_retrained(self, live: np.ndarray) -> BasePlugin:
        """B: the definition fitted on X\\D in another row order, under another global seed."""
        order = np.random.default_rng(self.seed + 1).permutation(live)
        state, python = np.random.get_state(), random.getstate()
        np.random.seed(self.seed + 1)
        random.seed(self.seed + 1)
        try:
            with self.timed("retrain B"):
                _, other = rebuild(
                    self.job.definition, self.dataset.train, order, self.dataset.learn_queries
                )
        finally:
            np.random.set_state(state)
            random.setstate(python)
        return other

    def probe_groups(self, plugin: BasePlugin, latency: bool = True) -> dict[int, Probe]:
        out = {}
        with self.timed("probes"):
            for key, query_args in enumerate(self.job.query_groups):
                set_query_arguments(plugin, query_args)
                out[key] = probe(plugin, self.dataset, self.ref, self.job.k, latency)
        return out

    def gold(self, plugin: BasePlugin) -> dict[int, tuple[RunRecord, Probe]]:
        """A's answers to the test queries (untimed) and to the probes, per query group."""
        out = {}
        once = dataclasses.replace(self.job, runs=1, batch=True)
        for key, query_args in enumerate(self.job.query_groups):
            set_query_arguments(plugin, query_args)
            record = measure(plugin, self.dataset, once, self.plan.true_distances, self.plan.live)
            out[key] = (record, probe(plugin, self.dataset, self.ref, self.job.k))
        return out

    def saved(self, plugin: BasePlugin, name: str, scan: bool = False) -> SavedState | None:
        """Save into a fresh folder (the subject's in its private directories) and read it."""
        if not offers(plugin, "save"):
            return None
        folder = self.private.save_folder(name) if scan else self.scratch / f"saved-{name}"
        folder.mkdir(exist_ok=True)
        with self.timed(f"save {name}"):
            plugin.save(folder)
        with self.timed(f"read {name}"):
            return analyse(folder_files(folder), self.ref, self.seed, scan, self.native)

    # ---- the checks ---------------------------------------------------------------------

    def file_checks(
        self, saved: SavedState | None, retrained: SavedState | None, other: SavedState | None
    ) -> list[ev.Check]:
        ref, count = self.ref, len(self.ref.deleted)
        checks = []
        if saved is None:
            why = "the plugin has no save(): its state cannot be read"
            checks += [
                ev.not_run(n, "files", why)
                for n in ("decoding", "control", "reconstruction", "differential")
            ]
        else:
            excluded = {
                "with a twin among the kept rows": ref.twins,
                "with under three distinct components": ref.uninformative,
            }
            checks += [
                ev.decoding_check(saved.scan, ref.scanned_count, excluded),
                ev.control_check(saved.scan),
            ]
            checks.append(self.reconstruction_check(saved, retrained, other))
            if retrained is not None and other is not None:
                checks.append(
                    ev.differential_check(compare(saved.sizes, retrained.sizes, other.sizes, count))
                )
            else:
                checks.append(ev.not_run("differential", "files", "no retrained state to compare"))
        checks.append(self.side_file_check())
        return checks

    def reconstruction_check(
        self, saved: SavedState, retrained: SavedState | None, other: SavedState | None
    ) -> ev.Check:
        if not self.native:
            return ev.Check(
                "reconstruction",
                "files",
                True,
                0.0,
                "the measured index is the rebuild on X\\D",
                "nothing to reconstruct beyond a retrained index (it is one)",
            )
        if retrained is None or other is None:
            return ev.not_run("reconstruction", "files", "no retrained state to compare")
        ratio = threshold("recovery_ratio")
        with self.timed("reconstruction"):
            result = recovery(
                saved.candidates,
                retrained.candidates,
                other.candidates,
                self.ref.comparable_deleted,
                self.ref.kept_distance,
                self.ref.comparable_control,
                ratio,
            )
        return ev.reconstruction_check(result, len(self.ref.deleted), ratio)

    def side_file_check(self) -> ev.Check:
        saves = [self.private.saves / s for s in self.states]
        changed = self.private.changed(exclude=saves)
        where = "the private working directory, HOME, TMPDIR and beside the save folders"
        if not changed:
            return ev.side_file_check(None, [], where)
        state = analyse(changed, self.ref, self.seed, scan=True, reconstruct=False)
        return ev.side_file_check(state.scan, sorted(changed), where)

    def memory_check(self, memory: dict[str, MemoryScan] | str, state: str) -> ev.Check:
        if isinstance(memory, str):
            return ev.memory_check(None, memory, state)
        if state not in memory:
            return ev.memory_check(None, f"no memory read after the {state} step", state)
        return ev.memory_check(memory[state], "", state, self.kept_input)

    # ---- the record ---------------------------------------------------------------------

    def record(
        self,
        state: str,
        key: int,
        query_args: Any,
        fitted: dict,
        before: Probe,
        gold: tuple[RunRecord, Probe],
        other: Probe,
        file_checks: list[ev.Check],
        saved: SavedState | None,
    ) -> RunRecord:
        set_query_arguments(self.subject, query_args)
        record = measure(
            self.subject, self.dataset, self.job, self.plan.true_distances, self.plan.live
        )
        after = probe(self.subject, self.dataset, self.ref, self.job.k)
        answers = Answered(record, before, after, gold, other)
        leak, attack_result, measures = answers.checks(self.ref, self.seed)
        checks = [leak, *file_checks, attack_result]
        record.query_args = query_args
        record.label_suffix = "" if state == "deleted" else f"state={state}"
        record.attrs.update(build_time=fitted["build_time"], index_size=fitted["index_size"])
        record.measures.update(
            state=state,
            native_delete=self.native,
            deletion=self.subject.deletion,
            **measures,
            **figures({c.name: c for c in checks}, saved),
            **verdicts(checks),
        )
        record.measure_arrays.update(
            deleted_ids=self.ref.deleted,
            self_rank_before=before.self_rank,
            self_rank_after=after.self_rank,
            evidence=evidence_bytes(checks, self.seconds),
        )
        return record

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time a phase of the run (stored with the evidence); phases of a name add up."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _remove(path: Path) -> None:
    """A file the run wrote and the files beside it that share its name (headers, reports)."""
    for item in path.parent.glob(path.name + "*"):
        item.unlink()
