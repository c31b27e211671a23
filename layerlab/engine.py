"""The engine contract: what the trainer asks of an engine, and the rules both engines share.

An engine (``layerlab/numpy``, ``layerlab/torch``) imports this module, never the trainer; the
trainer picks an engine through ``ENGINES`` and drives it through the ``Trainable`` protocol:

    trainable = make_trainable(settings, spec, n_train)       # model + optimiser + augmentation
    trainable.add_data("train", x, y)                       # uint8 images or float features, int labels
    stats = trainable.train_epoch(order, batch_size, on_step)
    loss, accuracy = trainable.evaluate("val")
    trainable.weights()                                     # name -> array, the same names in every engine

A model loaded only to predict skips the training set-up: ``make_predictor(settings, spec)`` builds the
model without an optimiser, data or augmentation.

To add an engine: a module with a ``Trainable`` class (and a ``Predictor`` class, the trainable's base)
taking ``(settings, spec, n_train)`` / ``(settings, spec)``, an entry in ``ENGINES``, and its options
(if it has any of its own) in ``Engine.options``; ``tests/test_train.py`` then runs it against the numpy engine.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .errors import EngineError, TrainError
from .spec import Spec

# ---------------------------------------------------------------------------------------------------
# Registries: one source for every name a setting can take that the engines must agree on
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimizerInfo:
    """What the trainer knows of an optimiser; each engine maps the name to its implementation."""

    default_lr: float  #: torch.optim's default, Nielsen's 0.1 for plain SGD
    momentum: bool  #: whether --momentum applies


OPTIMIZERS: dict[str, OptimizerInfo] = {
    "sgd": OptimizerInfo(0.1, True),
    "momentum": OptimizerInfo(0.1, True),
    "nesterov": OptimizerInfo(0.1, True),
    "adagrad": OptimizerInfo(0.01, False),
    "adadelta": OptimizerInfo(1.0, False),
    "rmsprop": OptimizerInfo(0.01, True),
    "adam": OptimizerInfo(0.001, False),
}

DTYPES = ("float32", "float64")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


@dataclass(frozen=True)
class Engine:
    """An engine: where its trainable lives, what it is, and the settings only it understands."""

    module: str  #: the module holding ``Trainable`` and ``Predictor``
    description: str
    options: tuple[str, ...] = ()  #: the settings only this engine reads (see ``ENGINE_OPTION_UNUSED``)
    stacked: str | None = None  #: the module holding ``StackedTrainable`` and ``unsupported``, if it stacks runs


ENGINES: dict[str, Engine] = {
    "torch": Engine(
        "layerlab.torch.trainable",
        "fast, CPU or GPU",
        ("device", "autocast", "channels_last", "compile", "label_smoothing"),
        stacked="layerlab.torch.stacked",
    ),
    "numpy": Engine("layerlab.numpy.trainable", "the from-scratch engine, on the CPU"),
}

#: The torch-only settings and the values that leave them unused (numpy runs on the CPU: device auto or cpu).
ENGINE_OPTION_UNUSED: dict[str, tuple[Any, ...]] = {
    "device": ("auto", "cpu"),
    "autocast": (None,),
    "channels_last": (False,),
    "compile": (None,),
    "label_smoothing": (0.0,),
}


def check_engine_options(settings: Any) -> None:
    """Raise ``TrainError`` for a value of an engine-specific setting the chosen engine would ignore,
    and for values outside an option's choices."""
    if settings.engine not in ENGINES:
        raise TrainError(f"--engine must be one of {', '.join(ENGINES)}, got {settings.engine!r}")
    if settings.autocast not in (None, "bf16"):
        raise TrainError(f"--autocast knows only bf16, got {settings.autocast!r}")
    if settings.compile is not None and settings.compile not in COMPILE_MODES:
        raise TrainError(f"--compile must be one of {', '.join(COMPILE_MODES)}, got {settings.compile!r}")
    supported = ENGINES[settings.engine].options
    for name, unused in ENGINE_OPTION_UNUSED.items():
        value = getattr(settings, name)
        if name not in supported and value not in unused:
            owners = [engine for engine, info in ENGINES.items() if name in info.options]
            flag = f"--{name.replace('_', '-')}"
            engines = " or ".join(owners)
            raise TrainError(f"{flag} needs --engine {engines}: the {settings.engine} engine cannot use {value!r}")


# ---------------------------------------------------------------------------------------------------
# The settings a trainable reads (a ``TrainConfig`` has them all), and the rules derived from them
# ---------------------------------------------------------------------------------------------------


class EngineSettings(Protocol):
    """The settings an engine reads; ``layerlab.config.TrainConfig`` provides them."""

    engine: str
    seed: int
    dtype: str
    loss: str
    label_smoothing: float  # torch engine, cross_entropy
    optimizer: str
    lr: float | None
    momentum: float | None
    weight_decay: float
    l1: float
    l2: float
    augment: str | None
    batch_size: int  # the memory check counts a training batch's activations
    eval_batch_size: int
    grad_norms: bool
    device: str  # torch engine
    autocast: str | None  # torch engine
    channels_last: bool  # torch engine
    compile: str | None  # torch engine
    threads: int | None  # torch engine on a CPU


def learning_rate(settings: EngineSettings) -> float:
    """The learning rate given, else the optimiser's usual one (Nielsen's eta = 0.1 for SGD)."""
    return settings.lr if settings.lr is not None else OPTIMIZERS[settings.optimizer].default_lr


def optimizer_options(settings: EngineSettings) -> dict[str, float]:
    """Keyword options for the optimiser (the same names in both engines)."""
    options = {"weight_decay": settings.weight_decay}
    if settings.momentum is not None:
        options["momentum"] = settings.momentum
    return options


def penalised(name: str, ndim: int) -> bool:
    """Whether a parameter is a dense or conv weight: the ones L1/L2 penalise and whose gradient norms
    are monitored (biases and batch-norm scales are not)."""
    return name.endswith("weight") and ndim > 1


def labels_of(y: Any) -> Any:
    """Class indices from int labels or from one-hot/probability rows (a numpy array or a torch tensor)."""
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(1)
    first = y.reshape(len(y), -1)[:, 0]
    return first.astype(np.int64) if isinstance(first, np.ndarray) else first.long()


def check_memory(
    spec: Spec,
    input_shape=None,
    batch_size: int = 1,
    itemsize: int = 4,
    available: int | None = None,
    where: str = "this machine",
) -> None:
    """Refuse, before anything is allocated, a model whose weights and gradients plus a batch's activations
    (kept for backprop, and their gradients) exceed ``available`` bytes (default: the machine's memory)."""
    layers = spec.resolve(input_shape)
    weights = [(r.num_params + sum(math.prod(s) for s in r.buffers.values())) * itemsize for r in layers]
    outputs = [math.prod(r.output_shape) * batch_size * itemsize for r in layers]
    need = 2 * (sum(weights) + sum(outputs))
    available = available or os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need <= available:
        return
    if sum(weights) >= sum(outputs):
        sizes, what, fix = weights, "of weights", "fewer units or filters"
    else:
        sizes, what, fix = outputs, f"of activations for a batch of {batch_size}", "a smaller --batch-size"
    r = layers[max(range(len(layers)), key=sizes.__getitem__)]
    raise EngineError(
        f"layer {r.index + 1} `{r.layer}` needs {_bytes(sizes[r.index])} {what} ({_bytes(need)} to train the model); "
        f"{where} has {_bytes(available)} of memory; use {fix}"
    )


def _bytes(n: float) -> str:
    power = min(4, int(math.log(max(n, 1), 1024)))
    return f"{n / 1024**power:.0f} {('bytes', 'KiB', 'MiB', 'GiB', 'TiB')[power]}"


# ---------------------------------------------------------------------------------------------------
# What the trainer needs from an engine
# ---------------------------------------------------------------------------------------------------


@dataclass
class EpochStats:
    """What one pass over the training set produced."""

    losses: np.ndarray  #: the loss of every step, in order (up to and including a non-finite one)
    correct: int  #: training examples classified correctly (with dropout on, as the model trained)
    grad_norms: dict[
        str, float
    ]  #: mean L2 norm of each weight's gradient on the steps ``grad_norm_stride`` picks ({} when off)


#: Gradient norms are recorded on at most this many evenly spaced steps of an epoch. Every step of an
#: epoch this short or shorter is recorded; a longer one (MNIST at batch 10 has 5,000 steps) is sampled,
#: which keeps the per-layer means the reports plot while costing under 1% of the steps' time instead of
#: the 5-12% that a norm on every step cost small models (benchmarks/torch_fast_path.py).
GRAD_NORM_STEPS = 50


def grad_norm_stride(steps: int) -> int:
    """Record the gradient norms on steps 0, s, 2s, ... of an epoch of ``steps`` steps (s = this)."""
    return max(1, math.ceil(steps / GRAD_NORM_STEPS))


class Predictor(Protocol):
    """A model with its weights, ready to predict."""

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...
    def weights(self) -> dict[str, np.ndarray]: ...
    def load_weights(self, state: dict[str, np.ndarray]) -> None: ...

    @property
    def description(self) -> str: ...


class Trainable(Predictor, Protocol):
    """An engine's model + optimiser, as the trainer drives it."""

    def add_data(self, name: str, x: np.ndarray, y: np.ndarray) -> None: ...
    def train_epoch(
        self,
        order: np.ndarray,
        batch_size: int,
        on_step: Callable[[int, float | None], None],
        step_lrs: np.ndarray | None = None,  # a learning rate per step (warm-up), else the one set_lr gave
    ) -> EpochStats: ...
    def evaluate(self, name: str) -> tuple[float, float]: ...
    def set_lr(self, lr: float) -> None: ...
    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...
    def load_training_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None: ...


def _engine_class(settings: EngineSettings, kind: str) -> Any:
    check_engine_options(settings)
    return getattr(importlib.import_module(ENGINES[settings.engine].module), kind)  # imported on first use


def check_device(settings: EngineSettings) -> None:
    """Raise the ``TrainError`` a trainable would raise on start when the device ``settings.device`` names is
    not there (``--device cuda`` without a GPU), without building anything."""
    check_engine_options(settings)
    resolve = getattr(importlib.import_module(ENGINES[settings.engine].module), "resolve_device", None)
    if resolve is not None:  # an engine with devices to choose from
        resolve(settings.device)


def make_trainable(settings: EngineSettings, spec: Spec, n_train: int) -> Trainable:
    """The trainable of the engine ``settings.engine`` names, for ``n_train`` training examples."""
    return _engine_class(settings, "Trainable")(settings, spec, n_train)


def make_predictor(settings: EngineSettings, spec: Spec) -> Predictor:
    """A model of ``settings.engine`` for prediction only: no optimiser, no data, no augmentation."""
    return _engine_class(settings, "Predictor")(settings, spec)


def why_not_stacked(settings: EngineSettings, spec: Spec) -> str | None:
    """Why runs with these settings (differing in their seeds only) cannot train as one stacked model, in
    words; None when the engine can stack them (``make_stacked_trainable``)."""
    check_engine_options(settings)
    stacked = ENGINES[settings.engine].stacked
    if stacked is None:
        return f"the {settings.engine} engine trains one network at a time"
    return importlib.import_module(stacked).unsupported(settings, spec)


def make_stacked_trainable(settings: list[EngineSettings], spec: Spec, n_train: int) -> Any:
    """One trainable for several runs of one spec (their settings differ in their seeds only); its
    ``members`` are ``Trainable``s, one per run."""
    check_engine_options(settings[0])
    return importlib.import_module(ENGINES[settings[0].engine].stacked).StackedTrainable(settings, spec, n_train)
