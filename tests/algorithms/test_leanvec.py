"""LeanVec-Sphering, GleanVec and multi-step search over our HNSW (seed 003)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from algorithms import lvq
from algorithms.gleanvec import GleanVec, spherical_kmeans
from algorithms.leanvec import LeanVec, pca_projection, second_moment
from algorithms.multistep import reduced_scores
from harness.core.scoring import knn_recall
from harness.data.datasets import Dataset
from harness.data.groundtruth import ground_truth
from harness.data.sources import build_ood, get_dataset
from harness.protocols._measure import neighbor_distances
from harness.protocols.erasure.remanence import scan_directory
from plugins.gleanvec_hnsw.module import GleanVecHnsw
from plugins.leanvec_hnsw.module import LeanVecHnsw

K = 10


def fitted(reducer: LeanVec, X: np.ndarray) -> LeanVec:
    if isinstance(reducer, GleanVec):
        reducer.learn_landmarks(X)
    reducer.add(X, reducer.assign(X))
    reducer.refit()
    return reducer


def reduced_recall(
    reducer: LeanVec | None, X: np.ndarray, Q: np.ndarray, truth: np.ndarray, d: int
) -> float:
    """Brute-force 10-recall@10 with euclidean reduced scores alone (no re-rank)."""
    if reducer is None:  # the PCA baseline
        P = pca_projection(second_moment(X)).astype(np.float32)[:d]
        reduced, views, tags = X @ P.T, (Q @ P.T)[:, None, :], np.zeros(len(X), np.int32)
    else:
        tags = reducer.assign(X)
        reduced = reducer.project_data(X, tags)[:, :d]
        views = np.stack([reducer.project_query(q, d) for q in Q])
    scores = reduced_scores(2 * views, np.ascontiguousarray(reduced), tags, (X * X).sum(1))
    found = np.argpartition(scores, K, axis=1)[:, :K]
    return float(
        np.mean([len(np.intersect1d(f, t[:K])) for f, t in zip(found, truth, strict=True)]) / K
    )


@pytest.fixture(scope="module")
def ood(tmp_path_factory: pytest.TempPathFactory):
    """The synthetic out-of-distribution set, small: queries off the base's principal axes."""
    split = build_ood(tmp_path_factory.mktemp("ood"), n_train=4000, n_queries=200, dim=32)
    truth, _ = ground_truth(split.train, split.test, "euclidean", k=K)
    return split.train, split.test, split.learn_queries, truth


def clustered(rng: np.random.Generator, n: int, dim: int = 32, clusters: int = 8, sub: int = 4):
    """A union of low-dimensional subspaces around distinct centres (seed 003, Fig. 6)."""
    centres = rng.normal(size=(clusters, dim)) * 3
    bases = [np.linalg.qr(rng.normal(size=(dim, sub)))[0] for _ in range(clusters)]
    which = rng.integers(0, clusters, n)
    local = rng.normal(size=(n, sub))
    X = np.stack([centres[c] + bases[c] @ z for c, z in zip(which, local, strict=True)])
    return (X + 0.05 * rng.normal(size=X.shape)).astype(np.float32)


def test_full_dimension_inner_products_are_exact(ood) -> None:
    """Eq. 10: with d = D, <A' q, B' x> = <q, x> for Sphering and every GleanVec cluster."""
    X, Q, learn, _ = ood
    for reducer in (LeanVec(32, learn_queries=learn), GleanVec(32, 4, learn_queries=learn)):
        fitted(reducer, X)
        tags = reducer.assign(X[:50])
        reduced = reducer.project_data(X[:50], tags)
        views = np.stack([reducer.project_query(q, 32) for q in Q[:20]])
        approx = np.einsum("qnd,nd->qn", views[:, tags], reduced)
        assert np.allclose(approx, Q[:20] @ X[:50].T, rtol=1e-3, atol=1e-3)


def test_sphering_beats_pca_out_of_distribution(ood) -> None:
    """Seed 003, Fig. 5: the query-aware reduction keeps more true neighbours than PCA."""
    X, Q, learn, truth = ood
    sphering = fitted(LeanVec(32, learn_queries=learn), X)
    for d in (8, 16):
        pca, ours = reduced_recall(None, X, Q, truth, d), reduced_recall(sphering, X, Q, truth, d)
        assert ours >= pca + 0.05, f"d={d}: Sphering {ours:.3f} vs PCA {pca:.3f}"


def test_gleanvec_beats_sphering_on_clustered_data() -> None:
    """Seed 003, Fig. 8: per-cluster projections capture what one linear map cannot."""
    rng = np.random.default_rng(5)
    X, Q = clustered(rng, 4000), clustered(np.random.default_rng(5), 4200)[4000:]
    truth, _ = ground_truth(X, Q, "euclidean", k=K)
    sphering = fitted(LeanVec(32), X)
    glean = fitted(GleanVec(32, 8), X)
    for d in (4, 8):
        linear, piecewise = (reduced_recall(r, X, Q, truth, d) for r in (sphering, glean))
        assert piecewise >= linear + 0.05, f"d={d}: GleanVec {piecewise:.3f} vs {linear:.3f}"


def test_spherical_kmeans_finds_directions() -> None:
    rng = np.random.default_rng(0)
    axes = np.linalg.qr(rng.normal(size=(16, 16)))[0][:4]
    X = (axes[rng.integers(0, 4, 2000)] * rng.uniform(1, 5, (2000, 1))).astype(np.float32)
    X += 0.01 * rng.normal(size=X.shape).astype(np.float32)
    centres = spherical_kmeans(X, 4, seed=1)
    assert np.allclose(np.linalg.norm(centres, axis=1), 1, atol=1e-5)
    assert np.sort(np.abs(centres @ axes.T).max(axis=0)).min() > 0.99


@pytest.mark.parametrize("learn", [True, False], ids=["ood-queries", "data-as-queries"])
def test_streaming_statistics_equal_a_recompute(ood, learn: bool) -> None:
    """Sec. 3.2: +x x^T on insert, -x x^T on delete equals K_X of X minus D, and the refit
    projections equal those fitted from scratch on X minus D (no trace of D left)."""
    X, _, queries, _ = ood
    queries = queries if learn else None
    rng = np.random.default_rng(1)
    deleted = rng.choice(len(X), 400, replace=False)
    kept = np.setdiff1d(np.arange(len(X)), deleted)
    for make in (lambda: LeanVec(32, 12, 500, queries), lambda: GleanVec(32, 3, 12, 500, queries)):
        streamed = make()
        if isinstance(streamed, GleanVec):
            streamed.learn_landmarks(X)
        tags = streamed.assign(X)
        streamed.add(X[:3000], tags[:3000])
        streamed.refit()
        streamed.add(X[3000:], tags[3000:])
        streamed.remove(X[deleted], tags[deleted])
        assert streamed.due and streamed.pending == 1400
        scratch = make()
        scratch.centres = getattr(streamed, "centres", None)
        scratch.add(X[kept], tags[kept])
        assert np.allclose(streamed.K_X, scratch.K_X, rtol=1e-9, atol=1e-6)
        assert np.array_equal(streamed.counts, scratch.counts)
        streamed.refit()
        scratch.refit()
        for g in range(streamed.groups):
            for d in (4, 12):
                ours = streamed.A[g, :d].T @ streamed.B[g, :d]
                ref = scratch.A[g, :d].T @ scratch.B[g, :d]
                assert np.allclose(ours, ref, atol=1e-3 * np.abs(ref).max())
        # the projections themselves, eigenvectors' signs included: what save() writes
        for ours, ref in ((streamed.A, scratch.A), (streamed.B, scratch.B)):
            assert np.allclose(ours, ref, atol=1e-3 * np.abs(ref).max())


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match="d_max"):
        LeanVec(8, d_max=9)
    with pytest.raises(ValueError, match="learn_queries"):
        LeanVec(8, learn_queries=np.zeros((5, 7), np.float32))
    with pytest.raises(ValueError, match="before"):
        GleanVec(8, 2).assign(np.zeros((3, 8), np.float32))
    reducer = fitted(LeanVec(8, d_max=4), np.random.default_rng(0).normal(size=(100, 8)))
    with pytest.raises(ValueError, match="d must be"):
        reducer.project_query(np.zeros(8), 5)


# ---------------------------------------------------------------- plugins over our HNSW


def plugin_recall(plugin, data: Dataset) -> float:
    found = np.stack([plugin.query(q, K) for q in data.test])
    distances = neighbor_distances(data.metric, data.test, data.train, found)
    return float(knn_recall(data.distances, distances, found, K).mean())


@pytest.fixture(scope="module")
def glove_slice(data_dir: Path) -> Dataset:
    full = get_dataset("glove-100k-50-angular", data_dir)
    train, test = full.train[:6000], full.test[:200]
    neighbors, distances = ground_truth(train, test, "angular", k=100)
    return Dataset("glove-6k", train, test, neighbors, distances, "angular")


PLUGINS_AND_BITS = pytest.mark.parametrize(
    "plugin_class, bits",
    [(LeanVecHnsw, 32), (LeanVecHnsw, 8), (GleanVecHnsw, 32), (GleanVecHnsw, 8)],
    ids=["leanvec-f32", "leanvec-lvq8", "gleanvec-f32", "gleanvec-lvq8"],
)


@PLUGINS_AND_BITS
def test_recall_on_real_data(plugin_class, bits: int, glove_slice: Dataset) -> None:
    """GloVe 50-d (angular): 40 dimensions scored, kappa = 40, then the exact re-rank.

    GloVe compresses poorly (25 dimensions need kappa ~ 200 for 0.9, docs/leanvec.md)."""
    plugin = plugin_class("angular", M=16, efConstruction=64, d_max=40, bits=bits)
    plugin.fit(glove_slice.train)
    plugin.set_query_arguments(ef=80, kappa=40, d=40)
    assert plugin_recall(plugin, glove_slice) >= 0.9
    plugin.set_query_arguments(ef=10, kappa=10, d=8)
    assert plugin_recall(plugin, glove_slice) < 0.9, "8 of 50 dimensions cannot be as good"


def test_out_of_distribution_recall_with_learn_queries(ood) -> None:
    X, Q, learn, truth = ood
    distances = np.linalg.norm(X[truth] - Q[:, None], axis=2)
    data = Dataset("ood-small", X, Q, truth, distances, "euclidean")
    for plugin in (
        LeanVecHnsw("euclidean", M=12, efConstruction=64),
        GleanVecHnsw("euclidean", M=12, efConstruction=64, C=4),
    ):
        plugin.fit_queries(learn)
        plugin.fit(X)
        plugin.set_query_arguments(ef=60, kappa=40, d=16)
        assert plugin_recall(plugin, data) >= 0.9, plugin.name


@PLUGINS_AND_BITS
def test_full_dimension_rerank_is_exact(plugin_class, bits: int, ood) -> None:
    """kappa = n: every node is a candidate, the re-rank alone decides (Eq. 10)."""
    X, Q, learn, _ = ood
    plugin = plugin_class("euclidean", M=8, efConstruction=40, bits=bits)
    plugin.fit_queries(learn)
    plugin.fit(X[:1000])
    plugin.set_query_arguments(ef=1000, kappa=1000, d=32)
    exact, _ = ground_truth(X[:1000], Q[:50], "euclidean", k=K)
    assert np.array_equal(np.stack([plugin.query(q, K) for q in Q[:50]]), exact)


@PLUGINS_AND_BITS
def test_delete_refreshes_projection_and_reprojects(
    plugin_class, bits: int, ood, tmp_path: Path
) -> None:
    """A delete takes -x x^T; at `refresh_every` updates the projections are recomputed and
    every reduced vector in the graph re-projected; deleted ids are never returned and after
    `compact()` the saved files hold none of their vectors."""
    X, Q, learn, _ = ood
    plugin = plugin_class(
        "euclidean", M=8, efConstruction=60, d_max=12, refresh_every=300, bits=bits
    )
    plugin.fit_queries(learn)
    plugin.fit(X[:2000])
    index = plugin.index
    B_before = index.reducer.B.copy()
    deleted = np.random.default_rng(2).choice(2000, 200, replace=False)
    plugin.delete(deleted)
    assert index.reducer.pending == 200, "not due yet: no refresh"
    plugin.insert(X[2000:2150], np.arange(5000, 5150))
    assert index.reducer.pending == 0, "350 updates >= refresh_every: refreshed"
    assert not np.allclose(index.reducer.B, B_before)
    live, live_tags = index.graph.vectors(index.graph.ids())
    for g in range(index.reducer.groups):
        assert np.allclose(index.reducer.K_X[g], second_moment(live[live_tags == g]), rtol=1e-8)
    # the graph scores every live node with the re-projected rows: compare to NumPy
    reducer = index.reducer
    views = 2 * reducer.project_query(Q[0], 12)
    query_rows = index.query_matrix(12) @ Q[0]
    ids, scores = index.graph.search_reduced(query_rows.reshape(reducer.groups, -1), 1950, 1950, 12)
    assert len(index) == 1950 and len(ids) >= 1900
    rows, tags = index.graph.vectors(ids)
    reduced = reducer.project_data(rows, tags)
    if bits == 8:  # what the codes of the re-projected rows stand for
        offsets, scales = reducer.offsets[tags], reducer.scales[tags]
        reduced = lvq.decode(*lvq.encode(reduced, offsets, scales), offsets, scales)
    expected = reduced_scores(views[None], reduced, tags, (rows * rows).sum(1))[0]
    assert np.allclose(scores, expected, rtol=1e-4, atol=1e-3)

    plugin.set_query_arguments(ef=100, kappa=50, d=12)
    answers = np.stack([plugin.query(q, K) for q in np.concatenate([Q[:50], X[deleted[:50]]])])
    assert not np.isin(answers, deleted).any()
    plugin.compact()
    plugin.save(tmp_path)
    assert scan_directory(tmp_path, X[deleted]).fraction == 0.0
    assert scan_directory(tmp_path, X[np.setdiff1d(np.arange(2000), deleted)[:50]]).fraction == 1
    assert scan_directory(tmp_path, X[2000:2050]).fraction == 1


def test_plugin_bad_arguments(ood) -> None:
    X, _, learn, _ = ood
    plugin = LeanVecHnsw("euclidean", d_max=8)
    plugin.fit_queries(learn[:, :16])
    with pytest.raises(ValueError, match="fit_queries"):
        plugin.fit(X)
    plugin = LeanVecHnsw("euclidean", M=8, efConstruction=20, d_max=8)
    plugin.fit(X[:300])
    plugin.set_query_arguments(ef=10, kappa=10, d=9)
    assert plugin.d == 8, "d beyond the stored dimensions scores all of them"
    with pytest.raises(ValueError, match="kappa"):
        plugin.set_query_arguments(ef=10, kappa=0, d=4)
    with pytest.raises(ValueError, match="C"):
        GleanVecHnsw("euclidean", C=0)
    with pytest.raises(ValueError, match="bits must be 8"):
        LeanVecHnsw("euclidean", bits=16)


def test_lvq_codes_round_trip_within_half_a_step() -> None:
    """Every value comes back within half a step of its row (in units of its dimension's
    spread), and the query blocks give <v, decoded row> from one product with the query."""
    rng = np.random.default_rng(3)
    rows = (rng.normal(size=(500, 16)) * np.geomspace(100, 0.1, 16)).astype(np.float32)
    offsets, scales = rows.mean(0), rows.std(0)
    codes, lo, step = lvq.encode(rows, offsets, scales)
    decoded = lvq.decode(codes, lo, step, offsets, scales)
    assert np.all(np.abs(decoded - rows) / scales <= step[:, None] / 2 + 1e-4)
    assert np.abs(decoded - rows).max(0)[-1] < 0.1 * scales[-1], "trailing dims keep detail"
    M = rng.normal(size=(1, 12, 40)).astype(np.float32)
    q = rng.normal(size=40).astype(np.float32)
    blocks = lvq.query_blocks(M, offsets[None], scales[None]) @ q  # u (12), sum(u), offset term
    u, total, offset_term = blocks[:12], blocks[12], blocks[13]
    graph_dots = offset_term + lo * total + step * (codes[:, :12] @ u)
    assert np.allclose(graph_dots, decoded[:, :12] @ (M[0] @ q), rtol=1e-3, atol=1e-2)


def test_lvq_spread_follows_the_live_rows(ood) -> None:
    """The offsets and scales an 8-bit index codes with are the mean and deviation of the
    reduced rows, streamed like K_X: after deletes and a refit they describe X without D."""
    X, _, learn, _ = ood
    reducer = fitted(LeanVec(32, d_max=12, learn_queries=learn), X)
    reducer.remove(X[:1000], np.zeros(1000, np.int32))
    reducer.refit()
    reduced = reducer.project_data(X[1000:], np.zeros(len(X) - 1000, np.int32))
    assert np.allclose(reducer.offsets[0], reduced.mean(0), rtol=1e-3, atol=1e-3)
    assert np.allclose(reducer.scales[0], reduced.std(0), rtol=1e-3)


def test_gleanvec_compact_learns_its_landmarks_as_a_rebuild_would(ood) -> None:
    """The landmarks are learned from the rows: a delete cannot subtract a deleted vector's
    pull on them, so until `compact()` they keep D's trace (cluster deletion: the landmark
    of D's region stays where D was); after it they, the statistics and the projections are
    those of a build on the live rows."""
    X, _, learn, _ = ood
    rows = X[:2000]
    centre = rows[0] / np.linalg.norm(rows[0])
    deleted = np.argsort(-(rows @ centre))[:300]  # a cluster: D's region of the sphere
    kept = np.setdiff1d(np.arange(2000), deleted)

    def plugin():
        made = GleanVecHnsw("euclidean", C=4, M=8, efConstruction=60, d_max=12, bits=32)
        made.fit_queries(learn)
        return made

    forgetting, rebuilt = plugin(), plugin()
    forgetting.fit(rows)
    rebuilt.fit(rows[kept], kept)
    learned_with_d = forgetting.index.reducer.centres.copy()
    forgetting.delete(deleted)
    assert np.array_equal(forgetting.index.reducer.centres, learned_with_d)
    forgetting.compact()
    ours, theirs = forgetting.index.reducer, rebuilt.index.reducer
    assert not np.allclose(learned_with_d, theirs.centres, atol=1e-3)
    assert np.allclose(ours.centres, theirs.centres, atol=1e-5)
    assert np.array_equal(ours.counts, theirs.counts)
    assert np.allclose(ours.K_X, theirs.K_X, rtol=1e-6, atol=1e-6)
    assert np.allclose(ours.B, theirs.B, atol=1e-4)
    _, tags = forgetting.index.graph.vectors(kept)
    assert np.array_equal(tags, ours.assign(rows[kept]))  # the graph holds the new tags
    forgetting.set_query_arguments(ef=60, kappa=40, d=12)
    answers = np.stack([forgetting.query(q, K) for q in rows[kept[:30]]])
    assert (answers[:, 0] == kept[:30]).mean() >= 0.9  # re-projected rows still searched
