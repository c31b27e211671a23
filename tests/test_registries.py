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


def _check_the_layer_tables():
    from layerlab import explain, grader
    from layerlab.numpy import custom
    from layerlab.numpy.model import LAYERS
    from layerlab.torch.model import MODULES

    assert list(LAYERS) == list(MODULES) == list(spec.KINDS)
    assert all(isinstance(cls, type) for cls in (*LAYERS.values(), *MODULES.values()))
    # the classes of your own and the grader cover the kinds the exercises write (softmax-ce is a loss)
    assert set(custom.KINDS_OF_YOUR_OWN) == set(grader.CASES) - {"softmax-ce"}
    assert set(custom.KINDS_OF_YOUR_OWN) <= set(spec.KINDS)
    # explain shows every activation, reading y = f(e) and f'(e) as text from the numpy class
    assert set(explain.ACTIVATIONS) == {name for name, kind in spec.KINDS.items() if kind.activation}
    for name in explain.ACTIVATIONS:
        assert "{e}" in LAYERS[name].formula or name == "maxout"
        assert LAYERS[name].derivative is None or "{" in LAYERS[name].derivative or LAYERS[name].derivative in "01"


def test_every_engine_table_is_keyed_by_the_specs_kinds():
    """One rule per kind (spec.ResolvedLayer.arguments): each engine's table is {kind: class}, for every kind."""
    _check_the_layer_tables()


@pytest.mark.parametrize("table", ["layerlab.numpy.model.LAYERS", "layerlab.torch.model.MODULES"])
def test_an_engine_that_misses_a_kind_fails_the_check(monkeypatch, table):
    module, name = table.rsplit(".", 1)
    monkeypatch.delitem(getattr(importlib.import_module(module), name), "elu")
    with pytest.raises(AssertionError):
        _check_the_layer_tables()


def test_the_spec_unpacks_a_layer_for_every_engine_once():
    text = "input(1, 8, 8) conv(4, 3, padding=same) batchnorm dropout(0.2, scale=test) maxpool(2)"
    conv, bn, drop, pool = spec.parse(text).resolve()
    assert conv.arguments() == {"weight": (4, 1, 3, 3), "bias": (4,), "stride": 1, "padding": 1}
    shapes = {"weight": (4,), "bias": (4,), "running_mean": (4,), "running_var": (4,)}
    assert bn.arguments() == {**shapes, "momentum": 0.1, "eps": 1e-5}
    assert drop.arguments() == {"p": 0.2, "scale": "test"}
    assert pool.arguments() == {"size": 2, "stride": 2}
    (dense,) = spec.parse("input(6) dense(3, bias=false)").resolve()
    assert dense.arguments({"weight": "W"}) == {"weight": "W", "bias": None}  # the numpy engine's arrays
