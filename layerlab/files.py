"""Writing files so that a crash never leaves half of one: the only place layerlab writes a file.

``atomic_write(path, write)`` calls ``write(f)`` on a temporary file in the same directory, flushes it
to disk (fsync), gives it the usual permissions (0644: readable by everyone, like any file a program
writes) and renames it over ``path``. A crash or a kill at any moment leaves the old file or the new
one; a full or read-only disk ends with one ``WriteError`` naming the file, and the old file intact.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import LayerlabError

MODE = 0o644

#: What a failed write means for the user, by errno.
_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


class WriteError(LayerlabError, OSError):
    """A file could not be written (disk full, read-only, no permission); the previous version is intact."""

    def __init__(self, message: str, path: Path, reason: str):
        super().__init__(message)
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return self.args[0]


def write_error(error: OSError, path: Path, advice: str = "") -> WriteError:
    """The one-line error for an ``OSError`` met while writing ``path``."""
    reason = _REASONS.get(error.errno or 0, error.strerror or str(error))
    return WriteError(f"{reason} while writing {path}{'; ' + advice if advice else ''}", path, reason)


def _sync(f: IO, path: Path) -> None:
    """Flush ``f`` (the temporary file that becomes ``path``) to the disk. Tests inject failures here."""
    f.flush()
    os.fsync(f.fileno())


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any], replace: bool = True) -> Path:
    """Write ``path`` through ``write(binary file)``: all of it or none of it (see the module docstring).
    ``replace=False``: never replace a file that is there (``FileExistsError``), even one made meanwhile."""
    path = Path(path)
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise write_error(error, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            _sync(f, path)
        os.chmod(temp, MODE)  # mkstemp makes it private (0600)
        if replace:
            os.replace(temp, path)
        else:
            os.link(temp, path)  # fails if the file exists: never replaces
            Path(temp).unlink()
    except OSError as error:
        Path(temp).unlink(missing_ok=True)
        if error.errno in _REASONS:
            raise write_error(error, path) from None
        raise
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def write_figure(path: str | os.PathLike, figure: Any, **options: Any) -> Path:
    """Write a matplotlib figure as a PNG: drawn in memory first (``savefig`` into a buffer), then written
    by ``atomic_write``, so a full disk never leaves half a picture and ends with the one ``WriteError``."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", **options)
    return atomic_write(path, lambda f: f.write(buffer.getvalue()))


def make_folder(path: str | os.PathLike) -> Path:
    """``mkdir -p``; a full or read-only disk ends with the one ``WriteError`` naming the folder."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if error.errno in _REASONS:
            raise write_error(error, path) from None
        raise
    return path


def remove_file(path: str | os.PathLike) -> None:
    """Delete a file layerlab wrote (a stale plot); a read-only disk ends with the one ``WriteError``."""
    try:
        Path(path).unlink(missing_ok=True)
    except OSError as error:
        if error.errno in _REASONS:
            raise write_error(error, Path(path)) from None
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: str | os.PathLike, value: Any) -> Path:
    return write_text(path, json.dumps(value, indent=2, default=_jsonable) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Sequence[dict]) -> Path:
    return write_text(path, "".join(json.dumps(row, default=_jsonable) + "\n" for row in rows))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


class FolderError(LayerlabError, ValueError):
    """An output folder that a command may not write into (it holds something else)."""


def out_folder(path: str | os.PathLike, error: type[LayerlabError] | None = None) -> Path:
    """The one check of every command's ``--out`` folder, made before any work: a name is given (an empty
    one would write into the current folder) and it is not a file. ``error``: the class raised (FolderError)."""
    path, refuse = Path(path), (error or FolderError).advising
    if str(path) in ("", "."):
        raise refuse("{out} needs a folder name (an empty name would write into the current folder)")
    if path.exists() and not path.is_dir():
        raise refuse("{out} {path} is a file, not a folder; give a new folder", path=path)
    return path


def check_output_folder(
    path: str | os.PathLike, index: str, what: str, name_of: Callable[[dict], Any], name: str
) -> Path:
    """Refuse, before anything is written, an ``--out`` that is a file or holds anything but an earlier
    ``what`` named ``name`` (recognised by its ``index`` JSON file, whose name ``name_of`` reads): a
    folder of someone else's files, or another experiment's or search's results, is never mixed with ours."""
    path = out_folder(path)
    if not path.is_dir() or not any(path.iterdir()):
        return path
    try:
        found = name_of(json.loads((path / index).read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise FolderError(
            f"--out {path} holds other files and no {what}; give a new or empty folder (yours stay untouched)"
        ) from None
    if found != name:
        raise FolderError(
            f"--out {path} holds the {what} {found!r}, not {name!r}; give another --out (it stays as it is)"
        )
    return path
