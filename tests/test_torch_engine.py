"""The torch engine: every kind builds, it computes what the numpy engine computes, weights move both ways."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import layerlab.numpy as ln
import layerlab.numpy.losses as nl
from layerlab import parse
from layerlab.numpy.pooling import L2Pool2D
from layerlab.spec import KINDS
from layerlab.torch import (
    LOSSES,
    MODULES,
    BatchNorm,
    L2Pool2d,
    LossError,
    Maxout,
    Step,
    build,
    export_state,
    import_state,
    make_loss,
    probabilities,
)
from layerlab.weights import WeightsError

# Every layer kind, with odd sizes, stride 2, padding, both batch norms, and non-default arguments.
ALL_KINDS = parse(
    "input(2, 13, 11) conv(8, 3, stride=2, padding=1) batchnorm leakyrelu(0.1) maxout(2) l2pool(2, stride=1) "
    "elu(0.5) conv(6, 3, padding=same, bias=false) avgpool(2) tanh maxpool(2, stride=1) globalavgpool flatten "
    "dense(12, init=he_normal, bias_init=normal(0.1)) batchnorm sigmoid dropout(0.3) dense(10) step linear "
    "dense(6) relu dense(4) softmax"
)
# Every kind with a useful gradient (no step, no dropout: its masks differ between the engines). No bias
# comes right before a batch norm, where its gradient would be 0 in training.
DIFFERENTIABLE = parse(
    "input(3, 13, 12) conv(6, 3, stride=2, padding=1, init=torch, bias_init=torch) elu batchnorm maxout(3) "
    "l2pool(2, stride=1) conv(4, 2, bias=false) leakyrelu(0.2) avgpool(2, stride=1) maxpool(2) "
    "conv(6, 1) tanh globalavgpool flatten dense(7) sigmoid batchnorm linear dense(5) relu dense(3)"
)
# One small model per kind: the kind with the layers it needs around it.
ONE_KIND = {
    "dense": "input(5) dense(3)",
    "conv": "input(2, 7, 6) conv(4, 3, stride=2, padding=same)",
    "maxpool": "input(2, 7, 5) maxpool(2)",
    "avgpool": "input(2, 7, 5) avgpool(3, stride=2)",
    "l2pool": "input(2, 7, 5) l2pool(2, stride=1)",
    "globalavgpool": "input(3, 4, 5) globalavgpool",
    "flatten": "input(3, 4, 5) flatten",
    "dropout": "input(6) dropout(0.5)",
    "batchnorm": "input(3, 4, 5) batchnorm",
    "step": "input(6) step",
    "linear": "input(6) linear",
    "sigmoid": "input(6) sigmoid",
    "tanh": "input(6) tanh",
    "relu": "input(6) relu",
    "leakyrelu": "input(6) leakyrelu(0.2)",
    "elu": "input(6) elu(0.5)",
    "maxout": "input(6, 3, 2) maxout(3)",
    "softmax": "input(6) softmax",
}


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def t(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def randomised_running_stats(spec, seed: int = 0, dtype=np.float64) -> dict[str, np.ndarray]:
    """Initial weights with random batch-norm averages, so that eval mode does more than x / sqrt(1 + eps)."""
    state = ln.initial_state(spec, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    for name, value in state.items():
        if name.endswith("running_mean") or name.endswith("weight") and value.ndim == 1:
            state[name] = rng.normal(0, 1, value.shape).astype(dtype)
        elif name.endswith("running_var"):
            state[name] = rng.uniform(0.5, 2, value.shape).astype(dtype)
    return state


# -- building ---------------------------------------------------------------------------------------


def test_the_tables_cover_every_kind():
    assert set(MODULES) == set(KINDS)
    assert set(ONE_KIND) == set(KINDS)
    assert {layer.kind for layer in ALL_KINDS.layers} == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_builds_with_the_inferred_shape_and_parameter_count(kind):
    spec = parse(ONE_KIND[kind])
    net = build(spec, dtype=torch.float64)
    assert [layer.kind for layer in spec.layers] == [kind]
    for batch in (1, 4):
        y = net(t(rand(batch, *spec.input_shape)))
        assert tuple(y.shape) == (batch, *spec.output_shape())
    assert sum(p.numel() for p in net.parameters()) == spec.num_params()


def test_module_i_is_layer_i_and_names_match_the_numpy_engine():
    net = build(ALL_KINDS)
    assert len(net) == len(ALL_KINDS.layers)
    assert isinstance(net[2], torch.nn.LeakyReLU) and net[2].negative_slope == 0.1
    assert isinstance(net[3], Maxout) and net[3].k == 2
    assert isinstance(net[4], L2Pool2d) and (net[4].size, net[4].stride) == (2, 1)
    # one batch-norm class for images and vectors, as in the numpy engine
    assert isinstance(net[1], BatchNorm) and isinstance(net[13], BatchNorm)
    assert (net[1].num_features, net[13].num_features) == (8, 12)
    assert net[6].bias is None and net[6].padding == (1, 1)
    assert isinstance(net[15], torch.nn.Dropout) and net[15].p == 0.3
    assert set(export_state(net)) == set(ln.build(ALL_KINDS).state_dict())
    assert sum(p.numel() for p in net.parameters()) == ALL_KINDS.num_params() == 716


def test_dropout_scaled_at_test_time_is_the_same_in_both_engines():
    spec = parse("input(500) dropout(0.4, scale=test)")
    assert str(spec.layers[0]) == "dropout(p=0.4, scale=test)"
    x = rand(20, 500) + 2
    net, numpy_net = build(spec, dtype=torch.float64).eval(), ln.build(spec, dtype=np.float64)
    np.testing.assert_allclose(net(t(x)).detach().numpy(), 0.6 * x)
    np.testing.assert_allclose(numpy_net.forward(x, training=False), 0.6 * x)
    trained = net.train()(t(x)).detach().numpy()
    kept = trained != 0
    np.testing.assert_allclose(trained[kept], x[kept])  # survivors unscaled
    assert abs(kept.mean() - 0.6) < 0.02


def test_same_seed_gives_the_numpy_engines_weights_exactly():
    for dtype, np_dtype in ((torch.float32, np.float32), (torch.float64, np.float64)):
        ours = export_state(build(ALL_KINDS, seed=7, dtype=dtype))
        theirs = ln.build(ALL_KINDS, seed=7, dtype=np_dtype).state_dict()
        for name, value in theirs.items():
            assert ours[name].dtype == np_dtype
            np.testing.assert_array_equal(ours[name], value, err_msg=name)
    other = export_state(build(ALL_KINDS, seed=8))
    assert not np.array_equal(other["0.weight"], theirs["0.weight"])


def test_build_takes_dtype_device_and_state_and_leaves_torchs_generator_alone():
    state = randomised_running_stats(ALL_KINDS, seed=2)
    before = torch.get_rng_state()
    net = build(ALL_KINDS, dtype=torch.float64, state=state, device="cpu")
    assert torch.equal(torch.get_rng_state(), before)
    assert all(p.dtype == torch.float64 and p.device.type == "cpu" for p in net.parameters())
    got = export_state(net)
    assert set(got) == set(state)
    for name in state:
        np.testing.assert_array_equal(got[name], state[name])  # float64 all the way: nothing rounded
    assert build(parse("input(4) dense(2)"), input_shape=(6,))[0].weight.shape == (2, 6)


# -- parity with the numpy engine --------------------------------------------------------------------


def test_every_kind_predicts_what_the_numpy_engine_predicts():
    state = randomised_running_stats(ALL_KINDS, seed=4)
    net = build(ALL_KINDS, dtype=torch.float64, state=state).eval()
    model = ln.build(ALL_KINDS, dtype=np.float64, state=state)
    x = rand(6, 2, 13, 11, seed=5)
    with torch.no_grad():
        ours = net(t(x)).numpy()
    np.testing.assert_allclose(ours, model.forward(x), rtol=0, atol=1e-12)
    assert np.allclose(ours.sum(axis=1), 1) and ours.std() > 0.01


def test_gradients_and_batchnorm_averages_match_the_numpy_engine_in_training():
    spec = DIFFERENTIABLE
    state = randomised_running_stats(spec, seed=6)
    net = build(spec, dtype=torch.float64, state=state).train()
    model = ln.build(spec, dtype=np.float64, state=state, loss="cross_entropy")
    x, y = rand(4, 3, 13, 12, seed=7), np.array([0, 2, 1, 2])
    loss = make_loss("cross_entropy")(net(t(x)), torch.as_tensor(y))
    loss.backward()
    assert loss.item() == pytest.approx(model.loss_and_grads(x, y), abs=1e-12)
    grads = model.grads
    for name, p in net.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name], rtol=0, atol=1e-10, err_msg=name)
        assert np.abs(grads[name]).max() > 1e-6, f"{name} got no gradient: the test would prove nothing"
    theirs = model.state_dict()
    for name, value in export_state(net).items():  # the running averages moved the same way
        np.testing.assert_allclose(value, theirs[name], rtol=0, atol=1e-12, err_msg=name)


def test_float32_models_agree_to_float32_precision():
    net = build(DIFFERENTIABLE, seed=1).eval()
    model = ln.build(DIFFERENTIABLE, seed=1)
    x = rand(3, 3, 13, 12).astype(np.float32)
    with torch.no_grad():
        ours = net(torch.from_numpy(x)).numpy()
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, model.forward(x), rtol=1e-4, atol=1e-5)


def test_deck_003_worked_example_trains_one_step():
    """Mazur's example on the slides: E_total = 0.298, dE/dw5 = 0.082, and 0.291 after one step of eta = 0.5."""
    spec = parse("input(2) dense(2) sigmoid dense(2) sigmoid")
    state = {
        "0.weight": np.array([[0.15, 0.20], [0.25, 0.30]]),
        "0.bias": np.array([0.35, 0.35]),
        "2.weight": np.array([[0.40, 0.45], [0.50, 0.55]]),
        "2.bias": np.array([0.60, 0.60]),
    }
    net = build(spec, dtype=torch.float64, state=state)
    x, target = t([[0.05, 0.10]]), t([[0.01, 0.99]])
    loss = make_loss("sse")(net(x), target)
    assert loss.item() == pytest.approx(0.298371109, abs=1e-9)
    loss.backward()
    assert net[2].weight.grad[0, 0].item() == pytest.approx(0.082167041, abs=1e-9)  # w5
    with torch.no_grad():
        for p in (net[0].weight, net[2].weight):  # the example leaves the biases as they are
            p -= 0.5 * p.grad
    assert net[2].weight[0, 0].item() == pytest.approx(0.35891648, abs=1e-8)
    assert net[0].weight[0, 0].item() == pytest.approx(0.149780716, abs=1e-9)  # w1
    # 0.291027924 in the example, computed there from intermediate values rounded to 9 digits
    assert make_loss("sse")(net(x), target).item() == pytest.approx(0.291027924, abs=2e-7)


# -- the layers PyTorch lacks -------------------------------------------------------------------------


def test_l2pool_is_the_root_of_the_mean_of_squares():
    x = t([[[[1, 2, 0, 6], [2, 4, 0, 0], [1, 1, 1, 1]]]])  # (1, 1, 3, 4): the last row is dropped
    y = L2Pool2d(2)(x)
    np.testing.assert_allclose(y.numpy(), [[[[2.5, 3.0]]]])  # sqrt(25/4), sqrt(36/4)
    overlapping = L2Pool2d(2, stride=1)(x)
    assert overlapping.shape == (1, 1, 2, 3)
    assert overlapping[0, 0, 1, 1].item() == pytest.approx(math.sqrt((16 + 0 + 1 + 1) / 4))


def test_l2pool_matches_the_numpy_layer_and_has_no_nan_gradient_on_zero_windows():
    x = rand(2, 3, 7, 6)
    x[:, :, :2, :2] = 0  # an all-zero window, as after a ReLU
    xt = t(x).requires_grad_()
    y = L2Pool2d(2)(xt)
    dy = rand(*y.shape, seed=1)
    y.backward(t(dy))
    layer = L2Pool2D(2, 2)
    np.testing.assert_allclose(y.detach().numpy(), layer.forward(x), atol=1e-14)
    np.testing.assert_allclose(xt.grad.numpy(), layer.backward(dy), atol=1e-13)
    assert torch.isfinite(xt.grad).all() and (xt.grad[:, :, :2, :2] == 0).all()


@pytest.mark.parametrize(
    ("size", "stride", "shape"), [(2, 2, (1, 1, 4, 4)), (2, 1, (2, 3, 5, 7)), (3, 2, (2, 2, 7, 6))]
)
def test_l2pool_gradcheck(size, stride, shape):
    x = t(rand(*shape, seed=size + stride)).requires_grad_()
    assert torch.autograd.gradcheck(L2Pool2d(size, stride), (x,))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize(
    ("size", "shape"), [(2, (10, 20, 24, 24)), (2, (3, 4, 7, 9)), (3, (2, 5, 8, 7)), (2, (2, 1, 6, 6))]
)
def test_maxpool_without_gradient_gives_pytorchs_values_exactly(size, shape, layout):
    """Evaluation takes the strided-maxima route (``window_max``): every value, ties, infinities and NaN
    included, is what PyTorch's max-pooling gives, in the same memory layout; with a gradient wanted,
    PyTorch's own kernel runs."""
    x = torch.from_numpy(np.round(rand(*shape, seed=size) * 3).astype(np.float32))  # rounded: many ties
    x[0, 0, 0, 0], x[-1, -1, 1, 1], x[0, -1, -1, -1] = math.nan, math.inf, -math.inf
    x = x.contiguous(memory_format=layout)
    pool, expected = MODULES["maxpool"](size, size), torch.nn.functional.max_pool2d(x, size)
    with torch.no_grad():
        fast = pool(x)
    assert fast.shape == expected.shape and fast.stride() == expected.stride()
    assert torch.equal(fast.isnan(), expected.isnan())
    assert torch.equal(torch.nan_to_num(fast), torch.nan_to_num(expected))
    assert fast.isnan().sum() == 1 and fast.isinf().any()
    trained = x.clone().requires_grad_()
    out = pool(trained)
    out.backward(torch.ones_like(out))
    assert out.grad_fn is not None and trained.grad.sum() == out.numel()  # one gradient per window


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_flatten_gives_its_gradient_back_in_its_inputs_memory_layout(layout):
    """oneDNN's convolutions leave channels-last images; the gradient of their flatten goes back channels last
    (so the max-pool below takes its fast path), with ``nn.Flatten``'s values, forward and backward."""
    x = torch.from_numpy(rand(4, 3, 5, 6, seed=3).astype(np.float32)).contiguous(memory_format=layout)
    grad = torch.from_numpy(rand(4, 90, seed=4).astype(np.float32))
    given_back = {}
    for name, flatten in (("ours", MODULES["flatten"]()), ("nn.Flatten", torch.nn.Flatten())):
        leaf = x.clone().requires_grad_()
        images = leaf * 2  # as a layer's output: not a leaf, so its gradient arrives as computed
        images.register_hook(lambda g, name=name: given_back.setdefault(name, g))
        out = flatten(images)
        out.backward(grad)
        assert out.is_contiguous() and torch.equal(out, x.flatten(1) * 2)
    assert torch.equal(given_back["ours"], given_back["nn.Flatten"])
    assert given_back["ours"].is_contiguous(memory_format=layout)
    if layout == torch.channels_last:  # what nn.Flatten gives back: (C, H, W) order
        assert not given_back["nn.Flatten"].is_contiguous(memory_format=layout)


def test_maxout_takes_the_max_of_k_consecutive_features_or_channels():
    x = t([[1, 5, 3, 2, -1, -4]])
    np.testing.assert_array_equal(Maxout(2)(x).numpy(), [[5, 3, -1]])
    np.testing.assert_array_equal(Maxout(3)(x).numpy(), [[5, 2]])
    image = t(np.arange(8).reshape(1, 4, 1, 2) * [[[[1]], [[-1]], [[1]], [[1]]]])  # channels 0..3
    np.testing.assert_array_equal(Maxout(2)(image).numpy(), [[[[0, 1]], [[6, 7]]]])
    xt = t([[1, 5, 3, 2]]).requires_grad_()
    Maxout(2)(xt).sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), [[0, 1, 1, 0]])  # only the winners learn
    with pytest.raises(ValueError, match="divisible by 4"):
        Maxout(4)(x)


@pytest.mark.parametrize("shape", [(1, 6), (3, 6, 3, 5)])
def test_maxout_gradcheck(shape):
    x = t(rand(*shape)).requires_grad_()
    assert torch.autograd.gradcheck(Maxout(3), (x,))


def test_step_gives_zero_or_one_and_a_zero_gradient():
    x = torch.tensor([[-1.0, 0.0, 2.5, 1e-30]], dtype=torch.float64, requires_grad=True)
    y = Step()(x)
    assert y.dtype == torch.float64
    np.testing.assert_array_equal(y.detach().numpy(), [[0, 0, 1, 1]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 0, 0]])
    assert torch.autograd.gradcheck(Step(), (t(rand(2, 5)).requires_grad_(),))
    net = build(parse("input(3) dense(4) step dense(2)"), dtype=torch.float64)
    make_loss("cross_entropy")(net(t(rand(5, 3))), torch.tensor([0, 1, 1, 0, 1])).backward()
    assert (net[0].weight.grad == 0).all() and (net[2].weight.grad != 0).any()  # nothing learns before a step


# -- losses ------------------------------------------------------------------------------------------


def test_losses_on_hand_computed_numbers():
    logits = t(np.log([[1, 3], [2, 2]]))  # softmax rows: [0.25, 0.75], [0.5, 0.5]
    labels = torch.tensor([1, 0])
    ce = (-math.log(0.75) - math.log(0.5)) / 2
    assert make_loss("cross_entropy")(logits, labels).item() == pytest.approx(ce, abs=1e-15)
    soft = t([[0.5, 0.5], [1, 0]])
    soft_ce = (-0.5 * math.log(0.25) - 0.5 * math.log(0.75) - math.log(0.5)) / 2
    assert make_loss("cross_entropy")(logits, soft).item() == pytest.approx(soft_ce, abs=1e-15)
    assert make_loss("nll")(t([[0.25, 0.75], [0.5, 0.5]]), labels).item() == pytest.approx(ce, abs=1e-15)
    assert make_loss("nll")(t([[1.0, 0.0]]), torch.tensor([1])).item() == pytest.approx(-math.log(1e-12))
    out, label = t([[0.2, 0.8, 0.5]]), torch.tensor([0])  # errors -0.8, 0.8, 0.5
    assert make_loss("mse")(out, label).item() == pytest.approx((0.64 + 0.64 + 0.25) / 3)
    assert make_loss("sse")(out, label).item() == pytest.approx(0.5 * 1.53)
    two = t([[0.2, 0.8, 0.5], [0, 0, 1]])
    assert make_loss("sse")(two, torch.tensor([0, 2])).item() == pytest.approx(0.5 * 1.53 / 2)
    bce = (-math.log(0.5) - math.log(0.75)) / 2  # sigma(0) = 0.5, sigma(ln 3) = 0.75
    for shape in ((2, 1), (2,)):
        z = t([0.0, math.log(3)]).reshape(shape)
        assert make_loss("bce")(z, torch.tensor([0, 1])).item() == pytest.approx(bce, abs=1e-15)
        assert make_loss("bce")(z, t([0, 1])).item() == pytest.approx(bce, abs=1e-15)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_and_their_gradients_match_the_numpy_engine(name):
    rng = np.random.default_rng(3)
    output = rng.standard_normal((5, 4))
    if name == "nll":
        output = nl.softmax(output)
    targets = [rng.integers(0, 4, 5), nl.softmax(rng.standard_normal((5, 4)))]
    if name == "bce":
        targets = [rng.integers(0, 2, (5, 4)).astype(np.float64)]
    for target in targets:
        theirs = nl.make_loss(name)
        expected = theirs.forward(output, target)
        out = t(output).requires_grad_()
        loss = make_loss(name)(out, torch.as_tensor(target))
        loss.backward()
        assert loss.item() == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(out.grad.numpy(), theirs.backward(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(probabilities(name, t(output)).numpy(), theirs.probabilities(output), atol=1e-15)


def test_probabilities():
    logits = t(np.log([[1, 3], [2, 2]]))
    np.testing.assert_allclose(probabilities("cross_entropy", logits).numpy(), [[0.25, 0.75], [0.5, 0.5]])
    one_output = t([[0.0], [math.log(3)]])
    np.testing.assert_allclose(probabilities("bce", one_output).numpy(), [[0.5, 0.5], [0.25, 0.75]])
    np.testing.assert_allclose(probabilities("bce", one_output[:, 0]).numpy(), [[0.5, 0.5], [0.25, 0.75]])
    p = t([[0.1, 0.9]])
    for name in ("nll", "mse", "sse"):
        assert probabilities(name, p) is p


def test_loss_errors_say_what_to_do():
    with pytest.raises(LossError, match="unknown loss 'xent'; known losses: cross_entropy, nll, mse, sse, bce"):
        make_loss("xent")
    with pytest.raises(ValueError, match="unknown loss"):
        probabilities("xent", t([[1.0]]))
    out = t(rand(3, 4))
    with pytest.raises(LossError, match="must be class indices"):
        make_loss("mse")(out, t([0, 1, 2]))
    with pytest.raises(LossError, match="2 class indices for a batch of 3"):
        make_loss("cross_entropy")(out, torch.tensor([0, 1]))
    with pytest.raises(LossError, match=r"bce: targets of shape \(3, 3\) do not fit outputs of shape \(3, 4\)"):
        make_loss("bce")(out, t(np.ones((3, 3))))


# -- moving weights ----------------------------------------------------------------------------------


def train_torch(net, x, y, steps: int = 3) -> None:
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    net.train()
    for _ in range(steps):
        optimizer.zero_grad()
        make_loss("cross_entropy")(net(x), y).backward()
        optimizer.step()
    net.eval()


def test_export_import_round_trip_between_torch_models():
    spec = DIFFERENTIABLE
    x, y = t(rand(8, 3, 13, 12)), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    trained = build(spec, seed=1, dtype=torch.float64)
    train_torch(trained, x, y)
    copy = build(spec, seed=2, dtype=torch.float64).eval()
    with torch.no_grad():
        assert not torch.allclose(copy(x), trained(x))
        import_state(copy, export_state(trained))
        assert torch.equal(copy(x), trained(x))
        import_state(copy, dict(trained.state_dict()))  # torch tensors work too
    state = export_state(trained)
    assert not any("num_batches_tracked" in name for name in state)
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["0.weight"][...] = 0  # a copy: the model is not changed through it
    assert trained[0].weight.abs().sum() > 0


def test_weights_move_both_ways_between_engines_with_the_same_predictions():
    spec = DIFFERENTIABLE
    x, y = rand(8, 3, 13, 12), np.array([0, 1, 2, 0, 1, 2, 0, 1])
    net = build(spec, seed=3, dtype=torch.float64)
    train_torch(net, t(x), torch.as_tensor(y))
    model = ln.build(spec, seed=4, dtype=np.float64)
    model.load_state_dict(export_state(net))
    with torch.no_grad():
        np.testing.assert_allclose(model.forward(x), net(t(x)).numpy(), rtol=0, atol=1e-12)

    model = ln.build(spec, seed=5, dtype=np.float64)
    for _ in range(3):
        model.train_step(x, y, ln.SGD(lr=0.5))
    back = build(spec, seed=6, dtype=torch.float64, state=model.state_dict()).eval()
    with torch.no_grad():
        np.testing.assert_allclose(back(t(x)).numpy(), model.forward(x), rtol=0, atol=1e-12)
        assert np.array_equal(model.predict(x), probabilities("cross_entropy", back(t(x))).argmax(dim=1).numpy())


def test_import_state_rejects_weights_of_another_model_and_changes_nothing():
    net = build(parse("input(4) dense(3) batchnorm dense(2)"))
    good = export_state(net)
    with pytest.raises(WeightsError, match=r"missing \['2.bias'\], unexpected \['2.b'\]; .*different spec"):
        import_state(net, {**{k: v for k, v in good.items() if k != "2.bias"}, "2.b": np.zeros(2)})
    with pytest.raises(ValueError, match=r"missing \['1.running_var'\], unexpected nothing"):
        import_state(net, {k: v for k, v in good.items() if k != "1.running_var"})
    bad = {**{k: np.full_like(v, 9.0) for k, v in good.items()}, "2.weight": np.zeros((3, 2), np.float32)}
    with pytest.raises(WeightsError, match=r"weight 2.weight has shape \(3, 2\), this model needs \(2, 3\)"):
        import_state(net, bad)
    for name, value in export_state(net).items():  # checked before anything was copied
        np.testing.assert_array_equal(value, good[name])
    with pytest.raises(WeightsError, match="missing"):
        build(parse("input(4) dense(3)"), state={"0.weight": np.zeros((3, 4))})
