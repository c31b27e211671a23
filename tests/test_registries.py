"""Every list of names has one source; the engines' tables cover exactly those names."""

from __future__ import annotations

import importlib

import pytest

from layerlab import augment, engine, spec
from layerlab.config import TrainConfig
from layerlab.errors import TrainError


def test_both_engines_implement_exactly_the_registered_optimisers():
    from layerlab.numpy.optimizers import OPTIMIZERS as numpy_optimisers
    from layerlab.torch.trainable import OPTIMIZERS as torch_optimisers

    assert list(numpy_optimisers) == list(torch_optimisers) == list(engine.OPTIMIZERS)


def test_the_numpy_initialisers_are_the_specs():
    from layerlab.numpy.initializers import WEIGHT_INITIALIZERS

    assert set(WEIGHT_INITIALIZERS) == set(spec.INITIALIZERS)


def test_the_torch_augmentations_are_the_same_names_as_the_numpy_ones():
    from layerlab.torch import augment as torch_augment

    assert list(torch_augment.AUGMENTATIONS) == list(augment.AUGMENTATIONS)
    for name, cls in torch_augment.AUGMENTATIONS.items():
        assert cls.__module__ == "layerlab.torch.augment" and cls.__name__ == augment.AUGMENTATIONS[name].__name__


@pytest.mark.parametrize("name", list(engine.ENGINES))
def test_every_engine_module_has_a_learner_and_a_predictor(name):
    module = importlib.import_module(engine.ENGINES[name].module)
    assert issubclass(module.Trainable, module.Predictor)


def test_the_help_text_lists_the_registries():
    fields = TrainConfig.__dataclass_fields__
    assert fields["optimizer"].metadata["help"] == ", ".join(engine.OPTIMIZERS)
    assert all(name in fields["engine"].metadata["help"] for name in engine.ENGINES)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"device": "cuda"}, "--device needs --engine torch: the numpy engine cannot use 'cuda'"),
        ({"autocast": "bf16"}, "--autocast needs --engine torch"),
        ({"channels_last": True}, "--channels-last needs --engine torch"),
        ({"compile": "default"}, "--compile needs --engine torch"),
    ],
)
def test_torch_only_settings_are_errors_on_the_numpy_engine(changes, message):
    with pytest.raises(TrainError, match=message):
        TrainConfig(engine="numpy", **changes).check()
    TrainConfig(engine="torch", **changes).check()  # fine where they apply
    TrainConfig(engine="numpy", device="cpu").check()  # the numpy engine runs on the CPU


def test_the_penalised_weights_and_the_labels_rule():
    import numpy as np
    import torch

    assert engine.penalised("0.weight", 2) and engine.penalised("3.weight", 4)
    assert not engine.penalised("0.bias", 1) and not engine.penalised("2.weight", 1)  # a batch-norm scale
    one_hot = np.eye(3)[[2, 0, 1]]
    for y in (np.array([2, 0, 1]), one_hot, np.array([[2], [0], [1]])):
        np.testing.assert_array_equal(engine.labels_of(y), [2, 0, 1])
        assert engine.labels_of(torch.as_tensor(y)).tolist() == [2, 0, 1]
