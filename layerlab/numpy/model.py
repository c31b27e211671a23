"""A numpy model: layers in a chain, a loss at the end, and the spec it was built from.

``build(spec)`` maps every layer kind of the spec to its numpy layer class (the table ``LAYERS`` below is
the only place that does; the spec gives each class's arguments), draws the initial weights, and returns
a ``Model`` that can take a training step::

    model = build(parse("input(784) dense(100) sigmoid dense(10)"), seed=1)
    loss = model.train_step(x, y, SGD(lr=0.1))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..engine import check_memory, labels_of, penalised
from ..errors import EngineError
from ..spec import ResolvedLayer, Spec
from . import activations as act
from . import custom
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .initializers import init_bias, init_weight
from .layer import Layer
from .losses import make_loss
from .normalization import BatchNorm
from .pooling import AvgPool2D, GlobalAvgPool, L2Pool2D, MaxPool2D
from .reshape import Flatten


def initial_state(spec: Spec, input_shape=None, seed: int = 0, dtype=np.float32) -> dict[str, np.ndarray]:
    """The initial parameters and buffers of a spec, named ``"{layer index}.{name}"`` as in PyTorch.

    Both engines start from these arrays, so the same seed gives the same network in each.
    """
    rng = np.random.default_rng(seed)
    state = {}
    for r in spec.resolve(input_shape):
        args = r.layer.args
        for name, shape in r.params.items():
            if r.layer.kind == "batchnorm":
                value = np.ones(shape, dtype) if name == "weight" else np.zeros(shape, dtype)
            elif name == "weight":
                value = init_weight(args["init"], shape, rng, dtype)
            else:
                fan_in = int(np.prod(r.params["weight"][1:]))
                value = init_bias(args["bias_init"], shape, fan_in, rng, dtype)
            state[f"{r.index}.{name}"] = value
        for name, shape in r.buffers.items():
            state[f"{r.index}.{name}"] = np.ones(shape, dtype) if name == "running_var" else np.zeros(shape, dtype)
    return state


def _layer_state(state: Mapping[str, np.ndarray], r: ResolvedLayer) -> dict[str, np.ndarray]:
    return {name: state[f"{r.index}.{name}"] for name in (*r.params, *r.buffers)}


#: The numpy class of each layer kind, built from the placed layer as ``cls(**r.arguments(arrays))``.
LAYERS: dict[str, type[Layer]] = {
    "dense": Dense,
    "conv": Conv2D,
    "maxpool": MaxPool2D,
    "avgpool": AvgPool2D,
    "l2pool": L2Pool2D,
    "globalavgpool": GlobalAvgPool,
    "flatten": Flatten,
    "dropout": Dropout,
    "batchnorm": BatchNorm,
    "step": act.Step,
    "linear": act.Linear,
    "sigmoid": act.Sigmoid,
    "tanh": act.Tanh,
    "relu": act.ReLU,
    "leakyrelu": act.LeakyReLU,
    "elu": act.ELU,
    "maxout": act.Maxout,
    "softmax": act.Softmax,
}


def make_layer(r: ResolvedLayer, state: Mapping[str, np.ndarray], rng: np.random.Generator | None = None) -> Layer:
    """The numpy layer of a placed spec layer, on the arrays of ``state`` (by parameter name); a layer that
    draws random numbers (dropout) gets ``rng``. A layer of your own (``r.layer.impl``) is built by ``custom``."""
    if r.layer.impl:
        return custom.build_layer(r, state, rng)
    cls = LAYERS[r.layer.kind]
    return cls(**r.arguments(state), **({"rng": rng} if cls.needs_rng else {}))


def build(
    spec: Spec,
    input_shape=None,
    seed: int = 0,
    dtype=np.float32,
    loss: str = "cross_entropy",
    state: Mapping[str, np.ndarray] | None = None,
    batch_size: int = 1,
) -> Model:
    """Build the numpy model of a spec; weights from ``state`` if given, else drawn with ``seed``.

    A model too large for this machine's memory (with a batch of ``batch_size``) is refused first."""
    dtype = np.dtype(dtype)
    check_memory(spec, input_shape, batch_size, dtype.itemsize)
    resolved = spec.resolve(input_shape)
    model_state = initial_state(spec, input_shape, seed, dtype)
    rng = np.random.default_rng([seed, 1])  # dropout masks: a stream apart from the initial weights
    layers = [make_layer(r, _layer_state(model_state, r), rng) for r in resolved]
    if hasattr(layers[0], "input_grad"):
        layers[0].input_grad = False  # nothing needs dL/d(image); a conv layer saves its col2im
    model = Model(layers, make_loss(loss), spec.with_input(resolved[0].input_shape), dtype, rng)
    if state is not None:
        model.load_state_dict(state)
    return model


@dataclass
class Pass:
    """One forward and backward pass through a model, recorded: layer i received ``inputs[i]``, returned
    ``outputs[i]`` and, going back, got dL/d(``outputs[i]``) in ``d_outputs[i]``; ``grads`` are the
    parameter gradients (copies, by state name) and ``loss`` the batch loss. ``Model.recorded_pass`` makes one."""

    inputs: list[np.ndarray] = field(default_factory=list)
    outputs: list[np.ndarray] = field(default_factory=list)
    d_outputs: list[np.ndarray | None] = field(default_factory=list)
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    loss: float = math.nan


class Model:
    """A chain of layers and a loss: forward, backward, a training step, predictions, a state dict."""

    def __init__(self, layers: list[Layer], loss, spec: Spec, dtype=np.float32, rng: np.random.Generator | None = None):
        self.layers = layers
        self.loss = loss
        self.spec = spec
        self.dtype = np.dtype(dtype)
        #: The generator behind the dropout masks; save its state to resume a run exactly.
        self.rng = rng if rng is not None else np.random.default_rng()
        #: The output of the last training forward pass (``loss_and_grads``), e.g. for a running accuracy.
        self.last_output: np.ndarray | None = None
        #: Parameters the spec declares fixed (``bias=fixed``): left out of ``params``, so no optimiser moves them.
        self.fixed = frozenset(f"{i}.{name}" for i, item in enumerate(spec.layers) for name in item.fixed)

    # -- the two passes -----------------------------------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = False, record: Pass | None = None) -> np.ndarray:
        """The output for a batch x; ``record`` keeps each layer's input and output."""
        x = self.as_input(x)
        for layer in self.layers:
            if record is not None:
                record.inputs.append(x)
            x = layer.forward(x, training)
            if record is not None:
                record.outputs.append(x)
        return x

    def backward(self, d_output: np.ndarray, record: Pass | None = None) -> np.ndarray:
        """dL/d(input) from dL/d(output), after ``forward``; ``record`` keeps each layer's dL/d(its output)."""
        d = d_output
        if record is not None:
            record.d_outputs = [None] * len(self.layers)
        for i in reversed(range(len(self.layers))):
            if record is not None:
                record.d_outputs[i] = d
            d = self.layers[i].backward(d)
        return d

    def recorded_pass(self, x: np.ndarray, y: np.ndarray) -> Pass:
        """Forward in training mode, the loss and the backward pass, every value kept (a ``Pass``): what
        ``layerlab explain`` and the playground's neuron panel show. Nothing is updated."""
        record = Pass()
        output = self.forward(x, training=True, record=record)
        record.loss = float(self.loss.forward(output, y))
        self.backward(self.loss.backward(), record)
        record.grads = {name: g.copy() for name, g in self.grads.items()}
        return record

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, penalty=None) -> float:
        """Forward in training mode, the loss (plus the weight penalty), and every gradient."""
        output = self.last_output = self.forward(x, training=True)
        loss = self.loss.forward(output, y)
        self.backward(self.loss.backward())
        if penalty is not None:
            for layer in self.layers:
                if "weight" in layer.params and penalised("weight", layer.params["weight"].ndim):
                    w = layer.params["weight"]
                    loss += penalty.value(w)
                    layer.grads["weight"] += penalty.grad(w).astype(w.dtype, copy=False)
        return float(loss)

    def train_step(self, x: np.ndarray, y: np.ndarray, optimizer, penalty=None) -> float:
        """One step of gradient descent on a batch; returns the batch loss before the step."""
        loss = self.loss_and_grads(x, y, penalty)
        if not np.isfinite(loss):
            return loss  # the trainer decides what a diverged run does; the weights are left untouched
        optimizer.step(self.params, self.grads)
        return loss

    # -- predictions ---------------------------------------------------------------------------------

    def predict_proba(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Class probabilities, in test mode (dropout off, batch norm on running averages)."""
        parts = [self.loss.probabilities(self.forward(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts)

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        return self.predict_proba(x, batch_size).argmax(axis=1)

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> tuple[float, float]:
        """(mean loss, accuracy) in test mode."""
        total, correct = 0.0, 0
        for i in range(0, len(x), batch_size):
            output = self.forward(x[i : i + batch_size])
            total += self.loss.forward(output, y[i : i + batch_size]) * len(output)
            correct += int((self.loss.probabilities(output).argmax(axis=1) == labels_of(y[i : i + batch_size])).sum())
        return total / len(x), correct / len(x)

    # -- inputs and state ----------------------------------------------------------------------------

    def as_input(self, x: np.ndarray) -> np.ndarray:
        """Check the shape; uint8 pixels become floats in [0, 1] in the model's dtype."""
        x = np.asarray(x)
        expected = self.spec.input_shape
        if x.shape[1:] != expected:
            raise EngineError(
                f"input batch has shape {x.shape}, the model expects (batch, {', '.join(map(str, expected))}); "
                "reshape the data or build the model with the right input shape"
            )
        if x.dtype == np.uint8:
            return x.astype(self.dtype) / self.dtype.type(255)
        return x.astype(self.dtype, copy=False)

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Trainable arrays by name (``"{layer index}.{name}"``): the optimiser updates these in place.

        Parameters declared fixed in the spec are not among them (``state_dict`` has every array)."""
        return {
            name: v
            for i, layer in enumerate(self.layers)
            for k, v in layer.params.items()
            if (name := f"{i}.{k}") not in self.fixed
        }

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, named as in a PyTorch ``nn.Sequential``."""
        return {
            f"{i}.{k}": v.copy()
            for i, layer in enumerate(self.layers)
            for k, v in (*layer.params.items(), *layer.buffers.items())
        }

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy arrays into the model; every name must be present with the same shape."""
        own = {
            f"{i}.{k}": v
            for i, layer in enumerate(self.layers)
            for k, v in (*layer.params.items(), *layer.buffers.items())
        }
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise EngineError(
                f"the weights do not belong to this model: missing {missing or 'nothing'}, "
                f"unexpected {unexpected or 'nothing'}; were they saved from a different spec?"
            )
        values = {name: np.asarray(state[name]) for name in own}
        for name, target in own.items():
            if values[name].shape != target.shape:
                raise EngineError(f"weight {name} has shape {values[name].shape}, this model needs {target.shape}")
        for name, target in own.items():  # only once every shape fits: a refused load changes nothing
            target[...] = values[name]

    @property
    def num_params(self) -> int:
        return sum(v.size for v in self.params.values())
