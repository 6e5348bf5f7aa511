"""Reentrant search in our HNSW graph: concurrent searches from several threads return what
sequential ones do, `batch_search` gives the same answers on any thread count, and an update
that would overlap a search raises instead of racing with it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from algorithms.hnsw import BLOCK, HNSW
from harness.data.sources import get_dataset
from plugins.hnsw.module import Hnsw

K = 10
N = 4_000


@pytest.fixture(scope="module")
def glove(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    full = get_dataset("glove-100k-50-angular", data_dir)
    return full.train[:N], full.test[:300]


@pytest.fixture(scope="module")
def index(glove: tuple[np.ndarray, np.ndarray]) -> HNSW:
    X, _ = glove
    built = HNSW(50, "angular", M=12, ef_construction=100)
    built.add(X, np.arange(N) * 7)
    return built


def test_concurrent_searches_return_what_sequential_ones_do(
    glove: tuple[np.ndarray, np.ndarray], index: HNSW
) -> None:
    """Four threads, each its own order over the queries and its own ef, all at once: every
    answer (ids and distances) equals the sequential one. Shared visited marks or heaps
    would mix up the searches."""
    _, Q = glove
    efs = (10, 40, 80, 160)
    expected = {ef: [index.search(q, K, ef) for q in Q] for ef in efs}
    start = threading.Barrier(len(efs))

    def run(ef: int) -> list[tuple[np.ndarray, np.ndarray]]:
        order = np.random.default_rng(ef).permutation(len(Q))
        start.wait()
        answers = [None] * len(Q)
        for _ in range(3):
            for i in order:
                answers[i] = index.search(Q[i], K, ef)
        return answers

    with ThreadPoolExecutor(len(efs)) as pool:
        results = dict(zip(efs, pool.map(run, efs), strict=True))
    for ef in efs:
        for (ids, dists), (want_ids, want_dists) in zip(results[ef], expected[ef], strict=True):
            assert np.array_equal(ids, want_ids) and np.array_equal(dists, want_dists)


def test_concurrent_multistep_and_plain_searches_do_not_share_views(
    glove: tuple[np.ndarray, np.ndarray],
) -> None:
    X, Q = glove
    graph = HNSW(50, "euclidean", M=12, ef_construction=100)
    graph.add(X[:2000], np.arange(2000))
    P = np.linalg.qr(np.random.default_rng(0).normal(size=(50, 50)))[0][:16].astype(np.float32)
    graph.set_reduced(
        np.arange(2000), X[:2000] @ P.T, bias=np.einsum("ij,ij->i", X[:2000], X[:2000])
    )
    multi = [graph.search_multistep(q, 2 * P, K, 40, 40, 16) for q in Q]
    plain = [graph.search(q, K, 40) for q in Q]

    def run(kind: str) -> list:
        if kind == "multi":
            return [graph.search_multistep(q, 2 * P, K, 40, 40, 16) for q in Q]
        return [graph.search(q, K, 40) for q in Q]

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(run, ["multi", "plain", "multi", "plain"]))
    for got, want in zip(runs, [multi, plain, multi, plain], strict=True):
        assert all(np.array_equal(a[0], b[0]) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("queries", [1, BLOCK, BLOCK + 1, 300])
def test_batch_search_gives_the_same_answers_on_any_thread_count(
    glove: tuple[np.ndarray, np.ndarray], index: HNSW, threads: int, queries: int
) -> None:
    _, Q = glove
    ids, dists = index.batch_search(Q[:queries], K, 40, threads=threads)
    for row, q in enumerate(Q[:queries]):
        want_ids, want_dists = index.search(q, K, 40)
        assert np.array_equal(ids[row], want_ids) and np.array_equal(dists[row], want_dists)


def test_batch_search_pads_short_answers_and_rejects_bad_arguments() -> None:
    small = HNSW(4, "euclidean")
    small.add(np.eye(4, dtype=np.float32), np.arange(4))
    ids, dists = small.batch_search(np.ones((40, 4)), 6, 10, threads=2)
    assert (ids[:, 4:] == -1).all() and np.isinf(dists[:, 4:]).all()
    assert sorted(ids[0, :4].tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="threads"):
        small.batch_search(np.ones((2, 4)), 3, 10, threads=0)
    with pytest.raises(ValueError, match="k >= 1"):
        small.batch_search(np.ones((2, 4)), 0, 10)
    with pytest.raises(ValueError, match="shape"):
        small.batch_search(np.ones((2, 5)), 3, 10)


def test_an_update_during_a_search_raises_and_leaves_both_intact(
    glove: tuple[np.ndarray, np.ndarray],
) -> None:
    X, Q = glove
    graph = HNSW(50, "angular", M=12, ef_construction=100)
    graph.add(X, np.arange(N))
    slow = np.tile(Q, (4, 1))  # about a second at ef = N: the window is wide open
    expected = graph.batch_search(Q[:5], K, N, threads=1)[0]
    result = {}
    searching = threading.Thread(
        target=lambda: result.update(answers=graph.batch_search(slow, K, N, threads=1)[0])
    )
    searching.start()
    deadline = time.monotonic() + 30
    while graph._graph.readers == 0 and searching.is_alive() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert graph._graph.readers > 0, "the search never started"
    for update in (
        lambda: graph.delete(np.array([5])),
        lambda: graph.add(X[:1], np.array([N + 1])),
        graph.compact,
    ):
        with pytest.raises(RuntimeError, match="being modified by another thread"):
            update()
    searching.join()
    assert np.array_equal(result["answers"][:5], expected)
    assert len(graph) == N and 5 in graph  # nothing changed
    graph.delete(np.array([5]))  # alone, the update goes through
    assert 5 not in graph


def test_plugin_batch_query_matches_its_single_queries(
    glove: tuple[np.ndarray, np.ndarray],
) -> None:
    X, Q = glove
    plugin = Hnsw("angular", M=12, efConstruction=100)
    plugin.fit(X)
    plugin.set_query_arguments(ef=40)
    batch = plugin.batch_query(Q, K)
    assert np.array_equal(batch, np.array([plugin.query(q, K) for q in Q]))
