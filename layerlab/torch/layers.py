"""The layer kinds PyTorch has no module for: L2 pooling, maxout, the perceptron's step, network3's dropout.

Each computes what its numpy counterpart in ``layerlab.numpy`` computes, so a spec gives the same
outputs in both engines; autograd supplies the backward pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EngineError


# Names follow torch.nn's lower-case d (nn.MaxPool2d, nn.AvgPool2d), so this is L2Pool2d; the numpy engine
# spells its own layers Keras-style (MaxPool2D, L2Pool2D). Both are deliberate, one convention per engine.
class L2Pool2d(nn.Module):
    """Root of the mean of the squares over each size x size window (Nielsen, ch. 6): sqrt(avgpool(x^2)).

    Where a window is all zeros (common after a ReLU) the root has no derivative, and the plain
    sqrt(avg_pool2d(x^2)) would backpropagate 0 * inf = NaN. The output there is exactly 0, and the
    gradient is taken to be 0 (a subgradient), with no epsilon that would change the forward values:
    the root is taken of ``where(m > 0, m, 1)`` and then replaced by 0 where ``m == 0``.
    """

    def __init__(self, size: int, stride: int | None = None):
        super().__init__()
        self.size = size
        self.stride = stride or size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean_square = F.avg_pool2d(x * x, self.size, self.stride)
        nonzero = mean_square > 0
        return torch.where(nonzero, torch.sqrt(torch.where(nonzero, mean_square, 1.0)), 0.0)

    def extra_repr(self) -> str:
        return f"size={self.size}, stride={self.stride}"


class DropoutScaledAtTest(nn.Dropout):
    """Dropout as Nielsen's network3.py does it: survivors unscaled in training, x (1-p) at test.

    That is (1-p) times ``nn.Dropout`` (inverted dropout) in both modes, which is how it is computed.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * (1 - self.p)


class Maxout(nn.Module):
    """The maximum over each group of k consecutive features (or channels): Goodfellow et al. 2013, "Maxout Networks".

    (N, F) -> (N, F/k) and (N, C, H, W) -> (N, C/k, H, W), grouped as ``x.view(N, F // k, k, ...)``
    like the numpy engine; the gradient goes to the piece that won.
    """

    def __init__(self, k: int):
        super().__init__()
        if k < 1:
            raise EngineError(f"maxout needs k >= 1 pieces per unit, got k={k}")
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] % self.k:
            raise EngineError(
                f"maxout({self.k}) needs a feature/channel count divisible by {self.k}, got input shape "
                f"{tuple(x.shape)}; give the layer before it a multiple of {self.k} units"
            )
        return x.unflatten(1, (x.shape[1] // self.k, self.k)).max(dim=2).values

    def extra_repr(self) -> str:
        return f"k={self.k}"


class _StepFunction(torch.autograd.Function):
    """1 where x > 0 else 0, whose derivative is taken to be 0 everywhere."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, dy: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(dy)


class Step(nn.Module):
    """The perceptron's threshold (Nielsen, ch. 1): 1 where x > 0 else 0, in the dtype of x.

    Its derivative is 0 wherever it exists, so the backward pass returns zeros, as in the numpy
    engine: the layers before it get zero gradients (and no error from autograd) and do not learn.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _StepFunction.apply(x)
