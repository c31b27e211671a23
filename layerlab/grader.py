"""``layerlab check my_layers.py``: grade layers you wrote yourself against the numpy engine.

Every class of the file with a ``kind`` (as ``layerlab exercise`` writes them) is run on several
cases (a batch of 1, odd sizes, stride and padding where they apply, training and test mode): its
forward against the engine's layer, its backward against the engine and against finite differences
of your own forward. A failure is explained in words you can act on (the shape is transposed, the
gradient is off by the batch size, the bias gradient is missing, forward changed its input in
place, ...). When all pass, a small MNIST model is trained with each of your layers in place of ours.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .numpy import activations as act
from .numpy.conv import Conv2D
from .numpy.custom import import_file, layer_classes, load_layers, split_backward
from .numpy.dense import Dense
from .numpy.dropout import Dropout
from .numpy.losses import CrossEntropy
from .numpy.normalization import BatchNorm
from .numpy.pooling import MaxPool2D

TOLERANCE = 1e-6  # relative, in float64


@dataclass
class Case:
    """One input shape and the layer's settings; ``params`` are drawn with these shapes."""

    shape: tuple[int, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    params: dict[str, tuple[int, ...]] = field(default_factory=dict)
    training: bool = True
    scale: float = 1.0  # of the random input (large logits test the overflow)

    def describe(self) -> str:
        parts = [f"x of shape {self.shape}"] + [f"{k}={v}" for k, v in self.settings.items()]
        if len(self.params.get("weight", ())) > 1:  # dense and conv
            parts.append("with bias" if "bias" in self.params else "without bias")
        if not self.training:
            parts.append("test mode")
        return ", ".join(parts)


def _dense(n: int, i: int, o: int, bias: bool = True) -> Case:
    return Case((n, i), {}, {"weight": (o, i), **({"bias": (o,)} if bias else {})})


def _conv(shape, f, k, stride, padding, bias=True) -> Case:
    return Case(
        shape,
        {"stride": stride, "padding": padding},
        {"weight": (f, shape[1], k, k), **({"bias": (f,)} if bias else {})},
    )


CASES: dict[str, list[Case]] = {
    "dense": [_dense(1, 3, 4), _dense(5, 7, 3), _dense(2, 1, 1), _dense(3, 4, 2, bias=False)],
    "relu": [Case((1, 5)), Case((4, 3)), Case((2, 3, 5, 5))],
    "sigmoid": [Case((1, 5)), Case((4, 3)), Case((2, 3, 3, 3)), Case((3, 4), scale=400.0)],
    "tanh": [Case((1, 5)), Case((4, 3)), Case((2, 3, 3, 3))],
    "softmax-ce": [Case((1, 3)), Case((5, 4)), Case((3, 10), scale=1000.0)],
    "conv": [
        _conv((1, 1, 5, 5), 2, 3, 1, 0),
        _conv((2, 3, 6, 7), 4, 3, 2, 1),
        _conv((3, 2, 5, 5), 1, 2, 1, 0, bias=False),
        _conv((1, 2, 4, 4), 3, 3, 1, 1),
    ],
    "maxpool": [
        Case((1, 1, 4, 4), {"size": 2, "stride": 2}),
        Case((2, 3, 5, 5), {"size": 2, "stride": 1}),
        Case((1, 2, 7, 7), {"size": 3, "stride": 2}),
    ],
    "dropout": [Case((4, 6), {"p": 0.5}), Case((1, 3, 4, 4), {"p": 0.2}), Case((3, 5), {"p": 0.5}, training=False)],
    "batchnorm": [
        Case((5, 3), {"eps": 1e-5}, {"weight": (3,), "bias": (3,)}),
        Case((4, 2, 3, 3), {"eps": 1e-5}, {"weight": (2,), "bias": (2,)}),
        Case((6, 3), {"eps": 1e-5}, {"weight": (3,), "bias": (3,)}, training=False),
    ],
}


def _reference(kind: str, case: Case, params: dict[str, np.ndarray], buffers: dict[str, np.ndarray]):
    p, s = {k: v.copy() for k, v in params.items()}, case.settings
    makers: dict[str, Callable[[], Any]] = {
        "dense": lambda: Dense(p["weight"], p.get("bias")),
        "relu": act.ReLU,
        "sigmoid": act.Sigmoid,
        "tanh": act.Tanh,
        "conv": lambda: Conv2D(p["weight"], p.get("bias"), s["stride"], s["padding"]),
        "maxpool": lambda: MaxPool2D(s["size"], s["stride"]),
        "dropout": lambda: Dropout(s["p"]),
        "batchnorm": lambda: BatchNorm(
            p["weight"], p["bias"], buffers["running_mean"].copy(), buffers["running_var"].copy(), 0.1, s["eps"]
        ),
    }
    return makers[kind]()


def _student(cls, kind: str, case: Case, params: dict[str, np.ndarray], buffers: dict[str, np.ndarray]):
    p, s = {k: v.copy() for k, v in params.items()}, case.settings
    if kind in ("dense", "conv"):
        return cls("layer", weight=p["weight"], bias=p.get("bias"), **s)
    if kind == "batchnorm":
        return cls(
            "layer",
            weight=p["weight"],
            bias=p["bias"],
            running_mean=buffers["running_mean"].copy(),
            running_var=buffers["running_var"].copy(),
            momentum=0.1,
            eps=s["eps"],
        )
    return cls("layer", **s)


class Failure(Exception):
    """One problem, in words a student can act on."""


def _args(case: Case, target=None) -> dict[str, Any]:
    args = {"training": case.training, "rng": np.random.default_rng(7)}  # the same dropout mask on every call
    if target is not None:
        args["target"] = target
    return args


def _call(method, *a, what: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return method(*a)
    except NotImplementedError:
        raise Failure(f"{what} is not written yet (it raises NotImplementedError)") from None
    except Exception as e:  # the student's code: any error is reported, not raised
        raise Failure(f"{what} raised {type(e).__name__}: {e}") from None


def compare(what: str, got: Any, want: np.ndarray, n: int, hint: str = "") -> None:
    """Raise a ``Failure`` that says how ``got`` differs from ``want`` (a batch of ``n`` examples)."""
    if got is None:
        raise Failure(f"{what} is None: return it")
    got = np.asarray(got, dtype=np.float64)
    if got.shape != want.shape:
        if got.ndim == want.ndim == 2 and got.shape == want.shape[::-1]:
            raise Failure(f"{what} has shape {got.shape}, expected {want.shape}: it is transposed{hint}")
        if got.shape == want.shape[1:] and n > 1:
            raise Failure(f"{what} has shape {got.shape}, expected {want.shape}: keep the batch axis first")
        if got.shape == (n, *want.shape) and want.shape[:1] != (n,):
            raise Failure(f"{what} has shape {got.shape}, expected {want.shape}: sum it over the batch (axis 0)")
        raise Failure(f"{what} has shape {got.shape}, expected {want.shape}")
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
        raise Failure(f"{what} has inf or nan where the right values are finite: an overflow? (e^x for large |x|)")
    scale = max(1.0, float(np.max(np.abs(want), initial=0)))
    if np.max(np.abs(got - want), initial=0) <= TOLERANCE * scale:
        return
    close = lambda a: np.max(np.abs(a - want), initial=0) <= TOLERANCE * scale  # noqa: E731
    if n > 1 and close(got * n):
        raise Failure(
            f"{what} is 1/{n} of the right value, off by the batch size {n}: dy is already the "
            "gradient of the batch's (mean) loss, so do not divide by the batch size again"
        )
    if n > 1 and close(got / n):
        raise Failure(
            f"{what} is {n} times the right value, off by the batch size {n}: the loss is the mean "
            "over the batch, so its gradient has a 1/N in it"
        )
    if got.ndim == 2 and got.shape[0] == got.shape[1] and close(got.T):
        raise Failure(f"{what} is transposed{hint}")
    if close(-got):
        raise Failure(f"{what} has the wrong sign")
    if not np.any(got):
        raise Failure(f"{what} is all zeros")
    i = np.unravel_index(np.argmax(np.abs(got - want)), want.shape)
    raise Failure(
        f"{what} is wrong: at index {tuple(int(j) for j in i)} it is {got[i]:.6g}, the right value is "
        f"{want[i]:.6g} (largest difference {np.abs(got - want).max():.2e}){hint}"
    )


DX_HINTS = {
    "maxpool": "; where windows overlap (stride < size) a position gets the gradient of every window it is the "
    "maximum of: add them up (+=)",
    "batchnorm": "; in training the batch mean and variance depend on x too: three terms, see the comment",
    "sigmoid": "; check the local derivative dy/dx = y (1 - y)",
    "tanh": "; check the local derivative dy/dx = 1 - y^2",
    "relu": "; the local derivative is 1 where x > 0, else 0",
}


def _data(kind: str, case: Case, rng: np.random.Generator):
    x = rng.standard_normal(case.shape) * case.scale
    if kind == "relu":
        x += np.sign(x) * 0.05  # away from the kink at 0, where finite differences are meaningless
    if kind == "maxpool":
        x = rng.permutation(np.arange(x.size, dtype=np.float64)).reshape(x.shape) / x.size  # no ties
    params = {name: rng.standard_normal(shape) for name, shape in case.params.items()}
    buffers = {"running_mean": rng.standard_normal(case.shape[1]) * 0.1, "running_var": rng.random(case.shape[1]) + 0.5}
    return x, params, buffers


def check_case(cls, kind: str, case: Case, seed: int = 0) -> None:
    """Run one case; raise ``Failure`` on the first problem."""
    if kind == "softmax-ce":
        return _check_loss(cls, case, seed)
    rng = np.random.default_rng(seed)
    x, params, buffers = _data(kind, case, rng)
    n = case.shape[0]
    ref = _reference(kind, case, params, buffers)
    if kind == "dropout":
        ref.rng = np.random.default_rng(7)
    y_ref = ref.forward(x.copy(), case.training)
    layer = _call(_student, cls, kind, case, params, buffers, what="the constructor")
    x_in = x.copy()
    y = _call(layer.forward, x_in, _args(case), what="forward")
    if not np.array_equal(x_in, x):
        raise Failure(
            "forward changed its input x in place (e.g. x[x < 0] = 0 or x += b): work on a copy or "
            "a new array, the layer below still needs x"
        )
    if kind in ("dense", "conv") and "bias" in params and y is not None and np.shape(y) == y_ref.shape:
        no_bias = y_ref - params["bias"].reshape((1, -1) + (1,) * (y_ref.ndim - 2))
        if np.allclose(y, no_bias, rtol=1e-9, atol=1e-9):
            raise Failure("forward forgot to add the bias")
    if (
        kind == "dropout"
        and case.training
        and np.shape(y) == y_ref.shape
        and np.allclose(y, y_ref * (1 - case.settings["p"]))
    ):
        raise Failure("forward forgot to scale the kept values by 1/(1-p) in training")
    compare("forward's output y", y, y_ref, n, " (y = x W^T: W has shape (out, in))" if kind == "dense" else "")
    if kind == "batchnorm" and case.training:
        for name, value in ref.buffers.items():
            hint = (
                "; the running variance takes the unbiased variance, var m / (m - 1)" if name == "running_var" else ""
            )
            got = getattr(layer, "buffers", {}).get(name)
            compare(f"self.buffers[{name!r}] after a training forward", got, value, n, hint)

    r = rng.standard_normal(y_ref.shape)
    dx_ref = ref.backward(r.copy())
    x_cached = x_in.copy()
    dx, grads = split_backward(_call(layer.backward, r.copy(), _args(case), what="backward"), "backward")
    if not np.array_equal(x_in, x_cached):
        raise Failure("backward changed the cached input x in place: it belongs to the layer below; copy it first")
    padded = x.shape[2] + 2 * case.settings.get("padding", 0) if x.ndim == 4 else -1
    if kind == "conv" and np.ndim(dx) == 4 and np.shape(dx)[2] == padded > x.shape[2]:
        raise Failure("backward's dL/dx still has the zero padding around it: cut the padded border off")
    compare("backward's dL/dx", dx, dx_ref, n, DX_HINTS.get(kind, ""))
    for name, want in ref.grads.items():
        if name not in grads or grads[name] is None:
            if name == "bias":
                raise Failure(
                    "backward forgot the bias gradient: return dx, {'weight': dW, 'bias': db} with db = dy "
                    "summed over the batch" + (" and the positions" if kind == "conv" else "")
                )
            raise Failure(f"backward returns no gradient for {name!r}: return dx, {{{name!r}: ..., ...}}")
        hint = " (dW = dy^T x has the weight's shape (out, in))" if kind == "dense" and name == "weight" else ""
        compare(f"the gradient of {name!r}", grads[name], want, n, hint)
    extra = sorted(set(grads) - set(ref.grads))
    if extra:
        raise Failure(f"backward returns gradients for {', '.join(extra)}, which this layer does not have")
    _finite_differences(layer, kind, case, x, r, grads, dx)


def _finite_differences(layer, kind, case, x, r, grads, dx) -> None:
    """Your backward against central differences of your own forward (at most 40 entries per array)."""
    rng = np.random.default_rng(1)

    def loss() -> float:
        return float(np.sum(np.asarray(layer.forward(x_probe, _args(case))) * r))

    x_probe = x.copy()
    arrays = [("dL/dx", x_probe, dx)] + [(f"the gradient of {k!r}", layer.params[k], g) for k, g in grads.items()]
    for what, array, analytic in arrays:
        flat = array.reshape(-1)
        picked = rng.choice(flat.size, size=min(40, flat.size), replace=False)
        numeric = np.empty(len(picked))
        for j, i in enumerate(picked):
            old = flat[i]
            flat[i] = old + 1e-6
            up = loss()
            flat[i] = old - 1e-6
            down = loss()
            flat[i] = old
            numeric[j] = (up - down) / 2e-6
        got = np.asarray(analytic, dtype=np.float64).reshape(-1)[picked]
        if np.max(np.abs(got - numeric)) > 1e-5 * max(1.0, np.max(np.abs(numeric))):
            raise Failure(
                f"{what} from backward disagrees with finite differences of your forward "
                f"(largest difference {np.max(np.abs(got - numeric)):.2e})"
            )


def _check_loss(cls, case: Case, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.shape) * case.scale
    n = case.shape[0]
    t = rng.integers(0, case.shape[1], size=n)
    ref = CrossEntropy()
    want = ref.forward(x, t)
    dx_ref = ref.backward()
    layer = _call(cls, "loss", what="the constructor")
    x_in = x.copy()
    loss = _call(layer.forward, x_in, _args(case, t), what="forward")
    if not np.array_equal(x_in, x):
        raise Failure("forward changed its input x in place: work on a copy (x - x.max(...) makes a new array)")
    if np.ndim(loss) != 0 and np.size(loss) == n:
        raise Failure(
            f"forward returns an array of shape {np.shape(loss)}, a loss per example: return their mean, "
            "a single number"
        )
    if loss is None or np.size(loss) != 1:
        raise Failure(f"forward must return the loss, one number; got {type(loss).__name__}")
    loss = float(np.asarray(loss).reshape(()))
    if not np.isfinite(loss):
        # The loss does not change when every score of a row moves by the same amount: scores already
        # shifted to a maximum of 0 give a finite loss unless the code's own trouble is log(0).
        shifted = _call(
            _call(cls, "loss", what="the constructor").forward,
            x - x.max(axis=1, keepdims=True),
            _args(case, t),
            what="forward",
        )
        if np.isfinite(np.asarray(shifted, dtype=float)).all():  # e^1000 = inf
            raise Failure("forward overflows for large scores (e^1000 = inf): subtract each row's maximum before e^x")
        raise Failure(
            "forward takes the log of a probability that underflowed to 0 (e^-1000 = 0, log 0 = -inf): "
            "compute log p directly, log p = (x - max) - log(sum of e^(x - max)) (log-sum-exp)"
        )
    if n > 1 and abs(loss - want * n) < 1e-6 * max(1, abs(want * n)) and abs(loss - want) > 1e-9:
        raise Failure(f"forward sums the losses of the batch: return the mean (divide by N = {n})")
    compare("forward's loss", np.asarray(loss), np.asarray(want), 1)
    dx, _ = split_backward(_call(layer.backward, 1.0, _args(case, t), what="backward"), "backward")
    compare("backward's dL/dx", dx, dx_ref, n)


# ---------------------------------------------------------------------------------------------------
# The whole file
# ---------------------------------------------------------------------------------------------------


@dataclass
class ClassReport:
    """The grade of one layer class: the checks it passed and, if one failed, which and on what case."""

    name: str
    kind: str
    passed: list[str]
    failure: str = ""
    case: str = ""


def check_file(path: str | Path) -> list[ClassReport]:
    """Grade every layer class of a file (runs it: it is your code)."""
    module = import_file(path)
    classes = {name: cls for name, cls in layer_classes(module).items() if cls.kind in CASES}
    if not classes:
        from .errors import LayerlabError

        raise LayerlabError(
            f"{path} has no layer class to check: a class with kind = one of {', '.join(CASES)} and forward/backward "
            "methods (layerlab exercise dense writes one)"
        )
    reports = []
    for name, cls in classes.items():
        report = ClassReport(name, cls.kind, [])
        for i, case in enumerate(CASES[cls.kind]):
            try:
                check_case(cls, cls.kind, case, seed=i)
            except Failure as e:
                report.failure, report.case = str(e), case.describe()
                break
            report.passed.append(case.describe())
        reports.append(report)
    return reports


#: A small MNIST model per kind: ``{}`` is replaced by your class (ours: the kind's name).
TRAIN_MODELS = {
    "dense": "flatten {}(64) relu dense(10)",
    "relu": "flatten dense(64) {} dense(10)",
    "sigmoid": "flatten dense(64) {} dense(10)",
    "tanh": "flatten dense(64) {} dense(10)",
    "conv": "{}(6, 5) relu maxpool(2) flatten dense(10)",
    "maxpool": "conv(6, 5) relu {}(2) flatten dense(10)",
    "dropout": "flatten dense(64) relu {}(0.2) dense(10)",
    "batchnorm": "flatten dense(64) {} relu dense(10)",
}


def train_comparison(
    path: str | Path,
    reports: list[ClassReport],
    limit: int = 1000,
    epochs: int = 2,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train each passing layer's small model with ours and with yours (numpy engine, same seed)."""
    from .api import fit

    load_layers(path)
    rows = []
    for report in reports:
        template = TRAIN_MODELS.get(report.kind)
        if template is None or report.failure:
            continue
        settings = {
            "data": "mnist-small",
            "engine": "numpy",
            "limit": limit,
            "epochs": epochs,
            "batch_size": 20,
            "lr": 0.1,
            "seed": 0,
            "quiet": True,
        }
        row = {"class": report.name, "ours": template.format(report.kind), "yours": template.format(report.name)}
        progress(f"training {row['yours']} and {row['ours']} on mnist-small ({limit} images, {epochs} epochs)")
        for who in ("ours", "yours"):
            try:
                row[f"{who}_accuracy"] = fit(model=row[who], **settings).result.test_accuracy
            except Exception as e:  # your layer in a real model: say what went wrong, keep the other rows
                progress(f"  training {row[who]} failed: {type(e).__name__}: {e}")
                row[f"{who}_accuracy"] = float("nan")
        rows.append(row)
    return rows


def render(reports: list[ClassReport]) -> str:
    lines = []
    for r in reports:
        total = len(CASES[r.kind])
        if r.failure:
            lines.append(f"{r.name} ({r.kind}): FAILED on case {len(r.passed) + 1} of {total} ({r.case})")
            lines.append(f"  {r.failure}")
        else:
            lines.append(f"{r.name} ({r.kind}): passed all {total} cases (forward, backward, finite differences)")
    return "\n".join(lines)
