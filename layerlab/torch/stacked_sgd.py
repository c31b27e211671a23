"""Plain SGD on a stacked network of dense, convolution and max-pool layers, its backward pass written out.

At batch 10 a small network's step is mostly overhead: autograd's graph, the optimiser's call, a few
dozen small kernels. For the commonest case, repeats of a network with softmax cross-entropy and plain SGD
(Nielsen's chapter 1-3 networks and his ladder's convolutional rows), ``ByHandSGD`` does the members' step
without autograd: the forward pass keeps each layer's input and output, the loss's gradient is the softmax
minus the one-hot label, and the backward pass walks the layers in reverse, each dense layer updating its
stacked weights in place with one ``baddbmm`` (the weight gradient never exists as a tensor of its own):

    dL/dx = g W^T            (members' batched product; skipped below the first weighted layer)
    W <- (1 - eta (l2/n + wd)) W - eta x^T g - eta l1/n sign(W)
    b <- (1 - eta wd) b - eta sum_batch g

where g = dL/d(output) of the layer for each member's mean loss over its batch, eta the member's learning
rate, l1/n and l2/n the penalties (Nielsen's regularised cost) and wd the optimiser's weight decay, as
``torch.optim.SGD`` and the loss's penalty term would apply them. Activations take their derivative from
their output: sigmoid y(1 - y), tanh 1 - y^2, ReLU [y > 0]; dropout multiplies by the mask it drew.

Convolutions run as the stacked model runs them, member m's filters as group m of one grouped convolution
on (B, M*C, H, W) channels-last activations; their backward pass is ``aten.convolution_backward`` for the
input's gradient and again for the weight's (the oneDNN kernels autograd would call; apart, since the
grouped kernel asked for both is slower than the two), the bias's a sum over batch and pixels, and the
weights take the same update as a dense layer's, in place. Max-pooling keeps its argmax indices and
sends the gradient back through them (``max_pool2d_with_indices_backward``). In channels-last memory a
max-pool is several times faster than in NCHW on a CPU, which is why every image layer stays there.

Each member's numbers match the autograd path (and so training it alone) to float rounding
(``tests/test_together.py``); ``benchmarks/batched_repeats.py`` measures what it saves.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

StackedTrainable = Any  #: ``layerlab.torch.stacked.StackedTrainable``, which imports this module

#: d(activation)/d(input) from the activation's output.
DERIVATIVES = {
    "sigmoid": lambda y: y * (1 - y),
    "tanh": lambda y: 1 - y * y,
    "relu": lambda y: (y > 0).to(y.dtype),
    "linear": None,  # the identity: the gradient passes unchanged
}
KINDS = {"dense", "conv", "maxpool", "flatten", "dropout", *DERIVATIVES}
IMAGE_KINDS = {"conv", "maxpool"}  #: layers that read every member's images as (B, M*C, H, W), channels last

aten = torch.ops.aten
LAST = torch.channels_last


def to_members_first(x: torch.Tensor, layout: str, m: int) -> torch.Tensor:
    """(B, M*C, H, W) -> (M, B, C*H*W); (M, B, F) as it is."""
    if layout == "members":
        return x
    return x.reshape(x.shape[0], m, -1).transpose(0, 1)


def to_channels(x: torch.Tensor, layout: str, m: int) -> torch.Tensor:
    """(M, B, C, H, W) -> (B, M*C, H, W); (B, M*C, H, W) as it is."""
    if layout == "channels":
        return x
    return x.transpose(0, 1).reshape(x.shape[1], m * x.shape[2], *x.shape[3:])


def by_hand(stacked: StackedTrainable) -> ByHandSGD | None:
    """A ``ByHandSGD`` for the stacked model when its step can be written out: only dense, convolution and
    max-pool layers, flatten, dropout and the activations above, softmax cross-entropy on the logits, plain
    SGD (no momentum)."""
    first = stacked.settings[0]
    plain_sgd = first.optimizer == "sgd" and not first.momentum
    softmax_ce = first.loss == "cross_entropy" and not first.label_smoothing
    if plain_sgd and softmax_ce and all(kind in KINDS for kind in stacked.kinds):
        return ByHandSGD(stacked)
    return None


class ByHandSGD:
    """The forward pass, the members' losses and the SGD step of a stacked network."""

    def __init__(self, stacked: StackedTrainable):
        self.stacked = stacked
        self.weight_decay = stacked.settings[0].weight_decay
        weighted = [i for i, kind in enumerate(stacked.kinds) if kind in ("dense", "conv")]
        self.first_weighted = weighted[0] if weighted else len(stacked.kinds)
        self.images = any(kind in IMAGE_KINDS for kind in stacked.kinds)
        self.inputs: list[torch.Tensor] = []
        self.masks: list[torch.Tensor | None] = []
        self.outputs: list[torch.Tensor] = []
        self.layouts: list[str] = []
        self.indices: dict[int, torch.Tensor] = {}

    @staticmethod
    def takes(y: torch.Tensor) -> bool:
        """Whether a split's targets (N,) are class labels, the only targets the written-out loss reads."""
        return y.ndim == 1 and not y.is_floating_point()

    @torch.no_grad()
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(M, B, ...) inputs and (M, B) labels -> the outputs (M, B, classes) and each member's loss (M,)
        with its weight penalty, as ``StackedTrainable.member_losses`` reports it."""
        stacked = self.stacked
        m = x.shape[0]
        layout = "members"  # (M, B, ...); "channels": (B, M*C, H, W) channels last, as grouped convolutions read
        if not self.images:
            x = x.reshape(m, x.shape[1], -1)  # every kind here is dense: (M, B, features)
        self.inputs, self.outputs, self.layouts, self.masks = [], [], [], []
        self.indices = {}  # each max-pool's argmax indices
        for i, (kind, layer) in enumerate(zip(stacked.kinds, stacked.layers, strict=True)):
            if kind in IMAGE_KINDS:
                x, layout = to_channels(x, layout, m).contiguous(memory_format=LAST), "channels"
            elif kind in ("dense", "flatten"):
                x, layout = to_members_first(x, layout, m), "members"
            self.inputs.append(x)
            self.layouts.append(layout)
            mask = layer.multiplier(x, layout) if kind == "dropout" else None
            self.masks.append(mask)
            if kind == "dropout":
                x = x if mask is None else x * mask
            elif kind == "conv":
                bias = layer.bias.flatten() if layer.bias is not None else None
                x = F.conv2d(x, layer.weight.flatten(0, 1), bias, layer.stride, layer.padding, groups=m)
            elif kind == "maxpool":
                pool = layer.module
                x, self.indices[i] = aten.max_pool2d_with_indices(
                    x, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode
                )
            elif kind == "flatten":
                x = x.reshape(x.shape[0], x.shape[1], -1)
            else:
                x = layer.forward(x, layout)[0]
            self.outputs.append(x)
        x = to_members_first(x, layout, m)
        log_p = torch.log_softmax(x.float(), -1)
        self.log_p, self.y = log_p, y.long().unsqueeze(2)
        losses = -log_p.gather(2, self.y).squeeze(2).mean(1)
        penalty = stacked.penalties()
        return x, losses if penalty is None else losses + penalty

    @torch.no_grad()
    def step(self, lrs: list[float], record_norms: bool) -> tuple[torch.Tensor, ...] | None:
        """One SGD step at each member's rate; with ``record_norms`` each penalised weight's gradient norm
        per member (M,), in ``weight_names`` order, as the autograd path records them."""
        stacked = self.stacked
        m = stacked.m
        grad = self.log_p.exp().scatter_add_(2, self.y, torch.full_like(self.y, -1, dtype=self.log_p.dtype))
        grad = grad.div_(self.y.shape[1]).to(stacked.dtype)  # d(mean loss)/d(logits), each member's batch
        rates = [float(lr) for lr in lrs]  # one Python float when the members share it, else a (M, 1, 1) tensor
        same = len(set(rates)) == 1
        rate = rates[0] if same else torch.tensor(rates, dtype=stacked.dtype, device=stacked.device).view(-1, 1, 1)
        norms: list[torch.Tensor] = []
        layout = "members"  # the gradient's
        for i in range(len(stacked.layers) - 1, -1, -1):
            kind, layer, x, output = stacked.kinds[i], stacked.layers[i], self.inputs[i], self.outputs[i]
            wanted = "members" if kind == "flatten" else self.layouts[i]
            if layout != wanted:  # as the layer's output: the layer above read another layout
                if wanted == "channels":  # (M, B, C*H*W) -> (B, M*C, H, W)
                    grad = grad.reshape(m, output.shape[0], output.shape[1] // m, *output.shape[2:])
                    grad = to_channels(grad, layout, m)
                else:
                    grad = to_members_first(grad, layout, m).reshape(output.shape)
                layout = wanted
            if wanted == "channels":
                grad = grad.contiguous(memory_format=LAST)
            if kind == "dense":
                below = torch.bmm(grad, layer.weight.transpose(1, 2)) if i > self.first_weighted else None
                self._update(layer, x, grad, rate, norms if record_norms else None)
                if below is None:
                    break
                grad = below
            elif kind == "conv":
                below = self._conv_step(layer, x, grad, rate, i > self.first_weighted, norms if record_norms else None)
                if below is None:
                    break
                grad = below
            elif kind == "maxpool":
                pool = layer.module
                grad = aten.max_pool2d_with_indices_backward(
                    grad, x, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode, self.indices[i]
                )
            elif kind == "flatten":
                grad = grad.reshape(x.shape)
            elif kind == "dropout" and self.masks[i] is not None:
                grad = grad * self.masks[i]
            elif kind == "relu":  # one kernel: the gradient where the output is positive, else 0
                grad = aten.threshold_backward(grad, output, 0)
            elif DERIVATIVES.get(kind) is not None:
                grad = grad * DERIVATIVES[kind](output)
            layout = self.layouts[i]
        return tuple(reversed(norms)) if record_norms else None

    def _update(self, layer, x: torch.Tensor, grad: torch.Tensor, rate, norms: list | None, weight=None) -> None:
        """W <- W - eta (x^T g + penalties' and weight decay's gradients); b <- b - eta (sum g + wd b).

        A dense layer's weight is stored (M, in, out); a convolution's is given as ``weight``, its filters
        as rows (M, filters, k*k*C), and updated with g^T x."""
        stacked = self.stacked
        rows = weight is not None  # (M, out, in): the product is g^T x
        weight, bias = layer.weight if weight is None else weight, layer.bias
        decay = stacked.penalty_l2 + self.weight_decay
        sign = torch.sign(weight) if stacked.penalty_l1 else None
        if bias is not None and bias.requires_grad:
            bias_grad = grad.sum(1)
            if self.weight_decay:
                bias_grad = bias_grad + self.weight_decay * bias
            bias.sub_(bias_grad * rate if isinstance(rate, float) else bias_grad * rate.view(-1, 1))
        if not weight.requires_grad:
            return
        left, right = (grad.transpose(1, 2), x) if rows else (x.transpose(1, 2), grad)
        if norms is not None or not isinstance(rate, float):  # the gradient as a tensor: its norm, or rates apart
            weight_grad = torch.bmm(left, right)  # the loss's gradient, penalties included
            if stacked.penalty_l2:
                weight_grad += stacked.penalty_l2 * weight
            if sign is not None:
                weight_grad += stacked.penalty_l1 * sign
            if norms is not None:
                norms.append(torch.linalg.vector_norm(weight_grad, dim=(1, 2)))
            if self.weight_decay:  # the optimiser's, not the loss's: not in the recorded norm
                weight_grad += self.weight_decay * weight
            weight.sub_(weight_grad * rate)
            return
        weight.baddbmm_(left, right, beta=1 - rate * decay, alpha=-rate)
        if sign is not None:
            weight.sub_(sign, alpha=rate * stacked.penalty_l1)

    def _conv_step(self, layer, x, grad, rate, below: bool, norms: list | None):
        """A grouped convolution's backward pass: its weight and bias updated in place; the gradient of its
        input (B, M*C, H, W) when ``below``."""
        weight, bias = layer.weight, layer.bias
        m = weight.shape[0]
        has_bias = bias is not None and bias.requires_grad

        def backward(mask: list[bool]) -> tuple[torch.Tensor, ...]:
            return aten.convolution_backward(
                grad, x, weight.flatten(0, 1), None, layer.stride, layer.padding, [1, 1], False, [0, 0], m, mask
            )

        # Two oneDNN calls and a sum, not one call: oneDNN's grouped backward asked for everything at once took
        # 4.3 ms a step for row 4's second convolution (3 members), the input's and the weight's apart 1.9 + 1.6,
        # and the bias's gradient is a sum over the batch and the pixels (Nielsen's row 4, one thread, AVX2).
        grad_in = backward([True, False, False])[0] if below else None
        grad_w = backward([False, True, False])[1] if weight.requires_grad else None
        grad_b = grad.sum((0, 2, 3)) if has_bias else None
        self._conv_update(layer, grad_w, grad_b, rate, norms)
        return grad_in

    def _conv_update(self, layer, grad_w, grad_b, rate, norms: list | None) -> None:
        """W <- W - eta (dL/dW + penalties' and weight decay's gradients); b <- b - eta (dL/db + wd b), with
        the loss's gradients (M*filters, C, k, k), as the convolution's backward gives it, and (M*filters,)."""
        stacked = self.stacked
        weight, bias = layer.weight, layer.bias
        m, filters = weight.shape[:2]
        has_bias = grad_b is not None
        rate5 = rate if isinstance(rate, float) else rate.view(-1, 1, 1, 1, 1)
        if has_bias:
            grad_b = grad_b.view(m, filters)
            if self.weight_decay:
                grad_b = grad_b + self.weight_decay * bias
            bias.sub_(grad_b * (rate if isinstance(rate, float) else rate.view(-1, 1)))
        if weight.requires_grad:
            grad_w = grad_w.view(weight.shape) if grad_w.is_contiguous() else grad_w.unflatten(0, (m, filters))
            sign = torch.sign(weight) if stacked.penalty_l1 else None
            if norms is not None or not isinstance(rate, float):
                if stacked.penalty_l2:
                    grad_w = grad_w + stacked.penalty_l2 * weight
                if sign is not None:
                    grad_w = grad_w + stacked.penalty_l1 * sign
                if norms is not None:
                    norms.append(torch.linalg.vector_norm(grad_w, dim=(1, 2, 3, 4)))
                if self.weight_decay:
                    grad_w = grad_w + self.weight_decay * weight
                weight.sub_(grad_w * rate5)
            else:
                weight.mul_(1 - rate * (stacked.penalty_l2 + self.weight_decay)).sub_(grad_w, alpha=rate)
                if sign is not None:
                    weight.sub_(sign, alpha=rate * stacked.penalty_l1)
