"""Initialisers, weight penalties and the numpy Model: building, training, dtypes, inputs and state."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from layerlab import parse
from layerlab.numpy import L1, L2, SGD, build, initial_state
from layerlab.numpy import activations as act
from layerlab.numpy.conv import Conv2D
from layerlab.numpy.dense import Dense
from layerlab.numpy.dropout import Dropout
from layerlab.numpy.gradcheck import check_model, numerical_gradient, relative_error
from layerlab.numpy.initializers import fans, init_bias, init_weight
from layerlab.numpy.normalization import BatchNorm
from layerlab.numpy.pooling import MaxPool2D
from layerlab.numpy.regularizers import Penalties, weight_penalty
from layerlab.numpy.reshape import Flatten
from layerlab.spec import Call

# ---------------------------------------------------------------------------------------------------
# Initialisers
# ---------------------------------------------------------------------------------------------------

# shape: (fan_in, fan_out) counted by hand: dense (out, in); conv (F, C, k, k) -> (C*k*k, F*k*k)
FANS = {(300, 200): (200, 300), (32, 16, 3, 3): (144, 288)}

# initialiser: (expected std, uniform limit or None) from (fan_in, fan_out)
FORMULAS = {
    Call("normal"): lambda i, o: (1.0, None),
    Call("normal", (0.01,)): lambda i, o: (0.01, None),
    Call("uniform"): lambda i, o: (0.05 / math.sqrt(3), 0.05),
    Call("uniform", (0.1,)): lambda i, o: (0.1 / math.sqrt(3), 0.1),
    Call("glorot_normal"): lambda i, o: (math.sqrt(2 / (i + o)), None),
    Call("glorot_uniform"): lambda i, o: (math.sqrt(2 / (i + o)), math.sqrt(6 / (i + o))),
    Call("he_normal"): lambda i, o: (math.sqrt(2 / i), None),
    Call("he_uniform"): lambda i, o: (math.sqrt(2 / i), math.sqrt(6 / i)),
    Call("lecun_normal"): lambda i, o: (1 / math.sqrt(i), None),
    Call("torch"): lambda i, o: (1 / math.sqrt(3 * i), 1 / math.sqrt(i)),
}


@pytest.mark.parametrize("shape", FANS, ids=["dense", "conv"])
@pytest.mark.parametrize("call", FORMULAS, ids=str)
def test_initialiser_spread_follows_its_formula(call, shape):
    std, limit = FORMULAS[call](*FANS[shape])
    w = init_weight(call, shape, np.random.default_rng(0))
    assert w.shape == shape and w.dtype == np.float32
    assert abs(float(w.mean())) < 0.05 * std
    assert float(w.std()) == pytest.approx(std, rel=0.04)  # 4608 or 60000 draws: a few % at most
    if limit is not None:
        assert limit * 0.99 < float(np.abs(w).max()) <= limit


def test_fans_are_counted_as_in_pytorch():
    for shape, expected in FANS.items():
        assert fans(shape) == expected
        weight = torch.empty(shape)
        assert expected == torch.nn.init._calculate_fan_in_and_fan_out(weight)
    with pytest.raises(ValueError, match="a bias has no fans of its own"):
        fans((5,))


def test_initialisers_are_seeded_and_keep_the_requested_dtype():
    call, shape = Call("he_normal"), (20, 10)
    first = init_weight(call, shape, np.random.default_rng(7), np.float64)
    assert first.dtype == np.float64
    np.testing.assert_array_equal(first, init_weight(call, shape, np.random.default_rng(7), np.float64))
    assert not np.array_equal(first, init_weight(call, shape, np.random.default_rng(8), np.float64))
    with pytest.raises(ValueError, match="unknown weight initialiser 'orthogonal'"):
        init_weight(Call("orthogonal"), shape, np.random.default_rng(0))


def test_bias_initialisers():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(init_bias(Call("zeros"), (5,), 10, rng), np.zeros(5))
    assert float(init_bias(Call("normal", (0.1,)), (20000,), 10, rng).std()) == pytest.approx(0.1, rel=0.03)
    torch_bias = init_bias(Call("torch"), (20000,), 16, rng, np.float64)
    assert torch_bias.dtype == np.float64
    assert 0.24 < float(np.abs(torch_bias).max()) <= 0.25  # 1 / sqrt(16)
    with pytest.raises(ValueError, match="unknown bias initialiser 'ones'"):
        init_bias(Call("ones"), (5,), 10, rng)


def test_initial_state_follows_the_spec():
    spec = parse("input(3, 8, 8) conv(400, 3, bias_init=torch) batchnorm flatten dense(50, init=normal(0.01))")
    state = initial_state(spec, seed=3)
    assert {name: value.shape for name, value in state.items()} == {
        "0.weight": (400, 3, 3, 3),
        "0.bias": (400,),
        "1.weight": (400,),
        "1.bias": (400,),
        "1.running_mean": (400,),
        "1.running_var": (400,),
        "3.weight": (50, 400 * 36),
        "3.bias": (50,),
    }
    assert 0.95 / math.sqrt(27) < float(np.abs(state["0.bias"]).max()) <= 1 / math.sqrt(27)  # conv fan_in 3*3*3
    assert float(state["0.weight"].std()) == pytest.approx(math.sqrt(2 / (27 + 3600)), rel=0.03)  # glorot
    assert float(state["3.weight"].std()) == pytest.approx(0.01, rel=0.01)
    np.testing.assert_array_equal(state["3.bias"], 0)
    np.testing.assert_array_equal(state["1.weight"], 1)  # gamma 1, beta 0, running variance 1
    np.testing.assert_array_equal(state["1.bias"], 0)
    np.testing.assert_array_equal(state["1.running_mean"], 0)
    np.testing.assert_array_equal(state["1.running_var"], 1)
    np.testing.assert_array_equal(initial_state(spec, seed=3)["0.weight"], state["0.weight"])
    assert not np.array_equal(initial_state(spec, seed=4)["0.weight"], state["0.weight"])


# ---------------------------------------------------------------------------------------------------
# Penalties
# ---------------------------------------------------------------------------------------------------


def test_l1_and_l2_values_and_gradients():
    w = np.array([[1.0, -2.0], [0.0, 3.0]])
    assert L1(0.1).value(w) == pytest.approx(0.6)
    np.testing.assert_allclose(L1(0.1).grad(w), [[0.1, -0.1], [0.0, 0.1]])
    assert L2(0.1).value(w) == pytest.approx(0.7)  # 0.1 / 2 * 14
    np.testing.assert_allclose(L2(0.1).grad(w), 0.1 * w)
    both = weight_penalty(l1=1.0, l2=2.0, n=10)  # Nielsen: C0 + l1/n sum|w| + l2/(2n) sum w^2
    assert both == Penalties((L1(0.1), L2(0.2)))
    assert both.value(w) == pytest.approx(0.6 + 1.4)
    np.testing.assert_allclose(both.grad(w), L1(0.1).grad(w) + L2(0.2).grad(w))
    assert weight_penalty() is None
    with pytest.raises(ValueError, match="lam must be >= 0"):
        L2(-1.0)


@pytest.mark.parametrize("penalty", [L1(0.05), L2(0.3), Penalties((L1(0.02), L2(0.1)))], ids=["l1", "l2", "both"])
def test_penalty_adds_its_value_and_gradient_to_the_weights_only(penalty):
    """loss_and_grads(penalty) = loss + penalty of the dense/conv weights, with matching gradients."""
    model = build(parse("input(2, 5, 5) conv(2, 3) batchnorm tanh flatten dense(3)"), seed=1, dtype=np.float64)
    x, y = np.random.default_rng(0).standard_normal((4, 2, 5, 5)), np.array([0, 2, 1, 2])
    plain = model.loss_and_grads(x, y)
    plain_grads = {name: g.copy() for name, g in model.grads.items()}
    total = model.loss_and_grads(x, y, penalty)
    weights = ["0.weight", "4.weight"]
    assert total == pytest.approx(plain + sum(penalty.value(model.params[name]) for name in weights), rel=1e-12)
    for name, g in model.grads.items():
        added = penalty.grad(model.params[name]) if name in weights else 0
        np.testing.assert_allclose(g, plain_grads[name] + added, rtol=1e-12, atol=1e-15, err_msg=name)
    analytic = {name: g.copy() for name, g in model.grads.items()}
    for name, p in model.params.items():
        numeric = numerical_gradient(lambda: model.loss_and_grads(x, y, penalty), p)
        assert relative_error(analytic[name], numeric) < 1e-6, name


# ---------------------------------------------------------------------------------------------------
# Building and training
# ---------------------------------------------------------------------------------------------------

CNN = (
    "input(2, 7, 6) conv(4, 3, stride=2, padding=same) batchnorm relu maxpool(2, stride=1) "
    "flatten dense(5) tanh dense(3)"
)


def blobs(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs in 4-D, 2 units apart along every axis: an easy two-class problem."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return rng.standard_normal((n, 4)) + 2.0 * y[:, None], y


def test_build_maps_every_layer_of_the_spec():
    spec = parse(CNN + " dropout(0.3) softmax")
    model = build(spec, seed=0)
    types = [Conv2D, BatchNorm, act.ReLU, MaxPool2D, Flatten, Dense, act.Tanh, Dense, Dropout, act.Softmax]
    assert [type(layer) for layer in model.layers] == types
    expected = {f"{r.index}.{name}": shape for r in spec.resolve() for name, shape in r.params.items()}
    assert {name: p.shape for name, p in model.params.items()} == expected
    assert model.num_params == spec.num_params() == 4 * 2 * 9 + 4 + 8 + 24 * 5 + 5 + 5 * 3 + 3
    assert model.layers[0].input_grad is False  # nothing needs dL/d(image)
    assert model.forward(np.zeros((3, 2, 7, 6))).shape == (3, 3)


def test_float32_by_default_and_float64_on_request():
    x, y = np.random.default_rng(0).standard_normal((4, 2, 7, 6)), np.array([0, 1, 2, 0])
    for model, dtype in ((build(parse(CNN)), np.float32), (build(parse(CNN), dtype="float64"), np.float64)):
        model.loss_and_grads(x, y)  # float64 data goes in as the model's dtype
        assert {v.dtype for v in model.state_dict().values()} == {np.dtype(dtype)}
        assert {g.dtype for g in model.grads.values()} == {np.dtype(dtype)}
        assert model.forward(x).dtype == dtype


def test_uint8_input_is_scaled_by_1_over_255():
    model = build(parse("input(1, 4, 4) conv(2, 3) flatten dense(3)"), seed=2)
    pixels = np.random.default_rng(0).integers(0, 256, (5, 1, 4, 4)).astype(np.uint8)
    np.testing.assert_allclose(model.forward(pixels), model.forward(pixels / 255.0), rtol=1e-6)
    assert not np.allclose(model.forward(pixels), model.forward(pixels.astype(np.float32)))


def test_input_of_the_wrong_shape_is_explained():
    model = build(parse("input(1, 4, 4) conv(2, 3) flatten dense(3)"))
    with pytest.raises(ValueError, match=r"input batch has shape \(2, 4, 4\), the model expects \(batch, 1, 4, 4\)"):
        model.forward(np.zeros((2, 4, 4)))


def test_train_step_lowers_the_loss_and_learns():
    x, y = blobs()
    model = build(parse("input(4) dense(8) tanh dense(2)"), seed=0)
    optimizer = SGD(lr=0.5)
    losses = [model.train_step(x, y, optimizer) for _ in range(60)]
    assert losses[-1] < 0.2 * losses[0]
    assert all(later < earlier for earlier, later in zip(losses[:10], losses[1:11], strict=True))
    loss, accuracy = model.evaluate(x, y)
    assert accuracy >= 0.95 and loss < losses[0]


def test_model_gradients_match_finite_differences():
    model = build(parse(CNN), seed=5, dtype=np.float64)
    x, y = np.random.default_rng(1).standard_normal((3, 2, 7, 6)), np.array([2, 0, 1])
    errors = check_model(model, x, y, entries=15)
    assert set(errors) == set(model.params)
    assert max(errors.values()) < 1e-6, errors


def test_model_matches_the_same_torch_sequential():
    """The numpy state dict loads into the nn.Sequential it names; loss and every gradient agree."""
    model = build(parse(CNN), seed=3, dtype=np.float64)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, stride=2, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2, stride=1),
        torch.nn.Flatten(),
        torch.nn.Linear(24, 5),
        torch.nn.Tanh(),
        torch.nn.Linear(5, 3),
    ).double()
    net.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})  # strict: same names
    x, y = np.random.default_rng(2).standard_normal((5, 2, 7, 6)), np.array([0, 1, 2, 1, 0])
    loss = model.loss_and_grads(x, y)
    t_loss = F.cross_entropy(net(torch.tensor(x)), torch.tensor(y))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    for name, p in net.named_parameters():
        np.testing.assert_allclose(model.grads[name], p.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(model.layers[1].buffers["running_var"], net[1].running_var.numpy(), rtol=1e-12)
    net.eval()
    np.testing.assert_allclose(model.forward(x), net(torch.tensor(x)).detach().numpy(), rtol=1e-9, atol=1e-12)


def test_a_diverged_step_leaves_the_weights_alone():
    model = build(parse("input(2) dense(2)"), dtype=np.float64)
    model.params["0.weight"][...] = 1e308  # x W^T overflows: inf - inf = nan in the log-softmax
    before = model.state_dict()
    with np.errstate(all="ignore"):
        loss = model.train_step(np.ones((2, 2)), np.array([0, 1]), SGD(lr=0.1))
    assert not np.isfinite(loss)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_predictions_and_evaluation():
    x, y = blobs(50, seed=1)
    model = build(parse("input(4) dense(3) tanh dense(2)"), seed=0)
    proba = model.predict_proba(x, batch_size=7)  # batches of 7 give what one batch gives
    np.testing.assert_allclose(proba, model.predict_proba(x), rtol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(x), proba.argmax(axis=1))
    loss, accuracy = model.evaluate(x, y, batch_size=7)
    assert loss == pytest.approx(model.loss.forward(model.forward(x), y), rel=1e-5)
    assert accuracy == pytest.approx(float(np.mean(proba.argmax(axis=1) == y)))


def test_dropout_masks_are_seeded_by_the_build_seed_and_off_at_test_time():
    spec = parse("input(6) dense(6) dropout(0.5) dense(2)")
    x = np.random.default_rng(0).standard_normal((4, 6))
    a, b, c = build(spec, seed=1), build(spec, seed=1), build(spec, seed=2)
    c.load_state_dict(a.state_dict())
    train_a, train_b, train_c = (m.forward(x, training=True) for m in (a, b, c))
    np.testing.assert_array_equal(train_a, train_b)
    assert not np.array_equal(train_a, train_c)  # same weights, other masks
    np.testing.assert_array_equal(a.forward(x), c.forward(x))


# ---------------------------------------------------------------------------------------------------
# State dicts
# ---------------------------------------------------------------------------------------------------


def test_state_dict_round_trip_restores_the_model():
    spec = parse(CNN)
    x, y = np.random.default_rng(0).standard_normal((6, 2, 7, 6)), np.array([0, 1, 2, 0, 1, 2])
    trained = build(spec, seed=0)
    for _ in range(3):
        trained.train_step(x, y, SGD(lr=0.1))  # moves the weights and the batch-norm running averages
    state = trained.state_dict()
    assert not np.array_equal(state["1.running_mean"], 0)
    fresh = build(spec, seed=9)
    assert not np.array_equal(fresh.forward(x), trained.forward(x))
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.forward(x), trained.forward(x))
    np.testing.assert_array_equal(build(spec, seed=9, state=state).forward(x), trained.forward(x))
    state["0.weight"][...] = 0  # a copy: changing it leaves the model alone
    assert not np.array_equal(trained.params["0.weight"], 0)


def test_load_state_dict_errors_name_the_arrays():
    model = build(parse("input(4) dense(3) batchnorm dense(2)"))
    state = model.state_dict()
    missing = {k: v for k, v in state.items() if k != "1.running_var"}
    with pytest.raises(ValueError, match=r"missing \['1.running_var'\], unexpected nothing; .*different spec"):
        model.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"missing nothing, unexpected \['3.weight'\]"):
        model.load_state_dict({**state, "3.weight": np.zeros((2, 2))})
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"weight 2.weight has shape \(3, 2\), this model needs \(2, 3\)"):
        model.load_state_dict({**state, "0.weight": np.ones((3, 4)), "2.weight": np.zeros((3, 2))})
    for name, value in model.state_dict().items():  # a refused load changes nothing
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_a_recorded_pass_keeps_each_layers_input_output_and_gradient_as_autograd_has_them():
    """explain and the playground read one recorded pass (Model.recorded_pass), not walks of their own."""
    from layerlab.torch.model import build as torch_build

    spec = parse("input(1, 6, 6) conv(2, 3) relu maxpool(2) flatten dense(3) tanh dense(2)")
    model = build(spec, seed=3, dtype=np.float64)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 1, 6, 6)), np.array([0, 1, 1, 0])
    before = model.state_dict()
    tape = model.recorded_pass(x, y)
    assert len(tape.inputs) == len(tape.outputs) == len(tape.d_outputs) == len(model.layers) == 7
    np.testing.assert_array_equal(tape.inputs[0], x)
    assert all(tape.inputs[i] is tape.outputs[i - 1] for i in range(1, 7))
    net = torch_build(spec, seed=3, dtype=torch.float64)
    a, outputs = torch.tensor(x), []
    for module in net:
        a = module(a)
        a.retain_grad()
        outputs.append(a)
    loss = F.cross_entropy(a, torch.tensor(y))
    loss.backward()
    assert tape.loss == pytest.approx(loss.item(), rel=1e-12)
    for i, out in enumerate(outputs):
        np.testing.assert_allclose(tape.outputs[i], out.detach().numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(tape.d_outputs[i], out.grad.numpy(), rtol=1e-8, atol=1e-14)
    for name, parameter in net.named_parameters():
        np.testing.assert_allclose(tape.grads[name], parameter.grad.numpy(), rtol=1e-8, atol=1e-14)
    # nothing is updated, and the gradients are copies that a later pass leaves alone
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    kept = tape.grads["0.weight"].copy()
    model.loss_and_grads(x[:2], y[:2])
    np.testing.assert_array_equal(tape.grads["0.weight"], kept)
