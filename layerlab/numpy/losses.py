"""Losses: one number that says how wrong a batch of outputs is, and its gradient for backprop.

Every loss has ``forward(output, target) -> float`` (the mean over the batch), ``backward()`` (dL/d
output of the last forward), and ``probabilities(output)`` (class probabilities, for accuracy and
predictions). Targets are class indices (N,) or rows of targets shaped like the output; the
squared-error losses turn class indices into one-hot rows of the output's width.

- ``cross_entropy``: softmax + negative log-likelihood from logits, computed stably with
  log-softmax (x - max - log sum e^(x - max)); the gradient is the famous softmax(x) - t.
- ``nll``: negative log-likelihood of outputs that already are probabilities (after a softmax layer).
- ``mse``: mean of (output - target)^2 over all elements, as torch.nn.MSELoss.
- ``sse``: 1/2 sum over outputs of (target - output)^2, averaged over the batch: the E of Matt Mazur's
  "A Step by Step Backpropagation Example", whose derivative is simply output - target.
- ``bce``: binary cross-entropy from logits, -t log sigma(x) - (1 - t) log(1 - sigma(x)), in the stable
  form max(x, 0) - x t + log(1 + e^-|x|).
"""

from __future__ import annotations

import numpy as np

from ..errors import EngineError


def one_hot_targets(output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Targets shaped like ``output``: class indices become one-hot rows, anything else is reshaped."""
    target = np.asarray(target)
    if target.ndim == 1 and output.ndim == 2 and output.shape[1] > 1:
        if not np.issubdtype(target.dtype, np.integer):
            raise EngineError(
                f"targets of shape {target.shape} must be class indices (integers) for outputs {output.shape}"
            )
        if target.size and (target.min() < 0 or target.max() >= output.shape[1]):
            raise EngineError(
                f"class index {int(target.max() if target.max() >= output.shape[1] else target.min())} is out of range "
                f"for a model with {output.shape[1]} outputs; the last layer needs one unit per class"
            )
        return np.eye(output.shape[1], dtype=output.dtype)[target]
    if target.size != output.size:
        raise EngineError(f"targets of shape {target.shape} do not match outputs of shape {output.shape}")
    return target.reshape(output.shape).astype(output.dtype, copy=False)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Loss:
    """Base class: ``forward(output, target)`` returns the batch mean, ``backward()`` dL/d output."""

    name = ""

    def probabilities(self, output: np.ndarray) -> np.ndarray:
        """The outputs as class scores; a single output p in [0, 1] becomes the two columns [1 - p, p]."""
        return np.concatenate([1 - output, output], axis=1) if output.ndim == 2 and output.shape[1] == 1 else output

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CrossEntropy(Loss):
    """Softmax and negative log-likelihood from logits.

    L = -mean_n sum_k t log softmax(x), and dL/dx = (softmax(x) - t) / N.
    """

    name = "cross_entropy"

    def forward(self, output: np.ndarray, target: np.ndarray) -> float:
        self.t = one_hot_targets(output, target)
        log_p = log_softmax(output)
        self.p = np.exp(log_p)
        return float(-(self.t * log_p).sum() / len(output))

    def backward(self) -> np.ndarray:
        return (self.p - self.t) / len(self.p)

    def probabilities(self, output: np.ndarray) -> np.ndarray:
        return softmax(output)


class NLL(Loss):
    """Negative log-likelihood of probabilities p (after a softmax layer).

    L = -mean_n sum_k t log p, and dL/dp = -t / (p N).
    """

    name = "nll"
    tiny = 1e-12  # keeps log(0) finite when a probability underflows

    def forward(self, output: np.ndarray, target: np.ndarray) -> float:
        self.t = one_hot_targets(output, target)
        self.p = np.maximum(output, self.tiny)
        return float(-(self.t * np.log(self.p)).sum() / len(output))

    def backward(self) -> np.ndarray:
        return -self.t / self.p / len(self.p)


class MSE(Loss):
    """Mean squared error over all elements, as torch.nn.MSELoss: L = mean (y - t)^2; dL/dy = 2 (y - t) / size."""

    name = "mse"

    def forward(self, output: np.ndarray, target: np.ndarray) -> float:
        self.diff = output - one_hot_targets(output, target)
        return float(np.mean(np.square(self.diff)))

    def backward(self) -> np.ndarray:
        return 2 * self.diff / self.diff.size


class SSE(Loss):
    """Half the sum of squared errors per example, batch mean: L = mean_n sum_k 1/2 (t - y)^2; dL/dy = (y - t) / N."""

    name = "sse"

    def forward(self, output: np.ndarray, target: np.ndarray) -> float:
        self.diff = output - one_hot_targets(output, target)
        return float(0.5 * np.square(self.diff).sum() / len(output))

    def backward(self) -> np.ndarray:
        return self.diff / len(self.diff)


class BCE(Loss):
    """Binary cross-entropy from logits, in the stable form; dL/dx = (sigmoid(x) - t) / size."""

    name = "bce"

    def forward(self, output: np.ndarray, target: np.ndarray) -> float:
        self.x, self.t = output, one_hot_targets(output, target)
        x, t = self.x, self.t
        return float(np.mean(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))))

    def backward(self) -> np.ndarray:
        return (sigmoid(self.x) - self.t) / self.x.size

    def probabilities(self, output: np.ndarray) -> np.ndarray:
        """(N, 2) rows [1 - p, p] for one output unit; per-unit probabilities otherwise."""
        p = sigmoid(output)
        return np.concatenate([1 - p, p], axis=1) if p.ndim == 2 and p.shape[1] == 1 else p


LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (CrossEntropy, NLL, MSE, SSE, BCE)}


def make_loss(name: str) -> Loss:
    if name not in LOSSES:
        raise EngineError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    return LOSSES[name]()
