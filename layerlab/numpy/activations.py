"""Activation functions: the non-linearities between layers, each with its derivative.

None has parameters. ``forward`` caches what the derivative needs (the input, or the output when the
derivative is easier to write with it: sigma' = y (1 - y), tanh' = 1 - y^2), and ``backward``
multiplies dL/dy by that local derivative (the chain rule, as in Matt Mazur's "A Step by Step
Backpropagation Example"); element-wise layers work on inputs of any shape, maxout and softmax act
along axis 1.

Each class also carries its formula as text, for ``layerlab explain`` to print beside the numbers:
``formula`` is y = f(e) with ``{e}`` for the net input, ``derivative`` the local derivative f'(e) with
``{e}`` and ``{y}`` (None where there is no single one: softmax couples its outputs, maxout passes the
largest piece).
"""

from __future__ import annotations

import numpy as np

from ..errors import EngineError
from .layer import Layer


class Step(Layer):
    """The perceptron's threshold: y = 1 where x > 0, else 0 (Nielsen, "Neural Networks and Deep Learning", ch. 1).

    It cannot be trained by gradient descent: its derivative is 0 wherever it exists (and undefined at
    x = 0), so ``backward`` returns zeros and no error signal reaches the weights before it; a small
    change of a weight changes the output not at all, or by a whole jump. A perceptron such as
    g(1 + 3 x1 - 2 x2) therefore uses it only to draw a decision line; backpropagation needs a
    smooth g such as the sigmoid.
    """

    formula = "1 if {e} > 0 else 0"
    derivative = "0"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return (x > 0).astype(x.dtype)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return np.zeros_like(dy)


class Linear(Layer):
    """The identity, f(x) = x: a stack of linear layers with it stays one linear map.

    Hence the nonlinear activations (Goodfellow et al., "Deep Learning", ch. 6).
    """

    formula = "{e}"
    derivative = "1"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy


class Sigmoid(Layer):
    """The logistic function sigma(x) = 1 / (1 + e^-x); sigma'(x) = sigma(x) (1 - sigma(x)).

    Computed from e^-|x|, which never overflows: 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0.
    """

    formula = "1 / (1 + e^-{e})"
    derivative = "{y} (1 - {y})"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        e = np.exp(-np.abs(x))
        self.y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * self.y * (1 - self.y)


class Tanh(Layer):
    """tanh(x), a sigmoid rescaled to (-1, 1); tanh'(x) = 1 - tanh(x)^2."""

    formula = "tanh({e})"
    derivative = "1 - {y}^2"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * (1 - self.y**2)


class ReLU(Layer):
    """max(0, x); its derivative is 1 for x > 0 and 0 otherwise (0 at x = 0, as in PyTorch)."""

    formula = "max(0, {e})"
    derivative = "1 if {e} > 0 else 0"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.positive = x > 0
        return x * self.positive

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * self.positive


class LeakyReLU(Layer):
    """x for x > 0, slope * x otherwise: max(slope x, x) for slope < 1 (Maas et al. 2013 use 0.01).

    The small slope keeps a gradient flowing for negative inputs, where a ReLU passes none (Maas et al. 2013).
    """

    formula = "{e} if {e} > 0 else slope * {e}"
    derivative = "1 if {e} > 0 else slope"

    def __init__(self, slope: float = 0.01):
        super().__init__()
        self.slope = slope

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.positive = x > 0
        return np.where(self.positive, x, self.slope * x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return np.where(self.positive, dy, self.slope * dy)


class ELU(Layer):
    """x for x > 0, alpha (e^x - 1) otherwise; the derivative there is alpha e^x = y + alpha."""

    formula = "{e} if {e} > 0 else alpha (e^{e} - 1)"
    derivative = "1 if {e} > 0 else {y} + alpha"

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.positive = x > 0
        self.y = np.where(self.positive, x, self.alpha * np.expm1(np.minimum(x, 0)))
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return np.where(self.positive, dy, dy * (self.y + self.alpha))


class Maxout(Layer):
    """The maximum over each group of k consecutive features, max(w1^T x + b1, w2^T x + b2, ...).

    Goodfellow et al. 2013, "Maxout Networks".

    Put a dense (or conv) layer with k times the units before it: an (N, F) input gives (N, F/k), an
    (N, C, H, W) input gives (N, C/k, H, W), grouped as PyTorch's ``x.view(N, F // k, k).max(-1)``. The
    gradient goes only to the piece that won (the first one on a tie).
    """

    formula = "max of the pieces"
    derivative = None

    def __init__(self, k: int):
        super().__init__()
        if k < 1:
            raise EngineError(f"maxout needs k >= 1 pieces per unit, got k={k}")
        self.k = k

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        n, f, *rest = x.shape
        if f % self.k:
            raise EngineError(
                f"maxout({self.k}) needs a feature/channel count divisible by {self.k}, got input shape {x.shape}; "
                f"give the layer before it a multiple of {self.k} units"
            )
        groups = x.reshape(n, f // self.k, self.k, *rest)
        self.winner = groups.argmax(axis=2)[:, :, None]
        self.x_shape = x.shape
        return np.take_along_axis(groups, self.winner, axis=2)[:, :, 0]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        n, f, *rest = self.x_shape
        dgroups = np.zeros((n, f // self.k, self.k, *rest), dtype=dy.dtype)
        np.put_along_axis(dgroups, self.winner, dy[:, :, None], axis=2)
        return dgroups.reshape(self.x_shape)


class Softmax(Layer):
    """y_i = e^x_i / sum_j e^x_j over axis 1: the features of each example become probabilities.

    Shifting x by its row maximum first leaves y unchanged and keeps e^x from overflowing. The Jacobian
    dy_i/dx_j = y_i (delta_ij - y_j) couples all outputs, so backward is the full Jacobian-vector product
    dx = y * (dy - sum_j dy_j y_j).
    """

    formula = "e^{e} / sum of e^net over the layer"
    derivative = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.y = e / e.sum(axis=1, keepdims=True)
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.y * (dy - np.sum(dy * self.y, axis=1, keepdims=True))
