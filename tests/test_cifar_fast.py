"""The cifar-fast built-in says what airbench94 does, as far as layerlab expresses it, and its quick run is cheap."""

from __future__ import annotations

import re

import pytest

from layerlab import parse
from layerlab.experiments import load_experiment


def test_cifar_fast_is_airbench94s_recipe():
    experiment = load_experiment("cifar-fast")
    runs = {run.name: run for run in experiment.runs}
    assert [name for name in runs if name.startswith("fast#")] == [f"fast#{i}" for i in range(1, 6)]  # mean of 5
    config = runs["fast#1"].config
    assert (config.data, config.batch_size, config.epochs) == ("cifar10", 1024, 10)
    assert (config.optimizer, config.momentum, config.label_smoothing) == ("nesterov", 0.85, 0.2)
    assert config.augment == "flip crop(padding=2)"
    assert (config.warmup, config.schedule) == (2, "cosine") and config.lr_min / config.lr == pytest.approx(0.07)
    spec = parse(config.model, (3, 32, 32))
    convs = [layer.args["filters"] for layer in spec.layers if layer.kind == "conv"]
    assert convs == [24, 64, 64, 256, 256, 256, 256]  # the 2x2 first layer, then three blocks of two
    kinds = " ".join(layer.kind for layer in spec.layers)
    assert kinds.count("conv maxpool batchnorm relu conv batchnorm relu") == 3
    assert spec.resolve()[-1].output_shape == (10,)
    assert runs["no-augment"].config.augment == "" and runs["no-label-smoothing"].config.label_smoothing == 0.0
    assert any("whitening" in note for note in experiment.notes)  # says what it cannot express


def test_the_quick_run_is_one_narrow_network_on_the_embedded_photos():
    experiment = load_experiment("cifar-fast", quick=True)
    assert [run.name for run in experiment.runs] == ["fast"]
    config = experiment.runs[0].config
    assert config.data == "cifar10-small" and config.epochs <= 2
    spec = parse(config.model, (3, 32, 32))
    full = parse(load_experiment("cifar-fast").runs[0].config.model, (3, 32, 32))
    assert spec.num_params() < full.num_params() / 30
    assert re.findall(r"conv\((\d+)", config.model) == ["24", "16", "16", "32", "32", "32", "32"]
