"""Amnesia's LSH k-NN (seed 004, sec. 3.2.3): forget equals retrain, byte for byte."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from algorithms.lsh.amnesia import AmnesiaKNN
from plugins.amnesia_lsh.module import AmnesiaLsh


def data(n: int = 1200, d: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    centers = rng.normal(size=(12, d)) * 4
    X = (centers[rng.integers(0, 12, n)] + rng.normal(size=(n, d))).astype(np.float32)
    return X, rng.permutation(10 * n)[:n].astype(np.int64)  # external ids, not in order


def saved(plugin: AmnesiaLsh, directory: Path) -> dict[str, bytes]:
    directory.mkdir()
    plugin.save(directory)
    return {f.name: f.read_bytes() for f in sorted(directory.iterdir())}


@pytest.mark.parametrize("metric", ["euclidean", "angular"])
def test_forget_equals_a_fresh_fit_byte_for_byte(metric: str, tmp_path: Path) -> None:
    X, ids = data()
    plugin = AmnesiaLsh(metric, H=6, b=5, seed=3)
    plugin.fit(X, ids)
    gone = np.random.default_rng(0).choice(len(X), 150, replace=False)
    plugin.delete(ids[gone[:10]])  # one batch and singles, as a user would
    for i in gone[10:]:
        plugin.delete(ids[i : i + 1])
    kept = np.setdiff1d(np.arange(len(X)), gone)
    retrained = AmnesiaLsh(metric, H=6, b=5, seed=3)
    retrained.fit(X[kept[::-1]], ids[kept[::-1]])  # the order of the rows does not matter
    after, fresh = saved(plugin, tmp_path / "forgot"), saved(retrained, tmp_path / "fresh")
    assert sorted(after) == sorted(fresh) and len(after) == 4 + 3 * 6
    for name in after:
        assert after[name] == fresh[name], f"{name} differs from a fresh fit on X \\ D"
    blob = b"".join(after.values())
    assert not any(plugin.index.vectors.get(int(ids[i])) is not None for i in gone)
    assert not any(plugin.index._prepare(X[i]).tobytes() in blob for i in gone[:30])


def test_a_different_seed_or_a_missed_delete_breaks_equality(tmp_path: Path) -> None:
    X, ids = data(400)
    plugin = AmnesiaLsh("euclidean", H=4, b=4, seed=3)
    plugin.fit(X, ids)
    plugin.delete(ids[:20])
    other_seed = AmnesiaLsh("euclidean", H=4, b=4, seed=4)
    other_seed.fit(X[20:], ids[20:])
    one_more = AmnesiaLsh("euclidean", H=4, b=4, seed=3)
    one_more.fit(X[19:], ids[19:])
    after = saved(plugin, tmp_path / "a")
    assert after != saved(other_seed, tmp_path / "b")
    assert after != saved(one_more, tmp_path / "c")


def test_insert_then_forget_restores_the_state(tmp_path: Path) -> None:
    X, ids = data(600)
    plugin = AmnesiaLsh("angular", H=5, b=6)
    plugin.fit(X[:500], ids[:500])
    before = saved(plugin, tmp_path / "before")
    plugin.insert(X[500:], ids[500:])
    plugin.delete(ids[500:])
    assert saved(plugin, tmp_path / "after") == before


def test_queries_rank_the_union_of_buckets_exactly_and_skip_deleted() -> None:
    X, ids = data()
    index = AmnesiaKNN("euclidean", X.shape[1], H=8, b=6, seed=1)
    index.partial_fit(X, ids)
    q = X[7] + 0.01
    found = index.search(q, 10)
    union = set()
    for table, key in zip(index.tables, index.keys(index._prepare(q)), strict=True):
        union.update(table.get(key, []))
    candidates = np.array(sorted(union))
    rows = {int(i): r for r, i in enumerate(ids)}
    dist = np.linalg.norm(X[[rows[int(i)] for i in candidates]] - q, axis=1)
    assert np.array_equal(found, candidates[np.argsort(dist, kind="stable")[:10]])
    assert found[0] == ids[7]
    index.forget(found[:3])
    assert not np.isin(index.search(q, 10), found[:3]).any()
    with pytest.raises(KeyError):
        index.forget(found[:1])
