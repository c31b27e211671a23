"""Label smoothing (Szegedy et al. 2016; airbench's 0.2): a torch-engine setting of the cross-entropy loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerlab import parse
from layerlab.config import TrainConfig
from layerlab.errors import TrainError
from layerlab.torch.losses import LossError, make_loss
from layerlab.torch.trainable import TorchTrainable


def test_the_smoothed_target_is_one_minus_s_on_the_label_plus_s_over_the_classes():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    labels = torch.tensor([0, 1])
    s = 0.2
    target = (1 - s) * torch.nn.functional.one_hot(labels, 3) + s / 3
    expected = -(target * torch.log_softmax(logits, 1)).sum(1).mean()
    assert float(make_loss("cross_entropy", s)(logits, labels)) == pytest.approx(float(expected), rel=1e-6)
    plain = float(make_loss("cross_entropy")(logits, labels))
    assert plain == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels)), rel=1e-6)
    assert float(make_loss("cross_entropy", s)(logits, labels)) != pytest.approx(plain, rel=1e-3)


def test_only_cross_entropy_is_smoothed():
    with pytest.raises(LossError, match="label smoothing applies to cross_entropy, not to mse"):
        make_loss("mse", 0.1)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"label_smoothing": 1.0}, r"--label-smoothing must be in \[0, 1\), got 1.0"),
        ({"label_smoothing": -0.1}, r"--label-smoothing must be in \[0, 1\)"),
        ({"label_smoothing": 0.1, "loss": "mse"}, "--label-smoothing smooths the targets of cross_entropy, not of mse"),
        ({"label_smoothing": 0.1, "engine": "numpy"}, "--label-smoothing needs --engine torch"),
    ],
)
def test_bad_label_smoothing_is_one_line(changes, message):
    with pytest.raises(TrainError, match=message):
        TrainConfig(**changes).check()


def test_the_torch_engine_trains_on_the_smoothed_loss():
    config = TrainConfig(model="flatten dense(10)", label_smoothing=0.3, device="cpu")
    spec = parse(config.model, (1, 4, 4))
    trainable = TorchTrainable(config, spec, 8)
    x = np.random.default_rng(0).integers(0, 256, (8, 1, 4, 4), dtype=np.uint8)
    y = np.arange(8) % 10
    with torch.no_grad():
        output = trainable.model(trainable.as_input(torch.as_tensor(x)))
    expected = torch.nn.functional.cross_entropy(output, torch.as_tensor(y), label_smoothing=0.3)
    assert float(trainable.loss_fn(output, torch.as_tensor(y))) == pytest.approx(float(expected), rel=1e-6)
