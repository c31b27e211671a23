"""Decision boundaries of the 2D Playground sets: the model's output over the plane, with the points."""

from __future__ import annotations

import numpy as np

from ...task import task_named
from ..reading import RunSource
from .figures import figure_legend, lines, panels, wrap

#: TensorFlow Playground's colours: orange for negative (class 0), blue for positive (class 1).
PLAYGROUND_COLOURS = ("#f59322", "#e8eaeb", "#0877bd")


def decision_boundaries(runs: list[RunSource]):
    """The model's output over the (x1, x2) plane in Playground's colours, with training and test points;
    one colour key for all panels (classification: 0 to 1; regression: symmetric around 0)."""
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.lines import Line2D

    found = [(run, grid) for run in runs if (grid := run.boundary())]
    if not found:
        return None
    colours = LinearSegmentedColormap.from_list("playground", PLAYGROUND_COLOURS)
    regression = any(not task_named(run.dataset.get("task")).has_classes for run, _ in found)
    if regression:
        high = max(max(np.abs(g["p"]).max(), np.abs(g["train_y"]).max(), np.abs(g["test_y"]).max()) for _, g in found)
        low = -high
    else:
        low, high = 0.0, 1.0
    titles = [wrap(run.name, 34) for run, _ in found]
    extra = 0.2 * max(map(lines, titles)) + 0.3
    figure, axes = panels(len(found), 3.4, columns=4, extra=extra, sharex=True, sharey=True)
    filled = None
    for ax, (_, grid), title in zip(axes, found, titles, strict=True):
        plane = grid["xx"], grid["yy"], grid["p"]
        filled = ax.contourf(*plane, np.linspace(low, high, 21), cmap=colours, extend="both")
        ax.contour(*plane, [(low + high) / 2], colors="k", linewidths=0.8)
        style = dict(cmap=colours, vmin=low, vmax=high, s=14, linewidths=0.7)
        ax.scatter(*grid["train_points"].T, c=grid["train_y"].ravel(), edgecolors="white", **style)
        ax.scatter(*grid["test_points"].T, c=grid["test_y"].ravel(), edgecolors="black", marker="s", **style)
        ax.set(aspect="equal", xlabel="x1", ylabel="x2")
        ax.set_title(title, fontsize=9)
    key = figure.colorbar(filled, ax=list(axes), shrink=0.8, ticks=np.linspace(low, high, 5))
    key.set_label("model output" if regression else "model output (0: orange class, 1: blue class)")
    points = [
        Line2D([], [], ls="", marker="o", mfc="grey", mec="white", label="training points"),
        Line2D([], [], ls="", marker="s", mfc="grey", mec="black", label="test points"),
        Line2D([], [], color="k", lw=0.8, label=f"output {(low + high) / 2:g}"),
    ]
    figure_legend(figure, points, columns=3)
    return figure, "Decision boundaries: the model's output over the (x1, x2) plane (orange negative, blue positive)"
