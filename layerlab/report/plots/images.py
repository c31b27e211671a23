"""Plots of the best run's test predictions and first-layer filters: confusion matrix, misclassified
images, filters."""

from __future__ import annotations

import math

import numpy as np

from ...task import task_named
from ..reading import RunSource
from ..row import Row
from .figures import image_grid, new_figure, seed_shown, wrap


def _class_names(run: RunSource, count: int) -> list[str]:
    names = [str(name) for name in run.dataset.get("classes", [])]
    return names + [str(i) for i in range(len(names), count)]


def _is_classification(run: RunSource, predictions: dict[str, np.ndarray]) -> bool:
    return task_named(run.dataset.get("task")).has_classes and "proba" in predictions


def confusion_matrix(run: RunSource, predictions: dict[str, np.ndarray], row: Row | None = None):
    """Counts of (true class, predicted class) on the test set, the diagonal being the correct ones."""
    if not _is_classification(run, predictions):
        return None
    y_true, y_pred = predictions["y_true"].astype(int), predictions["y_pred"].astype(int)
    names = _class_names(run, max(y_true.max(), y_pred.max()) + 1)
    k = len(names)
    counts = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    size = 2.5 + 0.45 * k
    figure = new_figure(size, size)
    ax = figure.subplots()
    ax.imshow(counts, cmap="Blues")
    if k <= 20:
        for (i, j), count in np.ndenumerate(counts):
            colour = "white" if count > counts.max() / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=9 if k <= 10 else 7, color=colour)
    if max(map(len, names)) > 2:  # words (CIFAR-10's classes) rather than digits
        ax.set_xticks(range(k), names, rotation=90)
    else:
        ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set(xlabel="predicted", ylabel="true")
    font = 12 if k >= 5 else 10  # readable at the matrix's size (10 classes: 7 inches)
    ax.set_title(wrap(f"{run.name}: {np.mean(y_true == y_pred):.2%} correct", int(size * 100 / font)), fontsize=font)
    return figure, f"Confusion matrix of {_which(run, row)}: {len(y_true):,} test examples"


def _as_image(x: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A (channels, height, width) input as imshow takes it: grey (dark ink) or RGB."""
    if x.shape[0] != 3:
        return x[0], "gray_r"
    rgb = x.transpose(1, 2, 0)
    if rgb.dtype == np.uint8:
        return rgb, None
    return (rgb - rgb.min()) / max(float(np.ptp(rgb)), 1e-12), None


def misclassified(run: RunSource, predictions: dict[str, np.ndarray], row: Row | None = None):
    """The misclassified test images the runner kept (up to 36), titled with the true class over the
    predicted one; the panels as wide as the longest class name needs."""
    images = predictions.get("mis_x")
    if not _is_classification(run, predictions) or images is None or images.ndim != 4 or not len(images):
        return None
    true, predicted = predictions["mis_true"].astype(int), predictions["mis_pred"].astype(int)
    names = _class_names(run, max(true.max(), predicted.max()) + 1)
    longest = max(len(names[i]) for i in (*true, *predicted))
    width = max(1.1, 0.085 * (longest + 2) + 0.2)
    figure, axes = image_grid(len(images), math.ceil(math.sqrt(len(images))), width, 1.6)
    for ax, image, t, p in zip(axes, images, true, predicted, strict=True):
        pixels, colours = _as_image(image)
        ax.imshow(pixels, cmap=colours)
        ax.set_title(f"{names[t]}\n→ {names[p]}", fontsize=8, linespacing=1.1)
    columns = math.ceil(math.sqrt(len(images)))
    figure.suptitle(wrap(f"{run.name}: true class → predicted class", int(width * columns * 11)), fontsize=9)
    total = int(np.sum(predictions["y_true"] != predictions["y_pred"]))
    shown = seed_shown(row) or run.name
    return figure, f"{len(images)} of the {total} misclassified test images of {shown} (true -> predicted)"


def filters(run: RunSource, row: Row | None = None):
    """The first layer's filters: for grey inputs darker is more positive (the slides' way), on one scale."""
    weight = run.first_conv_weight()
    if weight is None:
        return None
    count, channels, k = weight.shape[0], weight.shape[1], weight.shape[2]
    figure, axes = image_grid(count, min(count, 10), 0.9, 0.95)
    limit = float(np.abs(weight).max()) or 1.0
    for ax, kernel in zip(axes, weight, strict=True):
        if channels == 3:
            ax.imshow(_as_image(kernel)[0])
        else:
            ax.imshow(kernel[0], cmap="gray_r", vmin=-limit, vmax=limit)
    figure.suptitle(wrap(f"{run.name}: first-layer filters", int(0.9 * min(count, 10) * 11)), fontsize=9)
    shown = "in colour, each on its own scale" if channels == 3 else "darker is more positive"
    if channels not in (1, 3):
        shown += f"; input channel 1 of {channels}"
    return figure, f"The {count} first-layer filters ({k}x{k}) of {_which(run, row)} ({shown})"


def _which(run: RunSource, row: Row | None = None) -> str:
    """The run a picture shows, in words: the run of best validation accuracy of its exercise, and of a run
    trained with several seeds (its ``row``), the seed the row shows, of how many, and their mean (without
    the row: the seed its row shows)."""
    value = run.result.get("best_val_accuracy")
    validated = isinstance(value, int | float) and not math.isnan(value)
    seeds = seed_shown(row)
    if seeds is not None:
        return f"{seeds}; {row.run} is the run of best validation accuracy" if validated else seeds
    if not validated:  # no validation set (a Playground task): alone
        return run.name
    if run.repeat_of:
        return f"{run.name}, the seed of {run.repeat_of} its row shows (the run of best validation accuracy)"
    return f"{run.name}, the run of best validation accuracy"
