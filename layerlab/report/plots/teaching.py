"""The teaching experiments' figures: model capacity, gradient norms by layer, the activation gallery.

``capacity``, ``gradients_by_layer`` and ``activations_for`` draw one exercise of an experiment: they
take its runs and return (figure, caption), or None when the figure does not apply;
``activation_gallery`` is the stand-alone figure of ``layerlab plot activations``: every activation
function of the numpy engine and its derivative, both computed by the engine's layers (the
derivative is the layer's ``backward`` applied to ones), as in Nielsen's "Neural Networks and Deep
Learning", chapters 3 and 5.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...spec import KINDS, parse
from ..reading import layer_index
from .figures import figure_legend, grid_shape, lines, log_scale, new_figure, panels, run_colour, seeds_shown, wrap

#: The gallery's activations in order, with the settings drawn (maxout: max of x and -x/2 + 1/2).
GALLERY = ("step", "linear", "sigmoid", "tanh", "relu", "leakyrelu", "elu", "maxout")
_SETTINGS = {"leakyrelu": "leakyrelu(0.1)", "elu": "elu(1.0)", "maxout": "maxout(2)"}
_TITLES = {
    "step": "step: 1 if x > 0 else 0",
    "linear": "linear: f(x) = x",
    "sigmoid": "sigmoid: 1 / (1 + e^-x)",
    "tanh": "tanh(x)",
    "relu": "ReLU: max(0, x)",
    "leakyrelu": "leaky ReLU: max(0.1 x, x)",
    "elu": "ELU: x, or e^x - 1 where x < 0",
}


def _config(run) -> dict[str, Any]:
    return run.settings or {}


# ---------------------------------------------------------------------------------------------------
# Activation functions and their derivatives
# ---------------------------------------------------------------------------------------------------


def activation_curve(kind: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """(f(x), f'(x), label) from the numpy engine's layer of ``kind``."""
    from ...numpy.model import make_layer

    text = _SETTINGS.get(kind, kind)
    if kind == "maxout":  # two linear pieces per unit: w1 x + b1 = x and w2 x + b2 = -x/2 + 1/2
        spec = parse(f"input(1) dense(2) {text}")
        model_input = x[:, None]
        from ...numpy import build

        net = build(spec, dtype=np.float64, loss="mse")
        net.load_state_dict({"0.weight": [[1.0], [-0.5]], "0.bias": [0.0, 0.5]})
        y = net.forward(model_input)
        dx = net.backward(np.ones_like(y))
        return y[:, 0], dx[:, 0], "maxout: max(x, -x/2 + 1/2)"
    resolved = parse(f"input(1) {text}").resolve()[0]
    layer = make_layer(resolved, {}, np.random.default_rng(0))
    y = layer.forward(x[:, None].copy(), training=False)
    dx = layer.backward(np.ones_like(y))
    return y[:, 0], dx[:, 0], _TITLES.get(kind, f"{text}: {KINDS[kind].help}")


def activation_gallery(kinds: tuple[str, ...] = GALLERY):
    """Each activation (solid) and its derivative (dashed) on [-4, 4], one panel each: the Figure."""
    x = np.linspace(-4, 4, 801)
    rows, columns = grid_shape(len(kinds), 4)  # as many columns as panels fill: no blank third
    title = "Activation functions f (solid) and their derivatives f' (dashed), from the numpy engine"
    title = wrap(title, int(3.2 * columns * 8))
    figure = new_figure(3.2 * columns, 2.8 * rows + 0.25 * lines(title))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(kinds) :]:
        ax.set_visible(False)
    for ax, kind in zip(axes, kinds, strict=False):
        y, dy, label = activation_curve(kind, x)
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.plot(x, y, color="C0", lw=2, label="f(x)")
        ax.plot(x, dy, color="C3", lw=1.5, ls="--", label="f'(x)")
        ax.set_title(label, fontsize=10)
        ax.set(xlabel="x", ylabel="f(x), f'(x)")
        ax.set_ylim(-1.6, 4.1 if kind in ("linear", "relu", "leakyrelu", "elu", "maxout") else 1.6)
        ax.legend(fontsize=8, loc="upper left")
    figure.suptitle(title)
    return figure


def activations_for(runs: list):
    """The gallery of the activations an exercise compares (its runs' models differ in activations)."""
    kinds: list[str] = []
    for run in runs:
        model = _config(run).get("model", "")
        try:
            spec = parse(model)
        except Exception:  # a run of an older layerlab or a layer of your own: no gallery
            return None
        kinds += [item.kind for item in spec.layers if item.kind in GALLERY and item.kind != "linear"]
    kinds = list(dict.fromkeys(kinds))
    if len(kinds) < 2:
        return None
    caption = f"The activations compared: {', '.join(kinds)} (solid) and their derivatives (dashed)"
    return activation_gallery(tuple(kinds)), caption


# ---------------------------------------------------------------------------------------------------
# Gradient norm by layer
# ---------------------------------------------------------------------------------------------------


def gradients_by_layer(runs: list, rows: dict | None = None):
    """Mean gradient norm of each weight layer, the layer on the x axis: first epoch solid, last dashed; one
    panel per architecture (the layers with weights), so that layer 4 of one network is never drawn as layer 4
    of another; each tick names its layer. A repeated run's seed is named in the caption (``rows``: shown run
    -> its row)."""
    from .curves import layer_names

    found = [(run, h) for run in runs if (h := run.metrics) and h[0].get("grad_norms")]
    if not found or max(len(h[0]["grad_norms"]) for _, h in found) < 4:
        return None  # a plot by layer needs a deep network
    architectures: dict[tuple[str, ...], list[int]] = {}  # the layers' names -> the runs drawn with them
    for i, (run, history) in enumerate(found):
        names = layer_names(run)
        layers = tuple(names.get(name, name) for name in sorted(history[0]["grad_norms"], key=layer_index))
        architectures.setdefault(layers, []).append(i)
    titles = [wrap(", ".join(found[i][0].name for i in members), 48) for members in architectures.values()]
    size = 7.0 if len(architectures) == 1 else 4.2  # inches a panel is wide
    vertical = size / max(map(len, architectures)) < 0.8  # a deep network's names upright, to fit side by side
    below = 0.09 * max(len(name) for names in architectures for name in names) if vertical else 0.5
    extra = 0.2 * max(map(lines, titles)) + below
    figure, axes = panels(len(architectures), size, columns=3, extra=extra, sharey=True)
    width, height = figure.get_size_inches()
    squat = 2.8 if len(architectures) == 1 else 0.0  # one panel as wide as the page, not as tall
    figure.set_size_inches(width, height - squat + 0.15 * len(found))  # the legend: a line per run and epoch
    handles = []
    for ax, (layers, members), title in zip(axes, architectures.items(), titles, strict=True):
        positions = range(1, len(layers) + 1)
        for i in members:
            run, history = found[i]
            weights = sorted(history[0]["grad_norms"], key=layer_index)
            for epoch, style in ((history[0], "-"), (history[-1], "--")):
                norms = [epoch.get("grad_norms", {}).get(name, math.nan) for name in weights]
                label = wrap(f"{run.name}, epoch {epoch.get('epoch', '?')}", 50)
                handles += ax.plot(positions, norms, style, marker="o", markersize=3, color=run_colour(i), label=label)
        if vertical:  # "layer 3 conv(64, 3)" upright
            ax.set_xticks(list(positions), layers, rotation=90, fontsize=7)
        else:  # "layer 3" over "conv(64, 3)"
            ax.set_xticks(list(positions), [name.replace(" ", "\n", 1) for name in layers], fontsize=8)
        ax.set_xlim(0.5, len(layers) + 0.5)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("layer with weights, from the input")
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("mean gradient norm of the weights")
    for ax in axes:
        log_scale(ax)
    figure_legend(figure, handles)  # under the panels: long run names fit
    split = len(architectures) > 1
    title = "Gradient norm by layer: first epoch solid, last epoch dashed"
    figure.suptitle(title + ("; one panel per architecture" if split else ""))
    caption = (
        "Gradient norm of each layer's weights, the layer on the x axis (log scale; layers numbered as "
        "`layerlab summary` numbers them): where it falls towards the input, the early layers learn slowly "
        "(the vanishing gradient)"
    )
    if split:
        caption += "; networks of different layers in panels of their own"
    return figure, caption + seeds_shown([run for run, _ in found], rows)


# ---------------------------------------------------------------------------------------------------
# Model capacity
# ---------------------------------------------------------------------------------------------------


def _fitted(run, x: np.ndarray, degree: int) -> np.ndarray | None:
    """The run's model (its last weights, in the numpy engine) over the points x."""
    from ...data.curve import features
    from ...numpy import build

    if not run.rundir.weights_file("last").is_file():
        return None  # a failed run: its curve is left out
    state, _ = run.rundir.load_weights("last")
    model = build(parse(_config(run)["model"], (degree,)), dtype=np.float64, state=state)
    return model.forward(features(x, degree).astype(np.float64))[:, 0]


def capacity(runs: list):
    """Training and validation error against capacity, and each model's fitted curve over the data."""
    from ...data import curve

    runs = [run for run in runs if _config(run).get("data") == "curve" and run.metrics]
    if not runs:
        return None
    figure = new_figure(12, 4.6)
    left, right = figure.subplots(1, 2)
    labels = [run.name for run in runs]
    last = [run.metrics[-1] for run in runs]
    positions = np.arange(len(runs))
    left.plot(positions, [h.get("train_loss", math.nan) for h in last], "o--", label="training error")
    left.plot(positions, [h.get("val_loss", math.nan) for h in last], "o-", label="validation error")
    left.plot(positions, [h.get("test_loss", math.nan) for h in last], "s-", label="test error (200 points)")
    left.set(ylabel="mean squared error (after the last epoch)", xlabel="capacity (growing ->)")
    left.set_xticks(positions, labels, rotation=30, ha="right", fontsize=8)
    noise = float((_config(runs[0]).get("data_options") or {}).get("noise", 0.25))
    left.axhline(noise**2, color="0.6", ls=":", label=f"noise variance {noise**2:g}")
    log_scale(left)
    left.legend(fontsize=8)
    left.set_title("Underfitting (left) and overfitting (right)")
    options = _config(runs[0]).get("data_options") or {}
    data = curve.make(degree=1, n=options.get("n", 20), noise=noise, seed=_config(runs[0]).get("seed", 0))
    xs = np.linspace(-1, 1, 300)
    right.scatter(data.info["curve"]["train"], data.train.y[:, 0], color="k", s=18, zorder=3, label="training points")
    right.scatter(data.info["curve"]["val"], data.val.y[:, 0], color="0.6", s=12, zorder=2, label="validation points")
    right.plot(xs, curve.truth(xs), color="k", ls=":", lw=1.2, label="the true curve")
    for i, run in enumerate(runs):
        degree = int((_config(run).get("data_options") or {}).get("degree", 1))
        fit = _fitted(run, xs.astype(np.float32), degree)
        if fit is not None:
            right.plot(xs, fit, color=f"C{i % 10}", lw=1.4, label=run.name)
    right.set(ylim=(-2.5, 2.5), xlabel="x", ylabel="y", title="The fitted curves over the data")
    right.legend(fontsize=7, ncol=2, loc="lower right")
    return figure, (
        "Model capacity: training, validation and test error side by side as capacity grows (log scale); "
        "right: the fitted curves over the noisy points"
    )
