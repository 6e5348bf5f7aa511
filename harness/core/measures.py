"""The registry of measures: what each figure a protocol stores means and how reports show it.

In the spirit of ann-benchmarks' `plotting/metrics.py` (`all_metrics`): one entry per measure
with its column title, unit, direction (is higher better?), display scale and rounding, and,
where the benchmark judges by it, its threshold. The console tables, the figures, the site and
the nightly regression check all read this module, so a threshold or a title is declared
once. The erasure verdicts and their order live here too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Measure:
    """One figure of a result file (a scalar attribute of its protocol's group)."""

    name: str
    title: str  # short column title, unit included
    description: str
    better: Better | None = None  # None: neither direction is a regression
    scale: float = 1.0  # stored value * scale = shown value (seconds -> ms)
    decimals: int = 4
    threshold: float | None = None  # where the benchmark draws a line (see description)
    #: The nightly check compares a ratio (log scale: timings, throughput) or a difference
    #: (bounded figures: recall, AUC), and never flags a change below `noise` on that scale.
    relative: bool = True
    noise: float = 0.15

    def shown(self, value: Any) -> float | None:
        """The value as displayed (scaled), or None when it is missing or not finite."""
        try:
            number = float(value) * self.scale
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None

    def format(self, value: Any) -> str:
        shown = self.shown(value)
        return "-" if shown is None else f"{shown:.{self.decimals}f}"

    def change(self, before: float, now: float) -> float:
        """`now` against `before` on the nightly check's scale: log ratio or difference."""
        if self.relative:
            return math.log(now / before) if now > 0 and before > 0 else math.nan
        return now - before

    def worse(self, before: float, now: float) -> bool:
        """Whether `now` is worse than `before` in this measure's direction."""
        if self.better == "higher":
            return now < before
        if self.better == "lower":
            return now > before
        return False


def _measures(*entries: Measure) -> dict[str, Measure]:
    return {m.name: m for m in entries}


MS = 1e3

MEASURES: dict[str, Measure] = _measures(
    # qps-recall (and the search part of every protocol)
    Measure(
        "recall",
        "recall",
        "recall@k: share of the k answers within the k-th true distance (+1e-3)",
        "higher",
        threshold=0.9,  # the leaderboard's target: best QPS among runs at least this good
        relative=False,
        noise=0.01,
    ),
    Measure("qps", "QPS", "queries per second, 1 / mean latency", "higher", decimals=1),
    Measure("mean_latency", "mean ms", "mean query latency", "lower", MS, 3),
    Measure("p50_latency", "p50 ms", "median query latency", "lower", MS, 3),
    Measure("p95_latency", "p95 ms", "95th percentile query latency", "lower", MS, 3),
    Measure("p99_latency", "p99 ms", "99th percentile query latency", "lower", MS, 3),
    Measure("build_time", "build s", "time to fit the index", "lower", decimals=2),
    # stored in kB, as ann-benchmarks stores it
    Measure("index_size", "index MiB", "memory the index holds after fit", "lower", 1 / 1024, 1),
    Measure(
        "pr_auc",
        "PR-AUC",
        "area under precision-recall over k'=1..100",
        "higher",
        1,
        3,
        relative=False,
        noise=0.01,
    ),
    # deletion
    Measure("single_p50", "del p50 ms", "median single-delete latency", "lower", MS),
    Measure("single_p99", "del p99 ms", "99th percentile single-delete latency", "lower", MS),
    Measure("single_max", "del max ms", "slowest single delete", "lower", MS),
    Measure("batch_time", "batch s", "time of the one batch delete of the rest", "lower", 1, 3),
    Measure("compact_time", "compact s", "time of compact() after deleting", "lower", 1, 3),
    Measure("delete_time", "delete s", "time of all deletes of D", "lower", 1, 3),
    Measure("rebuild_time", "rebuild s", "time to fit a fresh index on X\\D", None, 1, 2),
    Measure("speedup", "speed-up", "rebuild time / delete time", "higher", 1, 1),
    Measure("deleted_returned", "deleted returned", "deleted ids in answers", "lower", 1, 0),
    # churn
    Measure(
        "mean_recall",
        "mean recall",
        "recall averaged over the search steps",
        "higher",
        relative=False,
        noise=0.01,
    ),
    Measure(
        "mean_recall_bigann",
        "big-ann recall",
        "mean recall as big-ann-benchmarks scores it: by id, ties within 1e-6 of the k-th",
        "higher",
        relative=False,
        noise=0.01,
    ),
    Measure(
        "min_recall",
        "min recall",
        "worst recall of a search step",
        "higher",
        relative=False,
        noise=0.01,
    ),
    Measure(
        "final_recall",
        "final recall",
        "recall at the last search step",
        "higher",
        relative=False,
        noise=0.01,
    ),
    Measure("total_time", "total s", "time of every step of the runbook", "lower", 1, 2),
    Measure("rebuilds", "rebuilds", "steps the plugin could not apply natively", "lower", 1, 0),
    # erasure
    Measure("leaks", "leaks", "E1: deleted ids returned in any answer", "lower", 1, 0),
    Measure(
        "remanent_fraction",
        "remanent",
        "decoding scan: share of D found in the saved state (any encoding, layout, container)",
        "lower",
        1,
        3,
    ),
    Measure(
        "remanence_control",
        "control",
        "share of a kept-vector sample the same scan finds (it must see the saved form)",
        "higher",
        1,
        3,
    ),
    Measure(
        "blind_files", "blind files", "files of vector data the scan cannot read", "lower", 1, 0
    ),
    Measure(
        "recovered_fraction",
        "recovered",
        "reconstruction: share of D decoded nearer than its nearest kept row and any retrained row",
        "lower",
        1,
        3,
    ),
    Measure(
        "recovery_ratio",
        "recovery ratio",
        "a decoded row recovers x when nearer x than this times x's nearest kept row",
        None,
        1,
        2,
        threshold=0.9,
    ),
    Measure(
        "trained_regions",
        "trained residue",
        "trained-state regions measurably nearer D than a retrained index's",
        "lower",
        1,
        0,
    ),
    Measure(
        "differential_residue",
        "residue B/vec",
        "differential: information bytes per deleted vector beyond what two retrained indices "
        "differ by; above the threshold the state is unverified",
        "lower",
        1,
        1,
        threshold=1.0,
    ),
    Measure("side_files", "side files", "files written outside the save folder", "lower", 1, 0),
    Measure("side_fraction", "in side files", "share of D found in side files", "lower", 1, 3),
    Measure(
        "memory_fraction",
        "in memory",
        "memory remanence: share of D in the process's writable memory after delete",
        "lower",
        1,
        3,
    ),
    Measure(
        "memory_control", "memory control", "kept-vector sample found in memory", "higher", 1, 3
    ),
    Measure(
        "auc_before",
        "AUC before",
        "E4: membership AUC (top-1 distance) before deleting",
        None,
        1,
        3,
    ),
    Measure(
        "auc_after", "AUC after", "E4: membership AUC (top-1 distance) after deleting", None, 1, 3
    ),
    Measure(
        "auc_retrain", "AUC retrain", "E4: membership AUC (top-1 distance), retrained", None, 1, 3
    ),
    Measure(
        "unlearning_gap",
        "gap",
        "E4: the attack's largest |AUC after - AUC retrained| over the answer's features; "
        "above the calibrated tolerance the attack tells (the threshold caps the tolerance "
        "and stands in without a second retrained index)",
        "lower",
        decimals=3,
        threshold=0.05,
        relative=False,
        noise=0.02,  # a rise beyond 3 x 0.02 is more than the verdict's whole tolerance
    ),
    Measure(
        "recall_retrain",
        "retrain recall",
        "E2: recall of the retrained index",
        "higher",
        relative=False,
        noise=0.01,
    ),
    Measure(
        "gap_tolerance",
        "gap tolerance",
        "E4: what two retrained indices differ by (99th percentile over a bootstrap)",
        None,
        decimals=3,
    ),
    Measure("recall_retrain", "retrain recall", "E2: recall of the retrained index", "higher"),
    Measure("overlap", "overlap", "E2: shared answers with the retrained index", "higher", 1, 3),
    Measure(
        "overlap_deleted",
        "overlap D",
        "E2: shared answers with the retrained index for the deleted vectors' own queries",
        "higher",
        1,
        3,
    ),
)

#: The leaderboard's recall target and the cap of the erasure attack's calibrated tolerance.
RECALL_TARGET: float = MEASURES["recall"].threshold
GAP_TOLERANCE: float = MEASURES["unlearning_gap"].threshold


def threshold(name: str) -> float:
    """A measure's declared threshold (KeyError naming a measure that has none)."""
    value = MEASURES[name].threshold
    if value is None:
        raise KeyError(f"measure {name!r} declares no threshold")
    return value


#: Erasure verdicts, best first.
VERDICTS = ("erased", "unverified", "hidden", "leaking")
VERDICT_MEANINGS = {
    "erased": "every check ran and passed, on the saved state, the answers and the memory",
    "unverified": "nothing found, but some check could not verify (it names the file or why)",
    "hidden": "nothing returned, but the data is still there (bytes, reconstruction, "
    "memory, side files, or the attack tells)",
    "leaking": "deleted ids are returned in answers",
}


def verdict_rank(verdict: Any) -> int:
    """0 for the best verdict, higher for worse ones; an unknown verdict ranks worst."""
    return VERDICTS.index(verdict) if verdict in VERDICTS else len(VERDICTS)


def worst_verdict(verdicts: Iterable[Any]) -> str | None:
    """The worst of some verdicts (unknown values ignored); None if there is none."""
    known = [v for v in verdicts if v in VERDICTS]
    return max(known, key=verdict_rank) if known else None
