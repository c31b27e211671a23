"""Image folders -- one subfolder per class of PNG or JPEG images -- on disk or inside a ``.zip``.

Two layouts are understood::

    root/train/<class>/<image>.png  and  root/test/<class>/<image>.png    a given train/test split
    root/<class>/<image>.png                                              one pool (the caller splits it)

The classes are the folder names in sorted order; a label is the position of its folder. Every image must
have the same size. Greyscale and colour may be mixed (grey images then become RGB); alpha is dropped.
Zip members are read straight from the archive, and a zip whose entries all sit in one top folder
(``cifar10/train/...``) reads as if that folder were the root.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Split
from .images import decode

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Pillow's decoders release the GIL, but a tiny image (CIFAR's 32x32) is mostly Python overhead that
# threads only fight over: measured on 2 cores, 60,000 such images decode 25% slower in a pool.
_THREADS_FROM_PIXELS = 64 * 64


def read_folder(path: str | Path) -> tuple[dict[str, Split], tuple[str, ...]]:
    """The splits of an image folder or zip -- ``{"train", "test"}`` or ``{"all"}`` -- and the class names."""
    root = Path(path)
    with _open_tree(root) as (files, dirs, read):
        prefix = _wrapper_folder(files, dirs)
        tops = _children(dirs, prefix)
        parts = ["train", "test"] if "train" in tops else [""]
        if parts != [""] and "test" not in tops:
            raise DataError(f"{root} has a train/ folder but no test/ folder next to it; add test/<class>/...")
        listing = {part: _class_images(root, files, dirs, prefix + (part + "/" if part else "")) for part in parts}
        classes = tuple(listing[parts[0]])
        for part, images in listing.items():
            extra = sorted(set(images) - set(classes))
            if extra:
                raise DataError(f"{root}: {part}/ has class folders {extra} that train/ lacks; give both the same")
        splits = {}
        for part, images in listing.items():
            names = [name for cls in images for name in images[cls]]
            labels = np.concatenate([np.full(len(images[cls]), classes.index(cls)) for cls in images])
            splits[part or "all"] = Split(_decode_all(root, names, read), labels.astype(np.int64))
    return splits, classes


@contextmanager
def _open_tree(root: Path) -> Iterator[tuple[list[str], set[str], Callable[[str], bytes]]]:
    """Relative file paths, folder paths (all as 'a/b/c') and a reader, for a folder or a zip."""
    if root.is_dir():
        files, dirs = [], set()
        for where, subdirs, names in os.walk(root):
            rel = Path(where).relative_to(root).as_posix()
            rel = "" if rel == "." else rel + "/"
            dirs.update(rel + d for d in subdirs)
            files.extend(rel + n for n in names)
        yield _visible(files), _visible(dirs), _checked(root, lambda name: (root / name).read_bytes())
    elif zipfile.is_zipfile(root):
        with zipfile.ZipFile(root) as archive:
            names = archive.namelist()
            files = [n for n in names if not n.endswith("/")]
            dirs = {n.rstrip("/") for n in names if n.endswith("/")}
            dirs.update(f.rsplit("/", i)[0] for f in files for i in range(1, f.count("/") + 1))
            yield _visible(files), _visible(dirs), _checked(root, archive.read)
    elif root.suffix.lower() == ".zip" and root.is_file():
        raise DataError(f"{root} is not a readable zip file (truncated or damaged?); get a complete copy")
    elif root.exists():
        raise DataError(f"{root} is neither a folder nor a zip file; give a folder of class folders or its .zip")
    else:
        raise DataError(f"{root} does not exist; give a folder of class folders (or a .zip of one)")


def _checked(root: Path, read: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """``read`` with its failures (unreadable file, damaged zip member) turned into a DataError."""

    def checked(name: str) -> bytes:
        try:
            return read(name)
        except (OSError, zipfile.BadZipFile, zlib.error) as e:
            raise DataError(f"cannot read {root}/{name} ({e}); get a complete copy of the images") from None

    return checked


def _visible(paths):
    """Drop hidden entries and macOS resource forks, which zip tools like to add."""
    keep = (p for p in paths if not any(part.startswith((".", "__MACOSX")) for part in p.split("/")))
    return type(paths)(keep)


def _children(dirs: set[str], prefix: str) -> list[str]:
    return sorted(d[len(prefix) :] for d in dirs if d.startswith(prefix) and "/" not in d[len(prefix) :])


def _wrapper_folder(files: list[str], dirs: set[str]) -> str:
    """'top/' when everything sits in one folder that is neither a class nor train/ (a zipped folder)."""
    tops = _children(dirs, "")
    if len(tops) == 1 and tops[0] not in ("train", "test") and all("/" in f for f in files):
        if _children(dirs, tops[0] + "/"):
            return tops[0] + "/"
    return ""


def _class_images(root: Path, files: list[str], dirs: set[str], prefix: str) -> dict[str, list[str]]:
    """Sorted image paths of each class folder under ``prefix``."""
    classes = _children(dirs, prefix)
    if not classes:
        raise DataError(
            f"{root}/{prefix} has no class folders; expected <class>/<image>.png (or train/ and test/ folders "
            "each holding class folders)"
        )
    images: dict[str, list[str]] = {cls: [] for cls in classes}
    for f in files:
        cls, _, name = f[len(prefix) :].partition("/")
        if f.startswith(prefix) and cls in images and "/" not in name and name.lower().endswith(IMAGE_SUFFIXES):
            images[cls].append(f)
    for cls, names in images.items():
        if not names:
            raise DataError(
                f"class folder {root}/{prefix}{cls} has no images ({', '.join(IMAGE_SUFFIXES)}); "
                "add some or remove the folder"
            )
        names.sort()
    return images


def _decode_all(root: Path, names: list[str], read: Callable[[str], bytes]) -> np.ndarray:
    """Decode the images into one uint8 array (N, channels, height, width), checking that sizes agree."""
    blobs = [read(name) for name in names]
    first = _decode(root, names[0], blobs[0])
    if first.shape[0] * first.shape[1] < _THREADS_FROM_PIXELS or len(names) < 64:
        images = [_decode(root, n, b) for n, b in zip(names, blobs, strict=True)]
    else:
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            images = list(pool.map(lambda nb: _decode(root, *nb), zip(names, blobs, strict=True)))
    for name, image in zip(names, images, strict=True):
        if image.shape[:2] != first.shape[:2]:
            (h, w), (h0, w0) = image.shape[:2], first.shape[:2]
            raise DataError(
                f"{root}/{name} is {h}x{w} pixels (height x width) but {root}/{names[0]} is {h0}x{w0}; "
                "all images must have the same size, so resize them first"
            )
    channels = max(image.shape[2] for image in images)
    out = np.empty((len(images), *first.shape[:2], channels), np.uint8)
    for i, image in enumerate(images):
        out[i] = image  # a grey (h, w, 1) image broadcasts to RGB
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _decode(root: Path, name: str, blob: bytes) -> np.ndarray:
    """One image as uint8 (height, width, 1 or 3)."""
    return decode(blob, f"{root}/{name}", formats=("PNG", "JPEG"))
