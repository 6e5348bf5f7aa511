"""Algorithm definitions from `algos.yaml`: validation and grid expansion as in ann-benchmarks.

Each algorithm names its plugin (module, constructor), its Docker image and `base_args`
(with `@metric`, `@dimension`, `@count` placeholders, replaced anywhere in the build
arguments), and run groups of build-arg (`args`) and query-arg (`query_args`) grids. A list
is an axis of positional arguments, a dict is expanded over its list values and passed as
keywords; a run group with `metrics` runs only on datasets of those metrics. An
ann-benchmarks `config.yml` is accepted as it is (`annb_config` translates it); its
algorithms keep ann-benchmarks' interface (`interface: ann-benchmarks`), which
`plugins.annb.adapter` puts under this project's contract.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from harness.core import annb_config
from harness.core.environment import PROJECT_ROOT
from harness.core.grids import Arguments, combinations
from plugins.annb.adapter import AnnBenchmarksPlugin
from plugins.base import METRICS, BasePlugin

ALGORITHM_KEYS: dict[str, tuple[type, ...]] = {
    "module": (str,),
    "constructor": (str,),
    "docker_image": (str,),
    "base_args": (list,),
    "disabled": (bool,),
    "metrics": (list,),
    "description": (str,),
    "interface": (str,),
    "run_groups": (dict,),
}
REQUIRED_KEYS = ("module", "constructor", "docker_image", "run_groups")
RUN_GROUP_KEYS: dict[str, tuple[type, ...]] = {
    "args": (list, dict),
    "query_args": (list, dict),
    "default": (bool,),
    "metrics": (list,),
    "nightly": (bool,),  # the group `--suite nightly` runs (harness.suites.nightly)
}
PLACEHOLDERS = ("@metric", "@dimension", "@count")
#: `forget`: a `plugins.base.BasePlugin`; `ann-benchmarks`: an ann-benchmarks `BaseANN`,
#: run through `plugins.annb.adapter`.
INTERFACES = ("forget", "ann-benchmarks")
#: ann-benchmarks' names for keys of this file, and what to do instead.
ANN_BENCHMARKS_KEYS = {
    "docker_tag": "it is docker_image here",
    "name": "the entry's key is its name here",
    "arg_groups": "write args as a list of positional axes",
    "query_arg_groups": "write query_args as a list of positional axes",
}


class DefinitionError(ValueError):
    """A malformed `algos.yaml` entry, or an algorithm that cannot be used as asked."""


@dataclass(frozen=True)
class Algorithm:
    """One validated `algos.yaml` entry."""

    name: str
    module: str
    constructor: str
    docker_image: str
    base_args: list[Any]
    run_groups: dict[str, dict[str, Arguments]]
    disabled: bool = False
    metrics: tuple[str, ...] = METRICS
    description: str = ""
    interface: str = "forget"

    def plugin_class(self) -> type[BasePlugin]:
        """The class the harness drives (the adapter for an ann-benchmarks algorithm)."""
        return _plugin_class(self.module, self.constructor, self.interface)


@dataclass(frozen=True)
class Definition:
    """One build of one algorithm with every query-argument group to run against it."""

    algorithm: str
    module: str
    constructor: str
    docker_image: str
    arguments: list[Any]
    build_args: Arguments
    query_argument_groups: list[Arguments] = field(default_factory=list)
    interface: str = "forget"
    metric: str | None = None

    def instantiate(self) -> BasePlugin:
        """A fresh plugin object built with this definition's arguments."""
        cls = getattr(importlib.import_module(self.module), self.constructor)
        keywords = self.build_args if isinstance(self.build_args, dict) else {}
        if _plugin_class(self.module, self.constructor, self.interface) is AnnBenchmarksPlugin:
            return AnnBenchmarksPlugin(lambda: cls(*self.arguments, **keywords), self.metric)
        return cls(*self.arguments, **keywords)


def _plugin_class(module: str, constructor: str, interface: str) -> type[BasePlugin]:
    cls = getattr(importlib.import_module(module), constructor)
    if interface == "ann-benchmarks" and not issubclass(cls, BasePlugin):
        return AnnBenchmarksPlugin
    return cls


def load_algorithms(path: str | Path = "algos.yaml") -> dict[str, Algorithm]:
    """Parse and validate every entry of an `algos.yaml` file or an ann-benchmarks
    `config.yml` (`annb_config`)."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise DefinitionError(f"{path}: no such file; pass --definitions FILE") from None
    except yaml.YAMLError as error:
        raise DefinitionError(f"{path} is not valid YAML: {error}") from None
    if annb_config.is_config(raw):
        try:
            raw = annb_config.translate(raw, Path(path), PROJECT_ROOT)
        except annb_config.ConfigError as error:
            raise DefinitionError(str(error)) from None
    if not isinstance(raw, dict):
        raise DefinitionError(f"{path}: expected a mapping of algorithm name to definition")
    return {name: validate_algorithm(name, entry) for name, entry in raw.items()}


def validate_algorithm(name: str, entry: Any) -> Algorithm:
    """One entry checked key by key; every error names the algorithm, the key and the fix."""
    if not isinstance(entry, dict):
        raise DefinitionError(f"algorithm {name!r}: expected a mapping of keys, got {entry!r}")
    for key, value in entry.items():
        if key not in ALGORITHM_KEYS:
            raise DefinitionError(
                f"algorithm {name!r}: unknown key {key!r}; use only {', '.join(ALGORITHM_KEYS)}"
                + _ann_benchmarks_hint(key)
            )
        _check_type(name, key, value, ALGORITHM_KEYS[key])
    if entry.get("interface", "forget") not in INTERFACES:
        raise DefinitionError(
            f"algorithm {name!r}: key 'interface' must be one of {', '.join(INTERFACES)}, "
            f"got {entry['interface']!r}"
        )
    for key in REQUIRED_KEYS:
        if key not in entry:
            raise DefinitionError(f"algorithm {name!r}: missing key {key!r}; add it")
    metrics = tuple(entry.get("metrics", METRICS))
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise DefinitionError(
            f"algorithm {name!r}: key 'metrics' has unknown {unknown}; use {list(METRICS)}"
        )
    for group, spec in entry["run_groups"].items():
        _check_run_group(name, group, spec)
    return Algorithm(
        name=name,
        module=entry["module"],
        constructor=entry["constructor"],
        docker_image=entry["docker_image"],
        base_args=list(entry.get("base_args", ["@metric"])),
        run_groups=entry["run_groups"],
        disabled=entry.get("disabled", False),
        metrics=metrics,
        description=entry.get("description", ""),
        interface=entry.get("interface", "forget"),
    )


def check_importable(algorithm: Algorithm) -> None:
    """Import the plugin module and find its constructor, or explain what to do."""
    try:
        algorithm.plugin_class()
    except AttributeError:
        raise DefinitionError(
            f"algorithm {algorithm.name!r}: key 'constructor': {algorithm.module} has no "
            f"{algorithm.constructor!r}; name the plugin class defined there"
        ) from None
    except Exception as error:
        copied = (
            "; an ann-benchmarks algorithm folder goes to plugins/annb/<name>/ with its config.yml"
        ) * (algorithm.interface == "ann-benchmarks")
        raise DefinitionError(
            f"algorithm {algorithm.name!r}: key 'module' ({algorithm.module}) does not import: "
            f"{type(error).__name__}: {error}. Install the plugin's library "
            f"(see its Dockerfile) or set 'disabled: true'{copied}"
        ) from None


def expand(algorithm: Algorithm, metric: str, dimension: int, count: int) -> list[Definition]:
    """Every build-argument combination of every run group for `metric` (a group with
    `metrics` only for those), placeholders substituted anywhere in the build arguments."""
    values = {"@metric": metric, "@dimension": dimension, "@count": count}
    base = substitute(algorithm.base_args, values)
    definitions = []
    for spec in algorithm.run_groups.values():
        if metric not in spec.get("metrics", METRICS):
            continue
        query_groups = combinations(spec.get("query_args", []))
        for build in combinations(spec.get("args", [])):
            build = substitute(build, values)
            positional = build if isinstance(build, list) else []
            definitions.append(
                Definition(
                    algorithm=algorithm.name,
                    module=algorithm.module,
                    constructor=algorithm.constructor,
                    docker_image=algorithm.docker_image,
                    arguments=base + positional,
                    build_args=build,
                    query_argument_groups=query_groups,
                    interface=algorithm.interface,
                    metric=metric,
                )
            )
    return definitions


def substitute(value: Any, values: dict[str, Any]) -> Any:
    """`value` with every placeholder string replaced, inside lists and dicts too (as
    ann-benchmarks' `_substitute_variables`)."""
    if isinstance(value, dict):
        return {k: substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    return values.get(value, value) if isinstance(value, str) else value


def select(
    algorithms: dict[str, Algorithm], names: Iterable[str] | None, metric: str
) -> list[Algorithm]:
    """The algorithms asked for that support the metric, each with the run groups asked for.

    - no names at all: the quick default suite, every enabled algorithm's run groups marked
      `default: true`;
    - `all`: every enabled algorithm with all its run groups;
    - `NAME`: that algorithm's `default: true` run groups (all of them if none is marked);
    - `NAME:GROUP`: that one run group; `NAME:all`: every run group of it.

    Naming an algorithm twice (`hnswlib:M-8 hnswlib:M-16`) runs the union of the groups.
    """
    if names is None:
        return [
            replace(a, run_groups=quick)
            for a in algorithms.values()
            if not a.disabled and metric in a.metrics and (quick := marked(a, "default"))
        ]
    names = list(names)
    if "all" in names:
        return [a for a in algorithms.values() if not a.disabled and metric in a.metrics]
    chosen: dict[str, dict[str, dict[str, Arguments]]] = {}
    for spec in names:
        name, _, group = spec.partition(":")
        algorithm = named(algorithms, name, metric)
        chosen.setdefault(name, {}).update(run_groups_of(algorithm, group))
    return [replace(algorithms[name], run_groups=groups) for name, groups in chosen.items()]


def algorithm_name(spec: str) -> str:
    """The algorithm of an `--algorithm` value (`hnswlib:M-16` -> `hnswlib`)."""
    return spec.partition(":")[0]


def marked(algorithm: Algorithm, key: str) -> dict[str, dict[str, Arguments]]:
    """The run groups with `key: true` (`default`, `nightly`)."""
    return {g: s for g, s in algorithm.run_groups.items() if s.get(key)}


def named(algorithms: dict[str, Algorithm], name: str, metric: str) -> Algorithm:
    if name not in algorithms:
        raise DefinitionError(
            f"unknown algorithm {name!r}: choose from {', '.join(sorted(algorithms))} "
            "or 'all' (see --list-algorithms)"
        )
    algorithm = algorithms[name]
    if metric not in algorithm.metrics:
        raise DefinitionError(
            f"algorithm {name!r} does not support the {metric!r} metric "
            f"(it supports {', '.join(algorithm.metrics)}); choose another dataset"
        )
    return algorithm


def run_groups_of(algorithm: Algorithm, group: str) -> dict[str, dict[str, Arguments]]:
    """`''`: the default groups (all if none is marked); `all`; or the one named group."""
    if not group:
        return marked(algorithm, "default") or dict(algorithm.run_groups)
    if group == "all":
        return dict(algorithm.run_groups)
    if group not in algorithm.run_groups:
        raise DefinitionError(
            f"algorithm {algorithm.name!r} has no run group {group!r}: use "
            f"{', '.join(f'{algorithm.name}:{g}' for g in algorithm.run_groups)} "
            f"or {algorithm.name}:all"
        )
    return {group: algorithm.run_groups[group]}


def _check_run_group(name: str, group: str, spec: Any) -> None:
    if not isinstance(spec, dict):
        raise DefinitionError(
            f"algorithm {name!r}: run group {group!r} must be a mapping with 'args' and "
            f"'query_args', got {spec!r}"
        )
    for key, value in spec.items():
        if key not in RUN_GROUP_KEYS:
            raise DefinitionError(
                f"algorithm {name!r}: run group {group!r} has unknown key {key!r}; "
                f"use only {', '.join(RUN_GROUP_KEYS)}" + _ann_benchmarks_hint(key)
            )
        _check_type(name, f"run_groups.{group}.{key}", value, RUN_GROUP_KEYS[key])
    unknown = [m for m in spec.get("metrics", []) if m not in METRICS]
    if unknown:
        raise DefinitionError(
            f"algorithm {name!r}: run group {group!r} has unknown metrics {unknown}; use "
            f"{list(METRICS)}"
        )


def _ann_benchmarks_hint(key: str) -> str:
    if key not in ANN_BENCHMARKS_KEYS:
        return ""
    return (
        f" ({key!r} is ann-benchmarks' config.yml key: {ANN_BENCHMARKS_KEYS[key]}, or pass "
        "the config.yml itself with --definitions)"
    )


def _check_type(name: str, key: str, value: Any, types: tuple[type, ...]) -> None:
    if not isinstance(value, types):
        expected = " or ".join(t.__name__ for t in types)
        raise DefinitionError(
            f"algorithm {name!r}: key {key!r} must be a {expected}, "
            f"got {type(value).__name__} {value!r}"
        )
