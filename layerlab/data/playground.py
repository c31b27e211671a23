"""The toy datasets of TensorFlow Playground (playground.tensorflow.org), generated the way it does.

Each generator follows Playground's ``dataset.ts``: four classification sets (circle, xor, gauss, spiral)
labelled +1/-1, which become class indices 1 ("positive") and 0 ("negative"), and two regression sets
(plane, multigauss) with targets in [-1, 1]. Points lie in the square [-6, 6]^2. The settings are the
sliders of the page: ``noise`` in percent (0..50, divided by 100 as Playground does), the share of
training data (Playground's 10%..90%, here a fraction) and the input features (x1, x2, x1^2, ...).

Like Playground, the points are generated, shuffled once, and the first ``train_ratio`` of them are the
training set, the rest the test set. Random numbers come from ``numpy.random.default_rng(seed)``, so the
same seed gives the same arrays, though not the points of Playground itself (that uses JavaScript's
seeded ``Math.random``). Two deliberate differences: ``n`` defaults to 500 for every set (Playground
draws 1200 for regression), and an odd ``n`` gives exactly ``n`` points (Playground gives one more).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import LayerlabError
from .dataset import Dataset, Split

PLAYGROUND = {
    "circle": "a disc of positives (radius < 2.5) inside a ring of negatives (radius 3.5 to 5)",
    "xor": "positives where x1 and x2 have the same sign, negatives where they differ",
    "gauss": "two Gaussian clusters, positives around (2, 2) and negatives around (-2, -2)",
    "spiral": "two interleaved spiral arms, 1.75 turns each, out to radius 5",
    "plane": "regression: target (x1 + x2) / 10, a tilted plane",
    "multigauss": "regression: six Gaussian bumps of height +1 or -1 in a 3 x 2 checkerboard",
}
REGRESSION = ("plane", "multigauss")

_FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1*x2": lambda x1, x2: x1 * x2,
    "sin(x1)": lambda x1, x2: np.sin(x1),
    "sin(x2)": lambda x1, x2: np.sin(x2),
}
FEATURES = tuple(_FEATURES)  # Playground's order of input nodes
_ALIASES = {"x1sq": "x1^2", "x2sq": "x2^2"}

RADIUS = 5.0  # circle and spiral reach out to this radius; xor points are uniform in [-5, 5] (+ padding)
EXTENT = 6.0  # plane and multigauss points are uniform in [-6, 6]; Playground draws this square


class PlaygroundError(LayerlabError, ValueError):
    """A bad setting for a Playground dataset; the message names it and the values that work."""


def make(
    name: str,
    *,
    n: int = 500,
    noise: float = 0.0,
    train_ratio: float = 0.5,
    features: Sequence[str] = ("x1", "x2"),
    seed: int = 0,
    val: float = 0.0,
) -> Dataset:
    """Generate Playground's dataset ``name`` with ``n`` points, split into train, validation and test.

    ``noise`` is the Playground slider in percent (0..50). ``train_ratio`` is the share of the points
    used for training; ``val`` is the share of *those* held out for validation, taken from the end of
    the shuffled training part, so the test set does not depend on ``val``. With ``val=0`` the
    validation split is empty but has the right shapes: x (0, len(features)) and y (0,) or (0, 1).

    ``x`` holds the chosen features (float32, one column each, in the order given); ``info["points"]``
    holds the raw (x1, x2) points of each split, and ``info["features"]`` the canonical feature names,
    so ``grid(info["features"])`` gives the matching inputs for a decision-boundary plot.
    """
    if name not in PLAYGROUND:
        raise PlaygroundError(f"unknown Playground dataset {name!r}; choose one of {', '.join(PLAYGROUND)}")
    names = _feature_names(features)
    if not 0 <= noise <= 50:
        raise PlaygroundError(f"noise is in percent like Playground's slider, 0 to 50; got {noise}")
    if not 0 < train_ratio < 1:
        raise PlaygroundError(
            f"train_ratio is a fraction between 0 and 1 (0.5 for Playground's 50%); got {train_ratio}"
        )
    if not 0 <= val < 1:
        raise PlaygroundError(f"val is the fraction of the training points held out, 0 <= val < 1; got {val}")
    if not isinstance(n, int | np.integer) or n < 2:
        raise PlaygroundError(f"n is the number of points, a whole number of at least 2; got {n!r}")
    n_train = int(n * train_ratio)
    n_val = round(val * n_train)
    if n_train - n_val < 1:
        raise PlaygroundError(
            f"n={n} with train_ratio={train_ratio} and val={val} leaves a split empty; use more points"
        )

    rng = np.random.default_rng(seed)
    points, labels = _GENERATORS[name](rng, n, noise / 100)
    order = rng.permutation(n)  # Playground shuffles once, then slices
    points, labels = points[order], labels[order]

    regression = name in REGRESSION
    y = labels.astype(np.float32)[:, None] if regression else (labels > 0).astype(np.int64)
    x = features_of(points, names)
    fit = n_train - n_val
    parts = {"train": slice(0, fit), "val": slice(fit, n_train), "test": slice(n_train, n)}
    splits = {part: Split(x[index], y[index]) for part, index in parts.items()}
    return Dataset(
        name=name,
        **splits,
        classes=() if regression else ("negative", "positive"),
        source=f"TensorFlow Playground's {name} generator, noise {noise:g}%, seed {seed}",
        task="regression" if regression else "classification",
        info={
            "points": {part: points[index].astype(np.float32) for part, index in parts.items()},
            "features": names,
            "noise": noise,
            "train_ratio": train_ratio,
            "seed": seed,
        },
    )


def features_of(points: np.ndarray, features: Sequence[str] = ("x1", "x2")) -> np.ndarray:
    """The named features of raw (N, 2) points as a float32 (N, len(features)) matrix."""
    names = _feature_names(features)
    x1, x2 = points[:, 0], points[:, 1]
    return np.stack([_FEATURES[name](x1, x2) for name in names], axis=1).astype(np.float32)


def grid(
    features: Sequence[str] = ("x1", "x2"), resolution: int = 100, extent: float = EXTENT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A square grid over [-extent, extent]^2 for decision-boundary plots, as Playground's heat map.

    Returns ``xx`` and ``yy`` (resolution, resolution) from ``np.meshgrid`` and the features of every grid
    point as a float32 (resolution**2, len(features)) matrix in ``xx.ravel()`` order, so a model's output
    ``out`` on it reshapes to the grid with ``out.reshape(xx.shape)``.
    """
    if resolution < 2:
        raise PlaygroundError(f"a grid needs a resolution of at least 2 points per side; got {resolution}")
    axis = np.linspace(-extent, extent, resolution)
    xx, yy = np.meshgrid(axis, axis)
    return xx, yy, features_of(np.stack([xx.ravel(), yy.ravel()], axis=1), features)


def _feature_names(features: Sequence[str]) -> tuple[str, ...]:
    """Canonical names of the requested features, checked: known, none twice, at least one."""
    known = ", ".join(FEATURES)
    if isinstance(features, str):
        raise PlaygroundError(f"features is a sequence of names such as ('x1', 'x2'), not {features!r}")
    names = tuple(_ALIASES.get(name, name) for name in features)
    unknown = ", ".join(repr(name) for name in names if name not in _FEATURES)
    if unknown:
        raise PlaygroundError(f"unknown feature(s) {unknown}; known: {known}")
    if not names or len(set(names)) != len(names):
        raise PlaygroundError(f"give each feature once and at least one of {known}; got {features}")
    return names


# The generators: (rng, n, noise as a fraction 0..0.5) -> points (n, 2) float64 and labels (n,):
# +1/-1 for classification, targets for regression.


def _halves(n: int) -> tuple[int, int]:
    """How many positive and negative points: half each, the positives get the odd one."""
    return n - n // 2, n // 2


def _ring(rng: np.random.Generator, count: int, r_low: float, r_high: float) -> np.ndarray:
    """Playground's circle sampling: radius and angle uniform (so denser near the centre)."""
    r = rng.uniform(r_low, r_high, count)
    angle = rng.uniform(0, 2 * np.pi, count)
    return np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)


def _circle(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """classifyCircleData: positives at radius < 2.5, negatives at 3.5..5; labelled by the jittered point."""
    n_pos, n_neg = _halves(n)
    inside = _ring(rng, n_pos, 0, RADIUS * 0.5)
    points = np.concatenate([inside, _ring(rng, n_neg, RADIUS * 0.7, RADIUS)])
    jittered = points + rng.uniform(-RADIUS, RADIUS, points.shape) * noise
    return points, np.where(np.hypot(*jittered.T) < RADIUS * 0.5, 1.0, -1.0)


def _xor(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """classifyXORData: uniform in [-5, 5]^2 pushed 0.3 away from the axes; +1 where x1 * x2 >= 0."""
    points = rng.uniform(-5, 5, (n, 2))
    points += np.where(points > 0, 0.3, -0.3)
    jittered = points + rng.uniform(-5, 5, points.shape) * noise
    return points, np.where(jittered[:, 0] * jittered[:, 1] >= 0, 1.0, -1.0)


def _gauss(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """classifyTwoGaussData: variance 0.5 at no noise growing linearly to 4 at 50% noise; no label flips."""
    n_pos, n_neg = _halves(n)
    std = np.sqrt(0.5 + noise / 0.5 * 3.5)
    points = np.concatenate([rng.normal(2, std, (n_pos, 2)), rng.normal(-2, std, (n_neg, 2))])
    return points, np.repeat([1.0, -1.0], [n_pos, n_neg])


def _spiral_arm(rng: np.random.Generator, count: int, turn: float, noise: float) -> np.ndarray:
    """One arm: point i at radius 5 i / count and angle 1.75 turns * i / count + turn, jittered by noise."""
    fraction = np.arange(count) / count
    r, t = fraction * RADIUS, 1.75 * fraction * 2 * np.pi + turn
    arm = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
    return arm + rng.uniform(-1, 1, arm.shape) * noise


def _spiral(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """classifySpiralData: the positive arm, and the negative one turned by half a circle."""
    n_pos, n_neg = _halves(n)
    points = np.concatenate([_spiral_arm(rng, n_pos, 0, noise), _spiral_arm(rng, n_neg, np.pi, noise)])
    return points, np.repeat([1.0, -1.0], [n_pos, n_neg])


def _plane(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """regressPlane: target (x1 + x2) / 10 of the point jittered by noise * uniform(-6, 6)."""
    points = rng.uniform(-EXTENT, EXTENT, (n, 2))
    jittered = points + rng.uniform(-EXTENT, EXTENT, points.shape) * noise
    return points, jittered.sum(axis=1) / 10


_BUMPS = np.array([[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]])


def _multigauss(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """regressGaussian: each bump is sign * max(0, 1 - distance / 2); the target is the largest in size."""
    points = rng.uniform(-EXTENT, EXTENT, (n, 2))
    jittered = points + rng.uniform(-EXTENT, EXTENT, points.shape) * noise
    distance = np.linalg.norm(jittered[:, None, :] - _BUMPS[:, :2], axis=2)  # (n, 6)
    bumps = _BUMPS[:, 2] * np.clip(1 - distance / 2, 0, 1)
    return points, bumps[np.arange(n), np.abs(bumps).argmax(axis=1)]


_GENERATORS = {
    "circle": _circle,
    "xor": _xor,
    "gauss": _gauss,
    "spiral": _spiral,
    "plane": _plane,
    "multigauss": _multigauss,
}
