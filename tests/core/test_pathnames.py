"""Path components from user text: safe, reversible, distinct, bounded."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from harness import benchmark
from harness.core.pathnames import (
    MAX_COMPONENT,
    algorithm_component,
    arguments_label,
    bounded,
    decode,
    name_component,
    options_label,
    run_label,
)
from harness.core.request import RunRequest
from harness.core.results import load_results
from plugins.bruteforce.module import BruteForce

HOSTILE = [
    "/", "..", ".", "../..", "a/../b", "/etc/passwd", "..\\..\\x", "./hidden", ".hidden",
    "x\x00y", "tab\there", "new\nline", "\x1b[31mred", "caf\u00e9", "\u263a/\u263a", "%2F",
    "%", "~", "a~b", "x-batch", "x%2Dbatch", "protocol=deletion", "a b", "*", "?", ":",
    "\udcff", "-", "_", "__", "a__b", "CON", "x" * 400, "\u00e9" * 200,
]  # fmt: skip


def is_safe(component: str) -> bool:
    return (
        0 < len(component) <= MAX_COMPONENT
        and component not in (".", "..")
        and not component.startswith(".")
        and "/" not in component
        and "\\" not in component
        and all(c.isascii() and c.isprintable() and c != " " for c in component)
    )


@pytest.mark.parametrize("name", HOSTILE)
def test_every_hostile_name_is_one_safe_component_that_decodes_back(name: str) -> None:
    component = name_component(name)
    assert is_safe(component), component
    if len(component) < MAX_COMPONENT - 20:  # not shortened
        assert decode(component) == name


def test_different_names_never_share_a_component() -> None:
    components = [name_component(n) for n in HOSTILE]
    assert len(set(components)) == len(HOSTILE)
    long = ["x" * 400, "x" * 399 + "y", "x" * 401]
    assert len({name_component(n) for n in long}) == 3  # the digest keeps them apart


def test_no_name_becomes_a_batch_folder_or_a_protocol_tree() -> None:
    assert algorithm_component("hnswlib", batch=True) == "hnswlib-batch"
    assert algorithm_component("hnswlib-batch", batch=False) != "hnswlib-batch"
    assert "=" not in name_component("protocol=deletion")
    with pytest.raises(ValueError, match="empty name"):
        name_component("")


def test_shortened_components_stay_bounded_and_keep_escapes_whole() -> None:
    for shift in range(6):  # the cut falls on every position of an escape
        component = bounded("a" * shift + "%C3%A9" * 40)
        assert len(component) <= MAX_COMPONENT
        head = component.split("~")[0]
        escapes = [head[i + 1 : i + 3] for i, c in enumerate(head) if c == "%"]
        assert escapes and all(e in ("C3", "A9") for e in escapes), head


TRICKY_VALUES = [
    0, 1, -1, 0.5, 16.0, True, False, None, "", "1", "true", "null", "default", "_", "__",
    "a_b", "a__b", "_a", "a_", ",", "=", "a=b", "a,b", "/", "..", "../x", "hnsw", "[1]",
    [1, 2], [], {"x": 1}, "x\x00", "\u00e9",
]  # fmt: skip


def canonical(args: object) -> str:
    return json.dumps(args, sort_keys=True)


def test_argument_labels_are_injective() -> None:
    """Every pair of different argument sets (keyword and positional, tricky strings,
    separators inside values) gets different labels; the same set always the same one."""
    rng = random.Random(3)
    keys = ["M", "ef", "a_b", "_x", "x_", "a__b", "k=v", "k,v", "/", "default"]
    families = [[]]
    families += [[v] for v in TRICKY_VALUES]
    families += [list(p) for p in itertools.product(TRICKY_VALUES[:12], repeat=2)]
    families += [{k: v} for k in keys for v in TRICKY_VALUES]
    for _ in range(2000):
        chosen = rng.sample(keys, rng.randint(1, 3))
        families.append({k: rng.choice(TRICKY_VALUES) for k in chosen})
    labels: dict[str, str] = {}
    for args in families:
        label = arguments_label(args)
        assert is_safe(label) or len(label) > MAX_COMPONENT, label
        assert "__" not in label, label  # the group separator never occurs inside a group
        known = labels.setdefault(label, canonical(args))
        assert known == canonical(args) or {known, canonical(args)} == {"[]", "{}"}, label


def test_dict_order_does_not_change_the_label_but_positional_order_does() -> None:
    assert arguments_label({"M": 16, "ef": 10}) == arguments_label({"ef": 10, "M": 16})
    assert arguments_label([1, 2]) != arguments_label([2, 1])
    assert arguments_label({"M": 16, "efConstruction": 200}) == "M=16,efConstruction=200"
    assert arguments_label({}) == arguments_label([]) == "default"


def test_run_labels_are_readable_and_bounded() -> None:
    build, query = arguments_label({"M": 16, "efConstruction": 200}), arguments_label({"ef": 40})
    assert run_label(build, query) == "M=16,efConstruction=200__ef=40"
    assert run_label(arguments_label([]), arguments_label([])) == "default__default"
    long = run_label(arguments_label({"name": "x" * 300}), arguments_label({"path": "a/b c"}))
    assert is_safe(long) and long.startswith("name=xxx")


def test_run_labels_split_back_into_their_groups() -> None:
    groups = [arguments_label({"a_": "_"}), arguments_label(["__"]), options_label({"p": "x_"})]
    label = run_label(*groups)
    assert label.split("__") == groups


class AnyArguments(BruteForce):
    """Exact search that takes any build arguments: the names and values are the test."""

    def __init__(self, metric: str, *args: object, **kwargs: object) -> None:
        super().__init__(metric)


HOSTILE_DEFINITIONS = r"""
"../../../escaped":
  module: tests.core.test_pathnames
  constructor: AnyArguments
  docker_image: none
  run_groups:
    "../../group":
      args: {path: "../../../../escaped-log", "a/b": "..", ".": "\0"}
      query_args: {ef: ["/etc/passwd", "..", "\x1b[31m"]}
"x-batch":
  module: tests.core.test_pathnames
  constructor: AnyArguments
  docker_image: none
  run_groups: {plain: {}}
"x":
  module: tests.core.test_pathnames
  constructor: AnyArguments
  docker_image: none
  run_groups: {plain: {}}
".hidden":
  module: tests.core.test_pathnames
  constructor: AnyArguments
  docker_image: none
  run_groups: {plain: {args: [".", "/"]}}
"""


def test_hostile_names_and_arguments_stay_inside_results_and_visible(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    definitions = tmp_path / "algos.yaml"
    definitions.write_text(HOSTILE_DEFINITIONS)
    results = tmp_path / "deep" / "results"
    common = {"dataset": str(tiny_dataset), "definitions": definitions, "results": results}
    names = ("../../../escaped", "x-batch", "x", ".hidden")
    plain = benchmark.run(RunRequest(algorithms=names, runs=1, **common))
    batch = benchmark.run(RunRequest(algorithms=("x",), runs=1, batch=True, **common))
    assert (plain["status"] == "ok").all() and len(plain) == 6 and len(batch) == 1
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and results not in p.parents]
    assert outside == [definitions], "nothing is written outside --results"
    for path in results.rglob("*"):
        assert is_safe(path.name) or path.name.endswith((".hdf5", ".h5", ".log")), path
        assert not path.name.startswith(".")
    everything = load_results(results)
    assert sorted(set(everything["algorithm"])) == sorted(names)
    args = {json.dumps(json.loads(a), sort_keys=True) for a in everything["build_args"]}
    assert (
        json.dumps({"path": "../../../../escaped-log", "a/b": "..", ".": "\0"}, sort_keys=True)
        in args
    )
    queries = {json.loads(q)["ef"] for q in everything["query_args"] if "ef" in q}
    assert queries == {"/etc/passwd", "..", "\x1b[31m"}
    x = everything[everything["algorithm"] == "x"]
    assert sorted(x["batch_mode"]) == [False, True]  # `x-batch` is not the batch folder of `x`
    assert len(everything[everything["algorithm"] == "x-batch"]) == 1
