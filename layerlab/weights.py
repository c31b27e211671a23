"""Weights on disk, for both engines: a state dict of numpy arrays in ``.safetensors`` or ``.npz``.

Neither format can hold code, so loading a file never runs anything (no pickle). A file also carries
string metadata; put the spec text there so that the file says which model it belongs to::

    save_weights("model.safetensors", model.state_dict(), {"spec": str(spec)})
    state, metadata = load_weights("model.safetensors")
    model = build(parse(metadata["spec"]), state=state)

Writes are atomic (``layerlab.files.atomic_write``): a crash, even SIGKILL, leaves the old file or the
new one, never half of one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np
import safetensors
import safetensors.numpy

from .errors import LayerlabError
from .files import atomic_write

SUFFIXES = (".safetensors", ".npz")
_NPZ_METADATA = "__metadata__"  # the npz entry holding the metadata as a JSON string


class WeightsError(LayerlabError, ValueError):
    """A weights file that cannot be written or read, or weights that do not fit a model."""


def _suffix(path: Path) -> str:
    if path.suffix not in SUFFIXES:
        raise WeightsError(f"{path}: unknown weights format {path.suffix!r}; name the file *.safetensors or *.npz")
    return path.suffix


def _checked(state: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> dict[str, np.ndarray]:
    arrays = {}
    for name, value in state.items():
        array = np.asarray(value)
        if not isinstance(name, str) or name == _NPZ_METADATA:
            raise WeightsError(f"cannot save a weight named {name!r}: names must be strings other than {_NPZ_METADATA}")
        if array.dtype.kind not in "biuf":
            raise WeightsError(f"weight {name} has dtype {array.dtype}; only numbers and booleans can be saved")
        arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")  # keeps 0-d arrays 0-d
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise WeightsError(f"metadata must map strings to strings, got {key!r}: {value!r}; convert with str()")
    return arrays


def _write_safetensors(f: BinaryIO, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    f.write(safetensors.numpy.save(arrays, metadata=metadata or None))


def _write_npz(f: BinaryIO, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    np.savez(f, allow_pickle=False, **arrays, **{_NPZ_METADATA: np.array(json.dumps(metadata))})


_WRITERS = {".safetensors": _write_safetensors, ".npz": _write_npz}


def save_weights(
    path: str | os.PathLike, state: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> Path:
    """Write ``state`` (name -> array) and string ``metadata`` to ``path``, atomically.

    The format follows the suffix: ``.safetensors`` or ``.npz``. Returns the path as a ``Path``.
    """
    path = Path(path)
    write = _WRITERS[_suffix(path)]
    metadata = dict(metadata or {})
    arrays = _checked(state, metadata)
    if not path.parent.is_dir():
        raise WeightsError(f"cannot save {path}: the directory {path.parent} does not exist; create it first")
    atomic_write(path, lambda f: write(f, arrays, metadata))
    return path


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with safetensors.safe_open(str(path), framework="np") as f:  # safetensors only: never a pickle
        metadata = f.metadata() or {}
        state = {name: f.get_tensor(name) for name in f.keys()}
    return state, metadata


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with np.load(path, allow_pickle=False) as f:
        state = {name: f[name] for name in f.files if name != _NPZ_METADATA}
        metadata = json.loads(str(f[_NPZ_METADATA])) if _NPZ_METADATA in f.files else {}
    return state, metadata


_READERS = {".safetensors": read_safetensors, ".npz": _read_npz}


def load_weights(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a file written by ``save_weights`` (or any safetensors / npz of plain arrays).

    Returns ``(state, metadata)``: the arrays by name, and the string metadata ({} if there is none).
    """
    path = Path(path)
    read = _READERS[_suffix(path)]
    if not path.is_file():
        raise WeightsError(f"no weights file at {path}; check the path (or the run directory)")
    try:
        return read(path)
    except (safetensors.SafetensorError, zipfile.BadZipFile, json.JSONDecodeError, ValueError, OSError, EOFError) as e:
        raise WeightsError(
            f"{path} is not a readable {path.suffix} weights file ({type(e).__name__}: {e}); "
            "it may be truncated or corrupt: save the weights again"
        ) from None


def weights_to_bytes(state: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> bytes:
    """``state`` and string ``metadata`` as the bytes of a ``.safetensors`` file (a download from a web page)."""
    metadata = dict(metadata or {})
    return safetensors.numpy.save(_checked(state, metadata), metadata=metadata or None)


def weights_from_bytes(blob: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and metadata of a ``.safetensors`` file's bytes (an upload); a malformed one is a
    ``WeightsError``, never a crash (safetensors holds no code: nothing is run)."""
    try:
        size = int.from_bytes(blob[:8], "little")
        if len(blob) < 8 or size > len(blob) - 8:
            raise ValueError("truncated header")
        header = json.loads(blob[8 : 8 + size])
        metadata = header.get("__metadata__") or {} if isinstance(header, dict) else None
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise ValueError("its metadata is not a table of strings")
        return safetensors.numpy.load(blob), metadata
    except Exception as e:  # any malformed file: one message
        raise WeightsError(f"not a readable .safetensors file ({str(e)[:80]})") from None


# ---------------------------------------------------------------------------------------------------
# Digests: an experiment run's key holds the SHA-256 of its starting weights (``init_weights``)
# ---------------------------------------------------------------------------------------------------


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes in hex, read once per version of the file (its inode, size and times:
    a file replaced by an atomic write is a new inode, even within the clock's resolution)."""
    try:
        info = os.stat(path)
    except OSError as e:
        raise WeightsError(f"cannot read {path} ({e.strerror}); check the path") from None
    version = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return _sha256(os.path.abspath(path), version)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, version: tuple[int, ...]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
