"""Finite-difference gradient checks: the numerical truth that every ``backward`` is tested against."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..spec import Spec, SpecError
from .layer import Layer


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to ``x`` (changed in place, then restored)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(1, |a|, |b|): close to 0 when two gradients agree."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(1.0, np.max(np.abs(a)), np.max(np.abs(b))))


def check_layer(
    layer: Layer, x: np.ndarray, training: bool = False, seed: int = 0, eps: float = 1e-6
) -> dict[str, float]:
    """Compare a layer's analytic gradients with central differences, in float64.

    The loss is sum(forward(x) * r) for a fixed random r, so every output element matters. The loss
    must be a deterministic function of x: ``Dropout`` draws a new mask on every training forward, so
    check it in your own loop that reseeds its ``rng`` before each forward. Returns the relative error
    for the input ("x") and for each parameter.
    """
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(layer.forward(x, training).shape)

    def loss() -> float:
        return float(np.sum(layer.forward(x, training) * r))

    loss()
    dx = layer.backward(r.copy())
    errors = {"x": relative_error(dx, numerical_gradient(loss, x, eps))}
    analytic = {name: g.copy() for name, g in layer.grads.items()}
    for name, p in layer.params.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, p, eps))
    return errors


def check_model(
    model, x: np.ndarray, y: np.ndarray, entries: int = 20, seed: int = 0, eps: float = 1e-6, training: bool = True
) -> dict[str, float]:
    """Compare a model's backpropagated gradients with central differences of its loss.

    Checks up to ``entries`` randomly chosen entries of every parameter (all of them when fewer), so
    it stays quick for large layers. Build the model in float64. The loss must be a deterministic
    function of the weights, so dropout keeps one fixed mask throughout: the model's generator (the
    one behind every dropout mask) is rewound before each forward pass. ``training=False`` checks the
    network as it predicts (dropout off or scaled by 1 - p, batch norm on its running averages).
    Returns the relative error per parameter.
    """
    rng = np.random.default_rng(seed)
    masks = model.rng.bit_generator.state

    def loss() -> float:
        model.rng.bit_generator.state = masks  # the same dropout masks in every pass
        return float(model.loss.forward(model.forward(x, training), y))

    loss()
    model.backward(model.loss.backward())
    analytic = {name: g.copy() for name, g in model.grads.items()}
    errors = {}
    for name, p in model.params.items():
        flat = p.reshape(-1)
        picked = rng.choice(flat.size, size=min(entries, flat.size), replace=False)
        numeric = np.empty(len(picked))
        for j, i in enumerate(picked):
            old = flat[i]
            flat[i] = old + eps
            up = loss()
            flat[i] = old - eps
            down = loss()
            flat[i] = old
            numeric[j] = (up - down) / (2 * eps)
        errors[name] = relative_error(analytic[name].reshape(-1)[picked], numeric)
    model.rng.bit_generator.state = masks
    return errors


@dataclass
class ModelCheck:
    """The outcome of ``check_spec``: the relative error of every parameter, and how it was measured."""

    spec: Spec
    errors: dict[str, float]  #: relative error per parameter ("{layer index}.{name}")
    tolerance: float
    how: str  #: the batch, loss and number of entries, in words
    notes: tuple[str, ...] = ()  #: what was held fixed (dropout masks), in words

    @property
    def worst(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def ok(self) -> bool:
        return self.worst < self.tolerance

    def report(self) -> str:
        """One line per parameter and a verdict, as ``layerlab gradcheck`` prints them."""
        lines = [f"model: {self.spec}", f"finite-difference check of backprop ({self.how})", *self.notes, ""]
        width = max((len(n) for n in self.errors), default=0)
        for name, err in self.errors.items():
            layer = self.spec.layers[int(name.split(".")[0])]
            verdict = "ok" if err < self.tolerance else "MISMATCH"
            lines.append(f"  {name:<{width}}  {str(layer):<28}  relative error {err:.2e}  {verdict}")
        verdict = "all gradients agree" if self.ok else "gradients DISAGREE"
        lines.append(f"\n{verdict}: worst relative error {self.worst:.2e} (tolerance {self.tolerance:.0e})")
        return "\n".join(lines)


def check_spec(
    spec: Spec,
    *,
    batch: int = 3,
    loss: str = "cross_entropy",
    entries: int = 20,
    seed: int = 0,
    tolerance: float = 1e-6,
    training: bool = True,
) -> ModelCheck:
    """Build ``spec`` in float64 with ``seed``, draw a random batch and labels, and check every parameter."""
    from .model import build

    if batch < 1 or entries < 1:
        raise SpecError(f"gradcheck needs batch >= 1 and entries >= 1, got batch={batch}, entries={entries}")
    if not (tolerance > 0 and math.isfinite(tolerance)):
        raise SpecError(f"the tolerance must be a positive number such as 1e-6, got {tolerance}")
    model = build(spec, seed=seed, dtype=np.float64, loss=loss)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *model.spec.input_shape))
    classes = model.spec.output_shape()[0]
    y = rng.integers(0, classes, size=batch) if loss != "bce" else rng.integers(0, 2, size=(batch, classes))
    errors = check_model(model, x, y, entries=entries, seed=seed, training=training)
    mode = "training mode" if training else "test mode"
    how = f"float64, batch {batch}, loss {loss}, up to {entries} entries per parameter, {mode}"
    dropouts = [str(layer) for layer in spec.layers if layer.kind == "dropout" and layer.args["p"] > 0]
    notes = ()
    if dropouts and training:
        notes = (
            f"{', '.join(dropouts)}: one fixed random mask for the whole check (the loss must not change "
            "between the two sides of a difference)",
        )
    return ModelCheck(spec.with_input(model.spec.input_shape), errors, tolerance, how, notes)
