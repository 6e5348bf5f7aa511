"""Safe, reversible path components made from user text: names and arguments.

Every folder or file name the harness derives from something a user wrote (a dataset or
algorithm name, build and query arguments, protocol options) goes through here, so no name
can climb out of the results folder (`/`, `..`), hide a file (a leading `.`), carry a NUL or
control character, or give two different runs one path. Characters outside a small safe set
are percent-encoded (UTF-8 bytes as `%XX`, as in URLs), so a component decodes back to its
text (`decode`); the original is kept in the result's attributes too. A component longer
than `MAX_COMPONENT` keeps a readable prefix and ends in `~` and a digest of the whole: `~`
is never produced otherwise, so it stays unique while its length stays bounded.
"""

from __future__ import annotations

import hashlib
import json
import string
from typing import Any
from urllib.parse import unquote

#: Characters a component keeps as they are; everything else is `%XX`.
SAFE = frozenset(string.ascii_letters + string.digits + "-._+")
#: Longest component: with `.failed.h5` and a writer's `.partial-<pid>` the file name stays
#: well below the 255 bytes file systems allow.
MAX_COMPONENT = 180
#: Marks a shortened component; followed by this many hex digits of the full one's digest.
SHORTENED, DIGEST_DIGITS = "~", 16
#: The label of empty arguments (no build or query arguments).
EMPTY_ARGUMENTS = "default"
#: Separators of a run label: between argument groups, items, and a key and its value.
GROUPS, ITEMS, ASSIGN = "__", ",", "="
#: Suffix of the folder of batch-mode runs of an algorithm (ann-benchmarks' layout).
BATCH_SUFFIX = "-batch"


def encode(text: str, keep: frozenset[str] = SAFE) -> str:
    """`text` percent-encoded outside `keep`; never empty, `.` or `..`, never hidden."""
    out = []
    for i, char in enumerate(text):
        if char in keep and not (i == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    return "".join(out)


def decode(component: str) -> str:
    """The text of an encoded component (not of a shortened one: its tail is a digest)."""
    return unquote(component, errors="surrogatepass")


def bounded(component: str) -> str:
    """`component` if short enough, else a readable prefix, `~` and a digest of the whole."""
    if len(component) <= MAX_COMPONENT:
        return component
    prefix = component[: MAX_COMPONENT - len(SHORTENED) - DIGEST_DIGITS]
    escape = prefix.rfind("%", len(prefix) - 2)
    if escape >= 0:  # never cut an escape in two
        prefix = prefix[:escape]
    digest = hashlib.sha256(component.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}{SHORTENED}{digest[:DIGEST_DIGITS]}"


def name_component(name: str) -> str:
    """A dataset, algorithm or protocol name as one folder name.

    A name ending in `-batch` has that hyphen encoded, so a folder `<algorithm>-batch` is
    always the batch-mode runs of `<algorithm>`, never the runs of an algorithm so named.
    """
    if not name:
        raise ValueError("an empty name cannot name a results folder; give it a name")
    component = encode(name)
    if component.endswith(BATCH_SUFFIX):
        component = component[: -len(BATCH_SUFFIX)] + "%2D" + BATCH_SUFFIX[1:]
    return bounded(component)


def algorithm_component(algorithm: str, batch: bool) -> str:
    """The folder of an algorithm's runs: `<algorithm>` or `<algorithm>-batch`."""
    component = name_component(algorithm)
    return bounded(component + BATCH_SUFFIX) if batch else component


def arguments_label(args: Any) -> str:
    """Build or query arguments as `M=16,efConstruction=200` (keys sorted), `16,200`
    (positional) or `default` (none).

    Injective: keys and values are encoded tokens that never contain a separator (`,` `=`,
    or the `__` between groups), a string that reads as JSON (`"1"`, `"true"`) is quoted,
    other values are compact JSON, so different arguments never share a label (empty
    positional and keyword arguments, the same call, both read `default`).
    """
    if isinstance(args, dict):
        items = [
            f"{_token(str(key))}{ASSIGN}{_token(_value(value))}"
            for key, value in sorted(args.items(), key=lambda item: str(item[0]))
        ]
    else:
        items = [_token(_value(value, positional=True)) for value in args]
    return ITEMS.join(items) or EMPTY_ARGUMENTS


def options_label(options: dict[str, Any]) -> str:
    """Protocol options that tell runs apart (`policy=random,delete_count=0.1`), in order."""
    return ITEMS.join(f"{_token(key)}{ASSIGN}{_token(_value(v))}" for key, v in options.items())


def suffix_label(text: str) -> str:
    """A protocol's own label group (`state=compacted`), its keys and values encoded."""
    return ITEMS.join(
        ASSIGN.join(_token(part) for part in item.split(ASSIGN)) for item in text.split(ITEMS)
    )


def run_label(*groups: str) -> str:
    """Labels of argument groups joined by `__`, empty ones left out, length bounded."""
    return bounded(GROUPS.join(group for group in groups if group))


def _value(value: Any, positional: bool = False) -> str:
    """A value as text: a plain string as it is, anything else (or a string that would read
    as something else) as compact JSON."""
    plain = isinstance(value, str) and value and not _reads_as_json(value)
    if plain and not (positional and value == EMPTY_ARGUMENTS):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _reads_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _token(text: str) -> str:
    """`text` encoded so it holds no separator: `,` and `=` are always encoded, and `_`
    wherever it could join a `__` (first, last, or next to another `_`)."""
    token = encode(text)
    chars = list(token)
    for i, char in enumerate(chars):
        if char != "_":
            continue
        alone = 0 < i < len(chars) - 1 and token[i - 1] != "_" and token[i + 1] != "_"
        if not alone:
            chars[i] = "%5F"
    return "".join(chars)
