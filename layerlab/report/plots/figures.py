"""Shared pieces of the report's figures: layouts, the epoch axis, run styles, wrapped labels.

The figures are drawn with matplotlib's object interface (``Figure``, no pyplot), so the Agg renderer
writes the PNGs, no window opens and no global backend changes.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np

from ...task import task_named
from ..row import Row, missing

#: Markers that tell runs apart where their curves coincide (one per run, in order).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
#: The runs' colours in order: matplotlib's tab10 with its two least distinct pairs (CIEDE2000 16 for red and
#: brown, 17 for purple and pink: the optimisers' Adagrad and RMSprop, Adadelta and Adam) apart, brown and
#: pink last, so that up to 8 runs differ by at least 22.
RUN_COLOURS = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:cyan",
    "tab:olive",
    "tab:gray",
    "tab:brown",
    "tab:pink",
)


def run_colour(i: int) -> str:
    """Run ``i``'s colour (``RUN_COLOURS``, again from the first after the tenth run)."""
    return RUN_COLOURS[i % len(RUN_COLOURS)]


def new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    figure.get_layout_engine().set(w_pad=0.06, h_pad=0.06)  # inches round the edge: room for legend borders
    return figure


def grid_shape(count: int, columns: int) -> tuple[int, int]:
    """(rows, columns) for ``count`` panels, at most ``columns`` to a row, the rows as even as they go
    (4 panels at most 3 to a row: 2 by 2, not 3 and 1 beside two blanks)."""
    rows = max(1, math.ceil(count / columns))
    return rows, max(1, math.ceil(count / rows))


def panels(count: int, size: float, columns: int, extra: float = 0.0, **options: Any):
    """A figure of ``count`` square-ish panels, at most ``columns`` to a row (see ``grid_shape``), each row
    ``extra`` inches taller (for titles of several lines, legends under the panels); the unused ones hidden."""
    rows, columns = grid_shape(count, columns)
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


def log_scale(ax, axis: str = "y") -> None:
    """A log axis, set after the data is drawn, whose minor ticks are labelled too where it spans few
    decades (6 x 10^-2, 8 x 10^-2, 2 x 10^-1 within one; 2 and 5 x within three), so it reads with more than
    the two or three powers of ten."""
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator

    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    low, high = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())  # shared axes: the same for all
    decades = math.log10(high / low) if 0 < low < high and math.isfinite(high / low) else math.inf
    subs = (2.0, 3.0, 4.0, 6.0, 8.0) if decades <= 1.2 else (2.0, 5.0) if decades <= 3.5 else ()
    if subs:
        target.set_minor_locator(LogLocator(base=10, subs=subs))
        target.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(9, 9)))


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
        "color": run_colour(i),
        "marker": MARKERS[(i + i // len(RUN_COLOURS)) % len(MARKERS)],  # past 10 runs, another with each colour
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


def seed_shown(row: Row | None) -> str | None:
    """Which seed a figure of a repeated run shows, in words, from the row that chose it (``row.best_repeat``,
    the seed of best validation score, or the first without one): "lab4a ex2-4-layers#1, the seed of best
    validation accuracy of 3 seeds (test accuracy 95.00%; mean 94.47%)", so that one seed is not read as the run's
    typical result; None for a run trained once."""
    if row is None or not row.best_repeat or not row.repeats or row.repeats < 2 or row.sample is None:
        return None
    task = task_named(row.task)
    shown, mean = row.headline, task.show(row.sample.mean)
    validation = getattr(row, task.score.result_key)
    which = f"the seed of best {task.score.name} of" if not missing(validation) else "one of"
    if shown is None or missing(shown):
        return f"{row.best_repeat}, {which} {row.repeats} seeds (mean {task.headline} {mean})"
    return f"{row.best_repeat}, {which} {row.repeats} seeds ({task.headline} {task.show(shown)}; mean {mean})"


def seeds_shown(runs: list, rows: dict[str, Row] | None) -> str:
    """The caption's words on the repeated runs among ``runs`` (a figure shows one seed of each): "" if none."""
    said = [words for run in runs if (words := seed_shown((rows or {}).get(run.name)))]
    return "; shown: " + "; ".join(said) if said else ""
