"""Shared pieces of the report's figures: layouts, the epoch axis, run styles, wrapped labels.

The figures are drawn with matplotlib's object interface (``Figure``, no pyplot), so the Agg renderer
writes the PNGs, no window opens and no global backend changes.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np

from ..table import missing

#: Markers that tell runs apart where their curves coincide (one per run, in order).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    figure.get_layout_engine().set(w_pad=0.06, h_pad=0.06)  # inches round the edge: room for legend borders
    return figure


def panels(count: int, size: float, columns: int, extra: float = 0.0, **options: Any):
    """A figure of ``count`` square-ish panels, ``columns`` to a row, each row ``extra`` inches taller (for
    titles of several lines, legends under the panels); the unused ones hidden."""
    rows = math.ceil(count / columns)
    columns = min(count, columns)
    figure = new_figure(size * columns + 0.8, (size + extra) * rows + 0.6)
    axes = figure.subplots(rows, columns, squeeze=False, **options).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return figure, axes[:count]


def image_grid(count: int, columns: int, width: float, height: float):
    """A figure with ``count`` small image axes, ``columns`` to a row, without frames or ticks."""
    rows = math.ceil(count / columns)
    figure = new_figure(width * columns, height * rows + 0.4)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax in axes[count:]:
        ax.set_visible(False)
    return figure, axes[:count]


def series(history: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([math.nan if missing(epoch.get(key)) else epoch[key] for epoch in history], dtype=float)


def epoch_axis(ax, epochs: int) -> None:
    """Whole epochs only, every one of them up to 12; a single epoch sits in the middle."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    if epochs <= 12:
        ax.set_xticks(range(1, epochs + 1))
        ax.set_xlim(0.5, epochs + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))


def lines(text: str) -> int:
    return text.count("\n") + 1


def wrap(text: str, width: int) -> str:
    """``text`` on lines of at most ``width`` characters (long run names and specs break at spaces)."""
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def run_style(i: int, points: int) -> dict[str, Any]:
    """Colour, marker and width of run ``i``: earlier runs wider underneath, so a curve that coincides with
    an earlier one (the same seed trained longer) shows as a thin line inside a wide one; markers on
    every point of a short curve (a single epoch is a dot, not an invisible line), staggered on long ones."""
    every = max(1, math.ceil(points / 12))
    return {
        "color": f"C{i % 10}",
        "marker": MARKERS[i % len(MARKERS)],
        "markersize": max(4.0, 10.0 - 3 * i),
        "markerfacecolor": "none",  # hollow: a marker underneath stays visible
        "markeredgewidth": 1.4,
        "markevery": (i % every, every),
        "linewidth": max(1.2, 4.2 - 2.0 * i),
        "alpha": 0.85,
        "zorder": 2 + i,
    }


def figure_legend(figure, handles: list, columns: int = 2) -> None:
    """One legend under the panels, ``columns`` entries to a row."""
    figure.legend(handles=handles, loc="outside lower center", ncols=min(columns, len(handles)), fontsize=8)
