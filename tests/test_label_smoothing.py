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


@pytest.mark.parametrize(
    "args, message",
    [
        (["--label-smoothing", "0.2", "--engine", "numpy"], "--label-smoothing needs --engine torch"),
        (["--label-smoothing", "1.5"], "--label-smoothing must be in [0, 1), got 1.5"),
    ],
)
def test_the_flag_refuses_in_one_line(args, message, capsys, tmp_path):
    from layerlab.cli import main

    code = main(["train", "--data", "mnist-small", "--limit", "20", "--out", str(tmp_path / "run"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_runs_trained_together_smooth_as_they_would_alone():
    from layerlab.together import fit_together
    from layerlab.train import fit, load_data

    base = dict(
        data="mnist-small", limit=200, epochs=1, batch_size=10, lr=0.05, model="flatten dense(30) relu dense(10)"
    )
    runs = [TrainConfig(**base, label_smoothing=0.2, seed=seed) for seed in (0, 1)]
    dataset = load_data(runs[0])
    for config, (result_t, _) in zip(runs, fit_together(runs, dataset, log=None), strict=True):
        result, _ = fit(config, dataset, None, progress=False, log=None)
        plain, _ = fit(config.replace(label_smoothing=0.0), dataset, None, progress=False, log=None)
        for key in ("train_loss", "val_loss", "test_loss", "test_accuracy"):
            assert result_t.history[0][key] == pytest.approx(result.history[0][key], abs=1e-5), key
        assert result.history[0]["train_loss"] > plain.history[0]["train_loss"] + 0.05  # the smoothed loss is higher
