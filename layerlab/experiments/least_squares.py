"""The textbook fit of a linear model: least squares, the point gradient descent converges to.

A run with ``fit = "least-squares"`` (an experiment file's run key) is a model of one ``dense`` layer with
the mean squared error, e.g. the polynomial y = w1 x + ... + wd x^d + b on the curve's features. Its
weights are the least-squares solution of the training set (``numpy.linalg.lstsq``: the minimum-norm one
where the features are collinear), set before each training pass and again after it, so that the loss the
pass logs and every evaluation are those of the converged fit, whatever the optimiser would have done.
Gradient descent reaches the same point only slowly where the features are nearly collinear (x^9 and
x^15 on [-1, 1]): its runs after a fixed number of epochs show that, not overfitting.
"""

from __future__ import annotations

import numpy as np

from ..errors import LayerlabError
from ..hooks import Hook

FITS = ("gradient-descent", "least-squares")


class LeastSquares(Hook):
    """Holds a one-dense-layer model at the least-squares fit of its training split."""

    def on_fit_start(self, loop) -> None:
        layers = [layer for layer in loop.spec.layers if layer.kind != "input"]
        if len(layers) != 1 or layers[0].kind != "dense" or loop.config.loss != "mse":
            raise LayerlabError(
                f'fit = "least-squares" needs a model of one dense layer and loss = "mse", got {loop.spec} '
                f"with loss {loop.config.loss}: use gradient descent for it"
            )
        x = np.asarray(loop.dataset.train.x, dtype=np.float64).reshape(len(loop.dataset.train.x), -1)
        y = np.asarray(loop.dataset.train.y, dtype=np.float64).reshape(len(x), -1)
        names = sorted(loop.trainable.weights())
        bias = any(name.endswith(".bias") for name in names)
        design = np.c_[x, np.ones(len(x))] if bias else x
        solution, *_ = np.linalg.lstsq(design, y, rcond=None)
        weight = next(n for n in names if n.endswith(".weight"))
        self.state = {weight: solution[: x.shape[1]].T.copy()}
        if bias:
            self.state[weight.removesuffix(".weight") + ".bias"] = solution[x.shape[1]].copy()

    def _hold(self, loop) -> None:
        current = loop.trainable.weights()
        loop.trainable.load_weights(current | {k: v.astype(current[k].dtype) for k, v in self.state.items()})

    def on_epoch_start(self, loop, epoch: int) -> None:
        self._hold(loop)

    def on_epoch_trained(self, loop, epoch: int, stats) -> None:
        self._hold(loop)
