"""How fast the erasure file scan reads a saved state: MB/s of the decoding scan.

    python benchmarks/remanence_scan.py --megabytes 200 --vectors 3900 --control 1000

A saved state of N MB of normalised GloVe rows (the form most libraries save angular data
in) with half of the "deleted" vectors planted in it, each with 1e-5 relative noise and at
an odd byte offset, is scanned as the protocol scans a saved state: decoded (`decoding`),
then searched for the deleted vectors and a control sample of kept ones in all twelve
encodings, tolerantly, at every byte offset (`filescan`). The scan must find exactly the
planted vectors and every control vector. A memory-bound reference (summing the same bytes
as float32) is timed in the same rounds, interleaved, so that a rate measured on a busy
machine can be read against what the machine gives at that moment.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from algorithms.vectors import unit_rows
from harness.data.sources import dataset_path
from harness.protocols.erasure.decoding import decode_files
from harness.protocols.erasure.differential import sizes
from harness.protocols.erasure.filescan import scan_decoded
from harness.protocols.erasure.patterns import Finder
from harness.protocols.erasure.state import folder_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--vectors", type=int, default=3900, help="deleted vectors looked for")
    parser.add_argument("--control", type=int, default=1000, help="kept vectors looked for")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args()
    import h5py

    with h5py.File(dataset_path("glove-50-angular", args.data_dir), "r") as f:
        train = f["train"][()]
    rng = np.random.default_rng(0)
    rows = args.megabytes * 2**20 // (4 * train.shape[1])
    body = unit_rows(train[rng.choice(len(train), min(rows, len(train)), replace=False)])
    body = np.resize(body, (rows, train.shape[1]))
    deleted = rng.standard_normal((args.vectors, train.shape[1])).astype(np.float32)
    planted = args.vectors // 2
    slots = rng.choice(rows, size=planted, replace=False)
    noise = 1 + 1e-5 * rng.uniform(-1, 1, (planted, train.shape[1]))
    body[slots] = (unit_rows(deleted[:planted]) * noise).astype(np.float32)
    control = body[np.setdiff1d(rng.choice(rows, 2 * args.control), slots)[: args.control]]
    finder = Finder(np.concatenate([deleted, control]))
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "index.bin").write_bytes(b"\x07" + body.tobytes())  # odd offset
        for round_number in range(args.rounds):
            wall, cpu = time.perf_counter(), time.process_time()
            decoded = decode_files(folder_files(folder), train.shape[1])
            measured = sizes(decoded)  # the differential's information, not the scan
            information = (time.perf_counter() - wall, time.process_time() - cpu)
            wall, cpu = time.perf_counter(), time.process_time()
            decoded = decode_files(folder_files(folder), train.shape[1])
            scan = scan_decoded(decoded, measured, finder, args.vectors, rows)
            seconds = (time.perf_counter() - wall, time.process_time() - cpu)
            assert scan.found[:planted].all() and not scan.found[planted:].any()
            assert scan.control == 1.0
            megabytes = scan.bytes_scanned / 2**20
            print(
                f"round {round_number + 1}: {megabytes:.0f} MB, {args.vectors} deleted and "
                f"{args.control} kept vectors (d={train.shape[1]}, 12 encodings, tolerant, "
                f"every offset): decode + scan {rates(megabytes, seconds)}; information "
                f"(differential) {rates(megabytes, information)}"
            )


def rates(megabytes: float, seconds: tuple[float, float]) -> str:
    wall, cpu = seconds
    return f"{megabytes / wall:.0f} MB/s wall, {megabytes / max(cpu, 1e-9):.0f} MB/s CPU"


if __name__ == "__main__":
    main()
