"""Flatten: (N, C, H, W) -> (N, C*H*W), the bridge from convolutional to dense layers."""

from __future__ import annotations

import numpy as np

from .layer import Layer


class Flatten(Layer):
    """Reshape (N, ...) to (N, features) in forward; backward reshapes dy back to the input's shape."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x_shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self.x_shape)
