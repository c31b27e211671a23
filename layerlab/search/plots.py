"""The plots of a search report: Optuna's matplotlib visualisations (optimisation history, validation
accuracy per epoch, parameter importances, slice and contour plots), made legible.

Optuna draws them for its own defaults; here every axis gets ticks that read: whole numbers for trials,
epochs and int parameters, values a person can read on a log axis that spans less than a decade, category
names without Python's quotes, and no two tick labels of an axis on top of each other (long category
names break into lines, then stand upright; numbers thin out). ``draw_plots`` returns the figures (a test
measures their text), ``make_plots`` writes them as PNGs.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..files import make_folder, write_figure
from .space import SearchDefinition

#: Parameter importances come from PED-ANOVA (Optuna's default evaluator), which compares the top 10% of
#: the completed trials with all of them. Below 11 completed trials that top is a single trial
#: (ceil(0.1 n) = 1), so the importances say where one lucky trial lies, not which parameter matters;
#: from 11 on it holds at least two. (Optuna's documentation asks for 5 top trials, 50 in all, for stable
#: values: 11 is the least at which the comparison means anything.)
RELIABLE_IMPORTANCES = 11
INTEGER_AXES = {"Trial", "epoch"}  #: axis labels, besides int parameters, that count whole things


def completed(study) -> list:
    return [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]


def important_params(study, definition: SearchDefinition) -> list[str]:
    """Parameters by importance (PED-ANOVA, deterministic), most important first; in space order when it
    cannot be told, and among equal importances (Optuna orders those by a set's hash: by PYTHONHASHSEED)."""
    import optuna

    names = list(definition.space)
    if len(names) < 2 or len(completed(study)) < 3:
        return names
    try:
        importances = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):
        return names
    order = {name: i for i, name in enumerate(names)}
    return sorted(importances, key=lambda name: (-importances[name], order.get(name, len(names))))


def importance_caveat(study, definition: SearchDefinition) -> str | None:
    """One sentence when the importances (and the order of parameters they give) rest on too few trials."""
    n = len(completed(study))
    if len(definition.space) < 2 or n >= RELIABLE_IMPORTANCES:
        return None
    return (
        f"parameter importances from {n} completed trial{'s' * (n != 1)} are unreliable: PED-ANOVA compares "
        f"the top 10% of the trials (here one) with the rest, so the importances, and the parameters the "
        f"slice and contour plots show, are mostly chance below {RELIABLE_IMPORTANCES} trials"
    )


def make_plots(study, definition: SearchDefinition, directory: Path) -> list[tuple[Path, str]]:
    """Optuna's plots as PNGs in ``directory/report``; a plot without enough trials for it is left out."""
    import matplotlib.pyplot as plt

    folder = make_folder(directory / "report")
    written = []
    for name, caption, figure in draw_plots(study, definition):
        path = folder / f"{name}.png"
        try:
            write_figure(path, figure, dpi=100, bbox_inches="tight")
        finally:
            plt.close(figure)
        written.append((path, caption))
    return written


def draw_plots(study, definition: SearchDefinition) -> Iterator[tuple[str, str, Any]]:
    """(name, caption, matplotlib figure) of each of Optuna's plots that this study has enough trials for."""
    from optuna.visualization import matplotlib as vis

    complete = completed(study)
    top = important_params(study, definition)
    caveat = importance_caveat(study, definition)
    varied = [n for n in top if len({repr(t.params.get(n)) for t in complete if n in t.params}) > 1]
    what = definition.score.name  # validation accuracy, or validation loss
    plots = [
        (
            "history",
            f"optimisation history: each trial's {what} and the best so far",
            lambda: vis.plot_optimization_history(study, target_name=what),
        )
    ]
    if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        plots.append(
            (
                "epochs",
                f"{what} per epoch of every trial (pruned trials stop early)",
                lambda: vis.plot_intermediate_values(study),
            )
        )
    if len(complete) >= 3 and len(definition.space) >= 2:
        caption = "parameter importances (PED-ANOVA: how much each one decides the top trials)"
        caption += "; unreliable from so few trials (see the note above)" if caveat else ""
        plots.append(("importances", caption, lambda: vis.plot_param_importances(study, target_name=what)))
    if complete:
        which = "the most important parameters" if not caveat else "ordered by those importances"
        plots.append(
            (
                "slice",
                f"{what} against {', '.join(top[:3])}, {which}",
                lambda: vis.plot_slice(study, params=top[:3], target_name=what),
            )
        )
    if len(complete) >= 3 and len(varied) >= 2:  # a parameter with one value leaves the contour blank
        pair = varied[:2]
        plots.append(
            (
                "contour",
                f"{what} over {pair[0]} and {pair[1]}",
                lambda: vis.plot_contour(study, params=pair, target_name=what),
            )
        )
    integers = INTEGER_AXES | {n for n, p in definition.space.items() if p.kind in ("int", "log_int")}
    import matplotlib.pyplot as plt

    for name, caption, draw in plots:
        # Constrained layout keeps every label inside the figure and makes room for the colour bars.
        with warnings.catch_warnings(), plt.rc_context({"figure.constrained_layout.use": True}):
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
            try:
                axes = draw()
            except (ValueError, RuntimeError, IndexError):
                continue
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        _legible(name, figure, axes, integers, what)
        yield name, caption, figure


def _legible(name: str, figure, axes, integers: set[str], what: str) -> None:
    """Optuna's defaults made readable: ticks that read (see the module), wide enough slices, titles and
    axis names of ours, no legend of fifty trials."""
    panels = list(axes.flat) if hasattr(axes, "flat") else [axes]
    if name == "slice":
        figure.set_size_inches(max(6.0, 3.6 * len(panels) + 1.5), 4.2)
    if name == "importances":  # Optuna puts this title on the left, where it reads as an axis note
        ax = panels[0]
        title = ax.get_title(loc="left")
        ax.set_title("", loc="left")
        ax.set_title(title)
    if name == "epochs":
        ax = panels[0]
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.set_title(f"{what.capitalize()} per epoch")
        legend = ax.get_legend()
        if legend is not None and len(legend.get_texts()) > 12:
            legend.remove()
    for ax in figure.axes:  # the colour bars too
        for axis in (ax.xaxis, ax.yaxis):
            _ticks(axis, axis.get_label().get_text() in integers)
    _untangle(figure)


def _ticks(axis, integer: bool) -> None:
    from matplotlib.category import StrCategoryLocator
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    if isinstance(axis.get_major_locator(), StrCategoryLocator):  # Optuna's choices are repr()s: 'adam'
        shown = axis.get_major_formatter()
        axis.set_major_formatter(FuncFormatter(lambda v, pos: shown(v, pos).strip("'\"")))
        return
    if axis.get_scale() == "log":
        axis.set_minor_formatter(NullFormatter())  # 2x10^-3, 3x10^-3, ... run into each other
        low, high = sorted(axis.get_view_interval())
        if low > 0 and math.floor(math.log10(high)) - math.ceil(math.log10(low)) < 1:  # fewer than 2 powers of 10
            # in view: plain numbers, spaced evenly enough over less than a decade or two
            axis.set_major_locator(
                LogLocator(subs=(1.0, 2.0, 5.0))
                if high / low > 10
                else MaxNLocator(nbins=3, integer=integer, min_n_ticks=1)
            )
            axis.set_major_formatter(FuncFormatter(lambda v, pos: f"{v:.3g}"))
    elif integer and axis.get_scale() == "linear":
        axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # 2, not 1.9, 2.0, 2.1 when all are 2


def _untangle(figure, tries: int = 3) -> None:
    """Tick labels of one axis that overlap: long category names break into lines, then names on the x
    axis stand upright; numbers get fewer ticks."""
    from matplotlib.category import StrCategoryLocator
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

    for _ in range(tries):
        figure.canvas.draw()
        crowded = [(ax, axis) for ax in figure.axes for axis in (ax.xaxis, ax.yaxis) if _overlapping(axis)]
        if not crowded:
            return
        for ax, axis in crowded:
            labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            if isinstance(axis.get_major_locator(), StrCategoryLocator) or not _numbers(labels):
                shown = axis.get_major_formatter()
                if not getattr(shown, "wraps", False) and any(" " in t.get_text() for t in labels):
                    wrapping = FuncFormatter(lambda v, pos, shown=shown: textwrap.fill(shown(v, pos), 14))
                    wrapping.wraps = True  # long names on lines of their own; next time round, upright
                    axis.set_major_formatter(wrapping)
                elif axis is ax.xaxis:
                    axis.set_tick_params(labelrotation=90)  # upright names do not run into their neighbours
            elif axis.get_scale() == "log":
                axis.set_major_locator(LogLocator(numticks=max(2, len(labels) // 2 + 1)))
            else:
                axis.set_major_locator(MaxNLocator(nbins=max(2, len(labels) // 2), integer=_whole(labels)))


def _overlapping(axis) -> bool:
    boxes = [t.get_window_extent() for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
    return any(
        min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
    )


def _numbers(labels) -> bool:
    try:
        [float(t.get_text().replace("\N{MINUS SIGN}", "-")) for t in labels]
    except ValueError:
        return "mathdefault" in labels[0].get_text()  # 10^k on a log axis
    return True


def _whole(labels) -> bool:
    return all(t.get_text().lstrip("\N{MINUS SIGN}-").isdigit() for t in labels)
