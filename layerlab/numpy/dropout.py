"""Dropout: in training, drop each unit with probability p; scale so training and test agree on average.

Two ways to scale, both in use. ``scale="train"`` (the default, "inverted dropout", as torch.nn.Dropout)
multiplies the survivors by 1/(1-p) in training, so at test time the layer is the identity.
``scale="test"`` is the original formulation (Srivastava et al. 2014) that Nielsen's network3.py uses
(Nielsen, "Neural Networks and Deep Learning", ch. 3: halve the weights outgoing from the hidden units):
the survivors pass unscaled in training and every unit is multiplied by (1-p) at test time. The two
compute the same functions up to a factor (1-p) in the next layer's weights, but not the same training:
with inverted dropout a step changes the next layer's output 1/(1-p)^2 times as much (4x at p=0.5), so
Nielsen's learning rates need ``scale="test"``.

In training a fresh mask is drawn for every forward pass; backward lets the gradient through the
same mask, with the same scale. At test time with ``scale="test"`` the layer is y = (1-p) x, so
backward returns (1-p) dy.
"""

from __future__ import annotations

import numpy as np

from ..errors import EngineError
from .layer import Layer


class Dropout(Layer):
    """Drop each unit with probability ``p`` in training; ``scale`` says whether to rescale in
    training ("train", inverted dropout) or at test time ("test", network3.py). See the module docstring."""

    needs_rng = True

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None, scale: str = "train"):
        super().__init__()
        if not 0 <= p < 1:
            raise EngineError(f"dropout probability p must be in [0, 1), got {p}")
        if scale not in ("train", "test"):
            raise EngineError(f"dropout scale must be 'train' or 'test', got {scale!r}")
        self.p, self.scale = p, scale
        self.rng = rng if rng is not None else np.random.default_rng()

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.mask = None  # the identity (p = 0, or inverted dropout at test time)
        if self.p == 0 or (not training and self.scale == "train"):
            return x
        if not training:  # network3's test-time scaling: y = (1-p) x, so dL/dx = (1-p) dL/dy
            self.mask = x.dtype.type(1 - self.p)
            return x * self.mask
        keep = self.rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64) >= self.p
        self.mask = keep.astype(x.dtype)
        if self.scale == "train":
            self.mask /= x.dtype.type(1 - self.p)
        return x * self.mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy if self.mask is None else dy * self.mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})" if self.scale == "train" else f"Dropout(p={self.p}, scale={self.scale!r})"
