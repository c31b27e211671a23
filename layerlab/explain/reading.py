"""Reading what explain is given: the network (dense layers, each with at most one activation, small
enough to print), its weights, the input and the target; anything else is an ``ExplainError`` line."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LayerlabError
from ..numpy.model import LAYERS
from ..spec import KINDS, Spec, SpecError


class ExplainError(LayerlabError, ValueError):
    """A network, weights, input or target that explain cannot show."""


#: The largest network explain prints, in weights and biases, and the largest batch.
MAX_PARAMETERS = 60
MAX_BATCH = 8

#: The activations explain shows per neuron: those whose numpy class writes y = f(e) and f'(e) as text
#: (``formula``, ``derivative``).
ACTIVATIONS = tuple(kind for kind, k in KINDS.items() if k.activation and getattr(LAYERS[kind], "formula", None))


@dataclass
class Block:
    """A dense layer and the activation after it (if any): one layer of neurons."""

    dense: int  # index in the spec
    activation: int | None
    kind: str  # the activation's kind, "linear" when there is none
    names: list[str]  # the neurons
    bias_names: list[str] | None  # one per row of the dense layer
    pieces: int = 1  # rows of the dense layer per neuron: maxout's k, else 1
    row_names: list[str] = field(default_factory=list)  # the dense layer's rows: a neuron, or a maxout piece

    def rows(self, neuron: int) -> range:
        """The dense layer's rows that make a neuron: one, or a maxout's k consecutive pieces."""
        return range(neuron * self.pieces, (neuron + 1) * self.pieces)


def dense_blocks(spec: Spec) -> list[Block]:
    kinds = [item.kind for item in spec.layers]
    blocks: list[Block] = []
    i = 0
    while i < len(kinds):
        if kinds[i] != "dense":
            what = "an activation" if KINDS[kinds[i]].activation else f"`{spec.layers[i]}`"
            raise ExplainError(
                f"explain shows dense networks: each dense layer followed by at most one activation "
                f"({', '.join(ACTIVATIONS)}); layer {i + 1} is {what} where a dense layer should be"
            )
        activation = None
        if i + 1 < len(kinds) and kinds[i + 1] != "dense":
            if kinds[i + 1] not in ACTIVATIONS:
                raise ExplainError(
                    f"explain cannot show layer {i + 2} `{spec.layers[i + 1]}` neuron by neuron; "
                    f"use dense layers and the activations {', '.join(ACTIVATIONS)}"
                )
            activation = i + 1
        kind = kinds[activation] if activation is not None else "linear"
        pieces = spec.layers[activation].args["k"] if kind == "maxout" else 1
        blocks.append(Block(i, activation, kind, [], None, pieces))
        i += 2 if activation is not None else 1
    if any(b.kind == "softmax" for b in blocks[:-1]):
        raise ExplainError("explain shows softmax only after the last dense layer")
    return blocks


def _vector(value: Any, size: int, what: str, flag: str) -> np.ndarray:
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.replace(",", " ").split()]
        except ValueError:
            raise ExplainError(f"{flag} {value!r}: give {size} numbers separated by commas, e.g. 0.05,0.10") from None
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size != size:
        raise ExplainError(f"{flag}: the network has {size} {what}, got {array.size} numbers; give {size}")
    if not np.all(np.isfinite(array)):
        raise ExplainError(f"{flag}: every number must be finite")
    return array


def read_matrix(value: Any, size: int, what: str, flag: str) -> np.ndarray:
    """One example (numbers) or a batch (examples separated by ";", or a list of lists): (examples, size)."""
    if isinstance(value, str):
        rows = [part for part in value.split(";") if part.strip()]
    elif isinstance(value, list | tuple) and value and isinstance(value[0], list | tuple | np.ndarray):
        rows = list(value)
    else:
        rows = [value]
    if len(rows) > MAX_BATCH:
        raise ExplainError(f"{flag}: explain prints a batch of at most {MAX_BATCH} examples, got {len(rows)}")
    return np.stack([_vector(row, size, what, flag) for row in rows])


def read_weights(value: Any, spec: Spec) -> dict[str, np.ndarray]:
    """Weights from a dict of state names, JSON text, a flat list of numbers (state order: each layer's
    weight row by row, then its bias), or a .json / .safetensors / .npz file. A single number for an
    array fills it (``"0.bias": 0.35``)."""
    shapes = {f"{r.index}.{n}": s for r in spec.resolve() for n, s in r.params.items()}
    if isinstance(value, str | Path) and Path(value).suffix in (".json", ".safetensors", ".npz"):
        path = Path(value)
        if not path.is_file():
            raise ExplainError(f"--weights: no file {path}")
        if path.suffix == ".json":
            value = path.read_text()
        else:
            from .weights import load_weights

            value = load_weights(path)[0]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise ExplainError(f"--weights is not valid JSON: {e}") from None
        else:
            value = _vector(text, sum(math.prod(s) for s in shapes.values()), "weights and biases", "--weights")
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(shapes))
        missing = sorted(set(shapes) - set(value))
        if unknown or missing:
            raise ExplainError(
                f"--weights: names must be {', '.join(shapes)}; "
                f"missing {', '.join(missing) or 'none'}, unknown {', '.join(unknown) or 'none'}"
            )
        state = {}
        for name, shape in shapes.items():
            try:
                array = np.broadcast_to(np.asarray(value[name], dtype=np.float64), shape).copy()
            except (ValueError, TypeError):
                raise ExplainError(f"--weights: {name} must have shape {shape} (or be one number)") from None
            state[name] = array
        return state
    flat = _vector(value, sum(math.prod(s) for s in shapes.values()), "weights and biases", "--weights")
    state, start = {}, 0
    for name, shape in shapes.items():
        state[name] = flat[start : start + math.prod(shape)].reshape(shape)
        start += math.prod(shape)
    return state


def explainable_blocks(spec: Spec) -> list[Block]:
    """The spec's blocks, if explain can print it: a flat input, dense blocks, at most ``MAX_PARAMETERS``."""
    if spec.input_shape is None:
        raise SpecError("explain needs the input size: start the model with input(n), e.g. input(2) dense(2) sigmoid")
    if len(spec.input_shape) != 1:
        raise ExplainError(f"explain shows dense networks with a flat input, got input{spec.input_shape}")
    blocks = dense_blocks(spec)
    count = spec.num_params()
    if count > MAX_PARAMETERS:
        raise ExplainError(
            f"the network has {count} weights and biases; explain prints at most {MAX_PARAMETERS}: "
            "use fewer or smaller layers (e.g. input(2) dense(3) tanh dense(2))"
        )
    return blocks
