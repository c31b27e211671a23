"""One image file in, one uint8 array out: safely, and prepared the way the model's training images were.

``decode`` is the only place that opens an image, for the image folders of ``folder.py`` and for
``Run.predict_files``. It refuses an image that declares more than ``MAX_PIXELS`` pixels before decoding
it (a "decompression bomb": a few hundred bytes of PNG can declare 100000 x 100000 pixels, 10 GB
decoded), and turns every failure (missing, a folder, truncated, not an image) into one ``ImageError``
line that names the file.

``prepare`` turns a photo or a drawing into a model input. For a model of MNIST's shape (1 x 28 x 28)
it repeats what was done to the MNIST digits (LeCun, Cortes and Burges, "The MNIST database"): the
digit is scaled to fit a 20 x 20 box, keeping its aspect ratio, and placed in a 28 x 28 field so that
its centre of mass is at the centre. MNIST digits are light on a dark background; a digit drawn dark
on light (as people draw) is inverted first, detected from the border, which is background.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageMode

from ..errors import DataError

#: The largest image accepted, in pixels (8000 x 8000; Pillow itself warns from about 89 million).
MAX_PIXELS = 64_000_000
MNIST_SHAPE = (1, 28, 28)
MNIST_BOX = 20  # the digit's longer side after scaling, in pixels


class ImageError(DataError):
    """An image file that cannot be used: missing, too large, truncated or not an image."""


def decode(
    source: str | os.PathLike | bytes,
    name: str | None = None,
    formats: tuple[str, ...] | None = None,
    paper: bool = False,
) -> np.ndarray:
    """The image at path ``source`` (or in the bytes ``source``, called ``name``) as uint8 (height, width, channels).

    Grey stays grey (one channel), anything else becomes RGB; alpha is dropped, or with ``paper`` the
    image is laid on white paper first (a drawing on a transparent canvas). ``formats`` limits what is
    tried, e.g. ("PNG", "JPEG").
    """
    name = str(name if name is not None else source)
    if not isinstance(source, bytes):
        path = Path(source)
        if path.is_dir():
            raise ImageError(f"{name} is a folder, not an image; give image files (e.g. {name}/*.png)")
        if not path.exists():
            raise ImageError(f"image {name} does not exist")
    try:
        with warnings.catch_warnings(action="ignore", category=Image.DecompressionBombWarning):  # refused below
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source, formats=formats)
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(_too_large(name, f"{width}x{height} = {width * height:,} pixels"))
            return _pixels(image, paper)
    except Image.DecompressionBombError as e:  # Pillow's own, stricter check while opening
        declared = re.search(r"\((\d+) pixels\)", str(e))
        raise ImageError(_too_large(name, f"{int(declared[1]):,} pixels" if declared else "too many pixels")) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # UnidentifiedImageError is an OSError
        if "truncated" in str(e) or "broken" in str(e):
            raise ImageError(f"{name} is truncated or damaged ({e}); give a complete copy of the image") from None
        kinds = " or ".join(formats) + " image" if formats else "image (PNG, JPEG, ...)"
        raise ImageError(f"{name} is not a readable {kinds} ({e})") from None


def _too_large(name: str, declared: str) -> str:
    return (
        f"{name} declares {declared}, more than the limit of {MAX_PIXELS:,} (8000x8000): a damaged file or a "
        "decompression bomb; if it is a real photo, shrink it first"
    )


def _pixels(image: Image.Image, paper: bool) -> np.ndarray:
    grey = ImageMode.getmode(image.mode).basemode == "L"
    if paper and (image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    mode = "L" if grey else "RGB"
    pixels = np.asarray(image if image.mode == mode else image.convert(mode))
    return pixels.reshape(*pixels.shape[:2], -1)


def prepare(pixels: np.ndarray, input_shape: tuple[int, ...], invert: bool | None = None) -> tuple[np.ndarray, list]:
    """An image (height, width, channels) as a model input (channels, height, width), and notes on what was done.

    ``invert``: None detects the polarity for an MNIST-shaped model (dark on light is inverted); True or
    False forces it for any model.
    """
    channels, height, width = input_shape
    notes = []
    image = Image.fromarray(pixels.squeeze(2) if pixels.shape[2] == 1 else pixels)
    image = image.convert("L" if channels == 1 else "RGB")
    mnist = tuple(input_shape) == MNIST_SHAPE
    if invert is None and mnist:
        grey = np.asarray(image, np.float64)
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        invert = bool(np.median(border) > 127)
        if invert:
            notes.append("dark on a light background: inverted (MNIST digits are light on dark)")
    elif invert:
        notes.append("inverted (--invert)")
    if invert:
        image = Image.fromarray(255 - np.asarray(image))
    if mnist and image.size == (28, 28) and not invert:
        notes.append("28x28 light on dark, as MNIST: used as it is")
    elif mnist:
        array, note = _as_mnist(np.asarray(image))
        notes.append(note)
        return array[None], notes
    if image.size != (width, height):
        notes.append(f"{image.size[0]}x{image.size[1]}, resized to {width}x{height}")
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, np.uint8).reshape(height, width, channels).transpose(2, 0, 1), notes


def _as_mnist(grey: np.ndarray) -> tuple[np.ndarray, str]:
    """A light-on-dark digit scaled into a 20x20 box and centred by its centre of mass in 28x28."""
    ink = grey > max(30, 0.2 * int(grey.max()))  # the digit's bounding box ignores faint noise
    if not ink.any():
        return np.zeros((28, 28), np.uint8), "no digit found (a blank image): an empty 28x28 input"
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = MNIST_BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    box = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS), np.float64)
    mass = box.sum()
    cy, cx = ((box * np.arange(box.shape[0])[:, None]).sum() / mass, (box * np.arange(box.shape[1])).sum() / mass)
    top, left = round(14 - cy), round(14 - cx)  # MNIST's centres of mass average (14, 14)
    top, left = min(max(top, 0), 28 - box.shape[0]), min(max(left, 0), 28 - box.shape[1])
    out = np.zeros((28, 28))
    out[top : top + box.shape[0], left : left + box.shape[1]] = box
    note = f"the digit ({w}x{h} pixels) scaled into a 20x20 box and centred by its centre of mass in 28x28, as MNIST"
    return np.clip(out, 0, 255).astype(np.uint8), note
