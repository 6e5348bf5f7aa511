"""ann-benchmarks `config.yml` files, translated into this project's definitions unchanged.

An ann-benchmarks config maps a point type (`float`, `bit`) to metric sections (`any`,
`euclidean`, `angular`, ...), each a list of algorithm entries (`name`, `module`,
`constructor`, `docker_tag`, `base_args`, `disabled`, `run_groups`). Only `float` applies
here (every dataset is float); an entry listed under several metrics becomes one algorithm
whose run groups each keep their metric. Its `definitions.py` semantics are kept exactly:

- the constructor gets only positional arguments: `base_args`, then each build combination;
  a combination from a dict (`args: {...}`, or a dict in `arg_groups`) is *one* positional
  dict (`PyNNDescent(metric, {"n_neighbors": 20, ...})`), a list's values are spread;
- `arg_groups` (preferred over `args`) and `query_arg_groups` (over `query_args`) are lists
  of groups: a dict group expands into its combinations, a list group is one axis, and the
  product over the groups gives the combinations;
- `set_query_arguments(*combination)` for each query combination;
- `@metric`, `@dimension`, `@count` are replaced anywhere in the build arguments;
- `module` names a package whose `module.py` holds the class. A `module.py` next to the
  `config.yml` wins (a folder copied to `plugins/annb/<name>/` runs as it is).

The result is an `algos.yaml`-style mapping, validated like any other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.core.grids import combinations
from plugins.base import METRICS

POINT_TYPES = ("float", "bit")
ENTRY_KEYS = ("name", "module", "constructor", "docker_tag", "base_args", "disabled", "run_groups")
RUN_GROUP_KEYS = ("args", "arg_groups", "query_args", "query_arg_groups")


class ConfigError(ValueError):
    """A config.yml this project cannot run; the message names the entry and the fix."""


def is_config(raw: Any) -> bool:
    """Whether a parsed YAML file is an ann-benchmarks config (point types at the top)."""
    return isinstance(raw, dict) and bool(raw) and all(key in POINT_TYPES for key in raw)


def translate(raw: dict[str, Any], path: Path, project_root: Path) -> dict[str, dict[str, Any]]:
    """The config's `float` algorithms as `algos.yaml` entries, by name."""
    where = str(path)
    sections = raw.get("float")
    if not isinstance(sections, dict) or not sections:
        raise ConfigError(
            f"{where}: no `float` section; every dataset here is float, so only "
            "`float: {any: [...], euclidean: [...], ...}` algorithms can run"
        )
    merged: dict[str, dict[str, Any]] = {}
    for metric, entries in sections.items():
        if metric != "any" and metric not in METRICS:
            raise ConfigError(
                f"{where}: float section {metric!r}: use any or one of {', '.join(METRICS)}"
            )
        if not isinstance(entries, list):
            raise ConfigError(f"{where}: float.{metric} must be a list of algorithm entries")
        for entry in entries:
            _merge(
                merged, _algorithm(entry, metric, f"{where}: float.{metric}", path, project_root)
            )
    for algorithm in merged.values():
        groups = algorithm["run_groups"].values()
        algorithm["metrics"] = [m for m in METRICS if any(m in g["metrics"] for g in groups)]
    return merged


def _algorithm(
    entry: Any, metric: str, where: str, path: Path, project_root: Path
) -> dict[str, Any]:
    """One entry as an `algos.yaml` entry whose run groups are marked with `metric`."""
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError(f"{where}: expected an algorithm entry with a 'name', got {entry!r}")
    where = f"{where}, algorithm {entry['name']!r}"
    unknown = [key for key in entry if key not in ENTRY_KEYS]
    missing = [
        key for key in ("module", "constructor", "docker_tag", "run_groups") if key not in entry
    ]
    if unknown or missing:
        problem = f"unknown key {unknown[0]!r}" if unknown else f"missing key {missing[0]!r}"
        raise ConfigError(f"{where}: {problem}; an entry has {', '.join(ENTRY_KEYS)}")
    base_args = entry.get("base_args", [])
    if base_args == {}:
        base_args = []  # ann-benchmarks extends the arguments by it: an empty dict adds nothing
    if not isinstance(base_args, list):
        raise ConfigError(f"{where}: base_args must be a list, got {base_args!r}")
    if not isinstance(entry["run_groups"], dict):
        raise ConfigError(f"{where}: run_groups must be a mapping of named groups")
    metrics = list(METRICS) if metric == "any" else [metric]
    return {
        "name": entry["name"],
        "module": module_path(entry["module"], path, project_root, where),
        "constructor": entry["constructor"],
        "docker_image": entry["docker_tag"],
        "base_args": base_args,
        "disabled": entry.get("disabled", False),
        "interface": "ann-benchmarks",
        "run_groups": {
            group if metric == "any" else f"{metric}.{group}": _run_group(
                spec, metrics, f"{where}, run group {group!r}"
            )
            for group, spec in entry["run_groups"].items()
        },
    }


def module_path(module: str, path: Path, project_root: Path, where: str) -> str:
    """The importable module holding the class: the `module.py` next to the config if there
    is one (within the project, where workers can import it), else `<module>.module`."""
    beside = path.resolve().parent / "module.py"
    if not beside.is_file():
        return f"{module}.module"
    try:
        relative = beside.relative_to(project_root.resolve()).with_suffix("")
    except ValueError:
        raise ConfigError(
            f"{where}: its module.py lies outside the project ({beside}); copy the folder to "
            "plugins/annb/<name>/ so that workers can import it"
        ) from None
    return ".".join(relative.parts)


def _run_group(spec: Any, metrics: list[str], where: str) -> dict[str, Any]:
    """A run group with ann-benchmarks' expansion written out in this project's terms:
    a list of positional axes for the build and for the queries."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping with args or arg_groups, got {spec!r}")
    unknown = [key for key in spec if key not in RUN_GROUP_KEYS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; a run group has {', '.join(RUN_GROUP_KEYS)}"
        )
    if "arg_groups" in spec:
        build = _groups(spec["arg_groups"], f"{where}: arg_groups")
    elif "args" in spec:
        build = _args(spec["args"])
    else:
        raise ConfigError(f"{where}: needs args or arg_groups (ann-benchmarks refuses it too)")
    group: dict[str, Any] = {"args": build, "metrics": metrics}
    if "query_arg_groups" in spec:
        group["query_args"] = _groups(spec["query_arg_groups"], f"{where}: query_arg_groups")
    elif "query_args" in spec:
        if not isinstance(spec["query_args"], list):
            raise ConfigError(
                f"{where}: query_args must be a list of axes such as [[10, 20, 40]]; "
                "ann-benchmarks would pass a dict's keys, not its values"
            )
        group["query_args"] = spec["query_args"]
    return group


def _args(args: Any) -> list[Any]:
    """`args`: a list is already positional axes; a dict's combinations are one positional
    argument each, so the dict becomes one axis of its combinations."""
    return [combinations(args)] if isinstance(args, dict) else _as_list(args)


def _groups(groups: Any, where: str) -> list[Any]:
    """`arg_groups` / `query_arg_groups`: one axis per group (a dict's combinations)."""
    if not isinstance(groups, list):
        raise ConfigError(f"{where} must be a list of groups, got {groups!r}")
    return [combinations(g) if isinstance(g, dict) else g for g in groups]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _merge(merged: dict[str, dict[str, Any]], algorithm: dict[str, Any]) -> None:
    """Add an algorithm; one listed under several metrics must agree on all but its groups."""
    name = algorithm.pop("name")
    if name not in merged:
        merged[name] = algorithm
        return
    known = merged[name]
    for key in ("module", "constructor", "docker_image", "base_args", "disabled"):
        if json.dumps(known[key]) != json.dumps(algorithm[key]):
            raise ConfigError(
                f"algorithm {name!r} is listed under several metrics with different {key!r} "
                f"({known[key]!r} and {algorithm[key]!r}); give the entries different names"
            )
    clash = set(known["run_groups"]) & set(algorithm["run_groups"])
    if clash:
        raise ConfigError(f"algorithm {name!r}: run group {sorted(clash)[0]!r} is listed twice")
    known["run_groups"].update(algorithm["run_groups"])
