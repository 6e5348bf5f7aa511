"""The plugin contract (`harness.conformance`), checked against every algorithm in algos.yaml.

Each check runs on ann-benchmarks' random-xs-20 blobs in both metrics, with the setting
`Conformance.setting` chooses by measurement (cached per algorithm for the session).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.conformance import (
    CHECK_METRICS,
    CHECKS,
    CheckSkipped,
    Conformance,
    check_dataset,
)
from harness.core import definitions
from harness.data.datasets import Dataset

#: The repository's definitions (found from this file: it runs inside the images too).
ALGORITHMS = definitions.load_algorithms(Path(__file__).resolve().parents[2] / "algos.yaml")


@pytest.fixture(scope="module", params=CHECK_METRICS)
def blobs(request: pytest.FixtureRequest, data_dir: Path) -> Dataset:
    return check_dataset(request.param, data_dir)


@pytest.fixture(scope="module")
def checked() -> dict[str, Conformance]:
    """One `Conformance` per algorithm, so each setting is measured once."""
    return {}


@pytest.fixture(params=sorted(ALGORITHMS))
def conformance(request: pytest.FixtureRequest, checked: dict[str, Conformance]) -> Conformance:
    algorithm = ALGORITHMS[request.param]
    if algorithm.disabled:
        pytest.skip(f"{algorithm.name} is disabled in algos.yaml")
    definitions.check_importable(algorithm)
    return checked.setdefault(algorithm.name, Conformance(algorithm))


@pytest.mark.parametrize("check", list(CHECKS), ids=list(CHECKS))
def test_the_contract(conformance: Conformance, blobs: Dataset, check: str) -> None:
    if blobs.metric not in conformance.algorithm.metrics:
        pytest.skip(f"{conformance.algorithm.name} does not support {blobs.metric}")
    try:
        CHECKS[check](conformance, blobs)
    except CheckSkipped as why:
        pytest.skip(str(why))
