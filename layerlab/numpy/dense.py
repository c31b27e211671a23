"""Fully connected layer: y = x W^T + b."""

from __future__ import annotations

import numpy as np

from .layer import Layer


class Dense(Layer):
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
