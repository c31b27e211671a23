"""The numpy optimisers against torch.optim, their saved state, and their error messages.

Parity: the same starting parameters and the same sequence of 20 random gradients go through the numpy
optimiser and its torch.optim twin; the parameters must agree to 1e-10 after every step (float64).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerlab.numpy import OPTIMIZERS, SGD, Adadelta, Adagrad, Adam, RMSprop, make_optimizer

STEPS = 20
SHAPES = {"0.weight": (3, 4), "0.bias": (3,), "2.weight": (2, 1, 2, 2)}

# name: (numpy optimiser, torch optimiser taking the parameter list)
CASES = {
    "sgd": (lambda: SGD(lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd_wd": (lambda: SGD(lr=0.1, weight_decay=0.01), lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01)),
    "momentum": (lambda: SGD(lr=0.05, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "momentum_wd": (
        lambda: SGD(lr=0.05, momentum=0.8, weight_decay=0.1),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, weight_decay=0.1),
    ),
    "nesterov": (
        lambda: SGD(lr=0.05, momentum=0.9, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    ),
    "nesterov_wd": (
        lambda: SGD(lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.05),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.05),
    ),
    "adagrad": (lambda: Adagrad(lr=0.1), lambda p: torch.optim.Adagrad(p, lr=0.1)),
    "adagrad_wd": (
        lambda: Adagrad(lr=0.1, weight_decay=0.01),
        lambda p: torch.optim.Adagrad(p, lr=0.1, weight_decay=0.01),
    ),
    "adadelta": (lambda: Adadelta(), lambda p: torch.optim.Adadelta(p)),
    "adadelta_options": (
        lambda: Adadelta(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.01),
        lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.01),
    ),
    "rmsprop": (lambda: RMSprop(lr=0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
    "rmsprop_momentum": (
        lambda: RMSprop(lr=0.01, alpha=0.9, momentum=0.9),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.9),
    ),
    "rmsprop_wd": (
        lambda: RMSprop(lr=0.01, momentum=0.5, weight_decay=0.1),
        lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, weight_decay=0.1),
    ),
    "adam": (lambda: Adam(lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    "adam_options": (
        lambda: Adam(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01),
    ),
}


def start_params(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}


def gradients(step: int) -> dict[str, np.ndarray]:
    """The gradient sequence both optimisers see: random, different at every step."""
    rng = np.random.default_rng(1000 + step)
    return {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}


def run(optimizer, params: dict[str, np.ndarray], steps: range) -> None:
    for step in steps:
        optimizer.step(params, gradients(step))


@pytest.mark.parametrize("case", CASES)
def test_optimizer_matches_torch_over_20_steps(case):
    make, make_torch = CASES[case]
    params = start_params()
    t_params = {name: torch.tensor(p, requires_grad=True) for name, p in params.items()}
    optimizer, t_optimizer = make(), make_torch(list(t_params.values()))
    for step in range(STEPS):
        optimizer.step(params, gradients(step))
        for name, t in t_params.items():
            t.grad = torch.tensor(gradients(step)[name])
        t_optimizer.step()
        for name, t in t_params.items():
            np.testing.assert_allclose(params[name], t.detach().numpy(), rtol=1e-10, atol=1e-10, err_msg=name)
    moved = max(float(np.abs(params[name] - start).max()) for name, start in start_params().items())
    assert moved > 0.01


@pytest.mark.parametrize("case", CASES)
def test_state_dict_round_trip_continues_identically(case):
    make, _ = CASES[case]
    straight = start_params()
    first = make()
    run(first, straight, range(10))
    resumed = {name: value.copy() for name, value in straight.items()}
    saved = first.state_dict()
    run(first, straight, range(10, STEPS))

    second = make()
    second.lr = 123.0  # the saved learning rate must come back too
    second.load_state_dict({k: np.asarray(v) for k, v in saved.items()})  # as a checkpoint stores it
    run(second, resumed, range(10, STEPS))
    for name in SHAPES:
        np.testing.assert_array_equal(resumed[name], straight[name])


def test_state_dict_is_a_copy_and_names_the_state_per_parameter():
    optimizer = Adam(lr=0.1)
    params = start_params()
    run(optimizer, params, range(3))
    saved = optimizer.state_dict()
    assert set(saved) == {"lr"} | {f"{p}.{s}" for p in SHAPES for s in ("step", "exp_avg", "exp_avg_sq")}
    assert saved["0.weight.step"] == 3
    before = saved["0.weight.exp_avg"].copy()
    run(optimizer, params, range(3, 5))
    np.testing.assert_array_equal(saved["0.weight.exp_avg"], before)


def test_loading_another_optimizers_state_is_refused():
    adam = Adam()
    run(adam, start_params(), range(2))
    message = r"SGD has no state '0.weight.step' \(its state per parameter: momentum_buffer\); .* another optimiser"
    with pytest.raises(ValueError, match=message):
        SGD(lr=0.1, momentum=0.9).load_state_dict(adam.state_dict())


def test_weight_decay_is_the_gradient_of_an_l2_penalty():
    """One SGD step with weight_decay lam equals one step on g + lam * w."""
    params, by_hand = start_params(), start_params()
    g = gradients(0)
    SGD(lr=0.1, weight_decay=0.5).step(params, g)
    SGD(lr=0.1).step(by_hand, {name: g[name] + 0.5 * by_hand[name] for name in SHAPES})
    for name in SHAPES:
        np.testing.assert_allclose(params[name], by_hand[name], rtol=1e-15)


def test_optimizers_update_float32_parameters_in_place():
    for make, _ in CASES.values():
        w = np.ones((2, 3), np.float32)
        same = w
        make().step({"w": w}, {"w": np.full((2, 3), 0.5, np.float32)})
        assert same is w and w.dtype == np.float32 and (w < 1).all()


def test_step_errors_name_the_parameter():
    with pytest.raises(ValueError, match="no gradient for parameter '0.bias'"):
        SGD(lr=0.1).step(start_params(), {"0.weight": np.zeros((3, 4))})
    with pytest.raises(ValueError, match=r"gradient of '0.weight' has shape \(4, 3\), the parameter has \(3, 4\)"):
        SGD(lr=0.1).step({"0.weight": np.zeros((3, 4))}, {"0.weight": np.zeros((4, 3))})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SGD(lr=0.0), "learning rate lr must be > 0"),
        (lambda: SGD(lr=0.1, momentum=-0.5), "momentum must be >= 0"),
        (lambda: SGD(lr=0.1, nesterov=True), "nesterov=True needs a momentum > 0"),
        (lambda: Adam(weight_decay=-1), "weight_decay must be >= 0"),
        (lambda: Adam(betas=(0.9, 1.0)), r"betas must be two numbers in \[0, 1\)"),
        (lambda: RMSprop(alpha=1.5), r"alpha must be in \[0, 1\]"),
        (lambda: Adadelta(rho=-0.1), r"rho must be in \[0, 1\]"),
        (lambda: Adagrad(eps=-1), "eps must be >= 0"),
    ],
)
def test_bad_options_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_make_optimizer_by_name():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam"}
    momentum = make_optimizer("momentum", 0.1)
    assert (type(momentum), momentum.lr, momentum.momentum, momentum.nesterov) == (SGD, 0.1, 0.9, False)
    nesterov = make_optimizer("nesterov", 0.1, momentum=0.5)
    assert (nesterov.momentum, nesterov.nesterov) == (0.5, True)
    assert make_optimizer("adam").lr == 0.001  # torch's defaults when no lr is given
    assert make_optimizer("adadelta").lr == 1.0
    assert make_optimizer("rmsprop", weight_decay=0.1).weight_decay == 0.1
    assert make_optimizer("adagrad", 0.5).lr == 0.5


def test_make_optimizer_errors():
    with pytest.raises(ValueError, match="unknown optimiser 'adamw'; known: sgd, momentum"):
        make_optimizer("adamw", 0.1)
    with pytest.raises(ValueError, match="adam has no option rho; its options are: lr, betas, eps, weight_decay"):
        make_optimizer("adam", 0.1, rho=0.9)
    with pytest.raises(ValueError, match=r"sgd has no default learning rate: pass one, e.g. make_optimizer\('sgd'"):
        make_optimizer("sgd")
