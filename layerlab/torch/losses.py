"""The losses of the torch engine, by the names the numpy engine uses: each ``(output, target) -> scalar``.

Every loss is a mean over the batch. Targets are class indices (an integer tensor of shape (N,)) or,
where it makes sense, rows of the output's shape (one-hot or probabilities)::

    loss = make_loss("cross_entropy")(model(x), y)
    p = probabilities("cross_entropy", model(x))  # (N, classes), rows sum to 1

Unlike the numpy engine, none of them looks at the values of the targets (no check on the host that
a class index is in range: PyTorch reports it when indexing), so a step on the GPU never waits for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import LayerlabError

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class LossError(LayerlabError, ValueError):
    """An unknown loss name, or targets that do not fit the output."""


def _is_labels(target: torch.Tensor) -> bool:
    return not (target.is_floating_point() or target.is_complex())


def targets_like(output: torch.Tensor, target: torch.Tensor, loss: str = "loss") -> torch.Tensor:
    """Targets shaped like the output, by the numpy engine's rule (``one_hot_targets``).

    Class indices (N,) for an output (N, C) with C > 1 become one-hot rows; any other target with as
    many elements as the output (rows of probabilities, 0/1 labels for one output unit) is reshaped.
    """
    if target.ndim == 1 and output.ndim == 2 and output.shape[1] > 1:
        if not _is_labels(target):
            raise LossError(
                f"{loss}: targets of shape {tuple(target.shape)} for outputs {tuple(output.shape)} must be "
                "class indices (integers); give rows of the output's shape for soft targets"
            )
        if len(target) != len(output):
            raise LossError(f"{loss}: {len(target)} class indices for a batch of {len(output)} outputs")
        return torch.zeros_like(output).scatter_(1, target.long()[:, None], 1.0)
    if target.numel() != output.numel():
        raise LossError(
            f"{loss}: targets of shape {tuple(target.shape)} do not fit outputs of shape {tuple(output.shape)}; "
            "give class indices (N,) or one target per output element"
        )
    return target.reshape(output.shape).to(output.dtype)


def cross_entropy(output: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Softmax cross-entropy of logits: mean over the batch of -log softmax(output)[target].

    With probability rows t as targets: the mean of -sum_i t_i log softmax(output)_i. ``label_smoothing``
    s mixes each target with the uniform distribution: (1 - s) t + s / classes.
    """
    if target.ndim == 1 and _is_labels(target) and len(target) == len(output):
        return F.cross_entropy(output, target.long(), label_smoothing=label_smoothing)
    return F.cross_entropy(output, targets_like(output, target, "cross_entropy"), label_smoothing=label_smoothing)


def nll(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of outputs that are already probabilities (after a softmax layer).

    The mean over the batch of -log p[target] (or -sum_i t_i log p_i for probability rows); p is
    clamped at 1e-12, as in the numpy engine, so a probability of 0 costs a large finite amount.
    """
    log_p = torch.log(output.clamp_min(1e-12))
    return -(targets_like(output, target, "nll") * log_p).sum() / output.shape[0]


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all elements, as ``nn.MSELoss``; class indices become one-hot rows."""
    return F.mse_loss(output, targets_like(output, target, "mse"))


def sse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Half the sum of squared errors over the outputs, E = sum 1/2 (target - out)^2 (Mazur's example), batch mean."""
    return 0.5 * (targets_like(output, target, "sse") - output).square().sum() / output.shape[0]


def bce(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of logits: -[t log sigma(z) + (1 - t) log(1 - sigma(z))], mean over all elements.

    The output is (N, 1) or (N,) for one yes/no question (or (N, K) for K of them); the targets are
    0/1 values with as many elements, e.g. labels of shape (N,).
    """
    return F.binary_cross_entropy_with_logits(output, targets_like(output, target, "bce"))


LOSSES: dict[str, Loss] = {"cross_entropy": cross_entropy, "nll": nll, "mse": mse, "sse": sse, "bce": bce}


def make_loss(name: str, label_smoothing: float = 0.0) -> Loss:
    """The loss function called ``name``; cross_entropy with ``label_smoothing`` s > 0 takes as target
    (1 - s) on the label plus s / classes on every class (Szegedy et al. 2016, "Rethinking the Inception
    architecture"), as ``torch.nn.functional.cross_entropy(..., label_smoothing=s)``."""
    if name not in LOSSES:
        raise LossError(f"unknown loss {name!r}; known losses: {', '.join(LOSSES)}")
    if label_smoothing:
        if name != "cross_entropy":
            raise LossError(f"label smoothing applies to cross_entropy, not to {name}")
        return functools.partial(cross_entropy, label_smoothing=label_smoothing)
    return LOSSES[name]


def probabilities(name: str, output: torch.Tensor) -> torch.Tensor:
    """Class probabilities (N, classes) from a model's outputs, as the loss ``name`` reads them.

    cross_entropy: softmax of the logits; bce with one output: the columns [1 - p, p] with
    p = sigma(output); bce with several outputs: sigma of each; nll, mse, sse: the outputs themselves
    (one output p becomes the columns [1 - p, p]).
    """
    make_loss(name)  # an unknown name fails here
    if name == "cross_entropy":
        return torch.softmax(output, dim=1)
    if name == "bce":
        p = torch.sigmoid(output)
        if output.ndim == 1 or output.shape[1] == 1:
            p = p.reshape(-1, 1)
            return torch.cat([1 - p, p], dim=1)
        return p
    if output.ndim == 2 and output.shape[1] == 1:  # one output read as p in [0, 1], as the numpy engine does
        return torch.cat([1 - output, output], dim=1)
    return output


def predicted_classes(name: str, output: torch.Tensor) -> torch.Tensor:
    """The class of each row: the argmax of ``probabilities(name, output)``, taken on the logits for
    cross_entropy (softmax keeps their order), which saves a softmax over every output of an epoch."""
    if name == "cross_entropy":
        return output.argmax(1)
    return probabilities(name, output).argmax(1)
