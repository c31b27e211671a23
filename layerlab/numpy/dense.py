"""Fully connected layer: every output unit sees every input, y = x W^T + b.

For a batch x of shape (N, in), weights W of shape (out, in) (the layout of torch.nn.Linear) and a bias
b of shape (out,), unit j of example n computes z = sum_i W[j, i] x[n, i] + b[j], all at once:

    y = x @ W^T + b                                 (N, in) -> (N, out)

Backward gets dy = dL/dy, shape (N, out), and applies the chain rule to each product (Nielsen,
"Neural Networks and Deep Learning", ch. 2, the four equations of backpropagation):

    dW = dy^T @ x                                   (out, in): each example's outer product, summed
    db = dy.sum(axis=0)                             (out,):    b is added to every example
    dx = dy @ W                                     (N, in):   passed on to the layer below

The gradients sum (not average) over the batch; the loss already divides by N.
"""

from __future__ import annotations

import numpy as np

from .layer import Layer


class Dense(Layer):
    """A fully connected layer with ``weight`` (out, in) and an optional ``bias`` (out,).

    ``forward`` maps (N, in) to (N, out) and keeps x for ``backward``, which stores dL/dW and
    dL/db in ``grads`` and returns dL/dx. Without a bias the layer is y = x W^T.
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None = None):
        super().__init__()
        self.params["weight"] = weight  # (out, in), as torch.nn.Linear
        if bias is not None:
            self.params["bias"] = bias  # (out,)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x = x
        y = x @ self.params["weight"].T
        if "bias" in self.params:
            y += self.params["bias"]
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self.grads["weight"] = dy.T @ self.x
        if "bias" in self.params:
            self.grads["bias"] = dy.sum(axis=0)
        return dy @ self.params["weight"]
