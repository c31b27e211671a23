"""The report's figures: what each exercise gets, drawn as matplotlib ``Figure`` objects, saved as PNGs.

Per exercise: learning curves, gradient norms per layer, decision boundaries (2D Playground sets) and
accuracy against a swept setting (a grid); for the best run of each exercise: confusion matrix,
misclassified test images and first-layer conv filters. A plot whose input is missing (a pending or
failed run, no predictions, a model without conv layers) is left out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ...files import make_folder, remove_file, write_figure
from ..document import Plot
from ..reading import ExperimentSource, ReportError
from ..row import Row, by_exercise
from ..table import best_runs, shown_runs
from .boundaries import decision_boundaries
from .curves import gradient_norms, learning_curves
from .images import confusion_matrix, filters, misclassified
from .sweep import sweep_plot, sweeps
from .teaching import activations_for, capacity, gradients_by_layer


@dataclass
class Drawing:
    """A figure before it is saved: its file name (no suffix), exercise and caption."""

    name: str
    exercise: str
    caption: str
    figure: Any  #: matplotlib.figure.Figure


def drawings(
    experiment: ExperimentSource, table: list[Row], wanted: Callable[[str], bool] | None = None
) -> Iterator[Drawing]:
    """Every figure whose input exists, in report order, drawn one at a time; with ``wanted``, only those whose
    name it accepts (the others are not drawn at all)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError("the report's plots need matplotlib: pip install matplotlib") from None
    best = best_runs(table)
    rows = {row.shown_run: row for row in table}
    runs = shown_runs(experiment.runs, table)
    seeds = {  # a repeated run's shown repeat -> all its repeats: its curves are their mean and band
        row.best_repeat: [run for run in experiment.runs if run.repeat_of == row.run] for row in table if row.repeats
    }
    for exercise, group in by_exercise(runs, lambda run: run.exercise).items():
        tag = slug(exercise)
        plans = [
            (f"curves-{tag}", partial(learning_curves, group, seeds)),
            (f"gradients-{tag}", partial(gradient_norms, group, rows)),
            (f"boundaries-{tag}", partial(decision_boundaries, group, rows)),
            (f"capacity-{tag}", partial(capacity, group)),
            (f"layer-gradients-{tag}", partial(gradients_by_layer, group, rows)),
            (f"activations-{tag}", partial(activations_for, group)),
        ]
        for sweep in sweeps(group):
            plans.append((f"sweep-{tag}-{slug(sweep.setting)}", partial(sweep_plot, sweep, rows)))
        for run in (run for run in group if run.name in best or len(group) == 1):  # an unranked run alone too
            predictions = run.predictions()
            name = slug(run.name)
            if predictions is not None:
                plans.append((f"confusion-{name}", partial(confusion_matrix, run, predictions, rows.get(run.name))))
                plans.append((f"misclassified-{name}", partial(misclassified, run, predictions, rows.get(run.name))))
            plans.append((f"filters-{name}", partial(filters, run, rows.get(run.name))))
        for name, draw in plans:
            if wanted is not None and not wanted(name):
                continue
            drawn = draw()  # None: the plot's input is missing
            if drawn is not None:
                yield Drawing(name, exercise, drawn[1], drawn[0])


def save_plots(experiment: ExperimentSource, table: list[Row]) -> list[Plot]:
    """Draw every plot into ``<report directory>/report/``; returns them in report order."""
    out = make_folder(experiment.directory / "report")
    plots = []
    for drawing in drawings(experiment, table):
        path = out / f"{drawing.name}.png"
        save_figure(drawing.figure, path)
        plots.append(Plot(drawing.exercise, drawing.caption, path))
    written = {plot.path for plot in plots}
    for stale in out.glob("*.png"):  # an earlier report's plot whose input is gone (or renamed)
        if stale not in written:
            remove_file(stale)
    return plots


def save_figure(figure, path: Path) -> None:
    """The PNG drawn in memory, then written atomically: a crash or a full disk leaves the old plot or the new one."""
    write_figure(path, figure, dpi=100)


def slug(text: str) -> str:
    """A file name from an exercise or run name; long ones cut (grid names can hold a whole model)."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "runs"
    if len(name) <= 80:
        return name
    return name[:70].rstrip("-") + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]
