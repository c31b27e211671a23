"""CIFAR-10 from the official binary archive, ``cifar-10-binary.tar.gz`` (www.cs.toronto.edu/~kriz/cifar.html).

``data_batch_1.bin`` ... ``data_batch_5.bin`` (training) and ``test_batch.bin`` each hold records of
3073 bytes: the label (0..9), then the 1024 red, 1024 green and 1024 blue values of a 32x32 image, row by
row -- already the (channels, height, width) layout. ``batches.meta.txt`` names the classes, one a line.
The archive is read as a stream (nothing is extracted to disk). The "python version" of CIFAR-10 is never
used: it is made of pickles, and unpickling a downloaded file can run arbitrary code.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Split

SIDE = 32
RECORD = 1 + 3 * SIDE * SIDE  # label byte + pixels
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
META_FILE = "batches.meta.txt"


def read_cifar10(path: str | Path) -> tuple[Split, Split, tuple[str, ...]]:
    """Training split (all five batches, in order), test split and class names from the binary archive."""
    members = _read_members(Path(path), {*TRAIN_FILES, TEST_FILE, META_FILE})
    classes = tuple(line.strip() for line in members[META_FILE].decode().splitlines() if line.strip())
    parts = [_records(path, name, members[name], len(classes)) for name in TRAIN_FILES]
    train = Split(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]))
    return train, _records(path, TEST_FILE, members[TEST_FILE], len(classes)), classes


def _read_members(path: Path, wanted: set[str]) -> dict[str, bytes]:
    """The bytes of the wanted files (matched by base name) in one pass over a .tar.gz."""
    found = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = member.name.rsplit("/", 1)[-1]
                if name in wanted and member.isfile():
                    found[name] = tar.extractfile(member).read()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path} is truncated or not a gzip-compressed tar archive ({e}); download it again") from None
    missing = sorted(wanted - found.keys())
    if missing:
        raise DataError(
            f"{path} lacks {', '.join(missing)}: use the binary version, cifar-10-binary.tar.gz "
            "(a truncated download also ends early)"
        )
    return found


def _records(path: str | Path, name: str, data: bytes, num_classes: int) -> Split:
    if len(data) % RECORD:
        raise DataError(
            f"{name} in {path} has {len(data):,} bytes, not a whole number of {RECORD}-byte records "
            "(1 label byte + 32x32x3 pixels): the archive is damaged, download it again"
        )
    records = np.frombuffer(data, np.uint8).reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.size and labels.max() >= num_classes:
        raise DataError(f"{name} in {path} has label {labels.max()} but {META_FILE} names only {num_classes} classes")
    return Split(records[:, 1:].reshape(-1, 3, SIDE, SIDE).copy(), labels)
