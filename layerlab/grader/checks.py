"""Running one case: your layer's forward and backward against the engine's and against finite
differences of your own forward; the first problem raises a ``Failure`` in words you can act on."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..numpy.custom import arguments_of_your_own, split_backward
from ..numpy.losses import CrossEntropy
from ..numpy.model import make_layer
from ..spec import ResolvedLayer, Spec
from ..spec import layer as spec_layer
from .cases import Case
from .hints import (
    Failure,
    backward_signatures,
    buffer_signatures,
    compare,
    dropout_mask_check,
    forward_signatures,
    overflow_words,
)


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
        dropout_mask_check(y, x, case, y_ref)
    overflow = overflow_words("forward's output y", y, x) if y is not None else None
    if overflow and np.all(np.isfinite(y_ref)):
        raise Failure(overflow)
    compare(
        "forward's output y",
        y,
        y_ref,
        n,
        " (y = x W^T: W has shape (out, in))" if kind == "dense" else "",
        forward_signatures(kind, case, x, params, buffers),
    )
    if kind == "batchnorm" and case.training:
        for name, value in ref.buffers.items():
            got = getattr(layer, "buffers", {}).get(name)
            compare(
                f"self.buffers[{name!r}] after a training forward",
                got,
                value,
                n,
                signatures=buffer_signatures(name, case, x, buffers),
            )

    r = rng.standard_normal(y_ref.shape)
    dx_ref = ref.backward(r.copy())
    x_cached = x_in.copy()
    rng_after = np.random.default_rng(7)
    if kind == "dropout" and case.training:
        rng_after.random(x.shape)  # the generator as the forward left it
    signatures = backward_signatures(kind, case, x, r, params, buffers, y_ref, rng_after)
    dx, grads = split_backward(_call(layer.backward, r.copy(), _args(case, rng=shared), what="backward"), "backward")
    if not np.array_equal(x_in, x_cached):
        raise Failure("backward changed the cached input x in place: it belongs to the layer below; copy it first")
    padded = x.shape[2] + 2 * case.settings.get("padding", 0) if x.ndim == 4 else -1
    if kind == "conv" and np.ndim(dx) == 4 and np.shape(dx)[2] == padded > x.shape[2]:
        raise Failure("backward's dL/dx still has the zero padding around it: cut the padded border off")
    overflow = overflow_words("backward's dL/dx", dx, x) if dx is not None else None
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
