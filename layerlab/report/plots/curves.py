"""Plots over epochs: learning curves (accuracy and cost) and each layer's gradient norm."""

from __future__ import annotations

import math

import numpy as np

from ...errors import LayerlabError
from ...phrases import count
from ...spec import parse
from ...task import task_named
from ..reading import RunSource, layer_index
from ..row import Row
from .figures import (
    epoch_axis,
    figure_legend,
    lines,
    log_scale,
    new_figure,
    panels,
    run_style,
    seed_shown,
    seeds_shown,
    series,
    wrap,
)

#: Line style, legend and caption words of the learning curves; "test" only for runs without a
#: validation set (Playground).
_SPLITS = {
    "train": ("--", "training", "training dashed"),
    "val": ("-", "validation", "validation solid"),
    "test": (":", "test (no validation set)", "test dotted"),
}


#: With a single epoch, the offset of each split's points from x = 1 (the line styles need two points).
_SINGLE_EPOCH = {"train": -0.15, "val": 0.15, "test": 0.15}


def _histories(run: RunSource) -> list[list[dict]]:
    """The run's epochs; for an ensemble, every member's."""
    if run.ensemble:
        return [member.metrics for member in run.members if member.metrics]
    return [run.metrics] if run.metrics else []


def _label(run: RunSource, histories: list) -> str:
    return f"{run.name} ({len(histories)} members)" if run.ensemble else run.name


def learning_curves(runs: list[RunSource], repeats: dict[str, list[RunSource]] | None = None):
    """Accuracy and cost per epoch: one colour and marker per run (an ensemble's members all in its
    colour), training dashed, validation solid (test dotted for a run without a validation set); the cost
    alone when every run is a regression run (its accuracy means nothing). A run trained several times
    (``repeats``: the shown repeat's name -> every repeat) is drawn as the mean over its seeds with a band
    from the lowest to the highest."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import PercentFormatter

    curves = [(run, histories) for run in runs if (histories := _histories(run))]
    if not curves:
        return None
    longest = max(len(history) for _, histories in curves for history in histories)
    regression = not any(task_named(run.dataset.get("task")).has_classes for run, _ in curves)
    figure = new_figure(7 if regression else 11, 4.4 + 0.3 * len(curves))
    accuracy, cost = (None, figure.subplots()) if regression else figure.subplots(1, 2)
    axes = [ax for ax in (accuracy, cost) if ax is not None]
    measures = [(ax, measure) for ax, measure in ((accuracy, "accuracy"), (cost, "loss")) if ax is not None]
    drawn, legend, windows = set(), [], set()
    banded = {name: seeds for name, seeds in (repeats or {}).items() if len(seeds) > 1}
    for i, (run, histories) in enumerate(curves):
        own = max(len(history) for history in histories)  # a short run's own markers and smoothing, not the longest's
        style = short_run_style(i, own, longest)
        if run.name in banded:
            drawn.update(_mean_and_band(banded[run.name], measures, style))
            shown = {key: value for key, value in style.items() if key not in ("markevery", "zorder")}
            label = f"{run.name.rpartition('#')[0]} (mean of {len(banded[run.name])} seeds; band: lowest to highest)"
            legend.append(Line2D([], [], label=wrap(label, 60), **shown))
            continue
        window = smoothing_window(own, len(curves))
        if window > 1:
            windows.add(window)
        for k, history in enumerate(histories):
            held_out = "val" if np.isfinite(series(history, "val_loss")).any() else "test"
            member = {} if k == 0 else {"linewidth": 1.0, "alpha": 0.45, "markersize": 3}
            for split in ("train", held_out):
                drawn.add(split)
                for ax, measure in measures:
                    values = series(history, f"{split}_{measure}")
                    epochs = series(history, "epoch") + (_SINGLE_EPOCH[split] if longest == 1 else 0)
                    if window > 1:  # every epoch faint underneath, the moving average on top
                        ax.plot(epochs, values, _SPLITS[split][0], color=style["color"], lw=0.7, alpha=0.25)
                        values = moving_average(values, window)
                    label = f"_{run.name} {_SPLITS[split][1]}"  # "_": not in the legend; names the line
                    ax.plot(epochs, values, _SPLITS[split][0], label=label, **(style | member))
        shown = {key: value for key, value in style.items() if key not in ("markevery", "zorder")}
        legend.append(Line2D([], [], label=wrap(_label(run, histories), 60), **shown))
    splits = [_SPLITS[split] for split in _SPLITS if split in drawn]
    if longest > 1:  # one epoch: the split is on the x axis
        legend += [Line2D([], [], color="k", ls=style, label=name) for style, name, _ in splits]
    if accuracy is not None:
        accuracy.set(title="accuracy", ylabel="accuracy")
        accuracy.yaxis.set_major_formatter(PercentFormatter(1))
    cost.set(title="cost (loss)", ylabel="loss")
    spread = _log_scale_wanted(cost)
    if spread:
        cost.set_yscale("log")
    for ax in axes:
        epoch_axis(ax, longest)
        ax.grid(alpha=0.3)
        if longest == 1:  # one point per curve: the split by position, not by line style
            shown = [split for split in _SPLITS if split in drawn]
            names = [_SPLITS[split][1].split(" (")[0] for split in shown]
            ax.set_xticks([1 + _SINGLE_EPOCH[split] for split in shown], names)
            ax.set_xlabel("epoch 1")
    figure_legend(figure, legend)
    caption = f"Learning curves of {count(len(curves), 'run')}: " + ", ".join(words for _, _, words in splits)
    if longest == 1:
        runs = count(len(curves), "run")
        caption = f"Accuracy and cost after the one epoch of {runs}: training and validation side by side"
    if regression:
        caption += "; regression: the cost (mean squared error) only, as accuracy does not apply"
    if spread:
        caption += "; the cost on a log scale, as its values span more than 100 times"
    penalised = dict.fromkeys(
        run.repeat_of or run.name for run, _ in curves if run.settings.get("l1") or run.settings.get("l2")
    )
    if penalised:
        names = ", ".join(penalised)
        caption += f"; the training cost of {names} includes the weight penalty (validation and test: the loss alone)"
    caption += "; each run has its own colour and marker, earlier runs drawn wider so identical curves stay visible"
    if any(run.ensemble for run, _ in curves):
        caption += "; an ensemble shows every member in its colour"
    if any(run.name in banded for run, _ in curves):
        caption += "; a run trained with several seeds: their mean, and a band from the lowest to the highest"
    if windows:
        over = " or ".join(str(window) for window in sorted(windows))
        every = all(smoothing_window(len(h[0]), len(curves)) > 1 for _, h in curves)
        short = "" if every else " (runs of over 30 epochs)"
        caption += f"; faint: every epoch, bold: the average over {over} epochs around it{short}"
    return figure, caption


def _mean_and_band(seeds: list[RunSource], measures: list, style: dict) -> set[str]:
    """The mean over a run's repeats of each epoch's figures, and a band from the lowest to the highest,
    of training and validation (test where there is no validation set, as a Playground task); returns the
    splits drawn."""
    histories = [run.metrics for run in seeds if run.metrics]
    length = min(len(history) for history in histories)
    epochs = series(histories[0][:length], "epoch")
    validated = any(np.isfinite(series(history, "val_loss")).any() for history in histories)
    drawn = set()
    for split in ("train", "val" if validated else "test"):
        for ax, measure in measures:
            values = np.array([series(history[:length], f"{split}_{measure}") for history in histories])
            if not np.isfinite(values).any():
                continue
            drawn.add(split)
            label = f"_{seeds[0].repeat_of or seeds[0].name} {_SPLITS[split][1]}"  # "_": not in the legend
            ax.plot(epochs, np.nanmean(values, axis=0), _SPLITS[split][0], label=label, **style)
            ax.fill_between(
                epochs, np.nanmin(values, axis=0), np.nanmax(values, axis=0), color=style["color"], alpha=0.15
            )
    return drawn


def short_run_style(i: int, points: int, longest: int) -> dict:
    """Run ``i``'s style (``run_style``) with markers spaced for its own ``points`` epochs: a run of a few
    epochs beside runs of 60 gets a marker on every epoch, large enough to see at x = 1 to 3."""
    style = run_style(i, points)
    if points <= 12 < longest:
        style["markersize"] = max(style["markersize"], 7.0)
    return style


def smoothing_window(epochs: int, runs: int) -> int:
    """Epochs averaged in a curve: 1 (none) for a few runs or a short run; for 3 or more runs of over
    30 epochs (Playground's 100 to 1,000 noisy ones) about a twentieth of the epochs, an odd number."""
    if runs < 3 or epochs <= 30:
        return 1
    return max(3, epochs // 20) | 1


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of the finite values in a window of ``window`` epochs centred on each (shorter at the ends)."""
    finite = np.isfinite(values)
    padded = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    half = window // 2
    low = np.clip(np.arange(len(values)) - half, 0, len(values))
    high = np.clip(np.arange(len(values)) + half + 1, 0, len(values))
    number = counts[high] - counts[low]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(number > 0, (padded[high] - padded[low]) / np.maximum(number, 1), np.nan)


def layer_names(run: RunSource) -> dict[str, str]:
    """Weight name -> "layer 2 dense(100)", numbered from 1 as ``layerlab summary`` numbers layers."""
    try:
        layers = parse(run.settings["model"], tuple(run.dataset["input_shape"])).layers
    except (KeyError, TypeError, LayerlabError):
        layers = ()
    names = {}
    for name in {name for epoch in run.metrics for name in epoch.get("grad_norms", {})}:
        index, _, parameter = name.partition(".")
        if not index.isdigit() or int(index) >= len(layers):
            names[name] = name
            continue
        layer = _without_options(str(layers[int(index)]))
        names[name] = f"layer {int(index) + 1} {layer}" + ("" if parameter == "weight" else f" {parameter}")
    return names


def _without_options(layer: str) -> str:
    """ "conv(256, 3, padding=same, bias=false)" -> "conv(256, 3)", "batchnorm(momentum=0.4)" -> "batchnorm":
    a legend names the layer, its options would not fit beside a panel."""
    kind, _, arguments = layer.partition("(")
    kept = [a for a in arguments.removesuffix(")").split(", ") if a and "=" not in a]
    return f"{kind}({', '.join(kept)})" if kept else kind


def _legend_columns(names: dict[str, str]) -> int:
    return 1 if len(names) <= 8 else 2  # a deep network's layers in two columns


def gradient_norms(runs: list[RunSource], rows: dict[str, Row] | None = None):
    """Mean gradient norm of each layer's weights per epoch on one log scale; early layers dark; a panel of a
    repeated run (``rows``: shown run -> its row) says which of its seeds it shows."""
    import matplotlib

    found = [run for run in runs if run.metrics and run.metrics[0].get("grad_norms") and _trained_by_gradients(run)]
    if not found:
        return None
    names_of = [layer_names(run) for run in found]
    named = [seed_shown((rows or {}).get(run.name)) or run.name for run in found]
    titles = [wrap(f"{name} (member 1)" if run.ensemble else name, 40) for run, name in zip(found, named, strict=True)]
    legend_rows = max(math.ceil(len(names) / _legend_columns(names)) for names in names_of)
    extra = 0.19 * (legend_rows + max(map(lines, titles))) + 0.5
    figure, axes = panels(len(found), 3.6, columns=3, extra=extra, sharey=True)
    for ax, run, names, title in zip(axes, found, names_of, titles, strict=True):
        history = run.metrics
        layers = sorted(names, key=layer_index)
        shades = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(layers)))
        for layer, shade in zip(layers, shades, strict=True):
            norms = [epoch.get("grad_norms", {}).get(layer, np.nan) for epoch in history]
            ax.plot(series(history, "epoch"), norms, marker="o", markersize=3, color=shade, label=names[layer])
        ax.set(title=title)
        ax.title.set_fontsize(9)
        epoch_axis(ax, len(history))
        below = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.2), "frameon": False}
        ax.legend(fontsize=7, ncols=_legend_columns(names), **below)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("mean gradient norm")
    for ax in axes:
        log_scale(ax)
    figure.suptitle("Gradient norm of each layer's weights per epoch")
    caption = (
        "Gradient norm of each layer's weights per epoch (mean over the epoch's steps; one log scale for all "
        "panels; layers numbered as `layerlab summary` numbers them)"
    )
    return figure, caption + seeds_shown(found, rows)


def _log_scale_wanted(ax) -> bool:
    """Whether the losses drawn on ``ax`` are all positive and span more than 100 times: on a linear axis the
    largest (a degree-15 polynomial's 1e5) would flatten every other curve onto zero."""
    values = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()] or [np.zeros(0)])
    values = values[np.isfinite(values)]
    return bool(len(values) and values.min() > 0 and values.max() > 100 * values.min())


def _trained_by_gradients(run: RunSource) -> bool:
    """Whether a run's gradients are worth a plot: not an exact fit's (a least-squares polynomial's are
    rounding errors, 1e-15 to 1e-11, at the solution it was set to)."""
    norms = [value for epoch in run.metrics for value in (epoch.get("grad_norms") or {}).values()]
    return any(np.isfinite(value) and value > 1e-9 for value in norms)
