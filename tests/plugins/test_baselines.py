"""The baseline plugins' own deletion semantics, and SVS LeanVec's hardware failure.

The conformance test covers the contract; these tests pin what each library does beyond it:
where a deleted slot goes (ScaNN's move-last, hnswlib's replace_deleted), SVS's compaction,
and that LeanVec's process exit on a non-Intel CPU becomes a recorded failure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.conformance import intel_cpu
from harness.core.job import Job
from harness.core.results import read_result
from harness.runner.local import run_local
from harness.runner.scheduling import Limits
from plugins.base import offers
from tests.support.jobs import make_job

GiB = 2**30


def blobs(n: int = 2000, d: int = 16, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(20, d)) * 4
    return (centers[rng.integers(0, 20, n)] + rng.normal(size=(n, d))).astype(np.float32)


def job(constructor: str, build_args: dict, dataset: Path, results: Path) -> Job:
    query_args = {"search_window_size": 40}
    return make_job("plugins.svs.module", constructor, dataset, results, build_args, query_args)


@pytest.mark.timeout(120)
def test_svs_leanvec_fails_as_recorded_on_non_intel_and_the_run_beside_it_succeeds(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    dynamic = job(
        "SvsDynamicVamana", {"graph_max_degree": 16, "window_size": 32}, tiny_dataset, tmp_path
    )
    leanvec = job("SvsLeanVec", {"leanvec_dims": 4, "graph_max_degree": 16}, tiny_dataset, tmp_path)
    # DynamicVamana reserves its data and graph in 1 GiB (huge-page) blocks, hence 4 GiB.
    outcomes = run_local([leanvec, dynamic], "euclidean", Limits(60, 4 * GiB))

    status = {o.job.definition.constructor: o for o in outcomes}
    assert status["SvsDynamicVamana"].status == "ok"
    attrs = read_result(leanvec.result_path({"search_window_size": 40}))["attrs"]
    if intel_cpu():
        assert attrs["status"] == "ok"
        return
    assert attrs["status"] == "failed" and attrs["failure_cause"] == "exit"
    assert "non-Intel hardware" in attrs["failure_detail"]  # SVS's own message
    assert "svs-leanvec: building LeanVec" in attrs["failure_detail"]


def test_scann_delete_moves_the_last_datapoint_and_insert_appends() -> None:
    from plugins.scann.module import Scann

    X = blobs()
    plugin = Scann("euclidean", n_leaves=20)
    plugin.fit(X, np.arange(len(X)) + 100)
    plugin.set_query_arguments(leaves_to_search=20, reorder=100)
    plugin.delete(np.array([100, 101, 100 + len(X) - 1]))  # the last row too
    plugin.insert(X[:1] + 0.01, np.array([7]))
    for row in (2, 500, len(X) - 2):  # rows the deletions moved keep their ids
        assert plugin.query(X[row], 1)[0] == row + 100
    assert plugin.query(X[0], 1)[0] == 7
    assert len(plugin.labels) == len(X) - 2 == len(plugin.row_of)


def test_svs_compact_purges_deleted_ids_and_keeps_answers() -> None:
    from plugins.svs.module import SvsDynamicVamana

    X = blobs()
    plugin = SvsDynamicVamana("euclidean", graph_max_degree=32, window_size=64)
    plugin.fit(X)
    plugin.set_query_arguments(search_window_size=40)
    plugin.delete(np.arange(0, len(X), 2))
    assert plugin.index.size == len(X) // 2 and not plugin.index.has_id(0)
    before = plugin.batch_query(X[1::2][:50], 10)
    plugin.compact()
    assert plugin.index.size == len(X) // 2
    assert sorted(plugin.index.all_ids()) == list(range(1, len(X), 2))
    after = plugin.batch_query(X[1::2][:50], 10)
    assert (before[:, 0] == after[:, 0]).all()


def test_faiss_reranked_indices_delete_from_both_stores() -> None:
    from plugins.faiss.module import FaissIVFPQFastScan, FaissLSH

    X = blobs()
    for plugin in (FaissIVFPQFastScan("euclidean", n_list=16), FaissLSH("angular", 128)):
        plugin.fit(X)
        plugin.delete(np.arange(100))
        assert plugin.index.ntotal == plugin.exact.ntotal == len(X) - 100
        if isinstance(plugin, FaissLSH):
            plugin.set_query_arguments(k_reorder=10)
        else:
            plugin.set_query_arguments(n_probe=16, k_reorder=10)
        assert plugin.query(X[0], 10).min() >= 100


def test_libraries_without_removal_claim_none_and_offer_no_delete() -> None:
    from plugins.annoy.module import Annoy
    from plugins.faiss.module import FaissHNSW
    from plugins.svs.module import SvsLeanVec

    for cls in (Annoy, FaissHNSW, SvsLeanVec):
        assert cls.deletion == "none" and not offers(cls, "delete")
