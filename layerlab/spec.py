"""The model description both engines build from.

A model is a `Spec`: an optional input shape and a sequence of `Layer`s, each a layer *kind* with
arguments. It can be written as text::

    input(1, 28, 28) conv(20, 5) relu maxpool(2) conv(40, 5) relu maxpool(2)
    flatten dense(1000) relu dropout(0.5) dense(10)

or built in Python::

    from layerlab import spec as S
    S.Spec([S.conv(20, 5), S.relu(), S.maxpool(2), S.flatten(), S.dense(10)], input_shape=(1, 28, 28))

Every layer kind is declared once, in `KINDS` below: its arguments, its shape rule, the shapes of
its parameters and the settings its implementations are built with. The engines map each kind name to
a class, built as ``cls(**resolved_layer.arguments(...))`` (the one rule that unpacks a layer); the text
syntax is read by `layerlab.grammar`, which this module alone calls.

Shapes are per example and batch-free, channels first: an image is (channels, height, width), a
vector is (features,). Parameter names and shapes follow PyTorch (a dense weight is (out, in), a conv
weight is (filters, channels, k, k)), so a state dict means the same thing in both engines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .grammar import Call, Parser, SpecError, did_you_mean
from .grammar import format_value as _fmt

Shape = tuple[int, ...]


REQUIRED = object()

# Spelling: code names use -ize as numpy/torch/Keras do (INITIALIZERS, numpy/initializers.py, optimizers.py,
# the ``optimizer`` setting); prose says initialiser, optimiser.
#: Weight initialisers a layer may name with ``init=...``; arguments in brackets.
INITIALIZERS = {
    "normal": "N(0, sigma), sigma=1 unless given: normal(0.01)",
    "uniform": "U(-a, a), a=0.05 unless given: uniform(0.1)",
    "glorot_normal": "Glorot/Xavier normal, std = sqrt(2 / (fan_in + fan_out))",
    "glorot_uniform": "Glorot/Xavier uniform, a = sqrt(6 / (fan_in + fan_out))",
    "he_normal": "He/MSRA normal, std = sqrt(2 / fan_in)",
    "he_uniform": "He/MSRA uniform, a = sqrt(6 / fan_in)",
    "lecun_normal": "N(0, 1/sqrt(fan_in)), Nielsen's 'improved' initialisation (ch. 3)",
    "torch": "PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases",
}
#: Bias initialisers (``bias_init=...``).
BIAS_INITIALIZERS = {
    "zeros": "all biases 0",
    "normal": "N(0, sigma), sigma=1 unless given",
    "torch": INITIALIZERS["torch"],
}


@dataclass(frozen=True)
class Arg:
    """One argument of a layer kind."""

    name: str
    kind: str  # "int", "float", "bool", "bias", "choice", "padding", "init", "bias_init"
    default: Any = REQUIRED
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    below: float | None = None  # exclusive upper bound

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def coerce(self, value: Any, where: str) -> Any:
        """Check one value against this argument; return it in canonical form."""
        shown = repr(value) if isinstance(value, str) else _fmt(value)
        bad = f"{where}: argument {self.name}={shown}"
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
                raise SpecError(f"{bad} must be a whole number")
            value = int(value)
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SpecError(f"{bad} must be a number")
            value = float(value)
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise SpecError(f"{bad} must be true or false")
        elif self.kind == "bias" and not isinstance(value, bool) and value != "fixed":  # fixed: not trained
            raise SpecError(f"{bad} must be true, false or fixed (a bias that training leaves unchanged)")
        elif self.kind == "choice":
            if value not in self.choices:
                raise SpecError(f"{bad} must be one of: {', '.join(self.choices)}")
        elif self.kind == "padding":
            if isinstance(value, str):
                if value not in ("valid", "same"):
                    raise SpecError(f"{bad} must be 'valid', 'same' or a number of pixels")
            elif isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
                raise SpecError(f"{bad} must be 'valid', 'same' or a number of pixels")
            elif value < 0:
                raise SpecError(f"{bad} must not be negative")
            else:
                value = "valid" if int(value) == 0 else int(value)
        elif self.kind in ("init", "bias_init"):
            known = INITIALIZERS if self.kind == "init" else BIAS_INITIALIZERS
            call = value if isinstance(value, Call) else Call(value) if isinstance(value, str) else None
            if call is None or call.name not in known:
                raise SpecError(f"{bad} must be one of: {', '.join(known)}")
            if len(call.args) > (1 if call.name in ("normal", "uniform") else 0):
                raise SpecError(f"{bad}: {call.name} takes {known[call.name]}")
            value = Call(call.name, tuple(float(a) for a in call.args))
        if self.minimum is not None and isinstance(value, int | float) and value < self.minimum:
            raise SpecError(f"{bad} must be at least {_fmt(self.minimum)}")
        if self.below is not None and isinstance(value, int | float) and value >= self.below:
            raise SpecError(f"{bad} must be less than {_fmt(self.below)}")
        return value


# ---------------------------------------------------------------------------------------------------
# Layer kinds: each declared once, with its shape rule and parameter shapes
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A layer kind: its arguments, how it maps an input shape to an output shape, its parameters."""

    name: str
    help: str
    args: tuple[Arg, ...] = ()
    shape: Callable[[dict, Shape], Shape] = lambda args, s: s
    params: Callable[[dict, Shape], dict[str, Shape]] = lambda args, s: {}
    buffers: Callable[[dict, Shape], dict[str, Shape]] = lambda args, s: {}
    activation: bool = False
    #: The keyword arguments (besides parameters and buffers) an engine's class for the kind takes: by
    #: default the layer's arguments as they are (a dropout's p and scale, a maxout's k).
    settings: Callable[[dict], dict[str, Any]] = lambda args: dict(args)


def _needs_flat(name: str, s: Shape) -> None:
    if len(s) != 1:
        raise SpecError(f"{name} expects a flat input (features,), got {s}; add `flatten` before it")


def _needs_image(name: str, s: Shape) -> None:
    if len(s) != 3:
        raise SpecError(f"{name} expects an image input (channels, height, width), got {s}")


def conv_padding(args: dict) -> int:
    """The number of zero pixels added on each side by a conv layer."""
    pad, k = args["padding"], args["kernel"]
    if pad == "valid":
        return 0
    if pad == "same":
        return (k - 1) // 2
    return pad


def _conv_shape(args: dict, s: Shape) -> Shape:
    _needs_image("conv", s)
    k, stride, pad = args["kernel"], args["stride"], conv_padding(args)
    if args["padding"] == "same" and k % 2 == 0:
        raise SpecError(f"conv: padding=same needs an odd kernel size, got {k}; use an odd kernel or padding=<pixels>")
    c, h, w = s
    if h + 2 * pad < k or w + 2 * pad < k:
        raise SpecError(f"conv: kernel {k}x{k} is larger than the padded input {h + 2 * pad}x{w + 2 * pad} (input {s})")
    return (args["filters"], (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)


def pool_stride(args: dict) -> int:
    """The stride of a pooling layer (its size unless given)."""
    return args["stride"] or args["size"]


def _conv_settings(args: dict) -> dict[str, Any]:
    return {"stride": args["stride"], "padding": conv_padding(args)}


def _pool_settings(args: dict) -> dict[str, Any]:
    return {"size": args["size"], "stride": pool_stride(args)}


def _pool_shape(name: str) -> Callable[[dict, Shape], Shape]:
    def shape(args: dict, s: Shape) -> Shape:
        _needs_image(name, s)
        c, h, w = s
        size, stride = args["size"], pool_stride(args)
        if size > h or size > w:
            raise SpecError(f"{name}: window {size}x{size} is larger than the input {h}x{w}")
        return (c, (h - size) // stride + 1, (w - size) // stride + 1)

    return shape


def _maxout_shape(args: dict, s: Shape) -> Shape:
    k = args["k"]
    if s[0] % k:
        raise SpecError(f"maxout({k}) needs a feature/channel count divisible by {k}, got {s[0]} in {s}")
    return (s[0] // k, *s[1:])


def _batchnorm_check(args: dict, s: Shape) -> Shape:
    if len(s) not in (1, 3):
        raise SpecError(f"batchnorm expects (features,) or (channels, height, width), got {s}")
    return s


def _softmax_shape(args: dict, s: Shape) -> Shape:
    _needs_flat("softmax", s)
    return s


def _dense_shape(args: dict, s: Shape) -> Shape:
    _needs_flat("dense", s)
    return (args["units"],)


def _with_bias(args: dict, shapes: dict[str, Shape], n: int) -> dict[str, Shape]:
    return {**shapes, "bias": (n,)} if args["bias"] else shapes


_WEIGHT_ARGS = (
    Arg("init", "init", Call("glorot_uniform"), "weight initialiser: " + ", ".join(INITIALIZERS)),
    Arg("bias", "bias", True, "a bias per unit/filter: true, false, or fixed (kept at bias_init, not trained)"),
    Arg("bias_init", "bias_init", Call("zeros"), "bias initialiser: " + ", ".join(BIAS_INITIALIZERS)),
)
_POOL_ARGS = (
    Arg("size", "int", help="window size (square)", minimum=1),
    Arg("stride", "int", 0, "step between windows; 0 means the window size", minimum=0),
)

KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind(
            "dense",
            "fully connected layer: y = x W^T + b",
            (Arg("units", "int", help="number of output units", minimum=1), *_WEIGHT_ARGS),
            _dense_shape,
            lambda a, s: _with_bias(a, {"weight": (a["units"], s[0])}, a["units"]),
            settings=lambda a: {},  # its size is its weight's shape; its initialisers draw the initial state
        ),
        Kind(
            "conv",
            "2D convolution over (channels, height, width) with square kernels",
            (
                Arg("filters", "int", help="number of output channels", minimum=1),
                Arg("kernel", "int", help="kernel size k (k x k)", minimum=1),
                Arg("stride", "int", 1, "step of the kernel", minimum=1),
                Arg("padding", "padding", "valid", "valid (none), same (keeps size at stride 1) or pixels"),
                *_WEIGHT_ARGS,
            ),
            _conv_shape,
            lambda a, s: _with_bias(a, {"weight": (a["filters"], s[0], a["kernel"], a["kernel"])}, a["filters"]),
            settings=_conv_settings,
        ),
        Kind("maxpool", "max over each window", _POOL_ARGS, _pool_shape("maxpool"), settings=_pool_settings),
        Kind("avgpool", "mean over each window", _POOL_ARGS, _pool_shape("avgpool"), settings=_pool_settings),
        Kind(
            "l2pool",
            "root of the mean of squares over each window (Nielsen, ch. 6)",
            _POOL_ARGS,
            _pool_shape("l2pool"),
            settings=_pool_settings,
        ),
        Kind(
            "globalavgpool",
            "mean over all positions of each channel: (C, H, W) -> (C,)",
            shape=lambda a, s: (_needs_image("globalavgpool", s), (s[0],))[1],
        ),
        Kind("flatten", "(C, H, W) -> (C*H*W,)", shape=lambda a, s: (math.prod(s),)),
        Kind(
            "dropout",
            "drop each unit with probability p in training; scale the rest by 1/(1-p) (or all by 1-p at test)",
            (
                Arg("p", "float", 0.5, "drop probability", minimum=0.0, below=1.0),
                Arg(
                    "scale",
                    "choice",
                    "train",
                    "train: 1/(1-p) in training (inverted); test: x (1-p) at test (Nielsen's network3.py)",
                    choices=("train", "test"),
                ),
            ),
        ),
        Kind(
            "batchnorm",
            "normalise each feature/channel over the batch, then scale by gamma and shift by beta",
            (
                Arg("momentum", "float", 0.1, "weight of the newest batch in the running averages", minimum=0.0),
                Arg("eps", "float", 1e-5, "added to the variance", minimum=0.0),
            ),
            _batchnorm_check,
            lambda a, s: {"weight": (s[0],), "bias": (s[0],)},
            lambda a, s: {"running_mean": (s[0],), "running_var": (s[0],)},
        ),
        Kind("step", "1 where x > 0 else 0 (the perceptron; no useful gradient)", activation=True),
        Kind("linear", "identity, f(x) = x", activation=True),
        Kind("sigmoid", "1 / (1 + e^-x)", activation=True),
        Kind("tanh", "tanh(x)", activation=True),
        Kind("relu", "max(0, x)", activation=True),
        Kind("leakyrelu", "max(slope * x, x)", (Arg("slope", "float", 0.01, "slope for x < 0"),), activation=True),
        Kind(
            "elu", "x if x >= 0 else alpha (e^x - 1)", (Arg("alpha", "float", 1.0, "scale for x < 0"),), activation=True
        ),
        Kind(
            "maxout",
            "max over groups of k consecutive features/channels (put a dense/conv with k times the units before it)",
            (Arg("k", "int", 2, "pieces per unit", minimum=1),),
            _maxout_shape,
            activation=True,
        ),
        Kind("softmax", "e^x_i / sum_j e^x_j over the features", shape=_softmax_shape, activation=True),
    ]
}
ALIASES = {"conv2d": "conv", "fc": "dense", "maxpool2d": "maxpool", "avgpool2d": "avgpool", "identity": "linear"}
#: Your own layer classes (numpy engine; ``layerlab.numpy.custom.load_layers``): class name -> kind it implements.
CUSTOM: dict[str, str] = {}


# ---------------------------------------------------------------------------------------------------
# Layers and specs
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One layer of a spec: a kind and its (complete, checked) arguments."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict, hash=False)
    impl: str = ""  #: a class of your own that implements the kind (``CUSTOM``), else ""

    def __str__(self) -> str:
        k = KINDS[self.kind]
        shown = []
        for arg in k.args:
            value = self.args[arg.name]
            if arg.required:
                shown.append(_fmt(value))
            elif value != arg.default:
                shown.append(f"{arg.name}={_fmt(value)}")
        name = self.impl or self.kind
        return name if not shown else f"{name}({', '.join(shown)})"

    @property
    def definition(self) -> Kind:
        return KINDS[self.kind]

    @property
    def fixed(self) -> tuple[str, ...]:
        """Parameters that training leaves unchanged (``bias=fixed``): no optimiser moves them."""
        return ("bias",) if self.args.get("bias") == "fixed" else ()


def layer(kind: str, *args: Any, **kwargs: Any) -> Layer:
    """Build one checked layer: ``layer("conv", 20, 5, stride=2)``."""
    if kind in CUSTOM:
        return replace(layer(CUSTOM[kind], *args, **kwargs), impl=kind)
    name = ALIASES.get(kind, kind)
    if name not in KINDS:
        raise SpecError(f"unknown layer {kind!r}{_did_you_mean(kind)}; known layers: {', '.join(KINDS)}")
    k = KINDS[name]
    if len(args) > len(k.args):
        raise SpecError(f"{name} takes at most {len(k.args)} arguments ({_signature(k)}), got {len(args)}")
    values: dict[str, Any] = {}
    for arg, value in zip(k.args, args, strict=False):
        values[arg.name] = value
    for key, value in kwargs.items():
        if key not in {a.name for a in k.args}:
            raise SpecError(f"{name} has no argument {key!r}; it takes {_signature(k)}")
        if key in values:
            raise SpecError(f"{name}: argument {key!r} given twice")
        values[key] = value
    resolved = {}
    for arg in k.args:
        if arg.name in values:
            resolved[arg.name] = arg.coerce(values[arg.name], name)
        elif arg.required:
            raise SpecError(f"{name} needs the argument {arg.name!r} ({arg.help}); it takes {_signature(k)}")
        else:
            resolved[arg.name] = arg.default
    return Layer(name, resolved)


def _signature(k: Kind) -> str:
    parts = [a.name if a.required else f"{a.name}={_fmt(a.default)}" for a in k.args]
    return f"{k.name}({', '.join(parts)})" if parts else k.name


def _did_you_mean(word: str) -> str:
    return did_you_mean(word, [*KINDS, *ALIASES])


def __getattr__(name: str) -> Callable[..., Layer]:
    """``spec.conv(20, 5)`` is ``spec.layer("conv", 20, 5)``, for every kind and alias."""
    if name in KINDS or name in ALIASES:
        return lambda *args, **kwargs: layer(name, *args, **kwargs)
    raise AttributeError(f"module 'layerlab.spec' has no attribute {name!r}")


@dataclass(frozen=True)
class ResolvedLayer:
    """A layer placed in a model: its input and output shapes and its parameter shapes."""

    index: int
    layer: Layer
    input_shape: Shape
    output_shape: Shape
    params: dict[str, Shape]
    buffers: dict[str, Shape]

    @property
    def num_params(self) -> int:
        return sum(math.prod(s) for s in self.params.values())

    def arguments(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The keyword arguments of an engine's class for this layer: the one rule that unpacks a layer.

        First each parameter and buffer by name (``weight``, ``bias``, ``running_mean``, ...):
        ``values[name]``, the arrays the numpy engine starts from, or by default its shape (what the torch
        engine sizes a module by), and ``bias=None`` for a layer with ``bias=false``; then the kind's settings
        (a conv's stride and padding in pixels, a pool's window and stride, a dropout's p and scale, ...)::

            parse("input(1, 8, 8) conv(4, 3, padding=same)").resolve()[0].arguments()
            -> {"weight": (4, 1, 3, 3), "bias": (4,), "stride": 1, "padding": 1}
        """
        shapes = {**self.params, **self.buffers}
        named = shapes if values is None else {name: values[name] for name in shapes}
        if self.layer.args.get("bias") is False:
            named["bias"] = None
        return {**named, **self.layer.definition.settings(self.layer.args)}


@dataclass(frozen=True)
class Spec:
    """A model: layers in order, and optionally the shape of one input example."""

    layers: tuple[Layer, ...]
    input_shape: Shape | None = None

    def __init__(self, layers: Iterable[Layer | str], input_shape: Sequence[int] | None = None):
        items = []
        for item in layers:
            if isinstance(item, str):
                item = layer(item)
            if not isinstance(item, Layer):
                raise SpecError(f"a Spec holds layers, got {item!r}")
            items.append(item)
        if not items:
            raise SpecError("a model needs at least one layer")
        object.__setattr__(self, "layers", tuple(items))
        object.__setattr__(self, "input_shape", _check_input_shape(input_shape) if input_shape is not None else None)

    @classmethod
    def parse(cls, text: str, input_shape: Sequence[int] | None = None, given_by: str = "the data") -> Spec:
        """Read the text form; an ``input(...)`` at the start gives the input shape, or ``input_shape`` (the
        shape of the data, which ``given_by`` names): when both are there they must agree."""
        names = {**{k: k for k in KINDS}, **ALIASES, **{c: c for c in CUSTOM}}
        shape, layers = Parser(text).model(
            names,
            build=lambda name, args, kwargs: layer(name, *args, **kwargs),
            usage=lambda name: _signature(KINDS[CUSTOM.get(name, name)]),
        )
        if input_shape is not None and shape is not None and tuple(shape) != tuple(input_shape):
            raise SpecError(
                f"the model declares input({', '.join(map(str, shape))}) but {given_by} gives "
                f"{'x'.join(map(str, input_shape))}: leave input(...) out of the model, or make the two agree"
            )
        return cls(layers, input_shape if input_shape is not None else shape)

    def __str__(self) -> str:
        body = " ".join(str(item) for item in self.layers)
        if self.input_shape is None:
            return body
        return f"input({', '.join(map(str, self.input_shape))}) {body}"

    def with_input(self, input_shape: Sequence[int]) -> Spec:
        return Spec(self.layers, input_shape)

    def resolve(self, input_shape: Sequence[int] | None = None) -> list[ResolvedLayer]:
        """Place every layer: infer shapes and parameter shapes, or explain the first mismatch."""
        shape = self._input(input_shape)
        out = []
        for i, item in enumerate(self.layers):
            k = item.definition
            try:
                new = tuple(k.shape(item.args, shape))
            except SpecError as e:
                raise SpecError(f"layer {i + 1} `{item}` does not fit its input of shape {shape}: {e}") from None
            if any(d < 1 for d in new):
                raise SpecError(f"layer {i + 1} `{item}` would turn input shape {shape} into the empty shape {new}")
            out.append(ResolvedLayer(i, item, shape, new, k.params(item.args, shape), k.buffers(item.args, shape)))
            shape = new
        return out

    def output_shape(self, input_shape: Sequence[int] | None = None) -> Shape:
        return self.resolve(input_shape)[-1].output_shape

    def num_params(self, input_shape: Sequence[int] | None = None) -> int:
        """Trainable parameters (batch-norm running averages are not counted, as in PyTorch)."""
        return sum(r.num_params for r in self.resolve(input_shape))

    def summary(self, input_shape: Sequence[int] | None = None) -> str:
        """A table like Keras' ``model.summary()``: layer, output shape, parameters."""
        resolved = self.resolve(input_shape)
        rows = [("#", "layer", "output shape", "params")]
        rows.append(("", "input", _shape_text(self._input(input_shape)), ""))
        for r in resolved:
            rows.append((str(r.index + 1), str(r.layer), _shape_text(r.output_shape), f"{r.num_params:,}"))
        widths = [max(len(row[c]) for row in rows) for c in range(4)]
        line = "-" * (sum(widths) + 6)

        def fmt(row: tuple[str, ...]) -> str:
            return f"{row[0]:>{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:>{widths[3]}}"

        total = sum(r.num_params for r in resolved)
        buffers = sum(math.prod(s) for r in resolved for s in r.buffers.values())
        lines = [fmt(rows[0]), line, *map(fmt, rows[1:]), line, f"trainable parameters: {total:,}"]
        if buffers:
            lines.append(f"non-trainable values (batch-norm running averages): {buffers:,}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        """The text form and, when the input shape is known, the summary table."""
        if self.input_shape is None:
            return f"model: {self}  (no input shape: start it with input(...) for its summary)"
        try:
            return f"model: {self}\n{self.summary()}"
        except SpecError as e:
            return f"model: {self}  (does not fit its input: {e})"

    def _repr_html_(self) -> str:
        """The summary table as HTML, for a notebook: layer, output shape, parameters."""
        from html import escape

        head = f"<p><b>model</b>: <code>{escape(str(self))}</code></p>"
        if self.input_shape is None:
            return head + "<p>no input shape: start it with input(...) to see its shapes and parameters</p>"
        try:
            resolved = self.resolve()
        except SpecError as e:
            return head + f"<p>{escape(str(e))}</p>"
        cells = [("", "input", _shape_text(self.input_shape), "")]
        cells += [(str(r.index + 1), str(r.layer), _shape_text(r.output_shape), f"{r.num_params:,}") for r in resolved]
        rows = "".join(
            f"<tr><td>{a}</td><td><code>{escape(b)}</code></td><td>{c}</td><td style='text-align: right'>{d}</td></tr>"
            for a, b, c, d in cells
        )
        total = sum(r.num_params for r in resolved)
        return (
            f"{head}<table><tr><th>#</th><th>layer</th><th>output shape</th><th>params</th></tr>{rows}</table>"
            f"<p>trainable parameters: {total:,}</p>"
        )

    def _input(self, input_shape: Sequence[int] | None) -> Shape:
        if input_shape is not None:
            return _check_input_shape(input_shape)
        if self.input_shape is None:
            raise SpecError("the model has no input shape: start it with input(...) or pass input_shape")
        return self.input_shape


def _shape_text(shape: Shape) -> str:
    return " x ".join(map(str, shape))


def _check_input_shape(shape: Sequence[int]) -> Shape:
    shape = tuple(shape)
    if len(shape) not in (1, 3) or not all(isinstance(d, int) and d >= 1 for d in shape):
        raise SpecError(f"input shape must be (features,) or (channels, height, width) of positive sizes, got {shape}")
    return shape


def parse(text: str, input_shape: Sequence[int] | None = None, given_by: str = "the data") -> Spec:
    """Read a model from its text form (see the module docstring); ``input_shape``: see ``Spec.parse``."""
    return Spec.parse(text, input_shape, given_by)


def parse_calls(text: str, names: Iterable[str], what: str = "item") -> list[tuple[str, list, dict]]:
    """Read a list of calls in the spec's syntax, e.g. an augmentation pipeline::

        parse_calls("rotate(15) elastic(alpha=34, sigma=4)", AUGMENTATIONS, "augmentation")
        -> [("rotate", [15], {}), ("elastic", [], {"alpha": 34, "sigma": 4})]

    Names outside ``names`` are reported with a pointer into the text, as for layers.
    """
    names = {name: name for name in names}
    return Parser(text).calls(names, what, ", ".join(list(names)[:3]))
