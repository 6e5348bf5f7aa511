"""A site rendered from real protocol output: bruteforce and our HNSW run through
`harness.benchmark.run` under every protocol on the tiny blob set, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.benchmark import run
from harness.core.request import RunRequest
from harness.protocols import PROTOCOLS
from harness.report.site import build_site
from harness.suites.nightly import run_suite

REAL_DEFINITIONS = """
bruteforce:
  module: plugins.bruteforce.module
  constructor: BruteForce
  docker_image: forget-benchmarks-bruteforce
  base_args: ["@metric"]
  run_groups:
    exact: {default: true}
hnsw:
  module: plugins.hnsw.module
  constructor: Hnsw
  docker_image: forget-benchmarks-hnsw
  base_args: ["@metric"]
  run_groups:
    small:
      default: true
      args: {M: [6, 12], efConstruction: 40}
      query_args: {ef: [10, 20, 40, 80, 120, 200]}
"""
NIGHTLY_DEFINITIONS = """
steady:
  module: tests.support.nightly_plugins
  constructor: Steady
  docker_image: none
  base_args: ["@metric"]
  run_groups:
    nightly: {nightly: true}
"""


@pytest.fixture(scope="session")
def real_site(
    tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path, data_dir: Path
) -> tuple[Path, Path]:
    """Results of every protocol (qps-recall with PR-AUC), two nights of the nightly suite
    (a steady plugin, qps-recall only) and the site built from them."""
    base = tmp_path_factory.mktemp("real-site")
    definitions = base / "algos.yaml"
    definitions.write_text(REAL_DEFINITIONS)
    common = {
        "dataset": str(tiny_dataset), "runs": 1, "definitions": definitions,
        "results": base / "results", "data_dir": data_dir, "delete_singles": 20,
    }  # fmt: skip
    for protocol in PROTOCOLS:
        run(RunRequest(protocol=protocol, pr_auc=protocol == "qps-recall", **common))
    nightly = base / "nightly.yaml"
    nightly.write_text(NIGHTLY_DEFINITIONS)
    request = RunRequest(**{**common, "definitions": nightly})
    for _ in range(2):
        run_suite(request, [str(tiny_dataset)], protocols=("qps-recall",), say=lambda _: None)
    build_site(base / "results", base / "site")
    return base / "results", base / "site"
