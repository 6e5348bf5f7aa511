"""Plugins that answer exactly from the live rows but keep the deleted vectors somewhere, the
way a real library might; each is one class of cheat the erasure checks must catch.

`HardDelete` is the honest base: an exact scan that deletes rows physically and zeroes every
buffer it lets go of. Each cheat overrides `keep` (what it holds on to at delete time) and
`write` (what it saves beyond the live rows).
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import tempfile
import zipfile
import zlib
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from algorithms.vectors import unit_rows
from plugins.base import BasePlugin, as_ids, as_query, as_rows, check_deletable


def nearest_live(rows: np.ndarray, live: np.ndarray, ids: np.ndarray, q, k: int) -> np.ndarray:
    """Exact search over the rows marked live (slots kept in place, deleted ones skipped)."""
    q = as_query(q, rows.shape[1])
    distances = np.square(rows - q).sum(axis=1)
    distances[~live] = np.inf
    order = np.argsort(distances, kind="stable")[:k]
    return ids[order[np.isfinite(distances[order])]]


class HardDelete(BasePlugin):
    """Exact search over live rows; delete drops the rows and zeroes the old buffer."""

    deletion = "hard"

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        self.rows = np.array(as_rows(X))
        self.ids = as_ids(ids, len(self.rows)).copy()
        self.slot = {int(i): r for r, i in enumerate(self.ids)}
        self.start()

    def start(self) -> None:
        """After fit: a cheat's own state."""

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        q = as_query(q, self.rows.shape[1])
        distances = np.square(self.rows - q).sum(axis=1)
        return self.ids[np.argsort(distances, kind="stable")[:k]]

    def delete(self, ids: np.ndarray) -> None:
        ids = check_deletable(ids, self.slot)
        rows = np.fromiter((self.slot[int(i)] for i in ids), np.int64, len(ids))
        removed = self.rows[rows]
        self.keep(removed.copy(), ids, rows)
        removed.fill(0)
        keep = np.ones(len(self.rows), dtype=bool)
        keep[rows] = False
        old = self.rows
        self.rows, self.ids = old[keep], self.ids[keep]
        old.fill(0)
        self.slot = {int(i): r for r, i in enumerate(self.ids)}

    def keep(self, vectors: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
        """At delete time: what a cheat holds on to (the honest base: nothing)."""
        vectors.fill(0)

    def save(self, directory: str | Path) -> None:
        np.save(Path(directory) / "rows.npy", self.rows)
        np.save(Path(directory) / "ids.npy", self.ids)
        self.write(Path(directory))

    def write(self, directory: Path) -> None:
        """At save time: what a cheat writes beyond the live rows (the honest base: nothing)."""


class Undo(HardDelete):
    """Keeps the deleted vectors for an undo log (what the subclasses write differs)."""

    def start(self) -> None:
        self.undo = np.zeros((0, self.rows.shape[1]), dtype=np.float32)

    def keep(self, vectors: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
        self.undo = vectors


class Float64Undo(Undo):
    """Another encoding: a float64 undo copy."""

    def write(self, directory: Path) -> None:
        np.save(directory / "undo.npy", self.undo.astype(np.float64))


class BigEndianUndo(Undo):
    """Another encoding: big-endian float32, after a 3-byte header (unaligned)."""

    def write(self, directory: Path) -> None:
        (directory / "undo.bin").write_bytes(b"UND" + self.undo.astype(">f4").tobytes())


class BFloat16Undo(Undo):
    """Another encoding: bfloat16 by truncation (the top half of each float32)."""

    def write(self, directory: Path) -> None:
        halves = (self.undo.view(np.uint32) >> 16).astype("<u2")
        (directory / "undo.bf16").write_bytes(b"\x01" + halves.tobytes())


class NormalisedHalfUndo(Undo):
    """Another encoding: normalised float16."""

    def write(self, directory: Path) -> None:
        (directory / "undo.f16").write_bytes(unit_rows(self.undo).astype(np.float16).tobytes())


class ColumnMajorUndo(Undo):
    """Another layout: the deleted vectors column by column, after a 12-byte header."""

    def write(self, directory: Path) -> None:
        header = np.array((*self.undo.shape, 0), dtype=np.int32).tobytes()
        (directory / "undo.cols").write_bytes(header + np.ascontiguousarray(self.undo.T).tobytes())


class BlockedUndo(Undo):
    """Another layout: blocks of 16 rows stored column by column (as SIMD layouts do)."""

    def write(self, directory: Path) -> None:
        count, d = self.undo.shape
        padded = np.zeros((-(-count // 16) * 16, d), dtype=np.float32)
        padded[:count] = self.undo
        blocks = padded.reshape(-1, 16, d).transpose(0, 2, 1)
        (directory / "undo.blocks").write_bytes(np.ascontiguousarray(blocks).tobytes())


class ScalarQuantisedUndo(Undo):
    """A lossy code: 8-bit scalar quantisation with per-dimension ranges of the fitted rows."""

    def start(self) -> None:
        super().start()
        self.low, self.high = self.rows.min(axis=0), self.rows.max(axis=0)

    def write(self, directory: Path) -> None:
        span = np.where(self.high > self.low, self.high - self.low, 1)
        codes = np.clip(np.round((self.undo - self.low) / span * 255), 0, 255).astype(np.uint8)
        np.save(directory / "undo-codes.npy", codes)
        np.save(directory / "undo-ranges.npy", np.stack([self.low, self.high]))


class ScalarQuantised16Undo(ScalarQuantisedUndo):
    """The same lossy code on 16 bits (int16, per-dimension ranges of the fitted rows)."""

    def write(self, directory: Path) -> None:
        span = np.where(self.high > self.low, self.high - self.low, 1)
        levels = np.round((self.undo - self.low) / span * 65535) - 32768
        np.save(directory / "undo-codes.npy", np.clip(levels, -32768, 32767).astype(np.int16))
        np.save(directory / "undo-ranges.npy", np.stack([self.low, self.high]))


class NoisyUndo(Undo):
    """A lossy copy: every component within 1% (float32, a plain .npy)."""

    def write(self, directory: Path) -> None:
        noise = np.random.default_rng(0).uniform(-0.01, 0.01, self.undo.shape)
        np.save(directory / "undo.npy", (self.undo * (1 + noise)).astype(np.float32))


class ZlibUndo(Undo):
    """A container: a zlib stream, after a header, inside a binary file."""

    def write(self, directory: Path) -> None:
        (directory / "undo.z").write_bytes(b"UNDO\x00\x01" + zlib.compress(self.undo.tobytes()))


class CompressedNpzUndo(Undo):
    """A container: `np.savez_compressed`."""

    def write(self, directory: Path) -> None:
        np.savez_compressed(directory / "undo.npz", vectors=self.undo)


class XorUndo(Undo):
    """An encoding no scan reads: XOR with a random key, the key in a file of its own."""

    def write(self, directory: Path) -> None:
        data = np.frombuffer(self.undo.tobytes(), dtype=np.uint8)
        key = np.random.default_rng(1).integers(0, 256, len(data), dtype=np.uint8)
        (directory / "undo.xor").write_bytes((data ^ key).tobytes())
        (directory / "undo.key").write_bytes(key.tobytes())


class PermutedUndo(Undo):
    """A layout no scan reads: the components of each vector in a fixed shuffled order."""

    def write(self, directory: Path) -> None:
        order = np.random.default_rng(3).permutation(self.rows.shape[1])
        (directory / "undo.perm").write_bytes(self.undo[:, order].tobytes())


class JsonLog(HardDelete):
    """A JSON write-ahead log of every delete, vector included."""

    def start(self) -> None:
        self.log: list[str] = []

    def keep(self, vectors: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
        for i, vector in zip(ids.tolist(), vectors, strict=True):
            self.log.append(json.dumps({"op": "delete", "id": i, "vector": vector.tolist()}))
        vectors.fill(0)

    def write(self, directory: Path) -> None:
        (directory / "wal.jsonl").write_text("\n".join(self.log) + "\n")


class TempFileUndo(HardDelete):
    """A side file: the deleted vectors written to TMPDIR at delete time."""

    def keep(self, vectors: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
        np.save(Path(tempfile.gettempdir()) / "undo.npy", vectors)
        vectors.fill(0)


class BesideUndo(Undo):
    """A side file: the undo log saved next to the save folder, not in it."""

    def write(self, directory: Path) -> None:
        np.save(directory.parent / f"{directory.name}-undo.npy", self.undo)


class RamOnly(Undo):
    """Keeps the deleted vectors in memory only: the saved state is clean."""


class RamUsed(Undo):
    """Keeps them in memory and still ranks them: a deleted vector's own query gets k - 1
    answers (its copy is found, then dropped from the answer)."""

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        q = as_query(q, self.rows.shape[1])
        rows = np.concatenate([self.rows, self.undo])
        ids = np.concatenate([self.ids, np.full(len(self.undo), -1)])
        top = ids[np.argsort(np.square(rows - q).sum(axis=1), kind="stable")[:k]]
        return top[top >= 0]


class HelperProcess(Undo):
    """Hands the deleted vectors to a helper process it started at fit (as a library with a
    server or a background compactor would): the plugin's own process holds nothing."""

    def start(self) -> None:
        super().start()
        self.channel, theirs = multiprocessing.get_context("fork").Pipe()
        self.helper = multiprocessing.get_context("fork").Process(
            target=_hold, args=(theirs,), daemon=True
        )
        self.helper.start()

    def keep(self, vectors: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
        self.channel.send_bytes(vectors.tobytes())
        self.channel.recv_bytes()  # the helper has them
        vectors.fill(0)


def _hold(channel: Connection) -> None:
    """The helper: keeps every batch it is sent, acknowledges each."""
    kept = []
    while True:
        kept.append(np.frombuffer(channel.recv_bytes(), dtype=np.float32).copy())
        channel.send_bytes(b"ok")


class CentredUndo(Undo):
    """A lossless but shifted copy: each deleted vector minus the mean of the kept rows."""

    def write(self, directory: Path) -> None:
        centred = self.undo - self.rows.mean(axis=0)
        (directory / "undo.bin").write_bytes(centred.astype(np.float32).tobytes())


class RoundedCsv(Undo):
    """A lossy text log: the deleted vectors as CSV at three decimals."""

    def write(self, directory: Path) -> None:
        np.savetxt(directory / "undo.csv", self.undo, fmt="%.3f", delimiter=",")


class NestedStreams(Undo):
    """Big-endian float64 in a gzip stream, stored as a zip member with an unrelated name."""

    def write(self, directory: Path) -> None:
        payload = gzip.compress(self.undo.astype(">f8").tobytes())
        with zipfile.ZipFile(directory / "blob.dat", "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("inner/payload.bin", payload)


class Borrower(BasePlugin):
    """Keeps the array it was fitted from (no copy) and masks deleted rows: in memory they
    stay in the caller's buffer, which the harness then counts as the plugin's."""

    deletion = "hard"

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        self.rows = as_rows(X)  # the caller's memory, not a copy
        self.ids = as_ids(ids, len(self.rows)).copy()
        self.slot = {int(i): r for r, i in enumerate(self.ids)}
        self.dead = np.zeros(len(self.rows), dtype=bool)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        distances = np.square(self.rows - as_query(q, self.rows.shape[1])).sum(axis=1)
        distances[self.dead] = np.inf
        order = np.argsort(distances, kind="stable")[:k]
        return self.ids[order[np.isfinite(distances[order])]]

    def delete(self, ids: np.ndarray) -> None:
        for i in check_deletable(ids, self.slot).tolist():
            self.dead[self.slot.pop(int(i))] = True

    def save(self, directory: str | Path) -> None:
        np.save(Path(directory) / "rows.npy", self.rows[~self.dead])
        np.save(Path(directory) / "ids.npy", self.ids[~self.dead])


class TombstonedGraph(BasePlugin):
    """A k-NN graph (8 neighbours): a deleted node's vector and own links are zeroed, but the
    other nodes' links still point at it."""

    deletion = "hard"
    degree = 8

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        self.vectors = np.array(as_rows(X))
        self.ids = as_ids(ids, len(self.vectors)).copy()
        self.slot = {int(i): r for r, i in enumerate(self.ids)}
        self.dead = np.zeros(len(self.vectors), dtype=bool)
        squares = (self.vectors**2).sum(axis=1)
        distances = squares[:, None] + squares[None, :] - 2 * self.vectors @ self.vectors.T
        np.fill_diagonal(distances, np.inf)
        self.links = np.argsort(distances, axis=1)[:, : self.degree].astype(np.int32)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return nearest_live(self.vectors, ~self.dead, self.ids, q, k)

    def delete(self, ids: np.ndarray) -> None:
        ids = check_deletable(ids, self.slot)
        for i in ids.tolist():
            row = self.slot.pop(int(i))
            self.dead[row] = True
            self.vectors[row] = 0
            self.links[row] = -1
            self.ids[row] = -1

    def save(self, directory: str | Path) -> None:
        for name in ("vectors", "links", "ids"):
            np.save(Path(directory) / f"{name}.npy", getattr(self, name))


class TrainedCentroids(HardDelete):
    """Trained state: k-means centroids of the fitted rows (one per 20), never retrained."""

    def start(self) -> None:
        rng = np.random.default_rng(0)
        count = max(2, len(self.rows) // 20)
        centroids = self.rows[rng.choice(len(self.rows), count, replace=False)].copy()
        for _ in range(10):
            squares = (centroids**2).sum(axis=1)
            nearest = np.argmin(squares[None, :] - 2 * self.rows @ centroids.T, axis=1)
            for c in range(count):
                members = self.rows[nearest == c]
                if len(members):
                    centroids[c] = members.mean(axis=0)
        self.centroids = centroids

    def write(self, directory: Path) -> None:
        np.save(directory / "centroids.npy", self.centroids)


class FlaggedSlots(BasePlugin):
    """Honest: deleted rows zeroed in place, and a flat byte per slot saying which slots are
    live (as our HNSW's `has_reduced`): a flag array is no trained set of vectors, even where
    its length is a multiple of the dimension."""

    deletion = "hard"

    def fit(self, X: np.ndarray, ids: np.ndarray | None = None) -> None:
        self.rows = np.array(as_rows(X))
        self.ids = as_ids(ids, len(self.rows)).copy()
        self.slot = {int(i): r for r, i in enumerate(self.ids)}
        self.live = np.ones(len(self.rows), dtype=np.uint8)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        return nearest_live(self.rows, self.live == 1, self.ids, q, k)

    def delete(self, ids: np.ndarray) -> None:
        ids = check_deletable(ids, self.slot)
        for i in ids.tolist():
            row = self.slot.pop(int(i))
            self.live[row] = 0
            self.rows[row] = 0
            self.ids[row] = -1

    def save(self, directory: str | Path) -> None:
        for name in ("rows", "ids", "live"):
            np.save(Path(directory) / f"{name}.npy", getattr(self, name))


class UnalignedCentroids(TrainedCentroids):
    """Trained state in a binary of its own, as `faiss.write_index` lays it out: the
    centroids' floats after an odd-length header, so that no float is 4-byte aligned."""

    def write(self, directory: Path) -> None:
        header = b"IVF" + np.int64(len(self.centroids)).tobytes()
        (directory / "quantizer.bin").write_bytes(header + self.centroids.tobytes())
