"""Finite-difference gradient checks: the numerical truth that every ``backward`` is tested against."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

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
    model, x: np.ndarray, y: np.ndarray, entries: int = 20, seed: int = 0, eps: float = 1e-6
) -> dict[str, float]:
    """Compare a model's backpropagated gradients with central differences of its loss.

    Checks up to ``entries`` randomly chosen entries of every parameter (all of them when fewer), so
    it stays quick for large layers. Build the model in float64 and keep dropout out (or p=0): the
    loss must be a deterministic function of the weights. Returns the relative error per parameter.
    """
    rng = np.random.default_rng(seed)
    model.loss_and_grads(x, y)
    analytic = {name: g.copy() for name, g in model.grads.items()}
    errors = {}
    for name, p in model.params.items():
        flat = p.reshape(-1)
        picked = rng.choice(flat.size, size=min(entries, flat.size), replace=False)
        numeric = np.empty(len(picked))
        for j, i in enumerate(picked):
            old = flat[i]
            flat[i] = old + eps
            up = model.loss.forward(model.forward(x, training=True), y)
            flat[i] = old - eps
            down = model.loss.forward(model.forward(x, training=True), y)
            flat[i] = old
            numeric[j] = (up - down) / (2 * eps)
        errors[name] = relative_error(analytic[name].reshape(-1)[picked], numeric)
    return errors
