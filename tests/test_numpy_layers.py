"""Every numpy layer and activation: finite-difference gradients, parity with PyTorch, dtypes, errors.

Gradient checks run in float64 through ``check_layer`` (central differences of sum(forward(x) * r)).
Inputs of layers with kinks (ReLU, LeakyReLU, ELU, max pooling, maxout, step) are drawn away from the
kink: |x| >= 0.1 around 0, and values at least 0.05 apart where a maximum is taken, far more than the
finite-difference step of 1e-6.

Parity tests give the numpy layer and its torch counterpart the same input, weights and upstream
gradient dL/dy, and compare the output, dL/dx and every parameter gradient in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from layerlab.numpy import activations as act
from layerlab.numpy.conv import Conv2D
from layerlab.numpy.dense import Dense
from layerlab.numpy.dropout import Dropout
from layerlab.numpy.gradcheck import check_layer, numerical_gradient, relative_error
from layerlab.numpy.normalization import BatchNorm
from layerlab.numpy.pooling import AvgPool2D, GlobalAvgPool, L2Pool2D, MaxPool2D
from layerlab.numpy.reshape import Flatten
from layerlab.spec import conv_padding

GRAD_TOL = 1e-6  # finite differences against backward
TORCH_TOL = 1e-9  # numpy against torch, both float64


def normal(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def away_from_zero(*shape: int, seed: int = 0) -> np.ndarray:
    """Values in +-[0.1, 2]: no input sits on the kink of ReLU, LeakyReLU, ELU or step."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def distinct(*shape: int, seed: int = 0) -> np.ndarray:
    """Shuffled values 0.05 apart (and away from 0): every maximum is unique and stays so under +-eps."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2 + 0.5) * 0.05).reshape(shape)


def assert_gradients_match(layer, x: np.ndarray, training: bool = False) -> None:
    errors = check_layer(layer, x, training)
    assert set(errors) == {"x", *layer.params}
    assert max(errors.values()) < GRAD_TOL, errors


def assert_matches_torch(layer, x: np.ndarray, torch_forward, training: bool = False) -> None:
    """Output, dL/dx and every dL/dparam of ``layer`` equal those of ``torch_forward(x, **params)``."""
    y = layer.forward(x, training)
    dy = normal(*y.shape, seed=99)
    dx = layer.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    tparams = {name: torch.tensor(p, requires_grad=True) for name, p in layer.params.items()}
    ty = torch_forward(tx, **tparams)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=TORCH_TOL, atol=TORCH_TOL)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=TORCH_TOL, atol=TORCH_TOL)
    assert set(layer.grads) == set(tparams)
    for name, p in tparams.items():
        np.testing.assert_allclose(layer.grads[name], p.grad.numpy(), rtol=TORCH_TOL, atol=TORCH_TOL, err_msg=name)


# ---------------------------------------------------------------------------------------------------
# Dense
# ---------------------------------------------------------------------------------------------------

DENSE_CASES = [(1, 3, 2, True), (4, 5, 3, True), (3, 7, 1, True), (5, 4, 6, False)]  # batch, in, out, bias


def make_dense(n_in: int, n_out: int, bias: bool) -> Dense:
    return Dense(normal(n_out, n_in, seed=1), normal(n_out, seed=2) if bias else None)


@pytest.mark.parametrize("batch, n_in, n_out, bias", DENSE_CASES)
def test_dense_gradients(batch, n_in, n_out, bias):
    assert_gradients_match(make_dense(n_in, n_out, bias), normal(batch, n_in))


@pytest.mark.parametrize("batch, n_in, n_out, bias", DENSE_CASES)
def test_dense_matches_torch(batch, n_in, n_out, bias):
    assert_matches_torch(make_dense(n_in, n_out, bias), normal(batch, n_in), F.linear)


def test_dense_computes_x_w_transpose_plus_b():
    layer = Dense(np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]]), np.array([0.5, 0.0, -1.0]))
    y = layer.forward(np.array([[1.0, 1.0], [2.0, -2.0]]))
    np.testing.assert_array_equal(y, [[3.5, -1.0, 2.5], [-1.5, 2.0, 4.0]])


# ---------------------------------------------------------------------------------------------------
# Conv2D
# ---------------------------------------------------------------------------------------------------

# batch, channels, height, width, filters, kernel, stride, padding (as the spec writes it)
CONV_CASES = [
    (1, 1, 5, 5, 2, 3, 1, "valid"),
    (2, 3, 7, 6, 4, 3, 2, "valid"),  # stride 2 over odd sizes: the last column is never covered
    (2, 2, 6, 5, 3, 3, 1, "same"),
    (3, 2, 5, 7, 2, 3, 2, "same"),
    (2, 2, 5, 5, 3, 2, 2, 1),  # even kernel, 1 pixel of padding, stride 2
    (1, 3, 4, 4, 2, 1, 1, "valid"),  # 1x1 kernel
    (2, 1, 6, 6, 2, 5, 1, 2),
]


def make_conv(channels: int, filters: int, kernel: int, stride: int, padding, bias: bool = True) -> Conv2D:
    pixels = conv_padding({"padding": padding, "kernel": kernel})
    weight = normal(filters, channels, kernel, kernel, seed=1)
    return Conv2D(weight, normal(filters, seed=2) if bias else None, stride, pixels)


@pytest.mark.parametrize("n, c, h, w, f, k, stride, padding", CONV_CASES)
def test_conv_gradients(n, c, h, w, f, k, stride, padding):
    assert_gradients_match(make_conv(c, f, k, stride, padding), normal(n, c, h, w))


def test_conv_gradients_without_bias():
    assert_gradients_match(make_conv(2, 3, 3, 2, "same", bias=False), normal(2, 2, 5, 6))


@pytest.mark.parametrize("n, c, h, w, f, k, stride, padding", CONV_CASES)
def test_conv_matches_torch(n, c, h, w, f, k, stride, padding):
    layer = make_conv(c, f, k, stride, padding)
    pixels = conv_padding({"padding": padding, "kernel": k})
    assert_matches_torch(layer, normal(n, c, h, w), lambda x, **p: F.conv2d(x, **p, stride=stride, padding=pixels))


def test_conv_same_padding_keeps_the_size_and_stride_2_halves_it():
    assert make_conv(2, 3, 3, 1, "same").forward(normal(2, 2, 7, 6)).shape == (2, 3, 7, 6)
    assert make_conv(2, 3, 3, 2, "same").forward(normal(2, 2, 7, 6)).shape == (2, 3, 4, 3)


def test_conv_without_input_gradient_still_gives_weight_gradients():
    x, dy = normal(2, 2, 5, 5), normal(2, 3, 3, 3, seed=5)
    full, first = make_conv(2, 3, 3, 1, "valid"), make_conv(2, 3, 3, 1, "valid")
    first.input_grad = False
    full.forward(x)
    first.forward(x)
    assert full.backward(dy) is not None
    assert first.backward(dy) is None
    for name in ("weight", "bias"):
        np.testing.assert_array_equal(first.grads[name], full.grads[name])


# ---------------------------------------------------------------------------------------------------
# Pooling, flatten
# ---------------------------------------------------------------------------------------------------

# batch, channels, height, width, size, stride
POOL_CASES = [
    (1, 1, 4, 4, 2, 2),
    (2, 3, 5, 7, 2, 2),  # odd sizes: the last row/column is dropped
    (2, 2, 7, 7, 3, 2),  # overlapping windows (stride < size)
    (1, 2, 7, 6, 2, 3),  # gaps between windows (stride > size)
    (2, 1, 5, 5, 3, 1),
]
POOLS = {
    "max": (MaxPool2D, lambda x, size, stride: F.max_pool2d(x, size, stride)),
    "avg": (AvgPool2D, lambda x, size, stride: F.avg_pool2d(x, size, stride)),
    "l2": (L2Pool2D, lambda x, size, stride: torch.sqrt(F.avg_pool2d(x**2, size, stride))),
}


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("n, c, h, w, size, stride", POOL_CASES)
def test_pool_gradients(kind, n, c, h, w, size, stride):
    assert_gradients_match(POOLS[kind][0](size, stride), distinct(n, c, h, w))


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("n, c, h, w, size, stride", POOL_CASES)
def test_pool_matches_torch(kind, n, c, h, w, size, stride):
    layer, torch_pool = POOLS[kind]
    x = distinct(n, c, h, w)
    assert_matches_torch(layer(size, stride), x, lambda x: torch_pool(x, size, stride))


def test_pool_stride_defaults_to_the_window_size():
    assert MaxPool2D(3).stride == 3
    assert AvgPool2D(2).forward(normal(1, 1, 7, 5)).shape == (1, 1, 3, 2)


def test_maxpool_tie_sends_the_gradient_to_the_first_pixel_as_torch():
    x = np.array([[[[1.0, 2.0], [2.0, 0.0]]]])
    layer = MaxPool2D(2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1))), [[[[0, 1], [0, 0]]]])
    tx = torch.tensor(x, requires_grad=True)
    F.max_pool2d(tx, 2).sum().backward()
    np.testing.assert_array_equal(tx.grad.numpy(), [[[[0, 1], [0, 0]]]])


def test_l2pool_is_the_root_mean_square_and_all_zero_windows_get_zero_gradient():
    layer = L2Pool2D(2)
    x = np.array([[[[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])
    np.testing.assert_allclose(layer.forward(x), [[[[2.5, 0.0]]]])  # sqrt((9 + 16) / 4)
    dx = layer.backward(np.ones((1, 1, 1, 2)))
    np.testing.assert_allclose(dx, [[[[0.3, 0.4, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])  # x / (k^2 y)
    assert np.isfinite(dx).all()


@pytest.mark.parametrize("shape", [(1, 2, 3, 3), (3, 4, 5, 2)])
def test_global_avgpool_gradients_and_torch(shape):
    assert_gradients_match(GlobalAvgPool(), normal(*shape))
    assert_matches_torch(GlobalAvgPool(), normal(*shape), lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1))


@pytest.mark.parametrize("shape", [(1, 2, 3, 3), (3, 4, 5, 2)])
def test_flatten_gradients_and_torch(shape):
    assert_gradients_match(Flatten(), normal(*shape))
    assert_matches_torch(Flatten(), normal(*shape), lambda x: torch.flatten(x, 1))


# ---------------------------------------------------------------------------------------------------
# Batch norm
# ---------------------------------------------------------------------------------------------------

BATCHNORM_SHAPES = [(5, 3), (2, 4), (2, 3, 3, 4), (1, 2, 3, 3)]  # dense and conv inputs, a batch of 1 image


def make_batchnorm(features: int, momentum: float = 0.1, eps: float = 1e-5) -> BatchNorm:
    """Non-trivial gamma, beta and running averages, so eval mode is more than the identity."""
    gamma, beta = 1 + 0.5 * normal(features, seed=1), normal(features, seed=2)
    running_mean, running_var = normal(features, seed=3), np.random.default_rng(4).uniform(0.5, 2.0, features)
    return BatchNorm(gamma, beta, running_mean, running_var, momentum, eps)


def torch_batchnorm(layer: BatchNorm, training: bool):
    """F.batch_norm on copies of the layer's running averages (updated in place in training)."""
    running = {name: torch.tensor(value) for name, value in layer.buffers.items()}

    def forward(x, weight, bias):
        mean, var = running["running_mean"], running["running_var"]
        return F.batch_norm(x, mean, var, weight, bias, training, layer.momentum, layer.eps)

    return forward, running


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", BATCHNORM_SHAPES)
def test_batchnorm_gradients(shape, training):
    assert_gradients_match(make_batchnorm(shape[1]), 2 + 3 * normal(*shape), training)


@pytest.mark.parametrize("shape", BATCHNORM_SHAPES)
def test_batchnorm_training_matches_torch_with_running_averages(shape):
    """Three training steps on different batches: outputs, gradients and the running averages agree."""
    layer = make_batchnorm(shape[1], momentum=0.3)
    start = layer.buffers["running_mean"].copy()
    torch_forward, running = torch_batchnorm(layer, training=True)
    for step in range(3):
        assert_matches_torch(layer, 1 + 2 * normal(*shape, seed=10 + step), torch_forward, training=True)
    for name, value in running.items():
        np.testing.assert_allclose(layer.buffers[name], value.numpy(), rtol=TORCH_TOL, atol=TORCH_TOL)
    assert np.abs(layer.buffers["running_mean"] - start).min() > 1e-3  # they did move


@pytest.mark.parametrize("shape", [*BATCHNORM_SHAPES, (1, 3)])
def test_batchnorm_eval_matches_torch_and_leaves_running_averages_alone(shape):
    layer = make_batchnorm(shape[1])
    before = {name: value.copy() for name, value in layer.buffers.items()}
    assert_matches_torch(layer, normal(*shape), torch_batchnorm(layer, training=False)[0])
    for name, value in before.items():
        np.testing.assert_array_equal(layer.buffers[name], value)


def test_batchnorm_training_output_has_zero_mean_and_unit_variance_per_channel():
    layer = BatchNorm(np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    y = layer.forward(5 + 3 * normal(4, 3, 5, 6), training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)  # eps = 1e-5 in the denominator


def test_batchnorm_training_on_one_dense_example_explains_the_fix():
    with pytest.raises(ValueError, match="batch size > 1"):
        make_batchnorm(3).forward(normal(1, 3), training=True)


# ---------------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------------

# name: (layer factory, input drawer, torch equivalent); element-wise ones work on any shape.
ELEMENTWISE = {
    "linear": (act.Linear, normal, lambda x: x * 1),
    "sigmoid": (act.Sigmoid, normal, torch.sigmoid),
    "tanh": (act.Tanh, normal, torch.tanh),
    "relu": (act.ReLU, away_from_zero, F.relu),
    "leakyrelu": (lambda: act.LeakyReLU(0.1), away_from_zero, lambda x: F.leaky_relu(x, 0.1)),
    "leakyrelu_default": (act.LeakyReLU, away_from_zero, F.leaky_relu),
    "elu": (act.ELU, away_from_zero, F.elu),
    "elu_alpha": (lambda: act.ELU(0.5), away_from_zero, lambda x: F.elu(x, 0.5)),
}
ACTIVATION_SHAPES = [(1, 7), (4, 5), (2, 3, 3, 5)]


@pytest.mark.parametrize("shape", ACTIVATION_SHAPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_gradients(name, shape):
    make, draw, _ = ELEMENTWISE[name]
    assert_gradients_match(make(), draw(*shape))


@pytest.mark.parametrize("shape", ACTIVATION_SHAPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_matches_torch(name, shape):
    make, draw, torch_fn = ELEMENTWISE[name]
    assert_matches_torch(make(), 3 * draw(*shape), torch_fn)


def test_sigmoid_does_not_overflow():
    y = act.Sigmoid().forward(np.array([[-1000.0, 0.0, 1000.0]]))
    np.testing.assert_array_equal(y, [[0.0, 0.5, 1.0]])


@pytest.mark.parametrize("shape", [(1, 6), (3, 5)])
def test_softmax_gradients_and_torch(shape):
    assert_gradients_match(act.Softmax(), normal(*shape))
    assert_matches_torch(act.Softmax(), 3 * normal(*shape), lambda x: F.softmax(x, dim=1))


def test_softmax_of_large_logits_is_finite_and_rows_sum_to_one():
    y = act.Softmax().forward(np.array([[1000.0, 1000.0, 0.0], [-1000.0, 0.0, 1.0]]))
    np.testing.assert_allclose(y.sum(axis=1), 1)
    np.testing.assert_allclose(y[0], [0.5, 0.5, 0.0])


MAXOUT_CASES = [((1, 4), 2), ((3, 6), 2), ((2, 6), 3), ((2, 4, 3, 3), 2), ((1, 6, 2, 3), 3), ((2, 5), 1)]


def torch_maxout(k: int):
    return lambda x: x.view(x.shape[0], x.shape[1] // k, k, *x.shape[2:]).max(dim=2).values


@pytest.mark.parametrize("shape, k", MAXOUT_CASES)
def test_maxout_gradients(shape, k):
    assert_gradients_match(act.Maxout(k), distinct(*shape))


@pytest.mark.parametrize("shape, k", MAXOUT_CASES)
def test_maxout_matches_torch(shape, k):
    assert_matches_torch(act.Maxout(k), distinct(*shape), torch_maxout(k))


def test_maxout_takes_the_max_of_consecutive_groups():
    y = act.Maxout(2).forward(np.array([[1.0, 5.0, -2.0, -3.0, 0.5, 0.25]]))
    np.testing.assert_array_equal(y, [[5.0, -2.0, 0.5]])


def test_maxout_errors_name_the_problem():
    with pytest.raises(ValueError, match="divisible by 3"):
        act.Maxout(3).forward(normal(2, 4))
    with pytest.raises(ValueError, match="k >= 1"):
        act.Maxout(0)


@pytest.mark.parametrize("shape", [(1, 6), (2, 3, 2, 2)])
def test_step_is_a_threshold_with_zero_gradient(shape):
    """Away from 0 the finite differences of the step are 0, as is its backward."""
    layer = act.Step()
    x = away_from_zero(*shape)
    np.testing.assert_array_equal(layer.forward(x), (x > 0).astype(float))
    assert_gradients_match(layer, x)
    np.testing.assert_array_equal(layer.backward(np.ones(shape)), np.zeros(shape))
    np.testing.assert_array_equal(layer.forward(np.array([[-1.0, 0.0, 2.0]])), [[0.0, 0.0, 1.0]])


# ---------------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------------


def test_dropout_gradient_through_a_fixed_mask():
    """Reseeding the layer's generator before every forward fixes the mask for the finite differences."""
    layer = Dropout(0.4)
    x, r = normal(3, 7), normal(3, 7, seed=1)

    def loss() -> float:
        layer.rng = np.random.default_rng(5)
        return float(np.sum(layer.forward(x, training=True) * r))

    loss()
    mask = layer.mask.copy()
    assert (mask == 0).any() and (mask > 0).any()
    dx = layer.backward(r)
    assert relative_error(dx, numerical_gradient(loss, x)) < GRAD_TOL
    np.testing.assert_array_equal(dx, r * mask)
    assert set(np.unique(mask)) == {0.0, 1 / 0.6}


def test_dropout_mask_statistics():
    p = 0.3
    layer = Dropout(p, np.random.default_rng(0))
    x = np.ones((200, 500), dtype=np.float32)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32
    assert abs(float((y == 0).mean()) - p) < 0.01  # fraction dropped, std ~0.0015
    assert abs(float(y.mean()) - 1) < 0.01  # inverted scaling keeps the expected value, std ~0.002
    np.testing.assert_allclose(np.unique(y), [0, 1 / (1 - p)], rtol=1e-6)
    assert not np.array_equal(layer.forward(x, training=True), y)  # a fresh mask every pass


def test_dropout_is_the_identity_at_test_time_and_for_p_zero():
    x, dy = normal(4, 5), normal(4, 5, seed=1)
    for layer, training in ((Dropout(0.5), False), (Dropout(0.0), True)):
        np.testing.assert_array_equal(layer.forward(x, training), x)
        np.testing.assert_array_equal(layer.backward(dy), dy)


def test_dropout_scaled_at_test_time_as_in_network3():
    """scale="test" (deck 001, network3.py): survivors unscaled in training, every unit x (1-p) at test."""
    layer = Dropout(0.25, np.random.default_rng(0), scale="test")
    x, dy = normal(300, 40) + 3, normal(300, 40, seed=1)
    y = layer.forward(x, training=True)
    assert set(np.unique(layer.mask)) == {0.0, 1.0} and abs(float((layer.mask == 0).mean()) - 0.25) < 0.01
    np.testing.assert_array_equal(y, x * layer.mask)
    np.testing.assert_array_equal(layer.backward(dy), dy * layer.mask)
    np.testing.assert_allclose(layer.forward(x, training=False), 0.75 * x)
    assert abs(float(y.mean()) / float(layer.forward(x).mean()) - 1) < 0.01  # same expected value, as inverted
    with pytest.raises(ValueError, match="'train' or 'test'"):
        Dropout(0.5, scale="never")


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_dropout_rejects_a_probability_outside_0_1(p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(p)


# ---------------------------------------------------------------------------------------------------
# float32 in, float32 out
# ---------------------------------------------------------------------------------------------------

FLOAT32_LAYERS = {
    "dense": (lambda: Dense(np.ones((3, 4), np.float32), np.zeros(3, np.float32)), (2, 4)),
    "conv": (lambda: Conv2D(np.ones((3, 2, 3, 3), np.float32), np.zeros(3, np.float32), 2, 1), (2, 2, 5, 5)),
    "maxpool": (lambda: MaxPool2D(2), (2, 2, 4, 4)),
    "avgpool": (lambda: AvgPool2D(2), (2, 2, 4, 4)),
    "l2pool": (lambda: L2Pool2D(2), (2, 2, 4, 4)),
    "globalavgpool": (GlobalAvgPool, (2, 2, 4, 4)),
    "flatten": (Flatten, (2, 2, 4, 4)),
    "dropout": (lambda: Dropout(0.5), (2, 6)),
    "batchnorm": (lambda: BatchNorm(*(np.ones(2, np.float32) for _ in range(4))), (3, 2, 2, 2)),
    "sigmoid": (act.Sigmoid, (2, 6)),
    "tanh": (act.Tanh, (2, 6)),
    "relu": (act.ReLU, (2, 6)),
    "leakyrelu": (act.LeakyReLU, (2, 6)),
    "elu": (act.ELU, (2, 6)),
    "maxout": (lambda: act.Maxout(2), (2, 6)),
    "softmax": (act.Softmax, (2, 6)),
    "step": (act.Step, (2, 6)),
}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", FLOAT32_LAYERS)
def test_layers_keep_float32(name, training):
    make, shape = FLOAT32_LAYERS[name]
    layer = make()
    y = layer.forward(normal(*shape).astype(np.float32), training)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == np.float32
    assert dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())
