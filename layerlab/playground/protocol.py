"""What the page may send, checked: the settings of a session, the messages, an uploaded CSV, an import;
and how a frame travels back (``pack_frame``: JSON and the heat maps' bytes in one binary message).

Everything that arrives over the WebSocket passes through here before the session sees it. A value of
the wrong type, out of range, an unknown key or message type, an oversized message: each raises
``ProtocolError`` with one sentence naming the field and what would be valid, which the server sends
back as an error frame. Nothing here trusts the page, including numbers hidden in nested lists.

The limits (``LIMITS``) are TensorFlow Playground's lifted: up to 10 hidden layers of 32 neurons
(Playground: 6 of 8), 5,000 points (Playground: 500), learning rates down to 1e-6, batches as large
as the training set; they bound the CPU time and memory of one browser tab's session.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from ..data.playground import FEATURES, PLAYGROUND, REGRESSION
from ..errors import LayerlabError
from ..task import task_named


class ProtocolError(LayerlabError, ValueError):
    """A message, setting, CSV file or import the playground refuses; the text says why and what works."""


ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
REGULARIZATIONS = ("none", "l1", "l2")
PROBLEMS = ("classification", "regression")
DATASETS = (*PLAYGROUND, "upload")

LIMITS = {
    "layers": 10,  # hidden layers
    "neurons": 32,  # per hidden layer
    "points": 5000,  # generated or uploaded
    "classes": 8,  # uploaded classification data
    "speed": 100,  # epochs per frame
    "message_bytes": 16_000_000,  # one WebSocket message: a larger import is refused with a message, not a close
    "csv_bytes": 1_000_000,  # an uploaded CSV file
    "import_bytes": 2_000_000,  # an imported .safetensors file (the largest export, 5,000 uploaded points: ~0.3 MB)
    "work": 1_000_000,  # points x hidden neurons: bounds the time of one epoch
    "sessions": 16,  # open tabs at once (each may keep a core busy)
}


@dataclass(frozen=True)
class Settings:
    """One session's set-up: the controls of the page, in the names the URL uses."""

    data: str = "circle"
    problem: str = "classification"
    points: int = 500
    ratio: int = 50  # percent of the points used for training (Playground's slider)
    noise: int = 0  # percent, as Playground's slider
    batch: int = 10
    seed: int = 0  # the data's random numbers: "regenerate" draws the next
    init: int = 0  # the initial weights' random numbers: "reset" draws the next
    features: tuple[str, ...] = ("x1", "x2")
    hidden: tuple[int, ...] = (4, 2)
    activation: str = "tanh"
    lr: float = 0.03
    regularization: str = "none"
    rate: float = 0.0  # regularisation rate
    speed: int = 1  # epochs per frame
    task: int = 0  # the preset (1-10) whose question and target are shown; 0: none
    show_test: bool = False  # page only: draw the test points too
    discretize: bool = False  # page only: the output as two colours

    # Groups: what must be rebuilt when a field changes.
    DATA_FIELDS = ("data", "problem", "points", "ratio", "noise", "seed")
    NETWORK_FIELDS = ("features", "hidden", "activation", "init")

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


_INT_RANGES = {
    "points": (10, LIMITS["points"]),
    "ratio": (10, 90),
    "noise": (0, 50),
    "batch": (1, LIMITS["points"]),
    "seed": (0, 2**31 - 1),
    "init": (0, 2**31 - 1),
    "speed": (1, LIMITS["speed"]),
    "task": (0, 10),
}
_CHOICES = {
    "data": DATASETS,
    "problem": PROBLEMS,
    "activation": ACTIVATIONS,
    "regularization": REGULARIZATIONS,
}
_FLOATS = {
    "lr": ("lr (learning rate)", 0.0, 10.0, True),
    "rate": ("rate (regularisation rate)", 0.0, 10.0, False),
}


def _int(name: str, value: Any, low: int, high: int) -> int:
    whole = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise ProtocolError(f"{name} must be a whole number from {low} to {high}, got {_show(value)}")
    if not low <= value <= high:
        raise ProtocolError(f"{name} must be from {low} to {high}, got {int(value)}")
    return int(value)


def _float(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(f"{name} must be a number, got {_show(value)}")
    if value > high or value < low or (low_open and value == low):
        raise ProtocolError(f"{name} must be {'above' if low_open else 'at least'} {low:g} and at most {high:g}")
    return float(value)


def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def settings_from(raw: Any, base: Settings | None = None) -> Settings:
    """Settings from the page's JSON object: the given keys replace those of ``base`` (default: defaults)."""
    base = base or Settings()
    checks = {
        "show_test": _bool("show_test"),
        "discretize": _bool("discretize"),
        "features": _features,
        "hidden": _hidden,
    }
    values = check_settings(settings_object(raw, Settings), _INT_RANGES, _CHOICES, _FLOATS, checks)
    settings = replace(base, **values)
    if settings.data in REGRESSION and task_named(settings.problem).has_classes:
        raise ProtocolError(f"{settings.data} is a regression data set: set problem to regression")
    if settings.data in PLAYGROUND and settings.data not in REGRESSION and not task_named(settings.problem).has_classes:
        raise ProtocolError(f"{settings.data} is a classification data set: set problem to classification")
    work = settings.points * max(1, sum(settings.hidden))
    if work > LIMITS["work"]:
        raise ProtocolError(
            f"{settings.points} points x {sum(settings.hidden)} hidden neurons is more work per epoch than "
            f"a session may take ({LIMITS['work']:,}); use fewer points or neurons"
        )
    return settings


def settings_object(raw: Any, settings_class: type) -> dict[str, Any]:
    """``raw`` once it is known to be a JSON object whose keys are all fields of ``settings_class``."""
    if not isinstance(raw, dict):
        raise ProtocolError(f"settings must be a JSON object of the page's controls, got {_show(raw)}")
    known = {f.name for f in fields(settings_class)}
    unknown = sorted(str(k)[:30] for k in raw if k not in known)
    if unknown:
        raise ProtocolError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return raw


def check_settings(
    raw: dict[str, Any],
    ranges: dict[str, tuple[int, int]],
    choices: dict[str, Sequence[str]],
    floats: dict[str, tuple[str, float, float, bool]],
    checks: dict[str, Any],
) -> dict[str, Any]:
    """The page's values checked, in the order sent (the first bad one raises ``ProtocolError``).

    ``ranges``: whole numbers, ``{name: (low, high)}``; ``choices``: ``{name: the words allowed}``;
    ``floats``: ``{name: (the name shown, low, high, low excluded)}``; ``checks``: ``{name: function}`` for
    the rest, each returning the checked value. A name in none of them is left out of the result."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name in ranges:
            values[name] = _int(name, value, *ranges[name])
        elif name in choices:
            if value not in choices[name]:
                raise ProtocolError(f"{name} must be one of {', '.join(choices[name])}, got {_show(value)}")
            values[name] = value
        elif name in floats:
            shown, low, high, low_open = floats[name]
            values[name] = _float(shown, value, low, high, low_open=low_open)
        elif name in checks:
            values[name] = checks[name](value)
    return values


def _bool(name: str) -> Any:
    """The check of a true/false setting called ``name``."""

    def checked(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ProtocolError(f"{name} must be true or false, got {_show(value)}")
        return value

    return checked


def _features(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or len(value) > len(FEATURES):
        raise ProtocolError(f"features must be a non-empty list of names from {', '.join(FEATURES)}")
    if any(name not in FEATURES for name in value) or len(set(value)) != len(value):
        raise ProtocolError(f"features must name each of {', '.join(FEATURES)} at most once, got {_show(value)}")
    return tuple(name for name in FEATURES if name in value)  # Playground's order


def _hidden(value: Any) -> tuple[int, ...]:
    layers, neurons = LIMITS["layers"], LIMITS["neurons"]
    if not isinstance(value, list) or len(value) > layers:
        raise ProtocolError(f"hidden must be a list of at most {layers} layer widths, e.g. [4, 2]")
    return tuple(_int("a hidden layer's width", width, 1, neurons) for width in value)


# -- messages -----------------------------------------------------------------------------------------

MESSAGE_TYPES = ("config", "play", "pause", "step", "explain", "edit", "upload", "export", "import", "ack")
EDIT_LIMIT = 1000.0  # an edited weight or bias lies within +-EDIT_LIMIT


@dataclass(frozen=True)
class Message:
    """One checked message from the playground page; which fields are set depends on ``type``."""

    type: str
    settings: dict[str, Any] = field(default_factory=dict)
    neuron: tuple[int, int] | None = None  # explain: (layer, unit), layer 1.. = hidden layers, then output
    csv: str = ""
    weights: bytes = b""
    rev: int = 0  # the page's number for a config message, echoed by the frames that reflect it
    edit: Edit | None = None  # edit: which weight or bias, and its new value


@dataclass(frozen=True)
class Edit:
    """A weight or bias the student typed in: ``layer`` 1 is the first hidden layer (its weights come from
    the features), ``unit`` the neuron in it, ``input`` the neuron (or feature) the weight comes from."""

    param: str  # "weight" or "bias"
    layer: int
    unit: int
    input: int | None
    value: float


def read_message(text: Any, types: Sequence[str], takes: dict[str, set[str]]) -> tuple[str, dict[str, Any]]:
    """A message's type and its JSON object, checked as every page's messages are: JSON text under the size
    limit, a known ``type``, and only the fields ``takes[type]`` names (none for a type it leaves out)."""
    if not isinstance(text, str):
        raise ProtocolError("messages are JSON text; binary messages are not accepted")
    if len(text) > LIMITS["message_bytes"]:
        raise ProtocolError(f"message of {len(text):,} characters is over the limit of {LIMITS['message_bytes']:,}")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ProtocolError(f"message is not valid JSON ({str(e)[:80]})") from None
    if not isinstance(raw, dict) or raw.get("type") not in types:
        kind = raw.get("type") if isinstance(raw, dict) else raw
        raise ProtocolError(f"unknown message type {_show(kind)}; known: {', '.join(types)}")
    kind = raw["type"]
    allowed = takes.get(kind, set())
    extra = sorted(str(k)[:30] for k in raw if k != "type" and k not in allowed)
    if extra:
        raise ProtocolError(
            f"a {kind} message takes {', '.join(sorted(allowed)) or 'no fields'}, not {', '.join(extra)}"
        )
    return kind, raw


def parse_message(text: Any) -> Message:
    """One WebSocket text message, checked; raises ``ProtocolError`` naming what is wrong."""
    takes = {
        "config": {"settings", "rev"},
        "explain": {"neuron"},
        "upload": {"csv"},
        "import": {"weights"},
        "edit": {"param", "layer", "unit", "input", "value"},
    }
    kind, raw = read_message(text, MESSAGE_TYPES, takes)
    if kind == "config":
        if not isinstance(raw.get("settings"), dict):
            raise ProtocolError("a config message needs settings: a JSON object of the page's controls")
        rev = _int("rev", raw.get("rev", 0), 0, 2**53)
        return Message(kind, settings=raw["settings"], rev=rev)
    if kind == "explain":
        neuron = raw.get("neuron")
        if neuron is None:
            return Message(kind)
        if not isinstance(neuron, list) or len(neuron) != 2:
            raise ProtocolError("explain's neuron must be [layer, unit] (layer 1 is the first hidden layer) or null")
        layer = _int("explain's layer", neuron[0], 1, LIMITS["layers"] + 1)
        return Message(kind, neuron=(layer, _int("explain's unit", neuron[1], 0, LIMITS["neurons"] - 1)))
    if kind == "edit":
        return Message(kind, edit=_edit(raw))
    if kind == "upload":
        csv = raw.get("csv")
        if not isinstance(csv, str):
            raise ProtocolError("an upload message needs csv: the file's text")
        if len(csv.encode()) > LIMITS["csv_bytes"]:
            raise ProtocolError(
                f"the CSV file is over {LIMITS['csv_bytes'] // 1000:,} kB; upload at most {LIMITS['points']:,} points"
            )
        return Message(kind, csv=csv)
    if kind == "import":
        return Message(kind, weights=imported_weights(raw, LIMITS["import_bytes"], "Export model"))
    return Message(kind)


def imported_weights(raw: dict[str, Any], limit: int, button: str) -> bytes:
    """An import message's .safetensors file (base64 in ``weights``), at most ``limit`` bytes; the error
    names the page's ``button`` that saves such a file."""
    data = raw.get("weights")
    if not isinstance(data, str):
        raise ProtocolError("an import message needs weights: the .safetensors file in base64")
    try:
        weights = base64.b64decode(data, validate=True)
    except ValueError:
        raise ProtocolError("import: the weights are not valid base64") from None
    if len(weights) > limit:
        raise ProtocolError(
            f"import: the file is {len(weights) // 1000:,} kB, over the limit of "
            f"{limit // 1000:,} kB; import a .safetensors file that {button} saved"
        )
    return weights


def _edit(raw: dict[str, Any]) -> Edit:
    param = raw.get("param")
    if param not in ("weight", "bias"):
        raise ProtocolError(f"edit: param must be weight or bias, got {_show(param)}")
    layer = _int("edit's layer", raw.get("layer"), 1, LIMITS["layers"] + 1)
    unit = _int("edit's unit", raw.get("unit"), 0, LIMITS["neurons"] - 1)
    if param == "weight":
        source = _int("edit's input", raw.get("input"), 0, max(LIMITS["neurons"], len(FEATURES)) - 1)
    elif "input" in raw:
        raise ProtocolError("edit: a bias has no input; send param, layer, unit and value")
    else:
        source = None
    value = _float(f"the {param}", raw.get("value"), -EDIT_LIMIT, EDIT_LIMIT)
    return Edit(param, layer, unit, source, value)


# -- frames on the wire ------------------------------------------------------------------------------


def pack_frame(message: dict[str, Any]) -> bytes:
    """A message whose values include bytes (a frame's heat maps) as ONE binary WebSocket message: a
    4-byte little-endian length, that many bytes of JSON (the other values, and ``"bytes": {name:
    [offset, length]}``), then the byte strings one after another. The page reads the maps as views into
    the message (no base64 text to decode, a quarter fewer bytes to send).
    """
    header: dict[str, Any] = {k: v for k, v in message.items() if not isinstance(v, bytes)}
    blobs = [(k, v) for k, v in message.items() if isinstance(v, bytes)]
    places, offset = {}, 0
    for name, blob in blobs:
        places[name] = [offset, len(blob)]
        offset += len(blob)
    header["bytes"] = places
    text = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    return b"".join([struct.pack("<I", len(text)), text, *(blob for _, blob in blobs)])


def unpack_frame(data: bytes) -> dict[str, Any]:
    """``pack_frame``'s message back: the JSON values, and each byte string under its name."""
    (size,) = struct.unpack_from("<I", data)
    message = json.loads(data[4 : 4 + size])
    start = 4 + size
    for name, (offset, length) in message.pop("bytes").items():
        message[name] = data[start + offset : start + offset + length]
    return message


# -- uploaded CSV -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """Points from a CSV file: (N, 2) coordinates and labels (class indices or regression targets)."""

    points: np.ndarray
    labels: np.ndarray
    problem: str
    classes: tuple[str, ...] = ()  # class names (the CSV's labels) for classification
    note: str = ""  # how the file was read (its first row: a header or data), for the page to show

    def to_json(self) -> dict[str, Any]:
        return {
            "points": self.points.tolist(),
            "labels": self.labels.tolist(),
            "problem": self.problem,
            "classes": list(self.classes),
        }


def parse_csv(text: str) -> Upload:
    """Rows ``x, y, label`` (a header row is allowed); the message of a bad file names its row.

    Header or data: the first row is a header when none of its cells is a number (``x,y,label``) and
    the rows after it parse; a first row with numbers in it (``0.5,O.3,1``, a typo) is data, refused
    like any other bad row, never dropped. ``Upload.note`` says which was chosen.

    Labels that are all whole numbers, with at most ``LIMITS["classes"]`` different values, make a
    classification problem (the values sorted are classes 0, 1, ...; -1/+1 become 0/1 as in Playground);
    anything else is a regression target.
    """
    rows = [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    values: list[tuple[float, float, float]] = []
    header = ""
    for number, line in enumerate(rows, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [cell.strip() for cell in line.replace(";", ",").replace("\t", ",").split(",")]
        if len(cells) != 3:
            raise ProtocolError(f"CSV row {number}: expected 3 values (x, y, label), got {len(cells)}: {line[:40]!r}")
        try:
            x, y, label = (float(cell) for cell in cells)
        except ValueError:
            first = not values and number == _first_row(rows)
            if first and not any(map(_is_number, cells)):
                header = f"row {number} {line.strip()[:40]!r}"
                continue  # a header: no number in it (the rows after it must parse)
            bad = next(c for c in cells if not _is_number(c))
            why = " (a first row with numbers in it is data, not a header)" if first else ""
            raise ProtocolError(
                f"CSV row {number}: {bad[:20]!r} is not a number (x, y, label){why}; correct it in the file"
            ) from None
        if not all(map(math.isfinite, (x, y, label))):
            raise ProtocolError(f"CSV row {number}: values must be finite numbers, got {line[:40]!r}")
        if max(abs(x), abs(y)) > 1e6:
            raise ProtocolError(f"CSV row {number}: coordinates must lie within +-1,000,000")
        values.append((x, y, label))
        if len(values) > LIMITS["points"]:
            raise ProtocolError(f"CSV row {number}: more than {LIMITS['points']:,} points; upload fewer")
    if len(values) < 10:
        raise ProtocolError(f"the CSV file has {len(values)} points; the playground needs at least 10")
    array = np.array(values)
    points, labels = array[:, :2], array[:, 2]
    distinct = np.unique(labels)
    if np.all(labels == np.round(labels)) and len(distinct) <= LIMITS["classes"]:
        if len(distinct) < 2:
            raise ProtocolError(f"every label in the CSV file is {distinct[0]:g}; classification needs 2 classes")
        index = np.searchsorted(distinct, labels)
        names = tuple(f"{v:g}" for v in distinct)
        note = _note(header, len(values), f"classification, {len(distinct)} classes")
        return Upload(points.astype(np.float32), index.astype(np.int64), "classification", names, note)
    return Upload(
        points.astype(np.float32),
        labels.astype(np.float32),
        "regression",
        note=_note(header, len(values), "regression"),
    )


def _note(header: str, points: int, problem: str) -> str:
    first = f"{header} read as a header" if header else "no header: the first row read as data"
    return f"{points:,} points ({problem}); {first}"


def _first_row(rows: list[str]) -> int:
    return next(i for i, line in enumerate(rows, 1) if line.strip() and not line.lstrip().startswith("#"))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def upload_from_json(raw: Any) -> Upload:
    """The upload stored with an exported model, checked like a CSV file."""
    if not isinstance(raw, dict) or not isinstance(raw.get("points"), list) or not isinstance(raw.get("labels"), list):
        raise ProtocolError("import: the stored upload is not {points, labels, problem, classes}")
    points, labels = raw["points"], raw["labels"]
    if len(points) != len(labels):
        raise ProtocolError("import: the stored upload has different numbers of points and labels")
    if not all(isinstance(p, list) and len(p) == 2 for p in points):
        raise ProtocolError("import: the stored upload's points must be [x, y] pairs")
    lines = [f"{p[0]},{p[1]},{label}" for p, label in zip(points, labels, strict=True)]
    upload = parse_csv("\n".join(lines))
    classes = raw.get("classes") or []
    if task_named(upload.problem).has_classes and isinstance(classes, list) and len(classes) >= len(upload.classes):
        upload = replace(upload, classes=tuple(str(c)[:20] for c in classes[: int(upload.labels.max()) + 1]))
    return upload
