"""The torch engine's module for each layer kind, built as ``cls(**resolved_layer.arguments())``.

The spec gives every kind's constructor arguments once (``spec.ResolvedLayer.arguments``): each parameter
and buffer by name, here as its shape, then the kind's settings. Where PyTorch has the module, a thin
subclass only takes those arguments (``Dense`` is ``nn.Linear`` sized by its weight's shape); the kinds
PyTorch has no module for are written here: L2 pooling, maxout, the perceptron's step, network3's dropout.
Each computes what its numpy counterpart in ``layerlab.numpy`` computes, so a spec gives the same outputs
in both engines; autograd supplies the backward pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EngineError

Shape = tuple[int, ...]


class Dense(nn.Linear):
    """``nn.Linear`` sized by the spec's weight shape (out, in), with a bias unless the layer has none."""

    def __init__(self, weight: Shape, bias: Shape | None = None):
        super().__init__(weight[1], weight[0], bias=bias is not None)


class Conv(nn.Conv2d):
    """``nn.Conv2d`` sized by the spec's weight shape (filters, channels, k, k); padding in pixels."""

    def __init__(self, weight: Shape, bias: Shape | None = None, stride: int = 1, padding: int = 0):
        super().__init__(weight[1], weight[0], weight[2], stride, padding, bias=bias is not None)


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d``; where no gradient is wanted (evaluation, prediction) on the CPU, windows that do not
    overlap are reduced by elementwise maxima of strided views instead (``window_max``): the same values,
    in the input's memory layout, 1.5-2 times faster than PyTorch's CPU kernel on channels-last images (the
    layout oneDNN's convolutions give) and 5-6 times on (N, C, H, W) ones (one thread of an AMD EPYC, AVX2)."""

    def __init__(self, size: int, stride: int):
        super().__init__(size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.kernel_size
        wanted = torch.is_grad_enabled() and x.requires_grad
        if size == self.stride and x.device.type == "cpu" and x.dim() == 4 and not wanted:
            return window_max(x, size)
        return super().forward(x)  # training (the gradient needs PyTorch's argmax indices), GPUs


def window_max(x: torch.Tensor, size: int) -> torch.Tensor:
    """The maximum of each ``size`` x ``size`` window of (N, C, H, W) images, windows side by side (stride =
    size, rows and columns past the last whole window dropped, as max-pooling drops them): first the
    maximum over each window's columns, then over its rows, each an elementwise ``torch.maximum`` of
    strided views. Exactly max-pooling's values, NaN included; no indices, so no gradient."""
    rows, cols = x.shape[-2] // size * size, x.shape[-1] // size * size
    x = x[..., :rows, :cols]
    across = x[..., 0::size]
    for j in range(1, size):
        across = torch.maximum(across, x[..., j::size])
    out = across[..., 0::size, :]
    for i in range(1, size):
        out = torch.maximum(out, across[..., i::size, :])
    return out


class Flatten(nn.Flatten):
    """``nn.Flatten``, (N, C, H, W) -> (N, C*H*W) in (C, H, W) order, whose gradient goes back in the memory
    layout its input had (``channels_last_gradient``)."""

    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channels_last_gradient(x).flatten(1)


def channels_last_gradient(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself; when ``x`` is a batch of channels-last images, its gradient goes back channels last too.

    oneDNN's convolutions leave channels-last images; flattening them copies into (C, H, W) order, and the
    copy's gradient comes back in that order, so a max-pool below takes its slow path and converts its
    gradient, indices and input between layouts at every step. Nielsen's conv(20, 5) net (one convolution,
    max-pool, sigmoid, dense 100, batch 10) trains 10-15% faster with the gradient given back channels last
    (one thread, 2-core AMD EPYC, AVX2); the values are the same."""
    if x.dim() == 4 and x.requires_grad and _channels_last(x):
        return _ChannelsLastGradient.apply(x)
    return x


def _channels_last(x: torch.Tensor) -> bool:
    try:
        return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
    except RuntimeError:  # inside torch.func.vmap, which cannot tell a memory layout
        return False


class _ChannelsLastGradient(torch.autograd.Function):
    """The identity, its gradient made channels last."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=torch.channels_last)


class AvgPool2d(nn.AvgPool2d):
    def __init__(self, size: int, stride: int):
        super().__init__(size, stride)


class GlobalAvgPool(nn.Sequential):
    """The mean of each channel: (N, C, H, W) -> (N, C)."""

    def __init__(self):
        super().__init__(nn.AdaptiveAvgPool2d(1), Flatten())


class BatchNorm(nn.BatchNorm2d):
    """Batch norm over (N, features) or (N, channels, H, W), one class for both as in the numpy engine
    (``nn.BatchNorm1d`` and ``nn.BatchNorm2d`` differ only in the input ranks they accept)."""

    def __init__(
        self, weight: Shape, bias: Shape, running_mean: Shape, running_var: Shape, momentum: float, eps: float
    ):
        super().__init__(weight[0], eps=eps, momentum=momentum)

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 4):
            raise ValueError(f"batch norm expects (N, features) or (N, channels, H, W), got {tuple(x.shape)}")


class LeakyReLU(nn.LeakyReLU):
    def __init__(self, slope: float):
        super().__init__(slope)


class Softmax(nn.Softmax):
    """Softmax over the features (dim 1)."""

    def __init__(self):
        super().__init__(dim=1)


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


class Dropout(nn.Dropout):
    """``nn.Dropout`` (``scale="train"``: inverted dropout) or dropout as Nielsen's network3.py does it
    (``scale="test"``: survivors unscaled in training, x (1-p) at test).

    network3's is (1-p) times ``nn.Dropout`` in both modes, which is how it is computed.
    """

    def __init__(self, p: float = 0.5, scale: str = "train"):
        super().__init__(p)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return y if self.scale == "train" else y * (1 - self.p)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.scale == "train" else f", scale={self.scale!r}")


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
