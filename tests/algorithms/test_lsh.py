"""USR-LSH, SimHash and super-bit LSH (seed 002): hash functions, multi-probe, deletion."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from algorithms.lsh.hashing import SimHash, SuperBit, USRHash
from algorithms.lsh.index import LSHIndex
from algorithms.lsh.multiprobe import probe_sequence
from plugins.usr_lsh.module import UsrLsh


def blobs(n: int = 1500, d: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(15, d)) * 3
    return (centers[rng.integers(0, 15, n)] + rng.normal(size=(n, d))).astype(np.float32)


def algorithm1(x: np.ndarray, W: np.ndarray, alpha: float, T: int) -> np.ndarray:
    """Algorithm 1 transcribed literally for one point: the md x md matrix I - W^T W."""
    W = W.astype(np.float64)
    step = np.eye(W.shape[1]) - W.T @ W
    y = np.zeros(W.shape[1])
    for _ in range(T):
        y = np.tanh(alpha * W.T @ x.astype(np.float64) + step @ y)
    return y


def test_usr_codes_match_a_direct_transcription_of_algorithm1() -> None:
    X = blobs(60, d=8)
    hasher = USRHash(8, m=3, T=17, seed=4)
    assert hasher.W.shape == (8, 24)
    assert np.allclose(hasher.W @ hasher.W.T, np.eye(8), atol=1e-5), "W W^T = I_d (eq. 10)"
    hasher.alpha = hasher.alpha_for(float(np.linalg.norm(X, axis=1).mean()))
    assert hasher.alpha == pytest.approx(np.sqrt(24) / (2 * np.linalg.norm(X, axis=1).mean()))
    reference = np.stack([algorithm1(x, hasher.W, hasher.alpha, 17) for x in X])
    values = hasher.values(X)
    assert np.allclose(values, reference, atol=1e-4)
    clear = np.abs(reference) > 1e-4  # signs of values at 0 +- float error may differ
    bits = np.unpackbits(hasher.codes(X), axis=1)[:, :24].astype(bool)
    assert np.array_equal(bits[clear], (reference >= 0)[clear])
    assert clear.mean() > 0.99


def test_simhash_and_superbit_are_signs_of_their_projections() -> None:
    X = blobs(40, d=6)
    for hasher in (SimHash(6, 20, seed=2), SuperBit(6, 20, seed=2)):
        bits = np.unpackbits(hasher.codes(X), axis=1)[:, :20].astype(bool)
        assert np.array_equal(bits, X @ hasher.W.T >= 0)
    block = SuperBit(6, 20, seed=2).W[:6].astype(np.float64)
    assert np.allclose(block @ block.T, np.eye(6), atol=1e-5), "a super-bit batch is orthonormal"


def test_multiprobe_visits_every_bucket_once_in_score_order() -> None:
    magnitudes = np.abs(np.random.default_rng(3).normal(size=(3, 6)))
    sequence = list(probe_sequence(magnitudes))
    assert len(sequence) == 3 * 2**6
    assert len({(t, mask) for _, t, mask in sequence}) == len(sequence)
    scores = [s for s, _, _ in sequence]
    assert scores == sorted(scores)
    for score, table, mask in sequence:  # eq. 14: the sum of |y| over the flipped bits
        flipped = [j for j in range(6) if mask >> (5 - j) & 1]
        assert score == pytest.approx(magnitudes[table, flipped].sum())
    expected = sorted(
        sum(magnitudes[t, list(c)])
        for t in range(3)
        for r in range(7)
        for c in itertools.combinations(range(6), r)
    )
    assert np.allclose(scores, expected)


def test_probing_every_bucket_finds_what_full_ranking_finds() -> None:
    X = blobs()
    index = LSHIndex("euclidean", USRHash(12, 2, seed=1), tables=2, key_bits=6)
    index.add(X, np.arange(len(X), dtype=np.int64))
    for q in blobs(20, seed=9):
        full = index.search(q, 10, probes=0, kappa=50)
        assert np.array_equal(index.search(q, 10, probes=2 * 2**6, kappa=50), full)
        assert len(index.search(q, 10, probes=2, kappa=50)) <= 10


@pytest.mark.parametrize("probes", [0, 16])
def test_deleted_ids_are_never_returned_nor_saved(probes: int, tmp_path: Path) -> None:
    X = blobs()
    ids = 5000 + np.arange(len(X), dtype=np.int64)
    plugin = UsrLsh("euclidean", m=4, tables=4, key_bits=8)
    plugin.fit(X, ids)
    plugin.set_query_arguments(probes=probes, kappa=100)
    deleted = np.random.default_rng(1).choice(ids, 300, replace=False)
    plugin.delete(deleted)
    probe = np.concatenate([deleted - 5000, np.arange(200)])
    answers = np.concatenate([plugin.query(x, 10) for x in X[probe]])
    assert not np.isin(answers, deleted).any()
    assert (
        plugin.batch_query(X[:200], 10).size
        and not np.isin(plugin.batch_query(X[:200], 10), deleted).any()
    )
    plugin.save(tmp_path)
    saved = b"".join(f.read_bytes() for f in sorted(tmp_path.iterdir()))
    assert not any(X[i - 5000].tobytes() in saved for i in deleted[:50])
    assert X[int(np.setdiff1d(ids, deleted)[0]) - 5000].tobytes() in saved
    table = plugin.index.tables.buckets[0]
    assert sum(map(len, table.values())) == len(X) - 300, "table entries are removed"
    with pytest.raises(KeyError, match=str(deleted[0])):
        plugin.delete(deleted[:1])


def test_alpha_follows_running_norms_and_old_codes_are_kept() -> None:
    X = blobs() * np.linspace(0.5, 2.0, 1500, dtype=np.float32)[:, None]
    index = LSHIndex("euclidean", USRHash(12, 2, seed=1))
    index.add(X[:1000], np.arange(1000, dtype=np.int64))
    codes = {i: index._codes[index.row_of[i]].copy() for i in range(1000)}
    alpha_at_fit = index.alpha
    index.remove(np.arange(0, 1000, 3, dtype=np.int64))
    kept = np.setdiff1d(np.arange(1000), np.arange(0, 1000, 3))
    mean = np.linalg.norm(X[kept].astype(np.float64), axis=1).mean()
    assert index.alpha == pytest.approx(np.sqrt(24) / (2 * mean), rel=1e-9)
    assert index.alpha != pytest.approx(alpha_at_fit, rel=1e-6)
    for i in kept:  # policy: codes hashed under the older alpha are not rehashed
        assert np.array_equal(index._codes[index.row_of[int(i)]], codes[int(i)])
    index.add(X[1000:], np.arange(1000, 1500, dtype=np.int64))
    everyone = np.concatenate([kept, np.arange(1000, 1500)])
    mean = np.linalg.norm(X[everyone].astype(np.float64), axis=1).mean()
    assert index.alpha == pytest.approx(np.sqrt(24) / (2 * mean), rel=1e-9)
    fresh = index.hasher.codes(X[1000:])  # new points: hashed under the current alpha
    assert np.array_equal(index._codes[[index.row_of[i] for i in range(1000, 1500)]], fresh)


def test_bad_table_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="exceeds the 24 hash bits"):
        LSHIndex("euclidean", USRHash(12, 2), tables=4, key_bits=8)
    plugin = UsrLsh("angular", m=2)
    with pytest.raises(ValueError, match="tables >= 1"):
        plugin.set_query_arguments(probes=4)
    with pytest.raises(ValueError, match="not 'ip'"):
        UsrLsh("ip")
