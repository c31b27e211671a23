"""Batch normalisation (Ioffe & Szegedy 2015), for dense inputs (N, F) and conv inputs (N, C, H, W).

In training each feature (each channel, for images: over the batch and all positions) is normalised
with the mean and variance of the current batch, then scaled and shifted by the learned gamma
(``weight``) and beta (``bias``):

    x_hat = (x - mean) / sqrt(var + eps)        y = gamma * x_hat + beta

and exponential running averages of mean and variance are kept for test time,
running <- (1 - momentum) * running + momentum * batch (the variance unbiased, as in PyTorch).
At test time the running averages replace the batch statistics, so a prediction does not depend on
the other images in the batch.

Backward in training goes through the batch statistics too: with m values per feature,

    dx = (m * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat)) / (m * sqrt(var + eps)),  dx_hat = dy * gamma
"""

from __future__ import annotations

import numpy as np

from ..errors import EngineError
from .layer import Layer


class BatchNorm(Layer):
    """Batch normalisation with learned ``weight`` (gamma) and ``bias`` (beta) and running averages
    in ``buffers``; batch statistics in training, the running averages at test time. See the module docstring."""

    def __init__(
        self,
        weight: np.ndarray,
        bias: np.ndarray,
        running_mean: np.ndarray,
        running_var: np.ndarray,
        momentum: float = 0.1,
        eps: float = 1e-5,
    ):
        super().__init__()
        self.params["weight"], self.params["bias"] = weight, bias
        self.buffers["running_mean"], self.buffers["running_var"] = running_mean, running_var
        self.momentum, self.eps = momentum, eps

    def _axes(self, x: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The axes statistics are taken over, and the shape that broadcasts a per-feature vector."""
        return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        axes, shape = self._axes(x)
        self.axes, self.shape, self.training = axes, shape, training
        if training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            m = x.size // mean.size
            if m < 2:
                raise EngineError("batch norm needs more than one value per feature in training; use a batch size > 1")
            rate = self.momentum
            self.buffers["running_mean"][...] = (1 - rate) * self.buffers["running_mean"] + rate * mean
            self.buffers["running_var"][...] = (1 - rate) * self.buffers["running_var"] + rate * var * m / (m - 1)
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        self.inv_std = (1 / np.sqrt(var + self.eps)).astype(x.dtype)
        self.x_hat = (x - mean.reshape(shape)) * self.inv_std.reshape(shape)
        return self.params["weight"].reshape(shape) * self.x_hat + self.params["bias"].reshape(shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        axes, shape = self.axes, self.shape
        self.grads["weight"] = (dy * self.x_hat).sum(axis=axes)
        self.grads["bias"] = dy.sum(axis=axes)
        dx_hat = dy * self.params["weight"].reshape(shape)
        inv_std = self.inv_std.reshape(shape)
        if not self.training:
            return dx_hat * inv_std
        m = dy.size // self.grads["bias"].size
        sum_dx_hat = dx_hat.sum(axis=axes, keepdims=True)
        sum_dx_hat_x_hat = (dx_hat * self.x_hat).sum(axis=axes, keepdims=True)
        return (m * dx_hat - sum_dx_hat - self.x_hat * sum_dx_hat_x_hat) * inv_std / m

    def __repr__(self) -> str:
        return f"BatchNorm({len(self.params['weight'])}, momentum={self.momentum}, eps={self.eps})"
