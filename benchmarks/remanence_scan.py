"""How fast the E3 remanence scan is: seconds for a file of N MB and m deleted vectors.

    python benchmarks/remanence_scan.py --megabytes 500 --vectors 4000 --dimension 50

Half of the vectors are planted in the file (so both hits and misses are exercised); the
scan must find exactly those.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.protocols.erasure.remanence import scan_directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=500)
    parser.add_argument("--vectors", type=int, default=4000)
    parser.add_argument("--dimension", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    body = rng.standard_normal(args.megabytes * 2**20 // 4).astype(np.float32)
    wanted = rng.standard_normal((args.vectors, args.dimension)).astype(np.float32)
    planted = args.vectors // 2
    slots = rng.choice(len(body) // args.dimension - 1, size=planted, replace=False)
    for row, slot in enumerate(slots):
        body[slot * args.dimension + 1 : (slot + 1) * args.dimension + 1] = wanted[row]
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "index.bin").write_bytes(b"\x07" + body.tobytes())  # odd offset
        start = time.perf_counter()
        found = scan_directory(folder, wanted)
        seconds = time.perf_counter() - start
    assert found.found[:planted].all() and not found.found[planted:].any()
    rate = found.bytes_scanned / 2**20 / seconds
    print(
        f"scanned {found.bytes_scanned / 2**20:.0f} MB for {args.vectors} vectors "
        f"(d={args.dimension}, 3 encodings, exact + tolerant): {seconds:.2f} s, {rate:.0f} MB/s"
    )


if __name__ == "__main__":
    main()
