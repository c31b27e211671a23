"""What the Images page may send, checked: a session's set-up and the messages of the image mode.

As ``protocol.py`` for the 2-D page (and with its checks: ``check_settings``, ``_int``, ``ProtocolError``): every
value from the page is checked here before the session sees it, and a bad one raises one sentence naming
the field and what would be valid, which the server sends back as an error frame.

The presets are read from the built-in experiments (``lab4a`` and ``nielsen``), so the playground trains
the models the experiments run, with their optimiser, learning rate, batch size and L2 penalty.
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from typing import Any

import numpy as np

from ..engine import OPTIMIZERS
from ..errors import LayerlabError
from ..spec import KINDS, parse
from .protocol import ProtocolError, _int, _show, check_settings, imported_weights, read_message, settings_object

INPUT_SHAPE = (1, 28, 28)  # every data set of the mode has MNIST's shape
DATASETS = ("mnist-small", "mnist", "fashion-mnist")  # mnist-small is embedded; the others need --data-dir
ACTIVATIONS = ("model", "relu", "sigmoid", "tanh", "leakyrelu", "elu")  # "model": as the spec says
#: Augmentations the page offers (``layerlab.augment``): Nielsen's 1-pixel shifts (the expansion of row 5,
#: drawn at random per batch), small rotations, and Simard's elastic distortions.
AUGMENTATIONS = {
    "none": None,
    "shift": "shift",
    "rotate": "rotate(15)",
    "elastic": "elastic(alpha=34, sigma=4)",
}

IMAGE_LIMITS = {
    "parameters": 2_000_000,  # trainable parameters of a model (its weights export as 8 MB)
    "activations": 400_000,  # values one image makes across all layers: bounds the time of a step
    "batch": 1000,
    "model_chars": 2000,  # the spec text
    "drawing_side": 560,  # a drawn digit is at most 560 x 560 pixels
    "import_bytes": 12_000_000,  # an imported .safetensors file
    "train_images": 20_000,  # MNIST and Fashion-MNIST train on their first 20,000 images (memory per tab)
}

SMALL_CNN = "conv(8, 5) relu maxpool(2) conv(16, 5) relu maxpool(2) flatten dense(10)"


@cache
def presets() -> dict[str, dict[str, Any]]:
    """The presets by key: a title and the settings, read from the built-in experiments' run plans."""
    from ..experiments import load_experiment

    lab4a = {run.name: run for run in load_experiment("lab4a").runs}
    nielsen = {run.repeat_of or run.name: run for run in load_experiment("nielsen").runs}

    def from_run(title: str, run) -> dict[str, Any]:
        c = run.config
        augment = "shift" if c.expand == "shift" else "none"  # row 5's expansion, as random shifts per batch
        settings = {"model": c.model, "optimizer": c.optimizer, "lr": c.resolved_lr(), "batch": c.batch_size}
        return {"title": title, "settings": {**settings, "l2": c.l2, "augment": augment}}

    result = {
        "lab4a-mlp": from_run("Lab 4A: MLP, 2 hidden layers of 100 ReLU", lab4a["ex1-mlp"]),
        "lab4a-linear": from_run("Lab 4A: linear model", lab4a["ex1-linear"]),
    }
    rows = ("1-mlp-100", "2-conv-20", "3-conv-40", "4-relu", "5-expanded")
    for number, name in enumerate(rows, 1):
        result[f"nielsen-{number}"] = from_run(f"Nielsen, row {number}: {nielsen[name].note}", nielsen[name])
    result["small-cnn"] = {
        "title": "A small CNN: 8 and 16 ReLU filters of 5x5, Adam",
        "settings": {"model": SMALL_CNN, "optimizer": "adam", "lr": 0.002, "batch": 32, "l2": 0.0, "augment": "none"},
    }
    for preset in result.values():
        preset["settings"] = {**preset["settings"], "activation": "model", "dropout": 0.0}
    return result


@dataclass(frozen=True)
class ImageSettings:
    """One Images session's set-up: the page's controls."""

    preset: str = "lab4a-mlp"  # the preset last chosen (the page shows its title); the rest may differ from it
    model: str = "flatten dense(100) relu dense(100) relu dense(10)"
    data: str = "mnist-small"
    optimizer: str = "momentum"
    lr: float = 0.02
    batch: int = 64
    activation: str = "model"  # replaces every hidden activation of the model
    dropout: float = 0.0  # dropout(p) after every hidden dense layer's activation
    l2: float = 0.0  # Nielsen's lambda: cost + l2 / (2n) sum w^2
    augment: str = "none"
    seed: int = 0  # initial weights, order of the images, dropout: "reset" draws the next

    #: What must be rebuilt when a field changes (the rest: the optimiser's rate, the batch size).
    DATA_FIELDS = ("data",)
    NETWORK_FIELDS = ("model", "optimizer", "activation", "dropout", "l2", "augment", "seed")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def augmentation(self) -> str | None:
        return AUGMENTATIONS[self.augment]


_INT_RANGES = {"batch": (1, IMAGE_LIMITS["batch"]), "seed": (0, 2**31 - 1)}
_CHOICES = {
    "data": DATASETS,
    "optimizer": tuple(OPTIMIZERS),
    "activation": ACTIVATIONS,
    "augment": tuple(AUGMENTATIONS),
}
_FLOATS = {
    "lr": ("lr (learning rate)", 0.0, 10.0, True),
    "dropout": ("dropout (the probability of dropping a unit)", 0.0, 0.9, False),
    "l2": ("l2 (Nielsen's lambda)", 0.0, 100.0, False),
}


def image_settings_from(raw: Any, base: ImageSettings | None = None) -> ImageSettings:
    """Settings from the page's JSON object: the keys given replace those of ``base`` (default: defaults).

    A ``preset`` key alone sets everything the preset says; other keys beside it change the preset's values."""
    base = base or ImageSettings()
    raw = settings_object(raw, ImageSettings)
    values: dict[str, Any] = {}
    if "preset" in raw:
        if raw["preset"] not in presets():
            raise ProtocolError(f"preset must be one of {', '.join(presets())}, got {_show(raw['preset'])}")
        values = {"preset": raw["preset"], **presets()[raw["preset"]]["settings"]}
    values |= check_settings(raw, _INT_RANGES, _CHOICES, _FLOATS, {"model": _model_spec})
    settings = replace(base, **values)
    model_text(settings)  # the model must build: its spec, its output, its size
    return settings


def _model_spec(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError("model must be a model spec, e.g. flatten dense(100) relu dense(10)")
    if len(value) > IMAGE_LIMITS["model_chars"]:
        raise ProtocolError(f"model: the spec is over {IMAGE_LIMITS['model_chars']:,} characters")
    return value.strip()


def model_text(settings: ImageSettings) -> str:
    """The spec trained: the model with the activation replaced and dropout added, checked for MNIST's shape.

    Raises ``ProtocolError`` for a spec that does not parse or fit 1x28x28, an output other than 10
    values, or a model over the limits (parameters, values per image)."""
    try:
        spec = parse(settings.model, INPUT_SHAPE, "the images (1x28x28)")
        placed = spec.resolve()
    except LayerlabError as e:
        raise ProtocolError(f"model: {str(e).splitlines()[0]}") from None
    words = []
    last_dense = max((r.index for r in placed if r.layer.kind in ("dense", "conv")), default=-1)
    after_dense = False
    for r in placed:
        text, kind = str(r.layer), r.layer.kind
        swap = settings.activation != "model" and kind in ACTIVATIONS and r.index < last_dense
        words.append(settings.activation if swap else text)
        if kind == "dense":
            after_dense = r.index < last_dense
        elif KINDS[kind].activation and after_dense and settings.dropout > 0:
            words.append(f"dropout({settings.dropout:g})")
            after_dense = False
    text = " ".join(words)
    final = parse(text, INPUT_SHAPE).resolve()
    if tuple(final[-1].output_shape) != (10,):
        raise ProtocolError(
            f"model: its output has shape {'x'.join(map(str, final[-1].output_shape))}; the digits need 10 "
            "values (end with dense(10))"
        )
    if final[-1].layer.kind == "softmax":
        raise ProtocolError("model: leave the softmax out: the loss (cross-entropy) takes the 10 scores as they are")
    parameters = sum(r.num_params for r in final)
    if parameters > IMAGE_LIMITS["parameters"]:
        raise ProtocolError(
            f"model: {parameters:,} parameters is over the playground's limit of {IMAGE_LIMITS['parameters']:,}; "
            "use fewer units or filters (layerlab train has no such limit)"
        )
    values = sum(math.prod(r.output_shape) for r in final)
    if values > IMAGE_LIMITS["activations"]:
        raise ProtocolError(
            f"model: one image makes {values:,} values across its layers, over the playground's limit of "
            f"{IMAGE_LIMITS['activations']:,}; use fewer filters or pool earlier"
        )
    return text


# -- messages -----------------------------------------------------------------------------------------

MESSAGE_TYPES = ("config", "play", "pause", "step", "reset", "pick", "draw", "export", "import", "ack")


@dataclass(frozen=True)
class ImageMessage:
    """One checked message from the Images page; which fields are set depends on ``type``."""

    type: str
    settings: dict[str, Any] = field(default_factory=dict)
    rev: int = 0
    index: int = 0  # pick: a test image's index
    drawing: Any = None  # draw: (height, width, 1) uint8 array
    weights: bytes = b""


def parse_image_message(text: Any) -> ImageMessage:
    """One WebSocket text message of the Images page, checked; raises ``ProtocolError`` naming what is wrong."""
    takes = {
        "config": {"settings", "rev"},
        "pick": {"index"},
        "draw": {"width", "height", "pixels"},
        "import": {"weights"},
    }
    kind, raw = read_message(text, MESSAGE_TYPES, takes)
    if kind == "config":
        if not isinstance(raw.get("settings"), dict):
            raise ProtocolError("a config message needs settings: a JSON object of the page's controls")
        return ImageMessage(kind, settings=raw["settings"], rev=_int("rev", raw.get("rev", 0), 0, 2**53))
    if kind == "pick":
        return ImageMessage(kind, index=_int("pick's index (a test image)", raw.get("index"), 0, 10**6))
    if kind == "draw":
        side = IMAGE_LIMITS["drawing_side"]
        width = _int("draw's width", raw.get("width"), 8, side)
        height = _int("draw's height", raw.get("height"), 8, side)
        pixels = raw.get("pixels")
        if not isinstance(pixels, str):
            raise ProtocolError("a draw message needs pixels: the drawing's grey values (one byte each) in base64")
        try:
            data = base64.b64decode(pixels, validate=True)
        except ValueError:
            raise ProtocolError("draw: the pixels are not valid base64") from None
        if len(data) != width * height:
            raise ProtocolError(f"draw: {len(data):,} pixels sent for a {width}x{height} drawing ({width * height:,})")
        drawing = np.frombuffer(data, np.uint8).reshape(height, width, 1)
        return ImageMessage(kind, drawing=drawing)
    if kind == "import":
        return ImageMessage(kind, weights=imported_weights(raw, IMAGE_LIMITS["import_bytes"], "Export"))
    return ImageMessage(kind)
