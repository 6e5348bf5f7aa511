"""Grid expansion as ann-benchmarks does it (its `definitions._generate_combinations`)."""

from __future__ import annotations

import itertools
from typing import Any

Arguments = list[Any] | dict[str, Any]


def combinations(args: Arguments) -> list[Arguments]:
    """The product over every list-valued axis: a list's items are positional axes (a
    non-list item is a constant), a dict's list values are keyword axes; the first axis
    varies slowest."""
    if isinstance(args, list):
        axes = [a if isinstance(a, list) else [a] for a in args]
        return [list(x) for x in itertools.product(*axes)]
    axes = [[(k, x) for x in v] if isinstance(v, list) else [(k, v)] for k, v in args.items()]
    return [dict(x) for x in itertools.product(*axes)]
