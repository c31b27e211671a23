"""Decision boundaries of the 2D Playground sets: the model's output over the plane, with the points."""

from __future__ import annotations

import numpy as np

from ...task import task_named
from ..reading import RunSource
from ..row import Row
from .figures import figure_legend, lines, panels, seed_shown, seeds_shown, wrap

#: TensorFlow Playground's colours: orange for negative (class 0), blue for positive (class 1).
PLAYGROUND_COLOURS = ("#f59322", "#e8eaeb", "#0877bd")
#: What the colours mean, in the colour key's words and the caption's: a class, or a regression's sign.
CLASS_COLOURS = "0: orange class, 1: blue class"
SIGN_COLOURS = "orange negative, blue positive"


def decision_boundaries(runs: list[RunSource], rows: dict[str, Row] | None = None):
    """The model's output over the (x1, x2) plane in Playground's colours, with training and test points;
    one colour key for all panels (classification: 0 to 1; regression: symmetric around 0). A panel of a
    repeated run (``rows``: shown run -> its row) says which of its seeds it shows."""
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
    titles = [wrap(seed_shown((rows or {}).get(run.name)) or run.name, 34) for run, _ in found]
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
    meaning = SIGN_COLOURS if regression else CLASS_COLOURS
    key.set_label(f"model output ({meaning})")
    points = [
        Line2D([], [], ls="", marker="o", mfc="grey", mec="white", label="training points"),
        Line2D([], [], ls="", marker="s", mfc="grey", mec="black", label="test points"),
        Line2D([], [], color="k", lw=0.8, label=f"output {(low + high) / 2:g}"),
    ]
    figure_legend(figure, points, columns=3)
    caption = f"Decision boundaries: the model's output over the (x1, x2) plane ({meaning})"
    return figure, caption + seeds_shown([run for run, _ in found], rows)
