"""`--algorithm` semantics: a name runs its default run groups, `NAME:GROUP` one group,
`NAME:all` every group, `all` every enabled algorithm; the nightly groups are marked apart."""

from __future__ import annotations

import pytest

from harness.core.definitions import DefinitionError, algorithm_name, select, validate_algorithm

ENTRY = {
    "module": "plugins.bruteforce.module",
    "constructor": "BruteForce",
    "docker_image": "none",
    "run_groups": {
        "small": {"args": {"M": 4}, "nightly": True},
        "main": {"args": {"M": 16}, "default": True},
        "grid": {"args": {"M": [4, 8, 12, 16, 24]}},
    },
}
UNMARKED = {**ENTRY, "run_groups": {"x": {"args": [1]}, "y": {"args": [2]}}}


@pytest.fixture
def algorithms() -> dict:
    return {
        "hnsw": validate_algorithm("hnsw", ENTRY),
        "plain": validate_algorithm("plain", UNMARKED),
        "off": validate_algorithm("off", {**ENTRY, "disabled": True}),
    }


def groups(chosen: list) -> dict[str, list[str]]:
    return {a.name: list(a.run_groups) for a in chosen}


def test_a_name_runs_its_default_groups_or_all_when_none_is_marked(algorithms) -> None:
    assert groups(select(algorithms, ["hnsw"], "euclidean")) == {"hnsw": ["main"]}
    assert groups(select(algorithms, ["plain"], "euclidean")) == {"plain": ["x", "y"]}
    # naming a disabled algorithm runs it: disabled only keeps it out of `all`
    assert groups(select(algorithms, ["off"], "euclidean")) == {"off": ["main"]}


def test_name_group_and_name_all(algorithms) -> None:
    assert groups(select(algorithms, ["hnsw:grid"], "euclidean")) == {"hnsw": ["grid"]}
    assert groups(select(algorithms, ["hnsw:all"], "euclidean")) == {
        "hnsw": ["small", "main", "grid"]
    }
    both = select(algorithms, ["hnsw:small", "plain:y", "hnsw:grid"], "euclidean")
    assert groups(both) == {"hnsw": ["small", "grid"], "plain": ["y"]}


def test_all_is_every_enabled_algorithm_with_every_group(algorithms) -> None:
    assert groups(select(algorithms, ["all"], "euclidean")) == {
        "hnsw": ["small", "main", "grid"],
        "plain": ["x", "y"],
    }


def test_an_unknown_group_names_the_choices(algorithms) -> None:
    with pytest.raises(DefinitionError, match=r"no run group 'huge'.*hnsw:small, hnsw:main"):
        select(algorithms, ["hnsw:huge"], "euclidean")
    with pytest.raises(DefinitionError, match="unknown algorithm 'nope'"):
        select(algorithms, ["nope:all"], "euclidean")


def test_the_nightly_key_is_a_boolean() -> None:
    bad = {**ENTRY, "run_groups": {"n": {"nightly": "yes"}}}
    with pytest.raises(DefinitionError, match="nightly"):
        validate_algorithm("bad", bad)


def test_algorithm_name_strips_the_group() -> None:
    assert algorithm_name("hnswlib:M-16") == "hnswlib"
    assert algorithm_name("hnswlib") == "hnswlib"
