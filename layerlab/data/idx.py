"""IDX files, the format of MNIST and Fashion-MNIST (see "FILE FORMATS" on yann.lecun.com/exdb/mnist).

An IDX file is a 4-byte magic number -- two zero bytes, a type code (0x08: unsigned bytes) and the number
of dimensions -- then each dimension as a big-endian uint32, then the values in C order. Image files have
3 dimensions (count, rows, columns: magic 0x00000803 = 2051), label files one (count: 0x00000801 = 2049).
A file may be gzip-compressed; that is recognised by its first two bytes, not by its name.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Split

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08


def read_images(path: str | Path, content_md5: str | None = None) -> np.ndarray:
    """Images of an IDX file as uint8 (N, 1, rows, columns). See :func:`read_idx` for ``content_md5``."""
    images = read_idx(path, ndim=3, content_md5=content_md5)
    return images[:, None]


def read_labels(path: str | Path, content_md5: str | None = None) -> np.ndarray:
    """Labels of an IDX file as int64 (N,)."""
    return read_idx(path, ndim=1, content_md5=content_md5).astype(np.int64)


def read_split(images: str | Path, labels: str | Path, md5s: tuple[str, str] | None = None) -> Split:
    """An images file and its labels file as one :class:`Split`; their counts must agree."""
    x = read_images(images, md5s[0] if md5s else None)
    y = read_labels(labels, md5s[1] if md5s else None)
    if len(x) != len(y):
        raise DataError(
            f"{images} holds {len(x):,} images but {labels} holds {len(y):,} labels; "
            "use the labels file that belongs to these images"
        )
    return Split(x, y)


def read_idx(path: str | Path, ndim: int, content_md5: str | None = None) -> np.ndarray:
    """The array in an IDX file of unsigned bytes with ``ndim`` dimensions, after checking its header.

    ``content_md5`` is the published md5 of the *uncompressed* file. Checking the content rather than the
    ``.gz`` bytes accepts every faithful copy, whatever gzip wrapper (name, time stamp, level) it has.
    """
    data = _read_bytes(Path(path))
    if len(data) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(data)} bytes); get a complete copy")
    magic = (_UBYTE << 8) | ndim
    header = 4 + 4 * ndim
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kind = "images" if ndim == 3 else "labels" if ndim == 1 else f"{ndim}-dimensional"
        raise DataError(
            f"{path}: bad magic number {found:#010x}, expected {magic:#010x} (IDX {kind} file of unsigned "
            "bytes); check that this is the right file"
        )
    if len(data) < header:
        raise DataError(f"{path} is truncated: it ends inside its {header}-byte header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected, actual = int(np.prod(shape)), len(data) - header
    if actual != expected:
        problem = "is truncated" if actual < expected else "has extra bytes at the end"
        raise DataError(
            f"{path} {problem}: its header declares shape {'x'.join(map(str, shape))} ({expected:,} bytes) "
            f"but {actual:,} bytes follow the header; get a complete copy of the file"
        )
    if content_md5 is not None:
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if digest != content_md5:
            raise DataError(
                f"{path} is not the original file: its uncompressed content has md5 {digest}, the published "
                f"value is {content_md5}; replace it with the original (or delete it to download it again)"
            )
    return np.frombuffer(data, np.uint8, count=expected, offset=header).reshape(shape).copy()


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise DataError(f"{path} is truncated: the gzip stream ends early; get a complete copy") from None
    except (OSError, zlib.error) as e:
        raise DataError(f"{path} is a damaged gzip file ({e}); get a fresh copy") from None
