"""The erasure checks one by one: the tolerant scan at every offset, the containers it opens,
other layouts, the per-file control, the differential measure, the attack and the verdict."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import pickle
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from algorithms.vectors import unit_rows
from harness.protocols.erasure.attack import Answers, attack, weighted_auc
from harness.protocols.erasure.candidates import KeptRows, float_runs, neighbour_means
from harness.protocols.erasure.decoding import decode_bytes, decode_files
from harness.protocols.erasure.differential import compare, information, sizes
from harness.protocols.erasure.encodings import ENCODINGS, encode
from harness.protocols.erasure.evidence import Check
from harness.protocols.erasure.filescan import scan_decoded
from harness.protocols.erasure.membership import mann_whitney_auc
from harness.protocols.erasure.patterns import Finder
from harness.protocols.erasure.reconstruction import nearest_log, nearness
from harness.protocols.erasure.remanence import scan_buffers, scan_directory, stored_elsewhere
from harness.protocols.erasure.state import folder_files
from harness.protocols.erasure.verdict import verdicts

RNG = np.random.default_rng(0)
ROWS = (RNG.standard_normal((1200, 24)) * 0.4).astype(np.float32)


def planted(vectors: np.ndarray, offset: int, noise: float, encoding) -> np.ndarray:
    values = encoding.values(vectors)
    if noise:
        values = values * (1 + noise * RNG.uniform(-1, 1, values.shape))
    data = bytes(RNG.integers(0, 256, offset, dtype=np.uint8)) + encode(values, encoding).tobytes()
    return np.frombuffer(data + ROWS[600:].tobytes(), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: e.name)
def test_the_tolerant_match_holds_at_every_byte_offset(encoding) -> None:
    """1e-5 relative noise (the stated tolerance) on float32/64, any of 8 alignments."""
    finder = Finder(ROWS[:200])
    number = ENCODINGS.index(encoding)
    noise = 1e-5 if encoding.width > 2 else 0.0
    for offset in range(8):
        vectors = ROWS[offset * 20 : offset * 20 + 20]
        found = finder.search(planted(vectors, offset, noise, encoding))
        assert found.hits[number, offset * 20 : offset * 20 + 20].all(), (encoding.name, offset)
        others = np.delete(np.arange(200), np.arange(offset * 20, offset * 20 + 20))
        assert not found.any[others].any()  # never stored: never found


def test_beyond_the_tolerance_nothing_matches() -> None:
    encoding = ENCODINGS[0]
    found = Finder(ROWS[:50]).search(planted(ROWS[:50], 3, 1e-3, encoding))
    assert not found.any.any()


def test_truncating_16_bit_conversions_match_like_rounding_ones() -> None:
    truncated = (ROWS[:100].view(np.uint32) >> 16).astype("<u2").tobytes()
    half = ROWS[100:200].astype(np.float16).view(np.uint16)
    rounded_up = np.abs(half.view(np.float16).astype(np.float32)) > np.abs(ROWS[100:200])
    down = np.where(rounded_up, half - 1, half).astype("<u2")
    buffer = np.frombuffer(b"x" + truncated + b"yz" + down.tobytes(), dtype=np.uint8)
    assert scan_buffers([buffer], ROWS[:200]).found.all()


def test_repetitive_data_is_matched_whole_not_by_a_prefix(tmp_path: Path) -> None:
    images = np.zeros((600, 64), dtype=np.float32)
    images[:, 20:40] = RNG.integers(0, 256, size=(600, 20))
    images = np.unique(images, axis=0)
    (tmp_path / "index.bin").write_bytes(b"\0" * 5 + images[300:].tobytes())
    found = scan_directory(tmp_path, images)
    assert not found.found[:300].any() and found.found[300:].all()


def test_a_zero_or_constant_vector_is_never_found_in_filler() -> None:
    vectors = np.vstack([np.zeros(24), np.ones(24), ROWS[0]]).astype(np.float32)
    finder = Finder(vectors)
    assert finder.unkeyed.tolist() == [True, True, False]
    filler = np.zeros(1 << 16, dtype=np.uint8)
    filler[4096:] = np.frombuffer(np.ones(15360, np.float32).tobytes(), np.uint8)
    assert not finder.search(filler).any.any()


def test_twins_among_kept_rows_and_an_empty_scan() -> None:
    deleted = np.vstack([ROWS[3], 2 * ROWS[4], RNG.standard_normal(24)]).astype(np.float32)
    assert stored_elsewhere(deleted, ROWS[:50]).tolist() == [True, True, False]
    nothing = Finder(np.zeros((0, 24), np.float32)).search(ROWS.view(np.uint8).reshape(-1))
    assert nothing.hits.shape == (len(ENCODINGS), 0)  # no vector left to scan: no crash


def streams(vectors: np.ndarray) -> dict[str, bytes]:
    """The vectors in every compressed stream, each in a file of its own."""
    raw = vectors.tobytes()
    return {
        "gzip.bin": b"head" + gzip.compress(raw),
        "zlib.bin": b"\0\1" + zlib.compress(raw),
        "bz2.bin": bz2.compress(raw),
        "xz.bin": lzma.compress(raw),
        "lzma.bin": lzma.compress(raw, format=lzma.FORMAT_ALONE),
    }


def test_decoding_opens_every_container_it_can_parse_safely(tmp_path: Path) -> None:
    vectors = [ROWS[i * 40 : i * 40 + 40] for i in range(14)]
    for name, data in streams(vectors[0]).items():
        (tmp_path / name).write_bytes(data)
    np.savez(tmp_path / "stored.npz", a=vectors[1])
    np.savez_compressed(tmp_path / "deflated.npz", a=vectors[2])
    with zipfile.ZipFile(tmp_path / "members.zip", "w") as archive:
        archive.writestr("x.bin", vectors[3].tobytes(), compress_type=zipfile.ZIP_BZIP2)
        archive.writestr("y.bin", vectors[4].tobytes(), compress_type=zipfile.ZIP_LZMA)
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f.create_dataset("v", data=vectors[5], compression="gzip", chunks=(8, 24))
    lines = [json.dumps({"op": "delete", "vector": v.tolist()}) for v in vectors[6]]
    (tmp_path / "wal.jsonl").write_text("\n".join(lines))
    (tmp_path / "rows.csv").write_text(
        "\n".join(",".join(f"{x:.8g}" for x in v) for v in vectors[7])
    )
    np.save(tmp_path / "fortran.npy", np.asfortranarray(vectors[8]))
    np.save(tmp_path / "transposed.npy", np.ascontiguousarray(vectors[9].T))
    blocks = np.ascontiguousarray(vectors[10].reshape(5, 8, 24).transpose(0, 2, 1))
    np.save(tmp_path / "blocked.npy", blocks)
    (tmp_path / "nested.gz").write_bytes(gzip.compress(zlib.compress(vectors[11].tobytes())))
    found = scan_directory(tmp_path, np.concatenate(vectors[:12]))
    per_source = found.found.reshape(12, 40).mean(axis=1)
    assert per_source.tolist() == [1.0] * 12


def test_nothing_is_unpickled(tmp_path: Path) -> None:
    class Bomb:
        def __reduce__(self):
            return (Path(tmp_path / "unpickled").touch, ())

    np.save(tmp_path / "objects.npy", np.array([Bomb()], dtype=object), allow_pickle=True)
    (tmp_path / "state.pkl").write_bytes(pickle.dumps({"rows": ROWS[:10], "x": Bomb()}))
    decoded = decode_files(folder_files(tmp_path), 24)
    assert any("pickled" in problem for problem in decoded.problems)
    assert not (tmp_path / "unpickled").exists()
    assert scan_directory(tmp_path, ROWS[:10]).fraction == 1.0  # the raw bytes are still read


def test_a_zip_bomb_costs_a_bounded_amount_of_work() -> None:
    bomb = zlib.compress(b"\0" * (1 << 26), 9)  # 64 KiB that decode to 64 MiB
    decoded = decode_bytes("bomb.z", bomb, 24, budget=1 << 22)
    assert any("budget" in problem for problem in decoded.problems)
    assert sum(len(p.data) for p in decoded.parts) < len(bomb) + (1 << 22) + 2


def scanned(tmp_path: Path, deleted: np.ndarray, control: np.ndarray, kept_rows: int):
    decoded = decode_files(folder_files(tmp_path), deleted.shape[1])
    finder = Finder(np.concatenate([deleted, control]))
    return scan_decoded(decoded, sizes(decoded), finder, len(deleted), kept_rows)


def test_other_layouts_are_read_where_the_row_major_scan_finds_nothing(tmp_path: Path) -> None:
    deleted, kept = ROWS[:40], ROWS[40:]
    (tmp_path / "rows.bin").write_bytes(b"hdr" + np.ascontiguousarray(kept.T).tobytes())
    blocks = np.ascontiguousarray(deleted.reshape(-1, 8, 24).transpose(0, 2, 1))
    (tmp_path / "undo.bin").write_bytes(blocks.tobytes())
    scan = scanned(tmp_path, deleted, kept[:100], len(kept))
    assert scan.found.all()
    layouts = {f.name: f.layout for f in scan.files}
    assert layouts["rows.bin"] == f"column-major {len(kept)}" and not scan.blind


def test_a_file_of_vector_data_the_scan_cannot_read_is_named(tmp_path: Path) -> None:
    kept = ROWS[40:]
    key = RNG.integers(0, 256, kept.nbytes, dtype=np.uint8)
    (tmp_path / "rows.xor").write_bytes((np.frombuffer(kept.tobytes(), np.uint8) ^ key).tobytes())
    np.save(tmp_path / "ids.npy", np.arange(len(kept)))  # a table of integers: not vector data
    scan = scanned(tmp_path, ROWS[:40], kept[:100], len(kept))
    assert [f.name for f in scan.blind] == ["rows.xor"]


def test_information_counts_each_distinct_word_once_and_ignores_order() -> None:
    data = ROWS.view(np.uint8).reshape(-1)
    assert information(data) == data.nbytes  # random floats: every word distinct
    shuffled = ROWS[RNG.permutation(len(ROWS))]
    assert information(shuffled.view(np.uint8).reshape(-1)) == information(data)
    assert information(np.zeros(1 << 20, np.uint8)) == 8
    padded = np.concatenate([data, np.zeros(1 << 16, np.uint8)])
    assert information(padded) == data.nbytes + 8  # zeroed slots are next to nothing


def test_differential_residue_is_beyond_retrained_noise(tmp_path: Path) -> None:
    def state(name: str, rows: np.ndarray, extra: bytes = b"") -> object:
        folder = tmp_path / name
        folder.mkdir()
        np.save(folder / "rows.npy", rows)
        if extra:
            (folder / "undo.bin").write_bytes(extra)
        return sizes(decode_files(folder_files(folder), 24))

    kept = ROWS[100:]
    a, b = state("a", kept), state("b", kept[::-1])
    clean = compare(state("clean", kept), a, b, 100)
    cheat = compare(state("cheat", kept, ROWS[:100].tobytes()), a, b, 100)
    assert clean.total.per_vector == 0.0
    assert cheat.total.per_vector == 96.0 and cheat.worst()[0].name == "undo.bin"


def test_weighted_auc_is_the_mann_whitney_auc() -> None:
    scores = RNG.integers(0, 6, 90).astype(float)
    labels = np.arange(90) < 50
    expected = mann_whitney_auc(scores[labels], scores[~labels])
    assert weighted_auc(scores, labels, None)[0] == pytest.approx(expected)
    weights = np.stack([np.ones(90), np.where(labels, 2.0, 1.0)], axis=1)
    doubled = np.concatenate([scores[labels]] * 2)
    assert weighted_auc(scores, labels, weights)[1] == pytest.approx(
        mann_whitney_auc(doubled, scores[~labels])
    )


def answers(seed: int, members_near: bool = False, count: int = 200, k: int = 10) -> Answers:
    rng = np.random.default_rng(seed)
    distances = np.sort(rng.uniform(0.5, 1.5, (2 * count, k)), axis=1)
    if members_near:
        distances[:count] -= 0.3
    return Answers(distances, np.full(2 * count, k), np.full(2 * count, np.nan))


def test_the_attack_tolerance_comes_from_two_retrained_indices() -> None:
    retrained, other = answers(1), answers(2)
    quiet = attack(answers(3), retrained, other, 0.05, seed=1)
    assert not quiet.tells and quiet.tolerance > 0
    loud = attack(answers(4, members_near=True), retrained, other, 0.05, seed=1)
    assert loud.tells and loud.gap > 0.5
    fewer = answers(5)
    fewer.counts[:200] = 9  # a deleted vector's own query gets k - 1 answers
    assert attack(fewer, retrained, other, 0.05, seed=1).feature == "answers"


def check(name: str, found: bool = False, blind: bool = False, scope: str = "files") -> Check:
    return Check(name, scope, True, 0.0, "", f"{name} says so", found=found, blind=blind)


def test_verdict_rules() -> None:
    clean = [check("leak"), check("decoding"), check("memory", scope="memory")]
    assert verdicts(clean)["verdict"] == "erased"
    leak = [check("leak", found=True), check("decoding", found=True)]
    assert verdicts(leak)["verdict"] == "leaking"
    hidden = [check("leak"), check("decoding", found=True), check("control", blind=True)]
    assert verdicts(hidden)["file_verdict"] == "hidden"  # found beats could-not-verify
    blind = [check("leak"), check("control", blind=True), check("memory", scope="memory")]
    assert verdicts(blind)["verdict"] == "unverified"
    memory = [check("leak"), check("memory", found=True, scope="memory")]
    result = verdicts(memory)
    scopes = (result["file_verdict"], result["memory_verdict"], result["verdict"])
    assert scopes == ("erased", "hidden", "hidden")
    assert "memory says so" in result["verdict_reason"]


def test_the_normalised_encodings_are_unit_rows() -> None:
    normalised = next(e for e in ENCODINGS if e.normalized and e.format == "float32")
    assert np.allclose(normalised.values(ROWS[:5]), unit_rows(ROWS[:5]), rtol=0, atol=1e-7)


@pytest.mark.parametrize("header", [0, 1, 3, 7])
def test_float_runs_read_stored_rows_at_their_own_phase(header: int) -> None:
    """Inverted lists as a serialised index lays them out (a count, the rows, their int64 ids
    from 0: zero words on both sides of the rows), after a header of any length: every row
    read back is a kept row (no shifted misreading), the D rows among them are read whole,
    and centroids with no kept row among them are read at every phase, their own included."""
    rng = np.random.default_rng(3)
    kept, deleted = rng.normal(size=(600, 24)).astype(np.float32), rng.normal(size=(5, 24))
    centroids = rng.normal(size=(16, 24)).astype(np.float32) / 3
    lists = [np.vstack([kept[:300], deleted.astype(np.float32)]), kept[300:]]
    data = b"H" * header + np.int64(0).tobytes() + centroids.tobytes() + b"ilar"
    for rows in lists:
        data += np.int64(len(rows)).tobytes() + rows.tobytes()
        data += np.arange(len(rows), dtype=np.int64).tobytes()
    reference = KeptRows(kept, "euclidean")
    runs = dict(float_runs(np.frombuffer(data, np.uint8), 24, reference))
    read = np.vstack(list(runs.values()))
    fresh = read[~reference.is_kept(read)]
    assert reference.is_kept(read).sum() == len(kept)  # each kept row once, none shifted
    for vector in [*deleted.astype(np.float32), *centroids]:
        assert np.abs(fresh - vector).max(axis=1).min() == 0.0
    assert len(fresh) <= len(deleted) + len(centroids) * 2 * 24  # centroids at their phases


def test_neighbour_means_average_out_and_in_links() -> None:
    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    links = np.array([[1, -1], [0, 2], [-1, -1], [2, 2]])  # 3 -> 2 twice: counted twice
    means = neighbour_means(links, rows)
    # node 0: out 1, in 1; node 1: out 0 and 2, in 0; node 2: in 1, 3, 3; node 3: out 2, 2
    expected = [rows[[1, 1]].mean(0), rows[[0, 2, 0]].mean(0), rows[[1, 3, 3]].mean(0)]
    assert np.allclose(means, np.vstack([*expected, rows[[2, 2]].mean(0)]))
    assert neighbour_means(np.array([[5, 0]] * 4), rows) is None  # not a graph over rows


def test_rounding_level_differences_in_trained_state_are_not_measurable() -> None:
    """LeanVec's projections recomputed from down-dated statistics differ from a retrained
    index's by rounding, toward D (B's not at all): many standard errors, yet no trace of D;
    centroids of X (D included) against centroids of X without D are one."""
    rng = np.random.default_rng(5)
    kept, deleted = rng.normal(size=(2000, 16)), rng.normal(size=(100, 16)) * 0.3 + 2.0
    near_d = deleted[:8] + 0.5 * rng.normal(size=(8, 16))
    retrained = np.vstack([rng.normal(size=(56, 16)), near_d]).astype(np.float32)
    rounded = retrained.copy()
    rounded[56:] += 1e-6 * (deleted.mean(axis=0) - rounded[56:])
    figures = nearness((rounded, retrained, retrained.copy()), deleted, kept[:500], nearest_log)
    assert figures["value"] > 10 * figures["stderr"] and figures["null"] == 0
    assert not figures["measurable"]
    with_d = retrained.copy()
    with_d[56:] = deleted[:8] + 0.05 * rng.normal(size=(8, 16))
    figures = nearness((with_d, retrained, retrained.copy()), deleted, kept[:500], nearest_log)
    assert figures["measurable"]
