"""Layers of your own in the numpy engine: the interface of the course's ``Layer`` assignment.

A layer class of your own has ``forward(x, args)``, which returns y, and ``backward(dy, args)``,
which returns dL/dx, or ``(dL/dx, {"weight": dL/dW, "bias": dL/db})`` for a layer with parameters.
Inputs are batch-first. ``args`` is a dict: ``args["training"]`` (True while training) and
``args["rng"]`` (a numpy Generator, for dropout's mask). Parameters live in ``self.params`` (a dict
of arrays, updated in place by the optimiser), batch-norm running averages in ``self.buffers``.
A class says which layer kind it implements with ``kind = "dense"`` (``layerlab exercise`` writes
such classes); the constructor takes the layer's name, then the arrays and settings the spec gives every
engine (``spec.ResolvedLayer.arguments``): ``MyConv(name, weight, bias, stride, padding)``.

``load_layers("my_layers.py")`` runs that file (it is your code: only a file you name is loaded)
and registers its layer classes, so the class name can be used in a spec like any layer kind, with
that kind's arguments: ``input(784) MyDense(100) relu dense(10)``. Such a model trains on the numpy
engine only.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LayerlabError
from ..spec import CUSTOM, KINDS, ResolvedLayer
from .layer import Layer


class CustomLayerError(LayerlabError, ValueError):
    """A file of layers that cannot be loaded, or a layer class that does not keep the interface."""


#: Registered classes of your own by name (their kinds are in ``spec.CUSTOM``).
CLASSES: dict[str, type] = {}

#: The kinds a class of your own may implement (those ``layerlab exercise`` writes). The engine constructs it
#: as ``cls(name, **r.arguments(arrays))``, with the arguments the spec gives the engine's own class.
KINDS_OF_YOUR_OWN = ("dense", "conv", "maxpool", "relu", "sigmoid", "tanh", "dropout", "batchnorm")


def split_backward(result: Any, where: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``dx`` or ``(dx, {name: gradient})`` from a backward of your own."""
    if isinstance(result, tuple | list):
        if len(result) != 2 or not isinstance(result[1], dict | type(None)):
            raise CustomLayerError(
                f"{where}.backward must return dx, or (dx, {{'weight': dW, 'bias': db}}); "
                f"got a {type(result).__name__} of {len(result)} items"
            )
        return result[0], dict(result[1] or {})
    return result, {}


class CustomLayer(Layer):
    """The engine's ``Layer`` around a class of your own: forward(x, training) -> forward(x, args)."""

    def __init__(self, layer: Any, rng: np.random.Generator):
        super().__init__()
        self.layer, self.rng = layer, rng
        self.params = getattr(layer, "params", None) or {}
        self.buffers = getattr(layer, "buffers", None) or {}
        self.args: dict[str, Any] = {}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        self.args = {"training": training, "rng": self.rng}
        return self._call("forward", x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx, grads = split_backward(self._call("backward", dy), type(self.layer).__name__)
        self.grads = {name: np.asarray(g, dtype=dy.dtype) for name, g in grads.items()}
        return dx

    def _call(self, method: str, array: np.ndarray) -> Any:
        """Your layer's forward or backward; a stub that ``layerlab exercise`` wrote is one clear line (any
        other error in your code shows its traceback, which points at your line)."""
        try:
            return getattr(self.layer, method)(array, self.args)
        except NotImplementedError:
            name = f"{type(self.layer).__name__}.{method}"
            raise CustomLayerError(
                f"{name} is not written yet ({inspect.getsourcefile(type(self.layer))}): fill it in; "
                "`layerlab check FILE` grades it"
            ) from None

    def __repr__(self) -> str:
        return f"CustomLayer({type(self.layer).__name__})"


def build_layer(r: ResolvedLayer, state: dict[str, np.ndarray], rng: np.random.Generator) -> Layer:
    """The numpy layer for a spec layer whose ``impl`` is a registered class of your own."""
    cls = CLASSES[r.layer.impl]
    return CustomLayer(cls(r.layer.impl, **arguments_of_your_own(r, state)), rng)


def arguments_of_your_own(r: ResolvedLayer, state: dict[str, np.ndarray]) -> dict[str, Any]:
    """The keyword arguments of a class of your own for a placed layer (after its name): those the spec gives
    every engine's class, less a dropout's scale (the exercise's dropout is inverted dropout; it takes p)."""
    arguments = r.arguments(state)
    if arguments.pop("scale", "train") != "train":
        raise CustomLayerError(
            f"`{r.layer}`: a dropout of your own scales in training (scale=train); "
            "leave scale=test out, or use the built-in dropout(p, scale=test)"
        )
    return arguments


def layer_classes(module: Any) -> dict[str, type]:
    """The classes of a module that implement a kind: a ``kind`` attribute and forward/backward."""
    found = {}
    for name, cls in vars(module).items():
        if inspect.isclass(cls) and cls.__module__ == module.__name__ and isinstance(getattr(cls, "kind", None), str):
            if callable(getattr(cls, "forward", None)) and callable(getattr(cls, "backward", None)):
                found[name] = cls
    return found


def import_file(path: str | Path) -> Any:
    """Run a Python file of your own as a module (it is your code: only a file you name is run)."""
    path = Path(path)
    if path.suffix != ".py" or not path.is_file():
        raise CustomLayerError(f"no Python file {path}; give the .py file with your layer classes")
    name = f"layerlab_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        if isinstance(e, SyntaxError):
            line, message = e.lineno, e.msg
        else:
            line = next((f.lineno for f in reversed(inspect.trace()) if Path(f.filename) == path.resolve()), None)
            message = str(e)
        where = f"{path}, line {line}" if line else str(path)
        raise CustomLayerError(f"{where}: {type(e).__name__}: {message} (while loading your file)") from None
    return module


def load_layers(path: str | Path) -> dict[str, str]:
    """Register the layer classes of a file for specs; returns {class name: kind}."""
    module = import_file(path)
    classes = layer_classes(module)
    registered = {}
    for name, cls in classes.items():
        if cls.kind not in KINDS_OF_YOUR_OWN:
            continue  # e.g. a softmax + cross-entropy class: a loss, graded by `layerlab check` only
        if name in KINDS:
            raise CustomLayerError(f"{path}: class {name} has the name of a built-in layer; rename it")
        CLASSES[name], CUSTOM[name] = cls, cls.kind
        registered[name] = cls.kind
    if not registered:
        raise CustomLayerError(
            f"{path} has no layer class with kind = one of {', '.join(KINDS_OF_YOUR_OWN)} and forward/backward methods"
        )
    return registered
