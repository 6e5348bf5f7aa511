"""algos.yaml: grid expansion as in ann-benchmarks, and errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.definitions import (
    DefinitionError,
    check_importable,
    combinations,
    expand,
    load_algorithms,
    select,
    validate_algorithm,
)
from harness.core.environment import PROJECT_ROOT

ENTRY = {
    "module": "plugins.hnswlib.module",
    "constructor": "Hnswlib",
    "docker_image": "forget-benchmarks-hnswlib",
    "base_args": ["@metric"],
    "run_groups": {
        "a": {"args": {"M": [8, 16], "efConstruction": 100}, "query_args": {"ef": [10, 20]}},
        "b": {"args": [["@x", 3]], "query_args": [[1, 2], "fast"]},
    },
}


def test_a_list_is_an_axis_and_a_dict_is_expanded_into_keywords() -> None:
    assert combinations({"M": [8, 16], "ef": 5}) == [{"M": 8, "ef": 5}, {"M": 16, "ef": 5}]
    assert combinations([[1, 2], "x"]) == [[1, "x"], [2, "x"]]
    assert combinations([]) == [[]]
    assert combinations({}) == [{}]


def test_expand_substitutes_placeholders_and_pairs_builds_with_query_groups() -> None:
    algorithm = validate_algorithm(
        "demo", {**ENTRY, "base_args": ["@metric", "@dimension", "@count"]}
    )
    built = expand(algorithm, "angular", 50, 10)
    assert [d.build_args for d in built] == [
        {"M": 8, "efConstruction": 100},
        {"M": 16, "efConstruction": 100},
        ["@x"],
        [3],
    ]
    assert built[0].arguments == ["angular", 50, 10]
    assert built[2].arguments == ["angular", 50, 10, "@x"]
    assert built[0].query_argument_groups == [{"ef": 10}, {"ef": 20}]
    assert built[3].query_argument_groups == [[1, "fast"], [2, "fast"]]


def test_the_project_definitions_load_and_instantiate() -> None:
    algorithms = load_algorithms(PROJECT_ROOT / "algos.yaml")
    assert {"bruteforce", "hnswlib"} <= set(algorithms)
    for algorithm in algorithms.values():
        if not algorithm.disabled:
            check_importable(algorithm)
            for definition in expand(algorithm, algorithm.metrics[0], 8, 10):
                definition.instantiate().done()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, r"'demo': unknown key 'colour'; use only module"),
        ({"disabled": "no"}, r"'demo': key 'disabled' must be a bool"),
        ({"run_groups": {"g": {"arg": {}}}}, r"run group 'g' has unknown key 'arg'"),
        ({"run_groups": {"g": {"args": 3}}}, r"'run_groups.g.args' must be a list or dict"),
        ({"metrics": ["hamming"]}, r"key 'metrics' has unknown \['hamming'\]"),
    ],
)
def test_invalid_entries_name_the_algorithm_the_key_and_the_fix(change, message) -> None:
    with pytest.raises(DefinitionError, match=message):
        validate_algorithm("demo", {**ENTRY, **change})


def test_missing_key_and_broken_module_are_explained() -> None:
    entry = dict(ENTRY)
    del entry["docker_image"]
    with pytest.raises(DefinitionError, match="missing key 'docker_image'; add it"):
        validate_algorithm("demo", entry)
    broken = validate_algorithm("demo", {**ENTRY, "module": "plugins.nowhere"})
    with pytest.raises(DefinitionError, match=r"'demo': key 'module'.*disabled: true"):
        check_importable(broken)
    wrong = validate_algorithm("demo", {**ENTRY, "constructor": "Nope"})
    with pytest.raises(DefinitionError, match="key 'constructor'"):
        check_importable(wrong)


def test_malformed_yaml_and_unknown_algorithm(tmp_path: Path) -> None:
    bad = tmp_path / "algos.yaml"
    bad.write_text("hnswlib: [unclosed\n")
    with pytest.raises(DefinitionError, match="not valid YAML"):
        load_algorithms(bad)
    algorithms = {"demo": validate_algorithm("demo", ENTRY)}
    with pytest.raises(DefinitionError, match=r"unknown algorithm 'faiss'.*--list-algorithms"):
        select(algorithms, ["faiss"], "euclidean")
    limited = {"demo": validate_algorithm("demo", {**ENTRY, "metrics": ["euclidean"]})}
    with pytest.raises(DefinitionError, match="does not support the 'angular' metric"):
        select(limited, ["demo"], "angular")
    assert select(limited, ["all"], "angular") == []


def test_no_names_is_the_quick_suite_of_default_run_groups() -> None:
    marked = {**ENTRY, "run_groups": {**ENTRY["run_groups"], "b": {"default": True}}}
    algorithms = {
        "demo": validate_algorithm("demo", marked),
        "plain": validate_algorithm("plain", ENTRY),
        "off": validate_algorithm("off", {**marked, "disabled": True}),
    }
    [quick] = select(algorithms, None, "euclidean")
    assert quick.name == "demo" and list(quick.run_groups) == ["b"]
    assert [a.name for a in select(algorithms, ["all"], "euclidean")] == ["demo", "plain"]
    assert list(select(algorithms, ["demo"], "euclidean")[0].run_groups) == ["b"]  # its default
