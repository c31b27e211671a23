"""``bias=fixed``: a bias that training leaves at its initial value, in the spec and in both engines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerlab import parse
from layerlab.numpy import SGD, Adam, build
from layerlab.spec import SpecError
from layerlab.torch.model import build as torch_build

SPEC = "input(3) dense(4, bias=fixed, bias_init=normal(0.5)) tanh dense(2, bias=fixed) sigmoid"


def test_the_spec_reads_and_writes_fixed_biases():
    spec = parse(SPEC)
    assert str(spec.layers[0]) == "dense(4, bias=fixed, bias_init=normal(0.5))"
    assert spec.layers[0].fixed == ("bias",)
    assert parse("dense(2)").layers[0].fixed == ()
    assert parse("dense(2, bias=false)").layers[0].fixed == ()
    assert parse(str(spec)) == spec
    # a fixed bias is still a parameter of the layer: it is saved with the weights
    assert spec.resolve()[0].params == {"weight": (4, 3), "bias": (4,)}
    with pytest.raises(SpecError, match="must be true, false or fixed"):
        parse("dense(2, bias=frozen)")
    assert parse("conv(2, 3, bias=fixed)", (1, 5, 5)).layers[0].fixed == ("bias",)


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((8, 3)), rng.integers(0, 2, size=8)


@pytest.mark.parametrize("optimizer", [SGD(lr=0.5, momentum=0.9, weight_decay=0.1), Adam(lr=0.01)])
def test_the_numpy_optimiser_leaves_fixed_biases_alone(optimizer):
    model = build(parse(SPEC), seed=3, dtype=np.float64, loss="mse")
    before = model.state_dict()
    assert set(model.params) == {"0.weight", "2.weight"}
    assert model.num_params == 4 * 3 + 2 * 4
    x, y = _data()
    for _ in range(3):
        model.train_step(x, y, optimizer)
    after = model.state_dict()
    np.testing.assert_array_equal(after["0.bias"], before["0.bias"])
    np.testing.assert_array_equal(after["2.bias"], before["2.bias"])
    assert np.abs(before["0.bias"]).max() > 0.1  # drawn from N(0, 0.5), kept
    assert np.abs(after["0.weight"] - before["0.weight"]).max() > 1e-4
    assert model.grads["0.bias"].shape == (4,)  # the gradient is still computed (and shown by explain)


def test_the_torch_engine_does_not_train_fixed_biases():
    spec = parse(SPEC)
    net = torch_build(spec, seed=3, dtype=torch.float64)
    assert not net[0].bias.requires_grad and not net[2].bias.requires_grad
    assert net[0].weight.requires_grad
    numpy_model = build(spec, seed=3, dtype=np.float64, loss="mse")
    x, y = _data()
    target = np.eye(2)[y]
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(torch.from_numpy(x)), torch.from_numpy(target))
        loss.backward()
        opt.step()
        numpy_model.train_step(x, y, SGD(lr=0.5))
    np.testing.assert_allclose(net[0].bias.detach().numpy(), numpy_model.state_dict()["0.bias"], rtol=0, atol=0)
    np.testing.assert_allclose(net[0].weight.detach().numpy(), numpy_model.state_dict()["0.weight"], atol=1e-12)
