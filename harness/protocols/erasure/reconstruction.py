"""Erasure check: can the deleted vectors be reconstructed from the saved state?

Two statistics over the candidate rows of each state (`candidates`), with the retrained
index A as the reference and a second retrained index B (another seed) as the null:

- *recovered*: a deleted vector x counts as recovered from a state when some candidate row
  lies nearer x than `RECOVERY_RATIO` times both x's nearest kept row and the nearest
  candidate of A. The same count for B against A is what chance gives (quantised kept rows,
  trained centroids); a state recovers D when its count exceeds that by more than three
  standard deviations (Poisson).
- *trained-state nearness*: for each trained region (centroids, codebooks, projections: row
  sets of at most a tenth of the kept rows) present in every state, how much nearer the
  state's region lies to D than A's does, minus the same for a sample of kept rows (so a
  region better everywhere does not count), in mean log distance; B's value is the null. For
  (r, d) matrices, the same with the energy log |M x| (a projection learned with D captures
  more of D). Measurable when above |B's value| plus three standard errors, and above
  `MIN_GAIN` (projections recomputed from down-dated statistics differ from a retrained
  index's by rounding only: 1e-9, with B's null exactly 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import faiss
import numpy as np

from harness.protocols.erasure.candidates import Candidates

EPSILON = 1e-12
#: The least gain in mean log distance (1e-3: D about 0.1% nearer) a trained region must show:
#: below, it is the rounding of statistics down-dated instead of summed afresh.
MIN_GAIN = 1e-3


@dataclass
class Recovery:
    """What reconstruction found in one state."""

    recovered: np.ndarray  # bool per deleted vector
    null_recovered: int  # B's count against A: what chance gives
    tested: int  # candidate rows of this state tested
    total: int  # candidate rows before sampling
    nearness: dict[str, dict[str, float]] = field(default_factory=dict)  # region -> figures

    @property
    def count(self) -> int:
        return int(self.recovered.sum())

    @property
    def excess(self) -> bool:
        """More recovered than chance by over three (Poisson) standard deviations."""
        return self.count > self.null_recovered + 3.0 * np.sqrt(self.null_recovered + 1.0)

    @property
    def measurable_regions(self) -> list[str]:
        return [name for name, figures in self.nearness.items() if figures["measurable"]]


def nearest_distances(rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per target, the L2 distance to its nearest row (inf without rows)."""
    if not len(rows) or not len(targets):
        return np.full(len(targets), np.inf)
    index = faiss.IndexFlatL2(rows.shape[1])
    index.add(np.ascontiguousarray(rows, dtype=np.float32))
    distances, _ = index.search(np.ascontiguousarray(targets, dtype=np.float32), 1)
    return np.sqrt(np.maximum(distances[:, 0].astype(np.float64), 0.0))


def recovery(
    state: Candidates,
    retrained: Candidates,
    other: Candidates,
    deleted: np.ndarray,
    kept_distance: np.ndarray,
    kept_sample: np.ndarray,
    ratio: float,
) -> Recovery:
    """Recovered vectors of `state`, and the trained-state nearness, against A and B.

    `deleted` and `kept_sample` are in the comparison space; `kept_distance` is each deleted
    vector's distance to its nearest kept row.
    """
    a_state = nearest_distances(state.rows, deleted)
    a_retrained = nearest_distances(retrained.rows, deleted)
    a_other = nearest_distances(other.rows, deleted)
    reference = np.minimum(kept_distance, a_retrained)
    recovered = a_state < ratio * reference
    null = int((a_other < ratio * reference).sum())
    result = Recovery(recovered, null, len(state.rows), state.total)
    for name in sorted(set(state.trained) & set(retrained.trained) & set(other.trained)):
        regions = (state.trained[name], retrained.trained[name], other.trained[name])
        result.nearness[name] = nearness(regions, deleted, kept_sample, nearest_log)
    for name in sorted(set(state.matrices) & set(retrained.matrices) & set(other.matrices)):
        maps = (state.matrices[name], retrained.matrices[name], other.matrices[name])
        if maps[0].shape == maps[1].shape == maps[2].shape:
            result.nearness[f"{name} [energy]"] = nearness(maps, deleted, kept_sample, energy)
    return result


def nearness(
    regions: tuple[np.ndarray, np.ndarray, np.ndarray],
    deleted: np.ndarray,
    kept: np.ndarray,
    closeness,
) -> dict[str, float]:
    """How much nearer D the state's region is than A's (beyond kept rows), against B."""
    state, retrained, other = regions
    base_d, base_k = closeness(retrained, deleted), closeness(retrained, kept)
    gain_d, gain_k = closeness(state, deleted) - base_d, closeness(state, kept) - base_k
    null_d, null_k = closeness(other, deleted) - base_d, closeness(other, kept) - base_k
    value = float(gain_d.mean() - gain_k.mean())
    null = float(null_d.mean() - null_k.mean())
    error = float(np.sqrt(gain_d.var() / len(gain_d) + gain_k.var() / max(1, len(gain_k))))
    return {
        "value": value,
        "null": null,
        "stderr": error,
        "measurable": bool(value > max(abs(null) + 3.0 * error, MIN_GAIN)),
    }


def nearest_log(rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Closeness as minus the log distance to the nearest row (higher is nearer)."""
    return -np.log(nearest_distances(rows, targets) + EPSILON)


def energy(matrix: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Closeness as the log of |M x| (a projection that keeps more of x)."""
    return np.log(
        np.linalg.norm(targets.astype(np.float64) @ matrix.T.astype(np.float64), axis=1) + EPSILON
    )
