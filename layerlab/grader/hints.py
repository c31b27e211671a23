"""The grader's words: how a layer's numbers differ from the right ones, and which known mistake gives them.

``compare`` raises a ``Failure`` naming the first difference; where the wrong values are those of a
known mistake (off by the batch size, transposed, the wrong sign, or one of the layer's own mistakes,
its *signatures*: what each wrong formula gives on the case's numbers) the words say which.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .cases import Case

TOLERANCE = 1e-6  # relative, in float64


class Failure(Exception):
    """One problem, in words a student can act on."""


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


def overflow_words(what: str, got, x) -> str | None:
    """Words for an inf or nan that comes from e^x of a large x, where the input has such values."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape == x.shape and not np.all(np.isfinite(got)) and np.all(np.abs(x[~np.isfinite(got)]) > 700):
        return (
            f"{what} has inf or nan where |x| > 700, the right values are finite: e^x overflows for x > 709; "
            "write the formula so that it only takes e^x of x <= 0 (e.g. e^-|x|)"
        )
    return None


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


def forward_signatures(kind: str, case: Case, x, params, buffers) -> list[Signature]:
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


def dropout_mask_check(y, x, case: Case, y_ref) -> None:
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


def backward_signatures(kind: str, case: Case, x, r, params, buffers, y_ref, rng_after) -> list[Signature]:
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


def buffer_signatures(name: str, case: Case, x, buffers) -> list[Signature]:
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
