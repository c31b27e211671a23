"""Checks before anything is allocated or trained: memory (issue 12), output width against classes and loss (13)."""

from __future__ import annotations

import os

import pytest

from layerlab.cli import main
from layerlab.engine import check_memory
from layerlab.errors import EngineError
from layerlab.spec import parse

GIB = 1024**3


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_a_layer_too_large_to_allocate_is_refused_with_the_numbers(tmp_path, cli_error, engine):
    err = cli_error(
        "train",
        "--model",
        "flatten dense(10000000000) dense(10)",
        "--data",
        "mnist-small",
        "--engine",
        engine,
        "--epochs",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    )
    assert "layer 2 `dense(10000000000)` needs 29 TiB of weights (" in err  # 784 x 1e10 float32 = 28.5 TiB
    assert "this machine has " in err and "GiB of memory; use fewer units or filters" in err
    assert not (tmp_path / "run" / "best.safetensors").exists()


def test_gradcheck_refuses_it_too(cli_error):
    err = cli_error("gradcheck", "--model", "input(784) dense(10000000000)")
    assert "needs 57 TiB of weights" in err  # float64: 784 x 1e10 x 8 bytes


def test_memory_estimate_counts_weights_and_a_batch_of_activations():
    spec = parse("input(1000) dense(1000) relu dense(10)")  # 1,011,010 parameters
    check_memory(spec, itemsize=4, available=16 * 1024**2)  # 2 x 4 MB fits in 16 MiB
    with pytest.raises(EngineError, match=r"layer 1 `dense\(1000\)` needs 4 MiB of weights \(8 MiB to train"):
        check_memory(spec, itemsize=4, available=6 * 1024**2, where="this machine")
    conv = parse("input(3, 64, 64) conv(64, 3, padding=same) relu flatten dense(10)")
    with pytest.raises(
        EngineError,
        match=r"layer 1 `conv\(64, 3, padding=same\)` needs 1 GiB of activations for a "
        r"batch of 1024 .*use a smaller --batch-size",
    ):
        check_memory(conv, batch_size=1024, available=2 * GIB)  # 64x64x64 x 1024 x 4 bytes = 1 GiB per layer
    check_memory(conv, batch_size=16, available=2 * GIB)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_a_model_that_fits_but_whose_training_batch_does_not_is_refused_before_training(engine):
    """A dense(200000) on Playground's 2 features has 1 MB of weights, but a batch of 40,000 keeps 2 x 30 GiB
    of activations (dense and relu outputs) for backprop: more than this machine has, so both engines
    refuse it naming the batch, while the same model with a batch of 10 trains."""
    from layerlab.config import TrainConfig
    from layerlab.engine import make_trainable

    spec = parse("input(2) dense(200000) relu dense(2)")
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 2 * 2 * 200_000 * 40_000 * 4 > memory  # the premise: the activations do not fit here
    settings = TrainConfig(model=str(spec), engine=engine, device="cpu", batch_size=40_000)
    with pytest.raises(EngineError, match=r"needs 30 GiB of activations for a batch of 40000 .*a smaller --batch-size"):
        make_trainable(settings, spec, 500)
    assert make_trainable(settings.replace(batch_size=10), spec, 500).weights()["0.weight"].shape == (200000, 2)


def two_class_folder(root) -> str:
    import numpy as np
    from PIL import Image

    for k, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(np.full((6, 6), 100 * k + i, np.uint8)).save(root / cls / f"{i}.png")
    return str(root)


@pytest.mark.parametrize(
    ("model", "loss", "message"),
    [
        (
            "flatten dense(10)",
            "cross_entropy",
            "layer 2 `dense(10)` gives 10 outputs but pets has 2 classes (cat, dog) "
            "and --loss cross_entropy needs one per class: end the model with dense(2) (or dense(1) with --loss bce)",
        ),
        (
            "flatten dense(1) sigmoid",
            "cross_entropy",
            "layer 2 `dense(1)` gives 1 output but --loss cross_entropy "
            "needs one per class (pets has 2 classes (cat, dog)): use --loss bce for a single output",
        ),
        (
            "flatten dense(3)",
            "mse",
            "gives 3 output(s) but pets has 2 classes (cat, dog): end the model with dense(2) or dense(1)",
        ),
        ("flatten dense(2)", "nll", "--loss nll takes probabilities: end the model with softmax"),
        ("conv(2, 3)", "cross_entropy", "the model ends with shape (2, 4, 4), not a vector of outputs"),
    ],
)
def test_output_width_is_checked_against_classes_and_loss_before_training(tmp_path, cli_error, model, loss, message):
    data = two_class_folder(tmp_path / "pets")
    err = cli_error(
        "train",
        "--data",
        data,
        "--model",
        model,
        "--loss",
        loss,
        "--epochs",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    )
    assert message in err
    assert not (tmp_path / "run").exists()


FITTING = [
    ("flatten dense(2)", "cross_entropy"),
    ("flatten dense(1)", "bce"),
    ("flatten dense(2) softmax", "nll"),
    ("flatten dense(1)", "mse"),
]


@pytest.mark.parametrize(("model", "loss"), FITTING)
def test_outputs_that_fit_train_and_predict(tmp_path, capsys, model, loss):
    data = two_class_folder(tmp_path / "pets")
    args = ["--data", data, "--model", model, "--loss", loss, "--epochs", "1", "--quiet", "--out", str(tmp_path / "r")]
    assert main(["train", *args]) == 0, capsys.readouterr().err
    assert main(["predict", str(tmp_path / "r"), str(tmp_path / "pets" / "dog" / "3.png"), "--top", "2"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.split(": ")[1].split()[0] in ("cat", "dog") and last.count("%") == 2


def test_regression_sets_need_a_squared_error(cli_error):
    err = cli_error("train", "--data", "plane", "--model", "dense(1)", "--epochs", "1", "--quiet")
    assert "plane is a regression set (a number per point): use --loss mse or sse, not cross_entropy" in err
    err = cli_error("train", "--data", "plane", "--model", "dense(2)", "--loss", "mse", "--quiet")
    assert "layer 1 `dense(2)` gives 2 outputs but plane has 1 target(s) per point; end the model with dense(1)" in err


def test_a_final_softmax_with_the_default_cross_entropy_is_warned_about(tmp_path, capsys):
    """The Keras habit `dense(10) softmax` with cross_entropy (which applies the softmax itself) trained silently
    to 85% instead of 95%; nll without softmax was already refused."""
    import layerlab
    from layerlab.preflight import output_warnings

    small = dict(data="mnist-small", limit=100, epochs=1, quiet=True, engine="numpy")
    layerlab.fit(model="flatten dense(10) softmax", **small)
    err = capsys.readouterr().err
    assert "warning: the model ends with softmax and --loss cross_entropy applies the softmax itself" in err
    assert "drop the final softmax" in err
    layerlab.fit(model="flatten dense(10)", **small)
    layerlab.fit(model="flatten dense(10) softmax", loss="nll", **small)
    assert "warning" not in capsys.readouterr().err
    assert "drop the final sigmoid" in output_warnings(parse("input(2) dense(1) sigmoid"), "bce")[0]
    assert output_warnings(parse("input(2) dense(1) sigmoid"), "mse") == []
