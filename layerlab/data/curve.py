"""A small noisy 1-D regression set for model capacity: under- and overfitting in one picture.

The points follow y = sin(pi x) + x / 2 plus Gaussian noise, x uniform in [-1, 1]: a few training
points (20 by default), as many for validation, and 200 test points from the same noisy curve. The
inputs are the polynomial features x, x^2, ..., x^degree, so a single ``dense(1)`` layer is the
polynomial model y = w1 x + w2 x^2 + ... + b, whose capacity grows with the degree; a network on
``degree=1`` grows its capacity with its width instead. ``info["curve"]`` keeps the raw x of each
split, the noise-free curve is ``truth(x)``, and ``features(x, degree)`` turns x into model inputs.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .dataset import Dataset, Split

CURVES = {"curve": "regression: 1-D noisy y = sin(pi x) + x/2; options degree (polynomial features), n, noise"}


def truth(x: np.ndarray) -> np.ndarray:
    return np.sin(np.pi * x) + x / 2


def features(x: np.ndarray, degree: int) -> np.ndarray:
    """(N,) -> (N, degree): x, x^2, ..., x^degree as float32."""
    return np.stack([x**k for k in range(1, degree + 1)], axis=1).astype(np.float32)


OPTIONS = ("degree", "n", "noise")


def load(seed: int = 0, options: dict | None = None) -> Dataset:
    """``make`` with the data options of a run (``data_options = {degree = 3}``), checked by name."""
    unknown = sorted(set(options or {}) - set(OPTIONS))
    if unknown:
        raise DataError(f"curve has no option {', '.join(unknown)}; its options: {', '.join(OPTIONS)}")
    return make(seed=seed, **(options or {}))


def make(degree: int = 1, n: int = 20, noise: float = 0.25, seed: int = 0, val: float | None = None) -> Dataset:
    """The curve with ``n`` training and ``n`` validation points (``val`` is not used: the split is fixed)."""
    for name, value, low in (("degree", degree, 1), ("n", n, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise DataError(f"curve: {name} must be a whole number >= {low}, got {value!r}")
    if degree > 20:
        raise DataError(f"curve: degree {degree} is too high (x^k of x in [-1, 1] underflows); use at most 20")
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not 0 <= noise <= 2:
        raise DataError(f"curve: noise is the standard deviation of the noise, 0 to 2; got {noise!r}")
    rng = np.random.default_rng([seed, 17])
    raw = {part: np.sort(rng.uniform(-1, 1, size)) for part, size in (("train", n), ("val", n), ("test", 200))}
    splits = {
        part: Split(features(x, degree), (truth(x) + noise * rng.standard_normal(len(x))).astype(np.float32)[:, None])
        for part, x in raw.items()
    }
    return Dataset(
        name="curve",
        **splits,
        source=f"y = sin(pi x) + x/2 + N(0, {noise:g}^2), features x..x^{degree}, seed {seed}",
        task="regression",
        info={"curve": {part: x.astype(np.float32) for part, x in raw.items()}, "degree": degree, "noise": noise},
    )
