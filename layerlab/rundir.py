"""``RunDir``: a run directory, the unit of results. The only code that knows its file names and formats.

::

    config.json          the resolved settings and what the run's data looks like (to predict later)
    metrics.jsonl        one JSON line per epoch, never ahead of the checkpoint
    checkpoint.npz       everything needed to resume after a kill (written after each epoch)
    best.safetensors     the weights of the epoch with the best validation accuracy
    last.safetensors     the weights after the last epoch
    result.json          the summary, written when the run ends: a run is finished when it has one
    predictions.npz      test labels, predictions, probabilities (written by an experiment)
    boundary.npz         a 2D dataset's model output over the plane (written by an experiment)
    ensemble.json        an ensemble's summary; its members are run directories member-1, member-2, ...
    .lock                the pid of the process writing the directory

Every file is written atomically (``layerlab.files.atomic_write``). A process that writes a run holds an
OS lock on the directory (``flock``, released when the process ends, even by SIGKILL); a second
writer gets a ``LockedError`` naming the holder's pid.
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LayerlabError
from .files import WriteError, atomic_write, out_folder, write_error, write_json, write_jsonl, write_text
from .weights import WeightsError, load_weights, save_weights


class RunDirError(LayerlabError, ValueError):
    """A directory that cannot hold a run (a file, a user's own folder, a finished run) or a damaged run file."""


class LockedError(RunDirError):
    """Another process is writing the run directory."""


def _advised(write: Callable[..., None]) -> Callable[..., None]:
    """A write of a run file whose failure tells the user how to go on (the run's files stay consistent)."""

    @functools.wraps(write)
    def advised(self: RunDir, *args: Any, **kwargs: Any) -> None:
        try:
            write(self, *args, **kwargs)
        except WriteError as error:
            full = error.reason in ("no space left on device", "disk quota exceeded")
            fix = "free space" if full else f"make {self.path} writable"
            raise WriteError.advising(
                "{error}; {fix} and {resume}", error.path, error.reason, error=error, fix=fix
            ) from None

    return advised


class RunDir:
    """A run directory at ``path`` (which may not exist yet), opened to write a run in ``mode``: "new" (the
    directory must hold no run), "resume" (continue the run there) or "overwrite" (replace it); see ``claim``."""

    CONFIG, METRICS, RESULT, CHECKPOINT = "config.json", "metrics.jsonl", "result.json", "checkpoint.npz"
    WEIGHTS = {"best": "best.safetensors", "last": "last.safetensors"}
    PREDICTIONS, BOUNDARY, ENSEMBLE, LOCK = "predictions.npz", "boundary.npz", "ensemble.json", ".lock"
    MODES = ("new", "resume", "overwrite")

    def __init__(self, path: str | os.PathLike, mode: str = "new"):
        if mode not in self.MODES:
            raise RunDirError(f"a run directory is opened as {', '.join(self.MODES)}, not {mode!r}")
        self.path, self.mode = Path(path), mode
        self._locks: list[int] = []  # directory descriptors holding our flock
        self._replacing: Path | None = None  # --overwrite: the old run, kept until our first checkpoint

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})" if self.mode == "new" else f"RunDir({str(self.path)!r}, {self.mode!r})"

    @classmethod
    def opened(
        cls, out: str | os.PathLike | RunDir | None, resume: bool = False, overwrite: bool = False
    ) -> RunDir | None:
        """``out`` (a path, or a ``RunDir`` already opened) as a ``RunDir`` in the mode ``resume`` or ``overwrite``
        name; a ``RunDir`` given without either keeps its own mode. None stays None (a run that writes nothing)."""
        if out is None:
            return None
        path = out.path if isinstance(out, RunDir) else Path(out)
        if resume and overwrite:
            raise RunDirError.advising(
                "{resume} continues the run in {path}, {overwrite} replaces it: give one of them", path=path
            )
        mode = "resume" if resume else "overwrite" if overwrite else None
        if isinstance(out, RunDir) and mode in (None, out.mode):
            return out
        return cls(path, mode or "new")

    @property
    def resuming(self) -> bool:
        """Whether the run continues the one in the directory (its checkpoint and settings)."""
        return self.mode == "resume"

    def file(self, name: str) -> Path:
        return self.path / name

    # -- what is there -------------------------------------------------------------------------------

    def is_run(self) -> bool:
        """Whether the directory holds a run or an ensemble (finished or not)."""
        names = (self.CONFIG, self.CHECKPOINT, self.RESULT, self.ENSEMBLE, self.LOCK)
        return any(self.file(name).is_file() for name in names) or bool(self.members())

    def is_finished(self) -> bool:
        """Whether the run (or ensemble) ended: it has its result, which is written last."""
        return self.file(self.RESULT).is_file() or self.file(self.ENSEMBLE).is_file()

    def has(self, name: str) -> bool:
        return self.file(name).is_file()

    def members(self) -> list[RunDir]:
        """An ensemble's members, in order."""
        found = [p for p in self.path.glob("member-*") if p.is_dir() and p.name[7:].isdigit()]
        return [RunDir(p) for p in sorted(found, key=lambda p: int(p.name[7:]))]

    def member(self, index: int) -> RunDir:
        """Member ``index`` (from 0) of an ensemble, opened in the ensemble's mode."""
        return RunDir(self.path / f"member-{index + 1}", self.mode)

    # -- reading -------------------------------------------------------------------------------------

    def _json(self, name: str, required: bool = False) -> Any:
        path = self.file(name)
        if not path.is_file():
            if required:
                raise RunDirError(f"{self.path} is not a run directory (no {name}); train one with `layerlab train`")
            return None
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunDirError.advising(
                "{path} is damaged (not valid JSON: {e}); restore it from a copy, or train the run again "
                "with another {out} (or {overwrite})",
                path=path,
                e=e,
            ) from None

    def read_config(self) -> dict[str, Any]:
        """``{"config": settings, "dataset": {name, classes, input_shape, task, ...}}``."""
        return self._json(self.CONFIG, required=True)

    def read_result(self) -> dict[str, Any] | None:
        return self._json(self.RESULT)

    def read_ensemble(self) -> dict[str, Any] | None:
        return self._json(self.ENSEMBLE)

    def read_metrics(self) -> list[dict[str, Any]]:
        """The epochs so far; [] before the first one."""
        path = self.file(self.METRICS)
        if not path.is_file():
            return []
        try:
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise RunDirError.advising(
                "{path} is damaged (not valid JSON lines: {e}); {resume} rewrites it from the checkpoint",
                path=path,
                e=e,
            ) from None

    def weights_file(self, which: str = "best") -> Path:
        if which not in self.WEIGHTS:
            raise RunDirError(f"weights must be {' or '.join(self.WEIGHTS)}, got {which!r}")
        return self.file(self.WEIGHTS[which])

    def load_weights(self, which: str = "best") -> tuple[dict[str, np.ndarray], dict[str, str]]:
        path = self.weights_file(which)
        if not path.is_file():
            raise RunDirError(f"{path} is missing: the run has not finished an epoch yet")
        return load_weights(path)

    def read_checkpoint(self) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """The checkpoint's arrays and its JSON information, or None when there is none."""
        path = self.file(self.CHECKPOINT)
        if not path.is_file():
            return None
        try:
            state, metadata = load_weights(path)
            return state, json.loads(metadata["checkpoint"])
        except (KeyError, ValueError, WeightsError) as error:
            raise RunDirError(
                f"{path} is not a layerlab checkpoint ({error}); delete it to start the run afresh"
            ) from None

    def read_arrays(self, name: str) -> dict[str, np.ndarray] | None:
        """``predictions.npz`` or ``boundary.npz`` as a dict of arrays, or None when absent."""
        path = self.file(name)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                return {key: f[key] for key in f.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise RunDirError(f"{path} is damaged ({e}); run the experiment again to rewrite it") from None

    # -- writing (hold the lock: see ``claim``) ------------------------------------------------------

    @_advised
    def write_config(self, config: dict[str, Any], dataset: dict[str, Any]) -> None:
        write_json(self.file(self.CONFIG), {"config": config, "dataset": dataset})

    @_advised
    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        write_jsonl(self.file(self.METRICS), rows)

    @_advised
    def write_result(self, result: dict[str, Any]) -> None:
        write_json(self.file(self.RESULT), result)

    @_advised
    def write_ensemble(self, summary: dict[str, Any]) -> None:
        write_json(self.file(self.ENSEMBLE), summary)

    @_advised
    def save_weights(self, which: str, state: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
        save_weights(self.weights_file(which), state, metadata)

    @_advised
    def save_checkpoint(self, state: dict[str, np.ndarray], info: dict[str, Any]) -> None:
        save_weights(self.file(self.CHECKPOINT), state, {"checkpoint": json.dumps(info)})
        if self._replacing is not None:  # --overwrite: the new run has its first checkpoint; now replace the old
            self._swap_in()

    @_advised
    def write_arrays(self, name: str, **arrays: np.ndarray) -> None:
        atomic_write(self.file(name), lambda f: np.savez(f, allow_pickle=False, **arrays))

    # -- claiming the directory for a run -------------------------------------------------------------

    def claim(self, mode: str | None = None) -> RunDir:
        """Check that a run may be written here, create the directory and lock it; writes no file.

        The directory must be new or empty, or hold a run: an unfinished one continues in the mode "resume",
        a finished one too (with more epochs); "overwrite" replaces it, but only once the new run has
        its first checkpoint (until then the new run lives in a hidden sibling directory). ``mode``: the
        directory's own unless given (an ensemble's folder is kept while its members replace themselves).
        """
        path, refuse = self.path, RunDirError.advising
        mode = mode or self.mode
        resume, overwrite = mode == "resume", mode == "overwrite"
        out_folder(path, RunDirError)
        existing = path.is_dir() and any(path.iterdir())
        if existing and not self.is_run():
            raise refuse(
                "{out} {path} holds other files and no run; give a new or empty directory (yours stay untouched)",
                path=path,
            )
        self._make(path)
        self._lock(path)  # first: a run that another process is writing says so, whatever else is true
        if existing and not (resume or overwrite):
            self.release()
            state = "a finished run" if self.is_finished() else "an unfinished run"
            raise refuse(
                "{path} holds {state}: {resume} to continue it, {overwrite} to replace it, or another {out}",
                path=path,
                state=state,
            )
        if existing and overwrite:
            self._replacing = path
            self.path = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
            self._lock(self.path)
        return self

    @_advised
    def begin(self) -> None:
        """Mark the directory as ours (the pid in ``.lock``): called once every check has passed."""
        write_text(self.file(self.LOCK), f"{os.getpid()}\n")

    def release(self) -> None:
        """Give the lock back; a replacement that never reached its first checkpoint is dropped."""
        if self._replacing is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path, self._replacing = self._replacing, None
        for fd in self._locks:
            os.close(fd)  # closing the descriptor releases the flock
        self._locks.clear()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _make(self, path: Path) -> None:
        parent = path.parent if str(path.parent) else Path(".")
        if not path.exists() and parent.is_dir() and not os.access(parent, os.W_OK):
            raise RunDirError.advising(
                "cannot create {path}: {parent} is not writable; choose another {out}", path=path, parent=parent
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            write = write_error(error, path)
            raise WriteError.advising("{error}; choose another {out}", path, write.reason, error=write) from None

    def _lock(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self.release()
            raise LockedError.advising(
                "{path} is being written by {holder}; wait for it to end, or use another {out}",
                path=path,
                holder=self.writer() or "another process",
            ) from None
        self._locks.append(fd)

    def writer(self) -> str | None:
        """ "process 1234" (or "another process") while a process writes the run, else None."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # refused while a writer holds its exclusive lock
        except BlockingIOError:
            pid_file = self.file(self.LOCK)
            pid = pid_file.read_text().strip() if pid_file.is_file() else ""
            return f"process {pid}" if pid.isdigit() else "another process"
        finally:
            os.close(fd)
        return None

    def _swap_in(self) -> None:
        """Put the new run in the old one's place, then delete the old one. On Linux the two directories
        trade places in one step (renameat2 RENAME_EXCHANGE); elsewhere by two renames."""
        target, new = self._replacing, self.path
        if _exchange(new, target):
            old = new  # the old run now lives where the new one was
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "run")
            os.replace(new, target)
        self.path, self._replacing = target, None
        shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux 3.15+, glibc 2.28+); False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
