"""Check a plugin against the contract, on your own definitions, before benchmarking it.

    python -m harness.check_plugin --definitions my-algos.yaml --algorithm my-index
    python -m harness.check_plugin --definitions plugins/annb/pynndescent/config.yml \\
        --algorithm pynndescent

In the spirit of scikit-learn's `check_estimator`: every check of `harness.conformance`
runs on ann-benchmarks' random-xs-20 blobs in each metric the algorithm supports (built
into `--data-dir` on first use), with a setting chosen by measurement, and each prints
PASS, FAIL (what broke, and where) or SKIP (why it does not apply). Exit status: 0 when
nothing failed, 1 when a check failed, 2 for bad input (no such file or algorithm).
The checks run in this process: a plugin that crashes the interpreter stops the report.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.conformance import (
    CHECK_METRICS,
    CHECKS,
    Check,
    CheckFailed,
    CheckSkipped,
    Conformance,
    check_dataset,
)
from harness.core import definitions
from harness.core.definitions import Algorithm, DefinitionError
from harness.data.datasets import DatasetError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness.check_plugin",
        description="Check plugins against the forget-benchmarks plugin contract.",
    )
    p.add_argument(
        "--definitions",
        type=Path,
        default=Path("algos.yaml"),
        help="an algos.yaml file or an ann-benchmarks config.yml (default: algos.yaml)",
    )
    p.add_argument(
        "--algorithm",
        action="append",
        required=True,
        help="the algorithm to check, as named in the definitions (repeatable)",
    )
    p.add_argument(
        "--check",
        action="append",
        help="run only the checks whose name contains this text (repeatable)",
    )
    p.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="dataset cache (default: data)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        known = definitions.load_algorithms(args.definitions)
        chosen = [_algorithm(known, name) for name in args.algorithm]
    except DefinitionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    checks = {
        name: check
        for name, check in CHECKS.items()
        if not args.check or any(part in name for part in args.check)
    }
    failed = 0
    for algorithm in chosen:
        failed += check_algorithm(algorithm, checks, args.data_dir)
    print(f"\n{failed} check(s) failed" if failed else "\nall checks passed")
    return 1 if failed else 0


def _algorithm(known: dict[str, Algorithm], name: str) -> Algorithm:
    if name not in known:
        raise DefinitionError(
            f"unknown algorithm {name!r}; the definitions have: {', '.join(sorted(known))}"
        )
    return known[name]


def check_algorithm(algorithm: Algorithm, checks: dict[str, Check], data_dir: Path) -> int:
    """Run the checks on one algorithm, printing a line each; the number that failed."""
    print(f"{algorithm.name} ({algorithm.module}.{algorithm.constructor})")
    try:
        definitions.check_importable(algorithm)
    except DefinitionError as error:
        print(f"  FAIL  import: {error}")
        return 1
    conformance = Conformance(algorithm)
    failed = 0
    for metric in (m for m in CHECK_METRICS if m in algorithm.metrics):
        try:
            data = check_dataset(metric, data_dir)
        except DatasetError as error:
            print(f"  FAIL  {metric} dataset: {error}")
            return failed + 1
        for name, check in checks.items():
            failed += report(f"{metric:9} {name}", lambda c=check, d=data: c(conformance, d))
    return failed


def report(label: str, run: Callable[[], None]) -> int:
    """Run one check and print its line; 1 if it failed."""
    start = time.perf_counter()
    try:
        run()
    except CheckSkipped as why:
        print(f"  SKIP  {label}: {why}")
        return 0
    except CheckFailed as error:
        print(f"  FAIL  {label}: {error}")
        return 1
    except Exception as error:
        print(f"  FAIL  {label}: raised {type(error).__name__}: {error} ({_where(error)})")
        return 1
    print(f"  PASS  {label} ({time.perf_counter() - start:.1f} s)")
    return 0


def _where(error: BaseException) -> str:
    """The innermost frame of an exception: where in the plugin it was raised."""
    frame = traceback.extract_tb(error.__traceback__)[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


if __name__ == "__main__":
    sys.exit(main())
