"""`python -m tests.support.check_plugin FOLDER`: the conformance tests of one plugin folder.

Every plugin image's build ends with this, inside the image and with the network off, so an
image whose library is missing, broken or built for another CPU fails at build time, not in
the middle of a suite. It runs `tests/plugins/test_conformance.py` for the algorithms of
`algos.yaml` whose module is `plugins.FOLDER.module`; the exit status is pytest's (5:
nothing selected).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

from harness.core.definitions import load_algorithms

ROOT = Path(__file__).resolve().parents[2]  # the repository (or the image's /home/app)
METRICS = ("euclidean", "angular")  # the data sets of tests/plugins/test_conformance.py


def selection(folder: str) -> str:
    """A `-k` expression matching exactly the test ids of the folder's algorithms (ids
    read `test_the_contract[METRIC-NAME-CHECK]`)."""
    module = f"plugins.{folder}.module"
    names = sorted(n for n, a in load_algorithms(ROOT / "algos.yaml").items() if a.module == module)
    if not names:
        raise SystemExit(f"no algorithm of algos.yaml has module {module}")
    return " or ".join(f"[{metric}-{name}-" for name in names for metric in METRICS)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        raise SystemExit(__doc__.splitlines()[0])
    test_file = str(ROOT / "tests" / "plugins" / "test_conformance.py")
    with tempfile.TemporaryDirectory() as scratch:  # its data sets leave no trace in the image
        options = ["-q", "-p", "no:cacheprovider", f"--basetemp={scratch}/pytest"]
        return int(pytest.main([*options, test_file, "-k", selection(argv[0])]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
