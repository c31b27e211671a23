"""The augmentations of ``layerlab.augment`` in torch, on whole batches on their device (CPU or GPU).

Each class takes the same parameters as its numpy twin and inherits their checks and repr; calling it
as ``transform(x, generator)`` takes an (N, C, H, W) tensor and a ``torch.Generator`` on the tensor's
device (None: torch's global one). Random numbers are drawn on that device and nothing here waits for
the host, so a GPU training step never stalls on augmentation. The same seed draws different numbers
than numpy's; given the same parameters, the geometry is the numpy engine's (tests/test_torch_augment.py):
pixel centres at integer (x, y) = (column, row), transforms about the centre, positive angles
counter-clockwise on screen, bilinear with zeros outside. uint8 in, uint8 out (rounded); float in,
float out.

Sampling is ``F.grid_sample(..., align_corners=True)`` on a grid of pixel coordinates built exactly as
``layerlab.augment.resample`` builds it (the batched 2x2 map ``F.affine_grid`` computes, written once for
the affine family, elastic distortions and resized crops alike). Elastic fields are smoothed with
scipy's Gaussian kernel, as two matrix products. Crops and flips are indexing.

    from layerlab.torch.augment import make_augmentation
    augment = make_augmentation([("rotate", {"degrees": 15}), ("elastic", {"alpha": 34, "sigma": 4})])
    x = augment(x, torch.Generator(device=x.device).manual_seed(0))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from .. import augment
from ..augment import AugmentError, Compose

Maps = tuple[torch.Tensor | None, torch.Tensor | None]  # forward matrices (N, 2, 2) and shifts (N, 2), or None

# ---------------------------------------------------------------- checks, dtypes and random numbers


def _check_images(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        got = f"shape {tuple(x.shape)}" if hasattr(x, "shape") else type(x).__name__
        raise AugmentError(
            f"torch augmentations take a batch of images as a tensor (N, C, H, W); got {got}. "
            "Add a channel axis with x[:, None] for (N, H, W) images"
        )
    if min(x.shape[2:]) < 2:
        raise AugmentError(f"images must be at least 2x2 pixels to transform; got {x.shape[2]}x{x.shape[3]}")


def _dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype to compute in: the input's if it is floating point, else float32."""
    return x.dtype if x.is_floating_point() else torch.float32


def _restore(out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Back to the input's dtype: integer images (uint8) are rounded and clipped to their range."""
    if like.is_floating_point():
        return out.to(like.dtype)
    info = torch.iinfo(like.dtype)
    return out.round().clamp(info.min, info.max).to(like.dtype)


class _Random:
    """Draws like numpy's Generator (uniform, integers, random) from a torch.Generator, on x's device."""

    def __init__(self, x: torch.Tensor, generator: torch.Generator | None):
        _check_images(x)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise AugmentError(
                f"torch transforms take a torch.Generator or None, got {type(generator).__name__}; "
                "pass torch.Generator(device=x.device).manual_seed(seed)"
            )
        if generator is not None and generator.device.type != x.device.type:
            raise AugmentError(
                f"the generator is on {generator.device} but the images are on {x.device}; "
                "make it with torch.Generator(device=x.device)"
            )
        self.generator, self.device, self.dtype = generator, x.device, _dtype(x)

    def uniform(self, low: float, high: float, size) -> torch.Tensor:
        u = torch.rand(size, generator=self.generator, device=self.device, dtype=self.dtype)
        return low + (high - low) * u

    def integers(self, low: int, high: int, n: int) -> torch.Tensor:
        return torch.randint(low, high, (n,), generator=self.generator, device=self.device)

    def random(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.generator, device=self.device, dtype=self.dtype)


# ---------------------------------------------------------------- deterministic geometry


def _sample(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Read image x[n] at the pixel points (rows[n], cols[n]), each (Ho, Wo): bilinear, zero outside."""
    h, w = x.shape[2:]
    grid = torch.stack([2 * cols / (w - 1) - 1, 2 * rows / (h - 1) - 1], dim=-1)  # align_corners=True
    out = F.grid_sample(x.to(_dtype(x)), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return _restore(out, x)


def _pixel_grid(h: int, w: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column coordinates (h, w) of every pixel, made on the device (no copy from the host)."""
    rows = torch.arange(h, device=like.device, dtype=_dtype(like))
    cols = torch.arange(w, device=like.device, dtype=_dtype(like))
    return torch.meshgrid(rows, cols, indexing="ij")


def resample(x: torch.Tensor, matrix, offset, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Output pixel p = (x, y) of image n reads the input at ``matrix[n] @ p + offset[n]``.

    As ``layerlab.augment.resample``: ``matrix`` (N, 2, 2) and ``offset`` (N, 2) on (x, y) = (column, row)
    coordinates, tensors or arrays; ``size`` is the output's (height, width), by default the input's.
    """
    _check_images(x)
    n = len(x)
    ys, xs = _pixel_grid(*(x.shape[2:] if size is None else size), like=x)
    m = torch.as_tensor(matrix, dtype=ys.dtype, device=x.device).expand(n, 2, 2)[..., None, None]
    b = torch.as_tensor(offset, dtype=ys.dtype, device=x.device).expand(n, 2)[..., None, None]
    cols = m[:, 0, 0] * xs + m[:, 0, 1] * ys + b[:, 0]
    rows = m[:, 1, 0] * xs + m[:, 1, 1] * ys + b[:, 1]
    return _sample(x, rows, cols)


def affine(x: torch.Tensor, forward=None, shift=None) -> torch.Tensor:
    """Move the content of each image by p -> forward @ (p - centre) + centre + shift, in one resampling.

    As ``layerlab.augment.affine``: ``forward`` (2, 2) or (N, 2, 2) on (x, y), None for the identity;
    ``shift`` (2,) or (N, 2) pixels (dx, dy), None for none.
    """
    _check_images(x)
    n, _, h, w = x.shape
    dtype, device = _dtype(x), x.device
    eye = torch.eye(2, dtype=dtype, device=device)
    forward = eye if forward is None else torch.as_tensor(forward, dtype=dtype, device=device)
    inverse = _inverse(forward.expand(n, 2, 2))
    shift = (
        torch.zeros(2, dtype=dtype, device=device)
        if shift is None
        else torch.as_tensor(shift, dtype=dtype, device=device)
    )
    # output pixel p reads inverse @ (p - centre - shift) + centre; the centre stays two Python numbers
    tx, ty = shift.expand(n, 2).unbind(1)
    tx, ty = tx + (w - 1) / 2, ty + (h - 1) / 2
    offset = torch.stack(
        [
            (w - 1) / 2 - inverse[:, 0, 0] * tx - inverse[:, 0, 1] * ty,
            (h - 1) / 2 - inverse[:, 1, 0] * tx - inverse[:, 1, 1] * ty,
        ],
        dim=1,
    )
    return resample(x, inverse, offset)


def _inverse(m: torch.Tensor) -> torch.Tensor:
    """Inverses of 2x2 matrices, [[d, -b], [-c, a]] / (ad - bc): elementwise, so no solver call on the GPU."""
    a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    return _matrix(d, -b, -c, a) / (a * d - b * c)[:, None, None]


def _matrix(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Per-image 2x2 matrices [[a, b], [c, d]] from entries of shape (N,)."""
    return torch.stack([a, b, c, d], dim=-1).reshape(-1, 2, 2)


def _rotation(degrees: torch.Tensor) -> torch.Tensor:
    """Counter-clockwise on screen: with y pointing down, x' = x cos + y sin, y' = -x sin + y cos."""
    t = torch.deg2rad(degrees)
    return _matrix(torch.cos(t), torch.sin(t), -torch.sin(t), torch.cos(t))


def _shear(degrees: torch.Tensor) -> torch.Tensor:
    """Each row slides sideways in proportion to its height: x' = x + tan(angle) y."""
    t = torch.tan(torch.deg2rad(degrees))
    return _matrix(torch.ones_like(t), t, torch.zeros_like(t), torch.ones_like(t))


def _scaling(factor: torch.Tensor) -> torch.Tensor:
    return _matrix(factor, torch.zeros_like(factor), torch.zeros_like(factor), factor)


def rotate(x: torch.Tensor, degrees) -> torch.Tensor:
    """Rotate each image about its centre by ``degrees`` (a number or one per image), counter-clockwise."""
    return affine(x, _rotation(torch.as_tensor(degrees, dtype=_dtype(x), device=x.device).reshape(-1)))


def displace(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Output pixel (x, y) of image n reads the input at (x + dx[n, y, x], y + dy[n, y, x]); fields (N, H, W)."""
    _check_images(x)
    ys, xs = _pixel_grid(*x.shape[2:], like=x)
    return _sample(x, ys + dy.to(ys.dtype), xs + dx.to(xs.dtype))


def _blur_matrix(n: int, sigma: float, radius: int, like: torch.Tensor) -> torch.Tensor:
    """The 1-D Gaussian over n pixels as an (n, n) matrix: row j holds the weights of output pixel j.

    scipy's kernel (weights exp(-t^2 / 2 sigma^2) for |t| <= radius, normalised to sum 1); a neighbour
    past the border is the edge pixel again (mode="nearest"), so its weight adds to the edge's column.
    """
    offsets = torch.arange(-radius, radius + 1, device=like.device)
    kernel = torch.exp(-0.5 * (offsets.to(like.dtype) / sigma) ** 2)
    kernel = kernel / kernel.sum()
    source = (torch.arange(n, device=like.device)[:, None] + offsets).clamp(0, n - 1)  # (n, 2 radius + 1)
    return torch.einsum("k,jki->ji", kernel, F.one_hot(source, n).to(like.dtype))


def gaussian_blur(field: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """Smooth the last two axes: ``scipy.ndimage.gaussian_filter(field, sigma, mode="nearest", axes=(-2, -1))``.

    The separable Gaussian convolution written as two matrix products, blur(H) @ field @ blur(W)^T: on the
    CPU some 40 times faster than F.conv2d with a 33-tap kernel (sigma 4), and plain matmuls on a GPU.
    """
    radius = int(truncate * sigma + 0.5)
    if radius == 0:
        return field
    h, w = field.shape[-2:]
    return _blur_matrix(h, sigma, radius, field) @ field @ _blur_matrix(w, sigma, radius, field).T


def flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror every image left to right."""
    return x.flip(-1)


def crop(x: torch.Tensor, top, left, size: tuple[int, int], padding: int = 0) -> torch.Tensor:
    """Cut a (height, width) = ``size`` window at (top[n], left[n]) from each image zero-padded on every side.

    ``top`` and ``left`` are integers or integer tensors (N,), counted in the padded image. Unlike the numpy
    version, positions are not checked (that would wait for the device): the classes draw only ones that fit.
    """
    _check_images(x)
    n, (h, w) = len(x), size
    top, left = (v if isinstance(v, torch.Tensor) else torch.full((n,), int(v), device=x.device) for v in (top, left))
    padded = F.pad(x, (padding, padding, padding, padding))
    windows = padded.unfold(2, h, 1).unfold(3, w, 1)  # (N, C, H', W', h, w), a view
    return windows[torch.arange(n, device=x.device), :, top, left]


# ---------------------------------------------------------------- random transforms


class _AffineFamily:
    """The affine transforms: draw a forward map per image (``draw``), then resample the batch once."""

    def draw(self, n: int, rng: _Random) -> Maps:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return affine(x, *self.draw(len(x), _Random(x, generator)))


class RandomRotation(_AffineFamily, augment.RandomRotation):
    __doc__ = augment.RandomRotation.__doc__

    def draw(self, n: int, rng: _Random) -> Maps:
        return _rotation(rng.uniform(*self.degrees, n)), None


class RandomTranslation(_AffineFamily, augment.RandomTranslation):
    __doc__ = augment.RandomTranslation.__doc__

    def draw(self, n: int, rng: _Random) -> Maps:
        (max_x, max_y), u = self.max_shift, rng.uniform(-1, 1, (n, 2))
        return None, torch.stack([u[:, 0] * max_x, u[:, 1] * max_y], dim=1)


class RandomShear(_AffineFamily, augment.RandomShear):
    __doc__ = augment.RandomShear.__doc__

    def draw(self, n: int, rng: _Random) -> Maps:
        return _shear(rng.uniform(*self.degrees, n)), None


class RandomScale(_AffineFamily, augment.RandomScale):
    __doc__ = augment.RandomScale.__doc__

    def draw(self, n: int, rng: _Random) -> Maps:
        return _scaling(rng.uniform(*self.range, n)), None


class RandomAffine(_AffineFamily, augment.RandomAffine):
    __doc__ = augment.RandomAffine.__doc__

    def draw(self, n: int, rng: _Random) -> Maps:
        rotation = _rotation(rng.uniform(*self.degrees, n))
        shear = _shear(rng.uniform(*self.shear, n))
        scaling = _scaling(rng.uniform(*self.scale, n))
        (max_x, max_y), u = self.max_shift, rng.uniform(-1, 1, (n, 2))
        return rotation @ shear @ scaling, torch.stack([u[:, 0] * max_x, u[:, 1] * max_y], dim=1)


class ElasticDistortion(augment.ElasticDistortion):
    __doc__ = augment.ElasticDistortion.__doc__

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        rng = _Random(x, generator)
        n, _, h, w = x.shape
        dx, dy = self.alpha * gaussian_blur(rng.uniform(-1, 1, (2, n, h, w)), self.sigma)
        return displace(x, dx, dy)


class RandomShift(augment.RandomShift):
    __doc__ = augment.RandomShift.__doc__

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        copy = _Random(x, generator).integers(0, 5, len(x))  # 0 as it is, then up, down, left, right (SHIFTS)
        dy = (copy == 2).long() - (copy == 1).long()
        dx = (copy == 4).long() - (copy == 3).long()
        p = self.pixels
        return crop(x, p - dy * p, p - dx * p, tuple(x.shape[2:]), padding=p)


class RandomCrop(augment.RandomCrop):
    __doc__ = augment.RandomCrop.__doc__

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        rng = _Random(x, generator)
        h, w = self.size or tuple(x.shape[2:])
        room_y, room_x = x.shape[2] + 2 * self.padding - h, x.shape[3] + 2 * self.padding - w
        if min(room_y, room_x) < 0:
            raise AugmentError(
                f"{self!r} does not fit in {x.shape[2]}x{x.shape[3]} images; choose a smaller size or more padding"
            )
        top, left = rng.integers(0, room_y + 1, len(x)), rng.integers(0, room_x + 1, len(x))
        return crop(x, top, left, (h, w), self.padding)


class RandomResizedCrop(augment.RandomResizedCrop):
    __doc__ = augment.RandomResizedCrop.__doc__

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        rng = _Random(x, generator)
        n, _, h, w = x.shape
        out_h, out_w = self.size or (h, w)
        area = h * w * rng.uniform(*self.scale, n)
        aspect = torch.exp(rng.uniform(*map(math.log, self.ratio), n))
        box_w, box_h = (area * aspect).sqrt().clamp(1, w), (area / aspect).sqrt().clamp(1, h)
        left, top = rng.uniform(0, 1, n) * (w - box_w), rng.uniform(0, 1, n) * (h - box_h)
        # the first and last output pixels read the box's first and last pixel centres (align_corners=True)
        sx, sy = (box_w - 1) / max(out_w - 1, 1), (box_h - 1) / max(out_h - 1, 1)
        matrix = _matrix(sx, torch.zeros_like(sx), torch.zeros_like(sx), sy)
        return resample(x, matrix, torch.stack([left, top], dim=1), (out_h, out_w))


class HorizontalFlip(augment.HorizontalFlip):
    __doc__ = augment.HorizontalFlip.__doc__

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        mirrored = _Random(x, generator).random(len(x)) < self.p
        return torch.where(mirrored[:, None, None, None], x.flip(-1), x)


#: The same names as ``layerlab.augment.AUGMENTATIONS`` (the one registry), each mapped to its torch twin.
AUGMENTATIONS: dict[str, type] = {name: globals()[cls.__name__] for name, cls in augment.AUGMENTATIONS.items()}


def make_augmentation(items: Sequence, registry: Mapping[str, type] = AUGMENTATIONS) -> Compose:
    """A ``Compose`` of torch transforms from (name, parameters) pairs, as ``layerlab.augment.make_augmentation``."""
    return augment.make_augmentation(items, registry)
