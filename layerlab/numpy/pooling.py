"""Pooling: summarise each k x k window of every channel by one number.

Pooling follows the convolutional layers of Nielsen, "Neural Networks and Deep Learning", ch. 6.

Max pooling keeps the strongest response (its gradient goes to the winning pixel only); average
pooling keeps the mean (its gradient is shared equally); L2 pooling keeps the root of the mean of the
squares, sqrt(mean(x^2)) (Nielsen, ch. 6, takes the root of the sum), whose gradient to each pixel is
x / (k^2 y). Windows that do not fit at the right/bottom edge are dropped, as in PyTorch.

The windows are a strided view of the input (no copy for the forward pass); the backward passes loop
over the k*k offsets inside a window, never over pixels or images.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .layer import Layer


# Names: the numpy engine spells its 2D layers with a capital D (Conv2D, MaxPool2D, AvgPool2D, L2Pool2D, as
# Keras does); the torch engine follows torch.nn's lower-case d (nn.MaxPool2d, and its own L2Pool2d). Both
# spellings are deliberate, one per engine; the spec's kind names (maxpool, l2pool, ...) are shared.
class _Pool2D(Layer):
    def __init__(self, size: int, stride: int | None = None):
        super().__init__()
        self.size = size
        self.stride = stride or size

    def windows(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) -> (N, C, Ho, Wo, k, k), a read-only view."""
        self.x_shape = x.shape
        return sliding_window_view(x, (self.size, self.size), axis=(2, 3))[:, :, :: self.stride, :: self.stride]

    def scatter(self, d_at_offset) -> np.ndarray:
        """dx from ``d_at_offset(i, j)``: the gradient of every window's pixel at offset (i, j)."""
        dx = np.zeros(self.x_shape, dtype=self.dtype)
        k, s = self.size, self.stride
        ho, wo = self.out_hw
        for i in range(k):
            for j in range(k):
                dx[:, :, i : i + s * ho : s, j : j + s * wo : s] += d_at_offset(i, j)
        return dx

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, stride={self.stride})"


class MaxPool2D(_Pool2D):
    """The maximum of each window; on a tie the first pixel (row by row) wins, as in PyTorch.

    The forward pass walks the k*k offsets, keeping the running maximum and the offset it came from;
    backward sends each window's gradient to that offset only.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        w = self.windows(x)
        self.out_hw, self.dtype = w.shape[2:4], x.dtype
        y = w[..., 0, 0].copy()
        self.winner = np.zeros(y.shape, dtype=np.int32)
        for offset in range(1, self.size**2):
            candidate = w[..., offset // self.size, offset % self.size]
            better = candidate > y  # strictly: the first maximum keeps the window on a tie
            np.copyto(self.winner, offset, where=better)
            np.maximum(y, candidate, out=y)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.scatter(lambda i, j: dy * (self.winner == i * self.size + j))


class AvgPool2D(_Pool2D):
    """The mean of each window; every pixel gets 1/k^2 of the window's gradient."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        w = self.windows(x)
        self.out_hw, self.dtype = w.shape[2:4], x.dtype
        return w.mean(axis=(-2, -1))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        share = dy / self.size**2
        return self.scatter(lambda i, j: share)


class L2Pool2D(_Pool2D):
    """sqrt(mean of x^2 over each window): dy/dx = x / (k^2 y), taken as 0 where a window is all zeros."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.w = self.windows(x)
        self.out_hw, self.dtype = self.w.shape[2:4], x.dtype
        self.y = np.sqrt(np.square(self.w).mean(axis=(-2, -1)))
        return self.y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        safe_y = np.where(self.y > 0, self.y, 1)
        scale = np.where(self.y > 0, dy / (self.size**2 * safe_y), 0)
        return self.scatter(lambda i, j: scale * self.w[..., i, j])


class GlobalAvgPool(Layer):
    """The mean over all positions of each channel: (N, C, H, W) -> (N, C)."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.x_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        n, c, h, w = self.x_shape
        return np.broadcast_to(dy[:, :, None, None] / (h * w), self.x_shape).copy()
