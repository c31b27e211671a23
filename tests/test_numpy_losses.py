"""The numpy losses: finite-difference gradients, parity with PyTorch, stability, targets and errors.

Every loss is checked in float64 with class-index targets and with target rows shaped like the output.
The torch references: F.cross_entropy (logits), F.nll_loss(log p), F.mse_loss, 0.5 * sum / N for the
deck 003 "sse", and F.binary_cross_entropy_with_logits.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from layerlab.numpy.gradcheck import numerical_gradient, relative_error
from layerlab.numpy.losses import BCE, MSE, NLL, SSE, CrossEntropy, make_loss, softmax

TORCH_TOL = 1e-9


def normal(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def labels(n: int, classes: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, n)


def soft_targets(n: int, classes: int, seed: int = 1) -> np.ndarray:
    """Rows of probabilities (label smoothing, mixup): not one-hot, still summing to 1."""
    return softmax(normal(n, classes, seed=seed))


def zero_one(*shape: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, shape).astype(np.float64)


bce_with_logits = F.binary_cross_entropy_with_logits


def torch_sse(out, t):
    return 0.5 * ((out - t) ** 2).sum() / len(out)


def one_hot(t: torch.Tensor, classes: int) -> torch.Tensor:
    return F.one_hot(t, classes).double()


# name: (loss, output drawer, target, torch loss of (output, target as a tensor))
CASES = {
    "cross_entropy_labels": (CrossEntropy, lambda: 3 * normal(4, 5), labels(4, 5), F.cross_entropy),
    "cross_entropy_one_row": (CrossEntropy, lambda: normal(1, 3), labels(1, 3), F.cross_entropy),
    "cross_entropy_soft": (CrossEntropy, lambda: normal(3, 4), soft_targets(3, 4), F.cross_entropy),
    "nll_labels": (NLL, lambda: soft_targets(4, 5, seed=2), labels(4, 5), lambda p, t: F.nll_loss(torch.log(p), t)),
    "mse_labels": (MSE, lambda: normal(4, 3), labels(4, 3), lambda o, t: F.mse_loss(o, one_hot(t, 3))),
    "mse_values": (MSE, lambda: normal(5, 2), normal(5, 2, seed=3), F.mse_loss),
    "mse_one_output": (MSE, lambda: normal(6, 1), normal(6, seed=3), lambda o, t: F.mse_loss(o, t[:, None])),
    "sse_labels": (SSE, lambda: normal(4, 3), labels(4, 3), lambda o, t: torch_sse(o, one_hot(t, 3))),
    "sse_values": (SSE, lambda: normal(1, 2), normal(1, 2, seed=3), torch_sse),
    "bce_one_output": (BCE, lambda: 3 * normal(6, 1), zero_one(6), lambda o, t: bce_with_logits(o, t[:, None])),
    "bce_multi_label": (BCE, lambda: 3 * normal(4, 3), zero_one(4, 3), bce_with_logits),
    "bce_soft": (BCE, lambda: normal(3, 2), np.random.default_rng(4).random((3, 2)), bce_with_logits),
}


@pytest.mark.parametrize("case", CASES)
def test_loss_gradient_matches_finite_differences(case):
    make, draw, target, _ = CASES[case]
    loss, output = make(), draw()
    loss.forward(output, target)
    analytic = loss.backward()
    assert analytic.shape == output.shape
    numeric = numerical_gradient(lambda: loss.forward(output, target), output)
    assert relative_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize("case", CASES)
def test_loss_matches_torch(case):
    make, draw, target, torch_loss = CASES[case]
    loss, output = make(), draw()
    value = loss.forward(output, target)
    grad = loss.backward()
    t_output = torch.tensor(output, requires_grad=True)
    t_value = torch_loss(t_output, torch.tensor(target))
    t_value.backward()
    assert value == pytest.approx(t_value.item(), rel=TORCH_TOL, abs=TORCH_TOL)
    np.testing.assert_allclose(grad, t_output.grad.numpy(), rtol=TORCH_TOL, atol=TORCH_TOL)


def test_cross_entropy_of_huge_logits_is_stable_and_matches_torch():
    logits, target = np.array([[1000.0, 0.0, -1000.0], [0.0, 800.0, 810.0]]), np.array([1, 1])
    loss = CrossEntropy()
    value = loss.forward(logits, target)
    t_logits = torch.tensor(logits, requires_grad=True)
    expected = F.cross_entropy(t_logits, torch.tensor(target))
    expected.backward()
    assert value == pytest.approx(expected.item(), rel=1e-12)  # (1000 + 10.0000454) / 2
    np.testing.assert_allclose(loss.backward(), t_logits.grad.numpy(), atol=1e-12)


def test_bce_of_huge_logits_is_finite_and_matches_torch():
    logits, target = np.array([[800.0], [-800.0], [30.0]]), np.array([0.0, 0.0, 1.0])
    loss = BCE()
    value = loss.forward(logits, target)
    expected = bce_with_logits(torch.tensor(logits), torch.tensor(target)[:, None])
    assert value == pytest.approx(expected.item(), rel=1e-12)
    assert value == pytest.approx(800 / 3, rel=1e-6)
    assert np.isfinite(loss.backward()).all()


def test_nll_of_a_zero_probability_is_large_but_finite():
    loss = NLL()
    value = loss.forward(np.array([[1.0, 0.0]]), np.array([1]))
    assert value == pytest.approx(-np.log(1e-12))
    assert np.isfinite(loss.backward()).all()


def test_cross_entropy_value_by_hand():
    """Uniform logits over 4 classes: the loss is log 4 and the gradient (1/4 - t) / N."""
    loss = CrossEntropy()
    assert loss.forward(np.zeros((2, 4)), np.array([0, 3])) == pytest.approx(np.log(4))
    np.testing.assert_allclose(loss.backward(), [[-0.375, 0.125, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]])


def test_sse_is_the_deck_003_error():
    """E = sum 1/2 (target - out)^2 = 0.274811083 + 0.023560026 for the worked example's outputs."""
    value = SSE().forward(np.array([[0.75136507, 0.772928465]]), np.array([[0.01, 0.99]]))
    assert value == pytest.approx(0.298371109, abs=1e-9)


def test_probabilities():
    logits = normal(3, 4)
    np.testing.assert_allclose(CrossEntropy().probabilities(logits).sum(axis=1), 1)
    np.testing.assert_allclose(CrossEntropy().probabilities(logits), F.softmax(torch.tensor(logits), 1).numpy())
    p = BCE().probabilities(np.array([[0.0], [np.log(3)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]])
    assert BCE().probabilities(np.zeros((2, 3))).shape == (2, 3)  # multi-label: one probability per unit
    probs = soft_targets(2, 3)
    np.testing.assert_array_equal(NLL().probabilities(probs), probs)


@pytest.mark.parametrize("loss", [CrossEntropy, NLL, MSE, SSE, BCE])
def test_losses_keep_float32(loss):
    output = np.abs(normal(3, 4)).astype(np.float32) / 4
    instance = loss()
    assert isinstance(instance.forward(output, labels(3, 4)), float)
    assert instance.backward().dtype == np.float32


def test_target_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="class index 5 is out of range for a model with 3 outputs"):
        CrossEntropy().forward(normal(2, 3), np.array([0, 5]))
    with pytest.raises(ValueError, match="class index -1 is out of range"):
        CrossEntropy().forward(normal(2, 3), np.array([0, -1]))
    with pytest.raises(ValueError, match="must be class indices"):
        CrossEntropy().forward(normal(2, 3), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"targets of shape \(2, 2\) do not match outputs of shape \(2, 3\)"):
        MSE().forward(normal(2, 3), normal(2, 2))


def test_make_loss():
    assert [type(make_loss(name)) for name in ("cross_entropy", "nll", "mse", "sse", "bce")] == [
        CrossEntropy,
        NLL,
        MSE,
        SSE,
        BCE,
    ]
    with pytest.raises(ValueError, match="unknown loss 'hinge'; known: cross_entropy, nll, mse, sse, bce"):
        make_loss("hinge")
