"""One look for every chart: a colour and a marker per algorithm, the same in the static
figures (matplotlib) and the interactive charts (plotly), the same on every page.

Ten colours (Tableau 10, which both libraries use by default) and seven markers: algorithm i
gets colour i mod 10 and marker i mod 7, so neighbours in the order differ in both and the
first 70 algorithms all look different. Styles are assigned over the sorted names of every
algorithm in the results, so an algorithm keeps its look across datasets and pages.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

COLOURS = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
#: (matplotlib marker, plotly symbol) pairs that draw the same shape.
MARKERS = (
    ("o", "circle"),
    ("s", "square"),
    ("^", "triangle-up"),
    ("D", "diamond"),
    ("v", "triangle-down"),
    ("P", "cross"),
    ("X", "x"),
)
#: Figure titles wrap at this many characters instead of running off the canvas.
TITLE_WIDTH = 70


@dataclass(frozen=True)
class Style:
    colour: str
    marker: str  # matplotlib
    symbol: str  # plotly

    def plotly(self) -> dict[str, dict[str, str]]:
        return {
            "marker": {"color": self.colour, "symbol": self.symbol},
            "line": {"color": self.colour},
        }


def style_at(index: int) -> Style:
    marker, symbol = MARKERS[index % len(MARKERS)]
    return Style(COLOURS[index % len(COLOURS)], marker, symbol)


def styles(names: Iterable[object]) -> dict[str, Style]:
    """A distinct style per name, by its place among the sorted names."""
    return {name: style_at(i) for i, name in enumerate(sorted({str(n) for n in names}))}


def compact_number(value: float, _position: object = None) -> str:
    """Tick text of a log axis as plain numbers: 0.01, 0.5, 20, 3k, 1M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"


def log_ticks(low: float, high: float, most: int = 12) -> list[float]:
    """Ticks of a log axis from `low` to `high`: 1, 2 and 5 times each power of ten, or the
    powers alone when those would be more than `most`, or every digit times a power when
    1, 2, 5 leave fewer than two; [] when nothing fits (the renderer chooses)."""
    if not 0 < low <= high:
        return []
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))

    def at(steps: tuple[int, ...]) -> list[float]:
        values = (s * 10.0**e for e in range(first, last + 1) for s in steps)
        return [v for v in values if low <= v <= high]

    ticks = at((1, 2, 5))
    if len(ticks) > most:
        return at((1,))
    if len(ticks) < 2:
        ticks = at(tuple(range(1, 10)))
    return ticks if len(ticks) >= 2 else []


def wrapped(title: str, width: int = TITLE_WIDTH) -> str:
    """A title broken into lines that fit the figure."""
    return "\n".join(textwrap.wrap(title, width)) or title
