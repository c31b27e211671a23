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

from .numpy.custom import arguments_of_your_own, import_file, layer_classes, load_layers, split_backward
from .numpy.losses import CrossEntropy
from .numpy.model import make_layer
from .spec import ResolvedLayer, Spec
from .spec import layer as spec_layer

TOLERANCE = 1e-6  # relative, in float64


@dataclass
class Case:
    """One input shape and the layer's settings; ``params`` are drawn with these shapes.

    ``inputs`` says what the input holds, each a condition that training meets: ``"normal"`` values,
    ``"kinks"`` (many exact zeros, where ReLU bends), ``"ties"`` (equal values inside a pooling window, as
    after a ReLU) or ``"extreme"`` (|x| up to 1000, where e^x overflows). At kinks and ties finite
    differences mean nothing, so those cases compare with the engine only.
    """

    shape: tuple[int, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    params: dict[str, tuple[int, ...]] = field(default_factory=dict)
    training: bool = True
    scale: float = 1.0  # of the random input (large logits test the overflow)
    inputs: str = "normal"

    def describe(self) -> str:
        parts = [f"x of shape {self.shape}"] + [f"{k}={v}" for k, v in self.settings.items()]
        if len(self.params.get("weight", ())) > 1:  # dense and conv
            parts.append("with bias" if "bias" in self.params else "without bias")
        if not self.training:
            parts.append("test mode")
        parts.append(INPUT_WORDS[self.inputs])
        return ", ".join(p for p in parts if p)


INPUT_WORDS = {
    "normal": "",
    "kinks": "inputs exactly at the kink x = 0",
    "ties": "equal values inside the windows",
    "extreme": "extreme inputs (|x| up to 1000)",
}


def _dense(n: int, i: int, o: int, bias: bool = True) -> Case:
    return Case((n, i), {}, {"weight": (o, i), **({"bias": (o,)} if bias else {})})


def _conv(shape, f, k, stride, padding, bias=True) -> Case:
    return Case(
        shape,
        {"stride": stride, "padding": padding},
        {"weight": (f, shape[1], k, k), **({"bias": (f,)} if bias else {})},
    )


def _pool(shape, size, stride, inputs="normal") -> Case:
    return Case(shape, {"size": size, "stride": stride}, inputs=inputs)


def _bn(shape, training=True) -> Case:
    c = shape[1]
    return Case(shape, {"eps": 1e-5}, {"weight": (c,), "bias": (c,)}, training=training)


def _activation() -> list[Case]:
    return [Case((1, 5)), Case((4, 3)), Case((2, 3, 3, 3)), Case((3, 4), scale=400.0, inputs="extreme")]


CASES: dict[str, list[Case]] = {
    "dense": [_dense(1, 3, 4), _dense(5, 7, 3), _dense(2, 1, 1), _dense(3, 4, 2, bias=False)],
    "relu": [Case((1, 5)), Case((4, 3)), Case((2, 3, 5, 5)), Case((4, 5), inputs="kinks"), *_activation()[3:]],
    "sigmoid": _activation(),
    "tanh": _activation(),
    "softmax-ce": [Case((1, 3)), Case((5, 4)), Case((3, 10), scale=1000.0, inputs="extreme")],
    "conv": [
        _conv((1, 1, 5, 5), 2, 3, 1, 0),
        _conv((2, 3, 6, 7), 4, 3, 2, 1),
        _conv((3, 2, 5, 5), 1, 2, 1, 0, bias=False),
        _conv((1, 2, 4, 4), 3, 3, 1, 1),
        _conv((2, 2, 7, 6), 2, 3, 3, 0),  # the last row does not fit a stride: it is left out
        _conv((1, 1, 4, 5), 2, 2, 2, 2),
    ],
    "maxpool": [
        _pool((1, 1, 4, 4), 2, 2),
        _pool((2, 3, 5, 5), 2, 1),
        _pool((1, 2, 7, 7), 3, 2),
        _pool((2, 2, 5, 7), 2, 2),  # sizes not a multiple of the window: the last row and column are dropped
        _pool((2, 3, 6, 6), 2, 2, inputs="ties"),
        _pool((1, 2, 6, 6), 3, 2, inputs="ties"),
    ],
    "dropout": [Case((4, 6), {"p": 0.5}), Case((1, 3, 4, 4), {"p": 0.2}), Case((3, 5), {"p": 0.5}, training=False)],
    "batchnorm": [_bn((5, 3)), _bn((4, 2, 3, 3)), _bn((6, 3), training=False), _bn((3, 2, 2, 3), training=False)],
}


def _placed(kind: str, case: Case) -> ResolvedLayer:
    """The case as a layer of a spec, placed on its input: the engine's layer and yours are built from it
    with the arguments the spec gives every engine (``ResolvedLayer.arguments``), as in a model."""
    args = dict(case.settings)
    if kind in ("dense", "conv"):  # a weight (out, in) or (filters, channels, k, k), a bias or none
        weight = case.params["weight"]
        args["bias"] = "bias" in case.params
        args.update({"units": weight[0]} if kind == "dense" else {"filters": weight[0], "kernel": weight[2]})
    return Spec([spec_layer(kind, **args)], case.shape[1:]).resolve()[0]


def _reference(kind: str, case: Case, params: dict[str, np.ndarray], buffers: dict[str, np.ndarray]):
    arrays = {name: value.copy() for name, value in {**params, **buffers}.items()}
    return make_layer(_placed(kind, case), arrays)


def _student(cls, kind: str, case: Case, params: dict[str, np.ndarray], buffers: dict[str, np.ndarray]):
    arrays = {name: value.copy() for name, value in {**params, **buffers}.items()}
    return cls("layer", **arguments_of_your_own(_placed(kind, case), arrays))


class Failure(Exception):
    """One problem, in words a student can act on."""


def _args(case: Case, target=None, rng: np.random.Generator | None = None) -> dict[str, Any]:
    """What a layer gets besides x: one generator for a forward and its backward, as in training."""
    args = {"training": case.training, "rng": rng if rng is not None else np.random.default_rng(7)}
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


#: A mistake's signature: the values (or, as a tuple, the shape) that mistake gives, and the words naming it.
Signature = tuple[Any, str]


def _near(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(1.0, float(np.max(np.abs(b), initial=0)))
    return a.shape == b.shape and bool(np.max(np.abs(a - b), initial=0) <= TOLERANCE * scale)


def compare(what: str, got: Any, want: np.ndarray, n: int, hint: str = "", signatures: list[Signature] = ()) -> None:
    """Raise a ``Failure`` that says how ``got`` differs from ``want`` (a batch of ``n`` examples).

    A hint is given only where the wrong values are those of a known mistake: the generic ones (off by
    the batch size, transposed, the wrong sign) and the ``signatures`` of the layer's own mistakes.
    Otherwise the message names the first wrong value and stays neutral.
    """
    if got is None:
        raise Failure(f"{what} is None: return it")
    got = np.asarray(got, dtype=np.float64)
    for candidate, words in signatures:
        if isinstance(candidate, tuple) and got.shape == candidate != want.shape:
            raise Failure(f"{what} has shape {got.shape}, expected {want.shape}: {words}")
    if got.shape != want.shape:
        if got.ndim == want.ndim == 2 and got.shape == want.shape[::-1]:
            raise Failure(f"{what} has shape {got.shape}, expected {want.shape}: it is transposed{hint}")
        if got.shape == want.shape[1:] and n > 1:
            raise Failure(f"{what} has shape {got.shape}, expected {want.shape}: keep the batch axis first")
        if got.shape == (n, *want.shape) and want.shape[:1] != (n,):
            raise Failure(f"{what} has shape {got.shape}, expected {want.shape}: sum it over the batch (axis 0)")
        raise Failure(f"{what} has shape {got.shape}, expected {want.shape}")
    if _near(got, want):
        return
    for candidate, words in signatures:
        if isinstance(candidate, np.ndarray) and not _near(candidate, want) and _near(got, candidate):
            raise Failure(f"{what} is wrong: {words}")
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
        i = tuple(int(j) for j in np.argwhere(~np.isfinite(got))[0])
        raise Failure(f"{what} has inf or nan where the right values are finite (first at index {i})")
    close = lambda a: _near(a, want)  # noqa: E731
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
        f"{want[i]:.6g} (largest difference {np.abs(got - want).max():.2e})"
    )


# ---------------------------------------------------------------------------------------------------
# The signatures of known mistakes: what each wrong formula gives on this case's numbers
# ---------------------------------------------------------------------------------------------------

FORGOT_DY = (
    "it is the local derivative dy/dx alone: multiply it by the incoming dy (the chain rule, dL/dx = dL/dy * dy/dx)"
)


def _out_size(size: int, k: int, s: int, p: int = 0) -> tuple[int, int]:
    """The right output length and the one of a ceil rounding (a last window that does not fit kept)."""
    return (size + 2 * p - k) // s + 1, -(-(size + 2 * p - k) // s) + 1


def _maxpool_dx(x, dy, k, s, every_tie: bool, accumulate: bool) -> np.ndarray:
    """Max pooling's dL/dx, right (first maximum, +=) or with a known mistake."""
    dx = np.zeros_like(x)
    for i in range(dy.shape[2]):
        for j in range(dy.shape[3]):
            window = x[:, :, i * s : i * s + k, j * s : j * s + k]
            flat = window.reshape(*window.shape[:2], -1)
            if every_tie:
                mask = window == window.max(axis=(2, 3), keepdims=True)
            else:
                mask = (np.arange(k * k) == flat.argmax(axis=2)[..., None]).reshape(window.shape)
            part = mask * dy[:, :, i, j][:, :, None, None]
            if accumulate:
                dx[:, :, i * s : i * s + k, j * s : j * s + k] += part
            else:
                dx[:, :, i * s : i * s + k, j * s : j * s + k] = part
    return dx


def _batchnorm_forward(x, gamma, beta, mean, var, eps, shape):
    return gamma.reshape(shape) * (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) + beta.reshape(shape)


def _batchnorm_dx(x, dy, gamma, mean, var, eps, shape, axes, m, training: bool):
    """dL/dx of batch norm normalised with ``mean`` and ``var``, by the training (three-term) or test formula."""
    inv_std = 1 / np.sqrt(var.reshape(shape) + eps)
    dx_hat = dy * gamma.reshape(shape)
    if not training:
        return dx_hat * inv_std
    x_hat = (x - mean.reshape(shape)) * inv_std
    s1, s2 = dx_hat.sum(axis=axes, keepdims=True), (dx_hat * x_hat).sum(axis=axes, keepdims=True)
    return (m * dx_hat - s1 - x_hat * s2) * inv_std / m


def _forward_signatures(kind: str, case: Case, x, params, buffers) -> list[Signature]:
    s = case.settings
    if kind in ("maxpool", "conv"):
        k = s["size"] if kind == "maxpool" else case.params["weight"][2]
        p = s.get("padding", 0)
        (h, h_ceil), (w, w_ceil) = (_out_size(d, k, s["stride"], p) for d in case.shape[2:])
        lead = case.shape[:2] if kind == "maxpool" else (case.shape[0], case.params["weight"][0])
        found = [
            (
                (*lead, h_ceil, w_ceil),
                f"a window that does not fit at the bottom or right edge is dropped, H' = (H + 2 padding - k) // "
                f"stride + 1 = {h}, W' = {w} (rounded down)",
            )
        ]
        if kind == "conv" and p:
            unpadded = (*lead, *(_out_size(d, k, s["stride"])[0] for d in case.shape[2:]))
            found.append(
                (unpadded, f"forward leaves out the padding: add {p} zeros on each side of H and W first (np.pad)")
            )
        return found
    if kind == "batchnorm":
        axes, shape = ((0,), (1, -1)) if x.ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))
        g, b, eps = params["weight"], params["bias"], s["eps"]
        batch = _batchnorm_forward(x, g, b, x.mean(axis=axes), x.var(axis=axes), eps, shape)
        running = _batchnorm_forward(x, g, b, buffers["running_mean"], buffers["running_var"], eps, shape)
        if case.training:
            return [
                (
                    running,
                    "in training normalise with the batch's own mean and variance (the running averages "
                    "are for test time)",
                )
            ]
        return [
            (
                batch,
                "at test time normalise with running_mean and running_var, not the batch's statistics: "
                "a prediction must not depend on the other examples of its batch",
            )
        ]
    if kind == "dropout":
        p = s["p"]
        if not case.training:
            return [
                (x * (1 - p), "inverted dropout scales by 1/(1-p) in training, so at test time y = x, unscaled"),
                (
                    x * (np.random.default_rng(7).random(x.shape) >= p) / (1 - p),
                    "at test time (args['training'] is False) dropout drops nothing: y = x",
                ),
            ]
    return []


def _dropout_mask_check(y, x, case: Case, y_ref) -> None:
    """A training output made of 0 and x/(1-p) with another mask than ``args["rng"]``'s: say how to draw it."""
    p = case.settings["p"]
    if not case.training or np.shape(y) != x.shape:
        return
    y = np.asarray(y, dtype=np.float64)
    scaled = np.isclose(y, x / (1 - p), rtol=1e-9, atol=0)
    if np.all(scaled | (y == 0)) and not np.allclose(y, y_ref):
        raise Failure(
            "forward's mask is not the one args['rng'] gives: draw it as keep = args['rng'].random(x.shape) >= p, "
            "once per forward (the engine and the grader draw the same)"
        )


def _backward_signatures(kind: str, case: Case, x, r, params, buffers, y_ref, rng_after) -> list[Signature]:
    if kind == "relu":
        return [
            ((x > 0).astype(float), FORGOT_DY),
            (
                r * (x >= 0),
                "at x = 0 exactly the derivative is taken as 0, as in PyTorch (x > 0, not x >= 0); training "
                "meets exact zeros (a ReLU after a ReLU, zero padding, pixels that are 0)",
            ),
        ]
    if kind in ("sigmoid", "tanh"):
        local = y_ref * (1 - y_ref) if kind == "sigmoid" else 1 - y_ref**2
        formula = "y (1 - y)" if kind == "sigmoid" else "1 - y^2"
        wrong_input = r * (x * (1 - x) if kind == "sigmoid" else 1 - x**2)
        return [
            (local, FORGOT_DY),
            (wrong_input, f"dy/dx = {formula} takes the layer's output y = {kind}(x), not its input x"),
        ]
    if kind == "maxpool":
        k, s = case.settings["size"], case.settings["stride"]
        return [
            (
                _maxpool_dx(x, r, k, s, every_tie=True, accumulate=True),
                "where a window holds its maximum more than once (equal values, as after a ReLU) the gradient "
                "goes to one of them only, the first (row by row, as PyTorch); giving it to each tied position "
                "multiplies it",
            ),
            (
                _maxpool_dx(x, r, k, s, every_tie=False, accumulate=False),
                "where windows overlap (stride < size) a position gets the gradient of every window it is the "
                "maximum of: add them up (+=), do not assign",
            ),
        ]
    if kind == "dropout" and case.training:
        p = case.settings["p"]
        again = rng_after.random(x.shape) >= p
        words = (
            "backward drew a new mask: in training one generator (args['rng']) serves the forward and the "
            "backward, so a second draw gives another mask; keep the forward's mask and use it"
        )
        return [(r * again / (1 - p), words), (r * again, words)]
    if kind == "batchnorm":
        axes, shape = ((0,), (1, -1)) if x.ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))
        g, eps, n = params["weight"], case.settings["eps"], x.shape[0]
        m = x.size // x.shape[1]
        if not case.training:
            running = buffers["running_mean"], buffers["running_var"]
            return [
                (
                    _batchnorm_dx(x, r, g, *running, eps, shape, axes, m, True),
                    "at test time the mean and variance are the running averages, constants: dx = dy gamma / "
                    "sqrt(running_var + eps), one term (the three-term formula is for training)",
                ),
                (
                    _batchnorm_dx(x, r, g, x.mean(axis=axes), x.var(axis=axes), eps, shape, axes, m, False),
                    "at test time divide by sqrt(running_var + eps), not by the batch's standard deviation",
                ),
            ]
        batch = x.mean(axis=axes), x.var(axis=axes)
        found = [
            (
                _batchnorm_dx(x, r, g, *batch, eps, shape, axes, m, False),
                "in training the batch mean and variance depend on x too: dx has three terms, "
                "(m dx_hat - sum(dx_hat) - x_hat sum(dx_hat x_hat)) / (m sqrt(var + eps))",
            )
        ]
        if x.ndim == 4:
            found.append(
                (
                    _batchnorm_dx(x, r, g, *batch, eps, shape, axes, n, True),
                    f"m is the number of values per channel, N H W = {m}, not the batch size N = {n}",
                )
            )
        return found
    return []


def _buffer_signatures(name: str, case: Case, x, buffers) -> list[Signature]:
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    mom, n, m = 0.1, x.shape[0], x.size // x.shape[1]
    old = buffers[name]
    if name == "running_mean":
        stat = x.mean(axis=axes)
        return [
            (
                mom * old + (1 - mom) * stat,
                "running <- (1 - momentum) running + momentum batch mean: the momentum weighs the new batch",
            )
        ]
    var = x.var(axis=axes)
    found = [
        ((1 - mom) * old + mom * var, f"the running variance takes the unbiased variance, var m / (m - 1) (m = {m})"),
        (
            mom * old + (1 - mom) * var * m / (m - 1),
            "running <- (1 - momentum) running + momentum batch variance: the momentum weighs the new batch",
        ),
    ]
    if x.ndim == 4:
        found.append(
            (
                (1 - mom) * old + mom * var * n / (n - 1),
                f"m is the number of values per channel, N H W = {m}, not the batch size N = {n}",
            )
        )
    return found


def _data(kind: str, case: Case, rng: np.random.Generator):
    x = rng.standard_normal(case.shape) * case.scale
    if kind == "relu" and case.inputs != "kinks":
        x += np.sign(x) * 0.05  # away from the kink at 0, where finite differences are meaningless
    if case.inputs == "kinks":
        x = rng.integers(-2, 3, size=case.shape) * 0.5  # a third of the values exactly 0
    if case.inputs == "extreme":
        flat = x.reshape(-1)
        flat[: min(4, flat.size)] = [1000.0, -1000.0, 750.0, -750.0][: min(4, flat.size)]
        rng.shuffle(flat)
    if kind == "maxpool":
        if case.inputs == "ties":
            x = np.maximum(rng.integers(-1, 3, size=case.shape), 0).astype(np.float64)  # a ReLU's output: ties
        else:
            x = rng.permutation(np.arange(x.size, dtype=np.float64)).reshape(x.shape) / x.size  # no ties
    params = {name: rng.standard_normal(shape) for name, shape in case.params.items()}
    buffers = {"running_mean": rng.standard_normal(case.shape[1]) * 0.1, "running_var": rng.random(case.shape[1]) + 0.5}
    return x, params, buffers


def _overflow_words(what: str, got, x) -> str | None:
    """Words for an inf or nan that comes from e^x of a large x, where the input has such values."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape == x.shape and not np.all(np.isfinite(got)) and np.all(np.abs(x[~np.isfinite(got)]) > 700):
        return (
            f"{what} has inf or nan where |x| > 700, the right values are finite: e^x overflows for x > 709; "
            "write the formula so that it only takes e^x of x <= 0 (e.g. e^-|x|)"
        )
    return None


def _padding_broadcast(cls, kind: str, case: Case, failure: Failure) -> None:
    """A NumPy shape error from a conv with padding that the same code does not make without: say so."""
    if kind != "conv" or not case.settings["padding"] or "broadcast" not in str(failure):
        return
    unpadded = Case(case.shape, {**case.settings, "padding": 0}, case.params, case.training)
    try:
        check_case(cls, kind, unpadded, seed=0)
    except Failure:
        return
    raise Failure(
        f"{failure}; the same code works without padding, so the padding is the trouble: forward pads x to "
        "(N, C, H + 2p, W + 2p); in backward accumulate into an array of that padded shape and cut the border "
        "off at the end"
    ) from None


def check_case(cls, kind: str, case: Case, seed: int = 0) -> None:
    """Run one case; raise ``Failure`` on the first problem."""
    try:
        _check_case(cls, kind, case, seed)
    except Failure as failure:
        _padding_broadcast(cls, kind, case, failure)
        raise


def _check_case(cls, kind: str, case: Case, seed: int = 0) -> None:
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
    shared = np.random.default_rng(7)  # one generator for the forward and the backward, as in training
    y = _call(layer.forward, x_in, _args(case, rng=shared), what="forward")
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
    if kind == "dropout":
        _dropout_mask_check(y, x, case, y_ref)
    overflow = _overflow_words("forward's output y", y, x) if y is not None else None
    if overflow and np.all(np.isfinite(y_ref)):
        raise Failure(overflow)
    compare(
        "forward's output y",
        y,
        y_ref,
        n,
        " (y = x W^T: W has shape (out, in))" if kind == "dense" else "",
        _forward_signatures(kind, case, x, params, buffers),
    )
    if kind == "batchnorm" and case.training:
        for name, value in ref.buffers.items():
            got = getattr(layer, "buffers", {}).get(name)
            compare(
                f"self.buffers[{name!r}] after a training forward",
                got,
                value,
                n,
                signatures=_buffer_signatures(name, case, x, buffers),
            )

    r = rng.standard_normal(y_ref.shape)
    dx_ref = ref.backward(r.copy())
    x_cached = x_in.copy()
    rng_after = np.random.default_rng(7)
    if kind == "dropout" and case.training:
        rng_after.random(x.shape)  # the generator as the forward left it
    signatures = _backward_signatures(kind, case, x, r, params, buffers, y_ref, rng_after)
    dx, grads = split_backward(_call(layer.backward, r.copy(), _args(case, rng=shared), what="backward"), "backward")
    if not np.array_equal(x_in, x_cached):
        raise Failure("backward changed the cached input x in place: it belongs to the layer below; copy it first")
    padded = x.shape[2] + 2 * case.settings.get("padding", 0) if x.ndim == 4 else -1
    if kind == "conv" and np.ndim(dx) == 4 and np.shape(dx)[2] == padded > x.shape[2]:
        raise Failure("backward's dL/dx still has the zero padding around it: cut the padded border off")
    overflow = _overflow_words("backward's dL/dx", dx, x) if dx is not None else None
    if overflow and np.all(np.isfinite(dx_ref)):
        raise Failure(overflow)
    compare("backward's dL/dx", dx, dx_ref, n, signatures=signatures)
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
    if case.inputs in ("normal", "extreme"):  # at kinks and ties a finite difference straddles the corner
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


def _loss_trouble(cls, case: Case, t: np.ndarray) -> str:
    """Why a loss is inf or nan on large scores, from two probes that each allow one trouble only.

    Overflow: scores near 1000 with the target's the largest, so no probability is near 0 (nothing can
    underflow) but an unshifted e^x is inf. Underflow: scores at most 0, the target's at -1000, so e^x
    never overflows but the target's probability e^-1000 is 0 and its log -inf.
    """
    n, classes = case.shape
    high = 1000.0 - np.tile(np.arange(classes, dtype=np.float64), (n, 1)) * 0.5
    high[np.arange(n), t], high[np.arange(n), 0] = high[np.arange(n), 0], high[np.arange(n), t]
    low = np.zeros((n, classes))
    low[np.arange(n), t] = -1000.0
    troubles = []
    for x, words in (
        (high, "forward overflows for large scores (e^1000 = inf): subtract each row's maximum before e^x"),
        (
            low,
            "forward takes the log of a probability that underflowed to 0 (e^-1000 = 0, log 0 = -inf): "
            "compute log p directly, log p = (x - max) - log(sum of e^(x - max)) (log-sum-exp)",
        ),
    ):
        try:
            value = _call(_call(cls, "loss", what="the constructor").forward, x, _args(case, t), what="forward")
            finite = bool(np.isfinite(np.asarray(value, dtype=np.float64)).all())
        except Failure:
            finite = False
        if not finite:
            troubles.append(words)
    if not troubles:
        return "forward's loss is inf or nan for scores as large as 1000; the right loss is finite"
    return "; and ".join(troubles)


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
        raise Failure(_loss_trouble(cls, case, t))
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


def check_file(path: str | Path, kinds: list[str] | None = None, every_case: bool = False) -> list[ClassReport]:
    """Grade every layer class of a file (runs it: it is your code), or those of the given ``kinds``.

    A class stops at its first failing case, unless ``every_case`` (grading: each passed case is a point)."""
    module = import_file(path)
    classes = {
        name: cls
        for name, cls in layer_classes(module).items()
        if cls.kind in CASES and (kinds is None or cls.kind in kinds)
    }
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
                if not report.failure:
                    report.failure, report.case = str(e), case.describe()
                if not every_case:
                    break
                continue
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

    if not any(TRAIN_MODELS.get(r.kind) and not r.failure for r in reports):
        return []  # e.g. a file with the softmax-ce exercise only: a loss, graded by its cases alone
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
