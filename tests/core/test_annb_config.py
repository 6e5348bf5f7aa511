"""ann-benchmarks config.yml files accepted as they are, expanded as ann-benchmarks does.

The expected argument lists below are written out by hand from ann-benchmarks'
definitions.py semantics: positional arguments only, a dict combination passed as one
positional dict, `arg_groups` over `args`, groups multiplied, placeholders replaced inside.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import plugins.annb
from harness.cli import main
from harness.core.definitions import (
    DefinitionError,
    check_importable,
    expand,
    load_algorithms,
)
from harness.core.environment import PROJECT_ROOT
from harness.core.results import load_results, read_result
from plugins.annb.adapter import AnnBenchmarksPlugin

SAMPLED = PROJECT_ROOT / "tests/support/annb_sampled/config.yml"

PYNNDESCENT_SHAPED = """
bit:
  hamming:
  - base_args: ['@metric']
    constructor: PyNNDescent
    disabled: false
    docker_tag: ann-benchmarks-pynndescent
    module: ann_benchmarks.algorithms.pynndescent
    name: pynndescent
    run_groups:
      NN-20:
        arg_groups: [{diversify_prob: [0.75, 1.0], leaf_size: 32, n_neighbors: [20]}]
        args: {}
        query_args: [[0.0, 0.01]]
float:
  angular:
  - base_args: ['@metric']
    constructor: PyNNDescent
    disabled: false
    docker_tag: ann-benchmarks-pynndescent
    module: ann_benchmarks.algorithms.pynndescent
    name: pynndescent
    run_groups:
      NN-20:
        arg_groups: [{diversify_prob: [1.0], leaf_size: 20, n_neighbors: [20],
            pruning_degree_multiplier: [0.5, 1.0]}]
        args: {}
        query_args: [[0.0, 0.02]]
  euclidean:
  - base_args: ['@metric']
    constructor: PyNNDescent
    disabled: false
    docker_tag: ann-benchmarks-pynndescent
    module: ann_benchmarks.algorithms.pynndescent
    name: pynndescent
    run_groups:
      NN-10:
        arg_groups: [{diversify_prob: 1.0, leaf_size: 24, n_neighbors: 10,
            pruning_degree_multiplier: [0.5, 1.0]}]
        args: {}
        query_args: [[0.0, 0.01, 0.02]]
"""


def grid(path: Path, metric: str, dimension: int = 20) -> list[tuple[str, list, list]]:
    out = []
    for algorithm in load_algorithms(path).values():
        if metric in algorithm.metrics:
            for d in expand(algorithm, metric, dimension, 10):
                out.append((d.algorithm, d.arguments, d.query_argument_groups))
    return out


def test_a_pynndescent_config_passes_one_positional_dict_per_build(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(PYNNDESCENT_SHAPED)
    [algorithm] = load_algorithms(path).values()
    assert (
        algorithm.name == "pynndescent" and algorithm.docker_image == "ann-benchmarks-pynndescent"
    )
    assert algorithm.module == "ann_benchmarks.algorithms.pynndescent.module"
    assert algorithm.metrics == ("euclidean", "angular") and algorithm.interface == "ann-benchmarks"
    assert grid(path, "euclidean") == [
        ("pynndescent", ["euclidean", {"diversify_prob": 1.0, "leaf_size": 24, "n_neighbors": 10,
                                       "pruning_degree_multiplier": p}], [[0.0], [0.01], [0.02]])
        for p in (0.5, 1.0)
    ]  # fmt: skip
    assert grid(path, "angular") == [
        ("pynndescent", ["angular", {"diversify_prob": 1.0, "leaf_size": 20, "n_neighbors": 20,
                                     "pruning_degree_multiplier": p}], [[0.0], [0.02]])
        for p in (0.5, 1.0)
    ]  # fmt: skip
    assert grid(path, "ip") == []  # neither section covers ip
    with pytest.raises(DefinitionError, match="goes to plugins/annb/<name>/"):
        check_importable(algorithm)


def test_groups_multiply_and_placeholders_are_replaced_anywhere(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(
        """
float:
  any:
  - base_args: ['@metric', {dim: '@dimension'}]
    constructor: X
    disabled: true
    docker_tag: t
    module: some.algorithm
    name: x
    run_groups:
      g:
        arg_groups: [[1, 2], {a: [3, 4], k: '@count'}]
        query_arg_groups: [{ef: [10, 20]}, [true]]
      h:
        args: [[5], {b: [6, 7]}]
        query_args: [[1, 2], [8]]
      i:
        args: {c: [9, 10]}
"""
    )
    [algorithm] = load_algorithms(path).values()
    assert algorithm.disabled and algorithm.metrics == ("euclidean", "angular", "ip")
    base = ["ip", {"dim": 64}]
    assert [(d.arguments, d.query_argument_groups) for d in expand(algorithm, "ip", 64, 7)] == [
        ([*base, 1, {"a": 3, "k": 7}], [[{"ef": 10}, True], [{"ef": 20}, True]]),
        ([*base, 1, {"a": 4, "k": 7}], [[{"ef": 10}, True], [{"ef": 20}, True]]),
        ([*base, 2, {"a": 3, "k": 7}], [[{"ef": 10}, True], [{"ef": 20}, True]]),
        ([*base, 2, {"a": 4, "k": 7}], [[{"ef": 10}, True], [{"ef": 20}, True]]),
        ([*base, 5, {"b": [6, 7]}], [[1, 8], [2, 8]]),  # a dict inside `args` is not expanded
        ([*base, {"c": 9}], [[]]),
        ([*base, {"c": 10}], [[]]),
    ]


def test_the_module_next_to_the_config_wins() -> None:
    [algorithm] = load_algorithms(SAMPLED).values()
    assert algorithm.module == "tests.support.annb_sampled.module"
    assert algorithm.plugin_class() is AnnBenchmarksPlugin
    assert [a for _, a, _ in grid(SAMPLED, "euclidean")] == [
        ["euclidean", {"dimension": 20, "seed": 3}],
        ["euclidean", {"dimension": 20, "seed": 4}],
    ]
    assert [q for _, _, q in grid(SAMPLED, "angular")] == [[[0.05], [0.2], [1.0]]] * 2


def test_the_adapter_maps_positions_to_ids_and_validates_input() -> None:
    [algorithm] = load_algorithms(SAMPLED).values()
    definition = expand(algorithm, "euclidean", 8, 10)[1]
    plugin = definition.instantiate()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    plugin.warmup(X[:50])
    plugin.fit(X, 1000 + np.arange(300))
    plugin.set_query_arguments(1.0)
    assert plugin.query(X[7], 3)[0] == 1007
    batch = plugin.batch_query(X[:4], 5)
    assert batch.shape == (4, 5) and batch[:, 0].tolist() == [1000, 1001, 1002, 1003]
    assert plugin.memory_usage() > 0 and str(plugin) == "SampledScan(seed=4, share=1.0)"
    with pytest.raises(ValueError, match="dimension"):
        plugin.query(np.zeros(9, dtype=np.float32), 3)
    bad = X.copy()
    bad[42, 0] = np.nan
    with pytest.raises(ValueError, match="42"):
        plugin.fit(bad)


def test_a_copied_folder_imports_its_base_class_relatively(tmp_path: Path, monkeypatch) -> None:
    """An ann-benchmarks module.py says `from ..base.module import BaseANN`: under
    plugins/annb/<name>/ that is plugins.annb.base.module."""
    folder = tmp_path / "copied_scan"
    folder.mkdir()
    source = (SAMPLED.parent / "module.py").read_text()
    (folder / "module.py").write_text(
        source.replace("from plugins.annb.base.module import", "from ..base.module import")
    )
    config = tmp_path / "elsewhere" / "config.yml"
    config.parent.mkdir()
    text = SAMPLED.read_text()
    config.write_text(
        text.replace("ann_benchmarks.algorithms.sampled_scan", "plugins.annb.copied_scan")
    )
    monkeypatch.setattr(plugins.annb, "__path__", [*plugins.annb.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "plugins.annb.copied_scan.module", raising=False)
    [algorithm] = load_algorithms(config).values()
    assert algorithm.module == "plugins.annb.copied_scan.module"
    check_importable(algorithm)
    plugin = expand(algorithm, "angular", 4, 10)[0].instantiate()
    plugin.fit(np.eye(4, dtype=np.float32))
    assert plugin.query(np.array([0, 0, 1, 0], dtype=np.float32), 1).tolist() == [2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bit:\n  hamming: []\n", "no `float` section"),
        ("float:\n  cosine: []\n", "float section 'cosine': use any or one of"),
        ("float:\n  any:\n  - {name: a, module: m, constructor: C, run_groups: {}}\n",
         "algorithm 'a': missing key 'docker_tag'"),
        ("float:\n  any:\n  - {name: a, module: m, constructor: C, docker_tag: t, extra: 1,"
         " run_groups: {}}\n", "unknown key 'extra'"),
        ("float:\n  any:\n  - {name: a, module: m, constructor: C, docker_tag: t,"
         " run_groups: {g: {query_args: [[1]]}}}\n", "run group 'g': needs args or arg_groups"),
        ("float:\n  any:\n  - {name: a, module: m, constructor: C, docker_tag: t,"
         " run_groups: {g: {args: [1], query_args: {ef: [1, 2]}}}}\n",
         "ann-benchmarks would pass a dict's keys"),
        ("float:\n  euclidean:\n  - {name: a, module: m, constructor: C, docker_tag: t,"
         " run_groups: {g: {args: [1]}}}\n  angular:\n  - {name: a, module: m, constructor: D,"
         " docker_tag: t, run_groups: {g: {args: [1]}}}\n",
         "listed under several metrics with different 'constructor'"),
    ],
)  # fmt: skip
def test_a_config_this_project_cannot_run_is_refused_with_the_fix(
    text: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "config.yml"
    path.write_text(text)
    with pytest.raises(DefinitionError, match=re.escape(message)):
        load_algorithms(path)


def test_a_module_beside_a_config_outside_the_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "module.py").write_text("")
    (tmp_path / "config.yml").write_text(SAMPLED.read_text())
    with pytest.raises(DefinitionError, match=r"outside the project .* plugins/annb/<name>/"):
        load_algorithms(tmp_path / "config.yml")


def test_ann_benchmarks_keys_in_algos_yaml_point_to_their_names_here(tmp_path: Path) -> None:
    path = tmp_path / "algos.yaml"
    path.write_text(
        "x:\n  module: m\n  constructor: C\n  docker_tag: t\n  run_groups: {g: {args: [1]}}\n"
    )
    with pytest.raises(DefinitionError, match=r"'docker_tag' is ann-benchmarks' config.yml key: "
                       r"it is docker_image here, or pass the config.yml itself"):  # fmt: skip
        load_algorithms(path)
    path.write_text(
        "x:\n  module: m\n  constructor: C\n  docker_image: t\n"
        "  run_groups: {g: {arg_groups: [{a: 1}]}}\n"
    )
    with pytest.raises(DefinitionError, match="write args as a list of positional axes"):
        load_algorithms(path)


def test_a_run_group_may_be_limited_to_some_metrics(tmp_path: Path) -> None:
    path = tmp_path / "algos.yaml"
    path.write_text(
        "x:\n  module: m\n  constructor: C\n  docker_image: t\n  run_groups:\n"
        "    both: {args: [1]}\n    only-l2: {args: [2], metrics: [euclidean]}\n"
    )
    [algorithm] = load_algorithms(path).values()
    euclidean = [d.arguments for d in expand(algorithm, "euclidean", 2, 10)]
    assert euclidean == [["euclidean", 1], ["euclidean", 2]]
    assert [d.arguments for d in expand(algorithm, "angular", 2, 10)] == [["angular", 1]]
    path.write_text(path.read_text().replace("[euclidean]", "[cosine]"))
    with pytest.raises(DefinitionError, match=r"unknown metrics \['cosine'\]"):
        load_algorithms(path)


def test_the_command_line_benchmarks_a_config_yml_unchanged(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    """qps-recall and deletion (rebuilt: ann-benchmarks algorithms cannot delete) on the
    config.yml itself, in worker processes."""
    results = tmp_path / "results"
    for protocol in ("qps-recall", "deletion"):
        argv = [
            "--dataset", str(tiny_dataset), "--definitions", str(SAMPLED), "--algorithm",
            "sampled-scan", "--runs", "1", "--protocol", protocol, "--results", str(results),
        ]  # fmt: skip
        assert main(argv) == 0
    runs = sorted(load_results(results, protocols=["qps-recall"])["path"])
    assert len(runs) == 4  # narrow: 2 query groups, wide: 2
    recalls = {}
    for path in runs:
        stored = read_result(path)
        assert stored["attrs"]["status"] == "ok", stored["attrs"].get("failure_detail")
        recalls[json.loads(stored["attrs"]["query_args"])[0]] = stored["measures"]["recall"]
    assert recalls[1.0] == 1.0 and recalls[0.05] < 0.5
    deletion = list(load_results(results, protocols=["deletion"])["path"])
    assert deletion and all(read_result(p)["attrs"]["status"] == "ok" for p in deletion)
