"""Dropout (deck 002): in training, drop each unit with probability p and scale the survivors by 1/(1-p).

The scaling ("inverted dropout") keeps the expected value of every unit the same in training and at
test time, so at test time the layer is the identity and the full network is used as it is. In
training a fresh mask is drawn for every forward pass; backward lets the gradient through the same
mask, with the same scale.
"""

from __future__ import annotations

import numpy as np

from .layer import Layer


class Dropout(Layer):
    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability p must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng if rng is not None else np.random.default_rng()

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.p == 0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64) >= self.p
        self.mask = keep.astype(x.dtype) / x.dtype.type(1 - self.p)
        return x * self.mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy if self.mask is None else dy * self.mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
