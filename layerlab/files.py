"""Writing files so that a crash never leaves half of one: the only place layerlab writes a file.

``atomic_write(path, write)`` calls ``write(f)`` on a temporary file in the same directory, flushes it
to disk (fsync), gives it the usual permissions (0644: readable by everyone, like any file a program
writes) and renames it over ``path``. A crash or a kill at any moment leaves the old file or the new
one; a full or read-only disk ends with one ``WriteError`` naming the file, and the old file intact.
"""

from __future__ import annotations

import errno
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


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` through ``write(binary file)``: all of it or none of it (see the module docstring)."""
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
        os.replace(temp, path)
    except OSError as error:
        Path(temp).unlink(missing_ok=True)
        if error.errno in _REASONS:
            raise write_error(error, path) from None
        raise
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


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


def check_output_folder(
    path: str | os.PathLike, index: str, what: str, name_of: Callable[[dict], Any], name: str
) -> Path:
    """Refuse, before anything is written, an ``--out`` that is a file or holds anything but an earlier
    ``what`` named ``name`` (recognised by its ``index`` JSON file, whose name ``name_of`` reads): a
    folder of someone else's files, or another experiment's or search's results, is never mixed with ours."""
    path = Path(path)
    if str(path) in ("", "."):
        raise FolderError("--out needs a folder name (an empty name would write into the current folder)")
    if path.exists() and not path.is_dir():
        raise FolderError(f"--out {path} is a file, not a folder; give a new folder")
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
