"""Data augmentation and test-time augmentation (Nielsen, ch. 3 and 6), in NumPy/SciPy on the CPU.

Two ways to get more training data out of the same images:

- ``shift_expand(x, y)``: Nielsen's ``expand_mnist`` (ch. 6), deterministic: each image plus four
  copies moved one pixel up, down, left and right, so 50,000 images become 250,000.
- Random transforms applied on the fly to each training batch: rotation, translation, shear, scaling,
  all of them at once (``RandomAffine``), the elastic distortions of Simard, Steinkraus & Platt (2003),
  random crops, random resized crops and horizontal flips. Each is a small class holding its
  parameters; ``transform(x, rng)`` takes a whole batch (N, C, H, W) and a ``numpy.random.Generator``,
  draws parameters for every image at once and resamples the whole batch in one vectorised gather (no
  loop over images or pixels). Shapes are kept (crops: the crop size) and so is the dtype: uint8 in,
  uint8 out (rounded); float in, float out. ``make_augmentation`` builds a ``Compose`` from names, so
  a config can say ``[("rotate", {"degrees": 15}), ("elastic", {"alpha": 34, "sigma": 4})]``.

Test-time augmentation (as in Krizhevsky et al. 2012): ``tta_views`` gives fixed views of the test images (angles
-15/0/15, centre and corner crops, a flip), ``evaluate_tta`` averages a model's probabilities over them.

Geometry: pixel centres sit at integer coordinates, x is the column (to the right) and y the row
(down); rotation, shear and scaling act about the image centre ((W - 1) / 2, (H - 1) / 2), and a
positive angle turns the content counter-clockwise on screen (as torchvision does). Resampling is
bilinear with zeros outside the image, which is exactly ``torch.nn.functional.grid_sample(...,
padding_mode="zeros", align_corners=True)``: the torch twin of this module, ``layerlab.torch.augment``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import gaussian_filter

from .errors import LayerlabError
from .spec import parse_calls

Maps = tuple[np.ndarray | None, np.ndarray | None]  # forward matrices (N, 2, 2) and shifts (N, 2), or None

SHIFTS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}  # (rows, columns) per pixel


class AugmentError(LayerlabError, ValueError):
    """A bad augmentation setting or input; the message names it and what works instead."""


# ---------------------------------------------------------------- checks and dtypes


def _check_images(x: np.ndarray) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        got = f"shape {x.shape}" if hasattr(x, "shape") else type(x).__name__
        raise AugmentError(
            f"augmentations take a batch of images as a numpy array (N, C, H, W); got {got}. "
            "Add a channel axis with x[:, None] for (N, H, W) images"
        )
    if min(x.shape[2:]) < 2:
        raise AugmentError(f"images must be at least 2x2 pixels to transform; got {x.shape[2]}x{x.shape[3]}")


def _check_call(x: np.ndarray, rng: np.random.Generator) -> None:
    _check_images(x)
    if not isinstance(rng, np.random.Generator):
        raise AugmentError(
            f"random transforms take a numpy Generator, got {type(rng).__name__}; pass rng=np.random.default_rng(seed)"
        )


def _restore(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Back to the input's dtype: integer images (uint8) are rounded and clipped to their range."""
    if np.issubdtype(like.dtype, np.integer):
        info = np.iinfo(like.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(like.dtype)
    return out.astype(like.dtype, copy=False)


# ---------------------------------------------------------------- deterministic geometry


def _bilinear(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Read image x[n] (C, H, W) at the points (rows[n], cols[n]), each (Ho, Wo): bilinear, zero outside.

    The images get a ring of zeros and the points are clipped onto that ring, so a point less than one
    pixel outside blends the edge with zero and one further out reads zero (scipy's mode="grid-constant",
    torch's padding_mode="zeros"). The four neighbours of every point are gathered for all channels at
    once from the flattened images. Floats are kept; integer images are read as float32.
    """
    n, c, h, w = x.shape
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    flat = np.pad(x.astype(dtype, copy=False), ((0, 0), (0, 0), (1, 1), (1, 1))).reshape(n, c, -1)
    r = np.clip(rows + 1, 0, h + 1)  # coordinates in the padded image
    q = np.clip(cols + 1, 0, w + 1)
    r0 = np.minimum(r.astype(np.intp), h)  # top-left neighbour, kept one pixel short of the far edge
    q0 = np.minimum(q.astype(np.intp), w)
    fr = (r - r0).astype(dtype).reshape(n, 1, -1)
    fq = (q - q0).astype(dtype).reshape(n, 1, -1)
    corner = (r0 * (w + 2) + q0).reshape(n, 1, -1)

    def at(step: int) -> np.ndarray:
        return np.take_along_axis(flat, corner + step, axis=2)

    top = at(0) * (1 - fq) + at(1) * fq
    bottom = at(w + 2) * (1 - fq) + at(w + 3) * fq
    return (top * (1 - fr) + bottom * fr).reshape(n, c, *rows.shape[1:])


def resample(x: np.ndarray, matrix: np.ndarray, offset: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Output pixel p = (x, y) of image n reads the input at ``matrix[n] @ p + offset[n]``.

    The pixel map behind every geometric transform here: ``matrix`` (N, 2, 2) and ``offset`` (N, 2) act on
    (x, y) = (column, row) coordinates; ``size`` is the output's (height, width), by default the input's.
    Bilinear, zeros outside the image.
    """
    _check_images(x)
    h, w = x.shape[2:] if size is None else size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    m = np.broadcast_to(matrix, (len(x), 2, 2))[..., None, None]
    b = np.broadcast_to(offset, (len(x), 2))[..., None, None]
    cols = m[:, 0, 0] * xs + m[:, 0, 1] * ys + b[:, 0]
    rows = m[:, 1, 0] * xs + m[:, 1, 1] * ys + b[:, 1]
    return _restore(_bilinear(x, rows, cols), x)


def affine(x: np.ndarray, forward: np.ndarray | None = None, shift: np.ndarray | None = None) -> np.ndarray:
    """Move the content of each image by p -> forward @ (p - centre) + centre + shift, in one resampling.

    ``forward``: (2, 2) or (N, 2, 2) matrices on (x, y) pixel coordinates, None for the identity;
    ``shift``: (2,) or (N, 2) pixels (dx, dy), None for none. Each output pixel reads the input where the
    inverse map sends it.
    """
    _check_images(x)
    n, _, h, w = x.shape
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    inverse = np.linalg.inv(np.broadcast_to(np.eye(2) if forward is None else forward, (n, 2, 2)))
    shift = np.zeros(2) if shift is None else np.asarray(shift, dtype=np.float64)
    offset = centre - np.einsum("nij,nj->ni", inverse, centre + np.broadcast_to(shift, (n, 2)))
    return resample(x, inverse, offset)


def _matrix(a, b, c, d) -> np.ndarray:
    """Per-image 2x2 matrices [[a, b], [c, d]] from entries that are numbers or arrays (N,)."""
    return np.stack(np.broadcast_arrays(a, b, c, d), axis=-1).reshape(-1, 2, 2)


def _rotation(degrees) -> np.ndarray:
    """Counter-clockwise on screen: with y pointing down, x' = x cos + y sin, y' = -x sin + y cos."""
    t = np.deg2rad(degrees)
    return _matrix(np.cos(t), np.sin(t), -np.sin(t), np.cos(t))


def _shear(degrees) -> np.ndarray:
    """Each row slides sideways in proportion to its height: x' = x + tan(angle) y."""
    return _matrix(1.0, np.tan(np.deg2rad(degrees)), 0.0, 1.0)


def _scaling(factor) -> np.ndarray:
    return _matrix(factor, 0.0, 0.0, factor)


def rotate(x: np.ndarray, degrees) -> np.ndarray:
    """Rotate each image about its centre by ``degrees`` (a number or one per image), counter-clockwise."""
    return affine(x, _rotation(degrees))


def displace(x: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Output pixel (x, y) of image n reads the input at (x + dx[n, y, x], y + dy[n, y, x]); fields (N, H, W)."""
    _check_images(x)
    ys, xs = np.mgrid[0 : x.shape[2], 0 : x.shape[3]]
    return _restore(_bilinear(x, ys + dy, xs + dx), x)


def shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move every image by whole pixels, ``dy`` down and ``dx`` right, filling with zeros (np.roll, no wrap)."""
    h, w = x.shape[-2:]
    dy, dx = int(np.clip(dy, -h, h)), int(np.clip(dx, -w, w))
    out = np.zeros_like(x)
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def flip(x: np.ndarray) -> np.ndarray:
    """Mirror every image left to right."""
    return x[..., ::-1].copy()


def crop(x: np.ndarray, top, left, size: tuple[int, int], padding: int = 0) -> np.ndarray:
    """Cut a (height, width) = ``size`` window at (top[n], left[n]) from each image zero-padded on every side.

    ``top`` and ``left`` are numbers or one integer per image, counted in the padded image.
    """
    _check_images(x)
    h, w = size
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    top, left = np.asarray(top), np.asarray(left)
    if np.any(top < 0) or np.any(left < 0) or np.any(top + h > padded.shape[2]) or np.any(left + w > padded.shape[3]):
        raise AugmentError(
            f"{h}x{w} crops must lie inside the {x.shape[2]}x{x.shape[3]} images padded by {padding}; "
            f"keep 0 <= top <= {padded.shape[2] - h} and 0 <= left <= {padded.shape[3] - w}"
        )
    windows = sliding_window_view(padded, (h, w), axis=(2, 3))  # (N, C, H', W', h, w), a view
    return windows[np.arange(len(x)), :, top, left]


def shift_expand(x: np.ndarray, y: np.ndarray, pixels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Nielsen's expand_mnist (ch. 6): the images, then four copies moved up, down, left and right.

    Returns 5N images and labels: ``x5[:N]`` is ``x`` and the blocks that follow are the copies moved by
    ``pixels`` in the order of ``SHIFTS``, with zero fill; labels are repeated the same way. Not shuffled:
    a trainer shuffles every epoch anyway.
    """
    _check_images(x)
    if len(x) != len(y):
        raise AugmentError(f"shift_expand needs one label per image; got {len(x)} images and {len(y)} labels")
    copies = [x] + [shift(x, dy * pixels, dx * pixels) for dy, dx in SHIFTS.values()]
    return np.concatenate(copies), np.concatenate([y] * len(copies))


# ---------------------------------------------------------------- parameter checks


def _pair(owner: str, name: str, value) -> tuple[float, float]:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return float(value[0]), float(value[1])
    raise AugmentError(f"{owner}: {name} must be a pair (low, high); got {value!r}")


def _symmetric(owner: str, name: str, value) -> tuple[float, float]:
    """A number d >= 0 means the range (-d, d); a pair (low, high) with low <= high is taken as it is."""
    if isinstance(value, (int, float)) and value >= 0:
        return 0.0 - value, float(value)  # 0.0 - d: no "-0.0" in reprs
    if isinstance(value, (list, tuple)):
        low, high = _pair(owner, name, value)
        if low <= high:
            return low, high
    raise AugmentError(
        f"{owner}: {name} must be a number d >= 0 (meaning -d..d) or a pair (low, high) with low <= high; got {value!r}"
    )


def _positive_range(owner: str, name: str, value, most: float = np.inf) -> tuple[float, float]:
    low, high = _pair(owner, name, value)
    if not 0 < low <= high <= most:
        bound = f" <= {most:g}" if np.isfinite(most) else ""
        raise AugmentError(f"{owner}: {name} must be a pair (low, high) with 0 < low <= high{bound}; got {value!r}")
    return low, high


def _non_negative(owner: str, name: str, value, integer: bool = False) -> float | int:
    kind = int if integer else (int, float)
    if isinstance(value, kind) and not isinstance(value, bool) and value >= 0:
        return value
    raise AugmentError(f"{owner}: {name} must be {'an integer' if integer else 'a number'} >= 0; got {value!r}")


def _max_shift(owner: str, value) -> tuple[float, float]:
    """Largest translation in pixels: one number for both axes or a pair (horizontal, vertical)."""
    if isinstance(value, (list, tuple)):
        pair = _pair(owner, "max_shift", value)
        return _non_negative(owner, "max_shift", pair[0]), _non_negative(owner, "max_shift", pair[1])
    d = float(_non_negative(owner, "max_shift", value))
    return d, d


def _size(owner: str, value) -> tuple[int, int] | None:
    """None (the input's size), a side for square crops, or (height, width)."""
    if value is None:
        return None
    sides = (value, value) if isinstance(value, int) else value
    if isinstance(sides, (list, tuple)) and len(sides) == 2 and all(isinstance(s, int) and s > 0 for s in sides):
        return int(sides[0]), int(sides[1])
    raise AugmentError(f"{owner}: size must be None (the input's size), a side > 0 or (height, width); got {value!r}")


# ---------------------------------------------------------------- random transforms


class _AffineFamily:
    """The affine transforms: draw a forward map per image (``draw``), then resample the batch once."""

    def draw(self, n: int, rng: np.random.Generator) -> Maps:
        """Forward matrices (n, 2, 2) and shifts (n, 2) in pixels, as ``affine`` takes them (None: none)."""
        raise NotImplementedError

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_call(x, rng)
        return affine(x, *self.draw(len(x), rng))


@dataclass
class RandomRotation(_AffineFamily):
    """Rotate each image about its centre by an angle drawn uniformly from ``degrees`` (d means -d..d)."""

    degrees: float | tuple[float, float] = 15.0

    def __post_init__(self) -> None:
        self.degrees = _symmetric("RandomRotation", "degrees", self.degrees)

    def draw(self, n: int, rng: np.random.Generator) -> Maps:
        return _rotation(rng.uniform(*self.degrees, n)), None


@dataclass
class RandomTranslation(_AffineFamily):
    """Move each image by up to ``max_shift`` pixels (one number, or (horizontal, vertical)) each way."""

    max_shift: float | tuple[float, float] = 2.0

    def __post_init__(self) -> None:
        self.max_shift = _max_shift("RandomTranslation", self.max_shift)

    def draw(self, n: int, rng: np.random.Generator) -> Maps:
        return None, rng.uniform(-1, 1, (n, 2)) * self.max_shift


@dataclass
class RandomShear(_AffineFamily):
    """Skew each image: rows slide sideways by tan(angle) per row, the angle drawn from ``degrees``."""

    degrees: float | tuple[float, float] = 10.0

    def __post_init__(self) -> None:
        self.degrees = _symmetric("RandomShear", "degrees", self.degrees)

    def draw(self, n: int, rng: np.random.Generator) -> Maps:
        return _shear(rng.uniform(*self.degrees, n)), None


@dataclass
class RandomScale(_AffineFamily):
    """Zoom each image about its centre by a factor drawn uniformly from ``range`` (> 1 enlarges)."""

    range: tuple[float, float] = (0.9, 1.1)

    def __post_init__(self) -> None:
        self.range = _positive_range("RandomScale", "range", self.range)

    def draw(self, n: int, rng: np.random.Generator) -> Maps:
        return _scaling(rng.uniform(*self.range, n)), None


@dataclass
class RandomAffine(_AffineFamily):
    """Scale, shear, rotate and translate each image in one resampling (each part as in its own class)."""

    degrees: float | tuple[float, float] = 0.0
    max_shift: float | tuple[float, float] = 0.0
    shear: float | tuple[float, float] = 0.0
    scale: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        self.degrees = _symmetric("RandomAffine", "degrees", self.degrees)
        self.max_shift = _max_shift("RandomAffine", self.max_shift)
        self.shear = _symmetric("RandomAffine", "shear", self.shear)
        self.scale = _positive_range("RandomAffine", "scale", self.scale)

    def draw(self, n: int, rng: np.random.Generator) -> Maps:
        rotation = _rotation(rng.uniform(*self.degrees, n))
        shear = _shear(rng.uniform(*self.shear, n))
        scaling = _scaling(rng.uniform(*self.scale, n))
        return rotation @ shear @ scaling, rng.uniform(-1, 1, (n, 2)) * self.max_shift


@dataclass
class ElasticDistortion:
    """Simard, Steinkraus & Platt (2003): a random, smooth displacement of every pixel.

    Two fields of uniform(-1, 1) numbers per image (dx and dy for each pixel) are smoothed by a Gaussian
    of width ``sigma`` pixels and scaled by ``alpha``; each output pixel then reads the input bilinearly at
    its displaced position. Small sigma gives random jitter, large sigma a near translation; Simard's MNIST
    setting alpha=34, sigma=4 moves pixels by about 1.4 pixels (standard deviation). Smoothing treats the
    field as continuing its edge values past the border (scipy's mode="nearest").
    """

    alpha: float = 34.0
    sigma: float = 4.0

    def __post_init__(self) -> None:
        self.alpha = float(_non_negative("ElasticDistortion", "alpha", self.alpha))
        self.sigma = float(_non_negative("ElasticDistortion", "sigma", self.sigma))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_call(x, rng)
        n, _, h, w = x.shape
        noise = rng.uniform(-1, 1, (2, n, h, w))
        dx, dy = self.alpha * gaussian_filter(noise, (0, 0, self.sigma, self.sigma), mode="nearest")
        return displace(x, dx, dy)


@dataclass
class RandomShift:
    """The on-the-fly twin of ``shift_expand``: each image becomes one of its five copies, at random."""

    pixels: int = 1

    def __post_init__(self) -> None:
        self.pixels = _non_negative("RandomShift", "pixels", self.pixels, integer=True)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_call(x, rng)
        moves = np.array([(0, 0), *SHIFTS.values()]) * self.pixels
        dy, dx = moves[rng.integers(0, len(moves), len(x))].T
        return crop(x, self.pixels - dy, self.pixels - dx, x.shape[2:], padding=self.pixels)


@dataclass
class RandomCrop:
    """Pad by ``padding`` zero pixels, then cut a window of ``size`` at a random position per image.

    ``size`` defaults to the input's: with padding 4 that is the usual CIFAR-10 augmentation.
    """

    size: int | tuple[int, int] | None = None
    padding: int = 0

    def __post_init__(self) -> None:
        self.size = _size("RandomCrop", self.size)
        self.padding = _non_negative("RandomCrop", "padding", self.padding, integer=True)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_call(x, rng)
        h, w = self.size or x.shape[2:]
        room_y, room_x = x.shape[2] + 2 * self.padding - h, x.shape[3] + 2 * self.padding - w
        if min(room_y, room_x) < 0:
            raise AugmentError(
                f"{self!r} does not fit in {x.shape[2]}x{x.shape[3]} images; choose a smaller size or more padding"
            )
        top, left = rng.integers(0, room_y + 1, len(x)), rng.integers(0, room_x + 1, len(x))
        return crop(x, top, left, (h, w), self.padding)


@dataclass
class RandomResizedCrop:
    """Cut a random box and resize it (bilinear) to ``size`` (default: the input's), as in Inception.

    The box covers a fraction of the image drawn uniformly from ``scale`` and has a width/height ratio
    drawn log-uniformly from ``ratio``; a side that would not fit is clipped to the image (torchvision draws
    again up to ten times instead). Its position is uniform over the places it fits. Sides are measured
    between the first and last pixel centres, as in all the geometry here. Downscaling is not antialiased.
    """

    size: int | tuple[int, int] | None = None
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)

    def __post_init__(self) -> None:
        self.size = _size("RandomResizedCrop", self.size)
        self.scale = _positive_range("RandomResizedCrop", "scale", self.scale, most=1.0)
        self.ratio = _positive_range("RandomResizedCrop", "ratio", self.ratio)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_call(x, rng)
        n, _, h, w = x.shape
        out_h, out_w = self.size or (h, w)
        area = h * w * rng.uniform(*self.scale, n)
        aspect = np.exp(rng.uniform(*np.log(self.ratio), n))
        box_w, box_h = np.clip(np.sqrt(area * aspect), 1, w), np.clip(np.sqrt(area / aspect), 1, h)
        left, top = rng.uniform(0, 1, n) * (w - box_w), rng.uniform(0, 1, n) * (h - box_h)
        # the first and last output pixels read the box's first and last pixel centres (align_corners=True,
        # as everywhere here), so no sample falls outside the image
        sx, sy = (box_w - 1) / max(out_w - 1, 1), (box_h - 1) / max(out_h - 1, 1)
        return resample(x, _matrix(sx, 0.0, 0.0, sy), np.stack([left, top], axis=1), (out_h, out_w))


@dataclass
class HorizontalFlip:
    """Mirror each image left to right with probability ``p`` (for photos such as CIFAR-10, not digits)."""

    p: float = 0.5

    def __post_init__(self) -> None:
        if not (isinstance(self.p, (int, float)) and 0 <= self.p <= 1):
            raise AugmentError(f"HorizontalFlip: p is a probability between 0 and 1; got {self.p!r}")

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_call(x, rng)
        return np.where((rng.random(len(x)) < self.p)[:, None, None, None], x[..., ::-1], x)


@dataclass
class Compose:
    """Apply ``transforms`` in order, each ``(x, rng) -> x`` on the whole batch.

    The same class serves both engines: ``rng`` is a numpy Generator for numpy transforms, a
    torch.Generator or None (torch's global one) for those of ``layerlab.torch.augment``.
    """

    transforms: list

    def __post_init__(self) -> None:
        self.transforms = list(self.transforms)
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise AugmentError(
                    f"Compose takes transforms (callables (x, rng) -> x); item {i} is {t!r}. "
                    "To build one from names use make_augmentation"
                )

    def __call__(self, x, rng=None):
        for transform in self.transforms:
            x = transform(x, rng)
        return x


AUGMENTATIONS: dict[str, type] = {
    "shift": RandomShift,
    "rotate": RandomRotation,
    "translate": RandomTranslation,
    "shear": RandomShear,
    "scale": RandomScale,
    "affine": RandomAffine,
    "elastic": ElasticDistortion,
    "crop": RandomCrop,
    "resized_crop": RandomResizedCrop,
    "flip": HorizontalFlip,
}


def make_augmentation(items: Sequence, registry: Mapping[str, type] = AUGMENTATIONS) -> Compose:
    """A ``Compose`` from (name, parameters) pairs (or bare names), names as in ``AUGMENTATIONS``::

        make_augmentation([("rotate", {"degrees": 15}), ("elastic", {"alpha": 34, "sigma": 4})])

    ``registry`` maps names to classes; the torch engine passes its own (``layerlab.torch.augment``).
    """
    transforms = []
    for item in items:
        pair = (item, {}) if isinstance(item, str) else item
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[1], Mapping)):
            raise AugmentError(f"each augmentation is a name or a (name, {{parameters}}) pair; got {item!r}")
        name, params = pair
        if name not in registry:
            raise AugmentError(f"unknown augmentation {name!r}; choose one of {', '.join(registry)}")
        cls = registry[name]
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise AugmentError(
                f"augmentation {name!r} ({cls.__name__}) has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are {', '.join(allowed)}"
            )
        transforms.append(cls(**params))
    return Compose(transforms)


def parse_augmentation(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``"rotate(15) elastic(alpha=34, sigma=4)"`` -> [("rotate", {"degrees": 15}), ("elastic", {...})]."""
    items = []
    for name, args, kwargs in parse_calls(text, AUGMENTATIONS, "augmentation"):
        signature = inspect.signature(AUGMENTATIONS[name])
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            options = ", ".join(f"{p.name}={p.default}" for p in signature.parameters.values())
            raise AugmentError(f"--augment {name}: {error}; its options: {name}({options})") from None
        items.append((name, dict(bound.arguments)))
    return items


# ---------------------------------------------------------------- test-time augmentation

TTA_SETS = ("identity", "rotations", "crops", "flip")
_CORNERS = {"top left": (0, 0), "top right": (0, 2), "bottom left": (2, 0), "bottom right": (2, 2)}


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _crop_view(x: np.ndarray, top: int, left: int, padding: int) -> np.ndarray:
    return crop(x, top, left, x.shape[2:], padding)


def tta_views(names: str | Sequence[str] = "rotations", *, degrees: float = 15.0, padding: int = 2) -> dict:
    """Fixed views of the test images for test-time augmentation, as {name: view(x) -> x}.

    ``names`` is one set or a list of sets, joined (a view in several sets, "identity", is kept once):
    "identity": the images as they are; "rotations": turned by -degrees, 0 and +degrees (the slide's
    -15, 0, 15); "crops": padded by ``padding`` pixels and cropped back to full size at the centre (the
    images as they are) and the four corners; "flip": as they are and mirrored (photos, not digits).
    Every view keeps the image size, so the same model reads them all.
    """
    views: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    for name in [names] if isinstance(names, str) else names:
        if name not in TTA_SETS:
            raise AugmentError(f"unknown test-time augmentation set {name!r}; choose from {', '.join(TTA_SETS)}")
        views["identity"] = _identity
        if name == "rotations":
            views[f"rotate {-degrees:+g}"] = partial(rotate, degrees=-degrees)
            views[f"rotate {degrees:+g}"] = partial(rotate, degrees=degrees)
        elif name == "crops":
            for corner, (top, left) in _CORNERS.items():
                views[f"crop {corner}"] = partial(_crop_view, top=top * padding, left=left * padding, padding=padding)
        elif name == "flip":
            views["flip"] = flip
    return views


def evaluate_tta(
    predict_proba: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    views: str | Sequence[str] | Mapping[str, Callable] = "rotations",
    *,
    batch_size: int | None = None,
) -> dict:
    """Accuracy of each view and of the probabilities averaged over the views.

    ``predict_proba`` maps a batch of images to (batch, classes) probabilities, from any engine. ``views``
    are names for ``tta_views`` or a dict {name: view(x) -> x}. Images go to the model ``batch_size`` at a
    time (default all at once). Returns ``{"views": {name: accuracy}, "averaged": accuracy, "images": N}``.
    """
    views = views if isinstance(views, Mapping) else tta_views(views)
    if not views:
        raise AugmentError("evaluate_tta needs at least one view; pass names such as 'rotations' or a dict of views")
    y = np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise AugmentError(f"evaluate_tta needs images and one label each; got {len(x)} images, {len(y)} labels")
    step = batch_size or len(x)
    accuracy, total = {}, 0.0
    for name, view in views.items():
        probs = np.concatenate([np.asarray(predict_proba(view(x[i : i + step]))) for i in range(0, len(x), step)])
        if probs.ndim != 2 or len(probs) != len(x):
            raise AugmentError(
                f"predict_proba must return (batch, classes) probabilities; for view {name!r} it gave shape "
                f"{probs.shape} for {len(x)} images"
            )
        accuracy[name] = float(np.mean(probs.argmax(axis=1) == y))
        total = total + probs
    averaged = float(np.mean(np.argmax(total / len(views), axis=1) == y))
    return {"views": accuracy, "averaged": averaged, "images": len(x)}


def tta_warnings(names: Sequence[str], classes: Sequence[str], validation: dict) -> list[str]:
    """What is wrong with a choice of test-time views: a transform wrong for the data (a mirrored digit is
    another symbol, or none), and every view, or the average, that lowers the validation accuracy against
    the images as they are by more than the noise (two standard errors of that accuracy, at least 0.5 points).
    ``validation`` is ``evaluate_tta``'s answer on the validation set."""
    found = []
    if "flip" in names and classes and all(str(c).isdigit() for c in classes):
        found.append(
            "flip mirrors the images, and a mirrored digit is another symbol or none (a mirrored 2 is no 2): "
            "leave out flip for digits (it suits photos)"
        )
    views, n = validation["views"], max(1, validation["images"])
    base = views.get("identity")
    if base is None:
        return found
    margin = max(0.005, 2 * (base * (1 - base) / n) ** 0.5)
    worse = [(name, acc) for name, acc in views.items() if name != "identity" and acc < base - margin]
    for name, acc in worse:
        found.append(f"the view {name!r} lowers validation accuracy to {acc:.2%} from {base:.2%} as they are")
    if validation["averaged"] < base - margin:
        leave = ", ".join(sorted({name.split()[0] for name, _ in worse})) or "the views"
        found.append(
            f"averaging the views lowers validation accuracy to {validation['averaged']:.2%} from {base:.2%} "
            f"with the images as they are: leave out {leave}"
        )
    return found
