"""The training loop's state (``LoopState``) and the hooks it calls: everything around the loop is a hook.

A hook is an object with any of these methods (the loop calls those it has, in the order of the list)::

    on_fit_start(loop)                       before the first epoch (after a resume: the restored state)
    on_epoch_start(loop, epoch)              epoch is 1-based
    on_step(loop, step, steps, loss)         after a training step (on a GPU: every ``sync_every`` steps)
    on_epoch_trained(loop, epoch, stats)     after the training pass, before evaluation (``EpochStats``)
    on_epoch_end(loop, row)                  row: epoch, lr, train_loss, train_accuracy, val_loss,
                                             val_accuracy, test_loss, test_accuracy, seconds, grad_norms
    on_fit_end(loop, result)                 the ``RunResult`` (also on early stopping and divergence)
    on_interrupt(loop)                       Ctrl-C (SIGINT) or SIGTERM ended the run: the last chance to write

A hook ends the run with ``loop.stop(status, message)``: the current epoch finishes (its files are
written; a stop in ``on_epoch_trained`` skips the epoch's evaluation too, as the divergence guard
needs), no further epoch starts, and the status and message land in ``result.status`` and
``result.message``. For example, a hook that stops when the validation accuracy is good enough::

    class StopAt(layerlab.hooks.Hook):
        def on_epoch_end(self, loop, row):
            if row["val_accuracy"] >= 0.97:
                loop.stop("target_reached", "97% validation accuracy")

    layerlab.fit(model="dense(100) relu dense(10)", data="mnist", hooks=[StopAt()])

The built-in hooks below are what ``fit`` always runs (the run-directory ones only with ``out``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import TrainConfig
from .engine import EpochStats, Trainable
from .errors import TrainError
from .phrases import count
from .rundir import RunDir
from .schedules import Schedule
from .task import Task, task_named


class LoopState:
    """A training run in progress, as hooks see it: settings, trainable, history, and ``stop``."""

    def __init__(
        self,
        config: TrainConfig,
        dataset: Any,
        spec: Any,
        trainable: Trainable,
        run_dir: RunDir | None,
        log: Callable[[str], None],
    ):
        self.config, self.dataset, self.spec, self.trainable, self.run_dir, self.log = (
            config,
            dataset,
            spec,
            trainable,
            run_dir,
            log,
        )
        self.task: Task = task_named(getattr(dataset, "task", None))  #: classification or regression
        self.score = self.task.score  #: what ranks the epochs: the validation accuracy or loss
        self.schedule = Schedule(config, config.resolved_lr(), self.score.better)
        self.rng = np.random.default_rng([config.seed, 3])  # the order of the training examples
        self.history: list[dict[str, Any]] = []  #: one row per finished epoch
        self.best_state: dict[str, np.ndarray] | None = None  #: the weights of the best epoch so far
        self.elapsed = 0.0  #: seconds of training and evaluation so far (over resumes too)
        self.lr = config.resolved_lr()  #: the current epoch's learning rate
        self.steps = math.ceil(len(dataset.train) / config.batch_size)  #: steps per epoch
        self.status, self.message, self.stopped = "completed", "", False

    def stop(self, status: str, message: str = "") -> None:
        """End the run after the current epoch; the first reason given is the one reported."""
        if not self.stopped:
            self.status, self.message, self.stopped = status, message, True

    def best_index(self) -> int:
        """The epoch (0-based) of the best validation score (``self.score``: the highest validation
        accuracy, or for a regression task the lowest validation loss), the first one on a tie; without a
        validation set the last epoch counts."""
        return self.score.best_index([row[self.score.key] for row in self.history])

    def is_best(self) -> bool:
        """Whether the last epoch is the best so far."""
        return self.best_index() == len(self.history) - 1

    def epochs_since_best(self) -> int:
        return len(self.history) - 1 - self.best_index() if self.history else 0

    def checkpoint(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Everything a resumed run needs: arrays under prefixes, and JSON information."""
        arrays, meta = self.trainable.training_state()
        state = {f"model/{k}": v for k, v in self.trainable.weights().items()}
        state |= {f"best/{k}": v for k, v in (self.best_state or {}).items()}
        state |= {f"train/{k}": v for k, v in arrays.items()}
        info = {
            "config": self.config.to_dict(),
            "epoch": len(self.history),
            "elapsed": self.elapsed,
            "history": self.history,
            "schedule": self.schedule.state(),
            "order_rng": self.rng.bit_generator.state,
            "learner": meta,
        }
        return state, info

    def restore(self, state: dict[str, np.ndarray], info: dict[str, Any]) -> None:
        """Continue from a ``checkpoint()``; refuses one made with other settings (but epochs and patience)."""
        changed = TrainConfig.from_dict(info["config"]).changed_from(
            self.config, ignore=("epochs", "patience", "threads")
        )
        if changed:
            raise TrainError(
                f"cannot resume {self.run_dir}: the run was started with different settings ({', '.join(changed)}); "
                "use another --out directory or the original settings"
            )

        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

        self.trainable.load_weights(part("model/"))
        self.trainable.load_training_state(part("train/"), info["learner"])
        self.schedule.load(info["schedule"])
        self.rng.bit_generator.state = info["order_rng"]
        self.history, self.elapsed, self.best_state = info["history"], info["elapsed"], part("best/")


class Hook:
    """Base class of hooks: every method does nothing; override those you need (see the module docstring)."""

    def on_fit_start(self, loop: LoopState) -> None: ...
    def on_epoch_start(self, loop: LoopState, epoch: int) -> None: ...
    def on_step(self, loop: LoopState, step: int, steps: int, loss: float | None) -> None: ...
    def on_epoch_trained(self, loop: LoopState, epoch: int, stats: EpochStats) -> None: ...
    def on_epoch_end(self, loop: LoopState, row: dict[str, Any]) -> None: ...
    def on_fit_end(self, loop: LoopState, result: Any) -> None: ...
    def on_interrupt(self, loop: LoopState) -> None: ...


class Hooks:
    """Calls an event on every hook in order (hooks need not derive from ``Hook``)."""

    def __init__(self, hooks: Sequence[Any]):
        self.hooks = list(hooks)

    def __getattr__(self, event: str) -> Callable[..., None]:
        """The caller of ``event``, made once: the methods that do something (``Hook``'s no-ops are left
        out, so ``on_step``, called at every training step, costs nothing for hooks without one)."""
        methods = [getattr(hook, event) for hook in self.hooks if _overrides(hook, event)]

        def call(*args: Any) -> None:
            for method in methods:
                method(*args)

        setattr(self, event, call)  # found as an attribute from now on: __getattr__ is not called again
        return call


def _overrides(hook: Any, event: str) -> bool:
    method = getattr(type(hook), event, None) or getattr(hook, event, None)
    return method is not None and method is not getattr(Hook, event, None)


# ---------------------------------------------------------------------------------------------------
# The built-in hooks
# ---------------------------------------------------------------------------------------------------


class KeepBest(Hook):
    """Keeps the weights of the best epoch (`LoopState.best_index`: the best validation accuracy, or the lowest
    validation loss for a regression task; Nielsen's protocol reports the
    test accuracy of that epoch) and leaves the trainable with them at the end, so that the model a run
    returns is the one its result describes; ``weights="last"`` leaves the last epoch's weights instead.
    ``layerlab.load`` follows the same rule (``best.safetensors`` unless asked for ``last``)."""

    def __init__(self, weights: str = "best"):
        if weights not in ("best", "last"):
            raise TrainError(f"weights must be best or last, got {weights!r}")
        self.weights = weights

    def on_epoch_end(self, loop: LoopState, row: dict[str, Any]) -> None:
        if loop.best_state is None or loop.is_best():
            loop.best_state = loop.trainable.weights()

    def on_fit_end(self, loop: LoopState, result: Any) -> None:
        if self.weights == "best" and loop.best_state:
            loop.trainable.load_weights(loop.best_state)


class EarlyStopping(Hook):
    """Stops after ``patience`` epochs without a better validation score (Nielsen's "no-improvement-in-n"):
    the validation accuracy, or a regression run's validation loss (``LoopState.score``)."""

    def __init__(self, patience: int):
        self.patience = patience

    def on_fit_start(self, loop: LoopState) -> None:
        self._check(loop)  # a resumed run may have stopped already

    def on_epoch_end(self, loop: LoopState, row: dict[str, Any]) -> None:
        self._check(loop)

    def _check(self, loop: LoopState) -> None:
        if loop.epochs_since_best() >= self.patience and len(loop.history) < loop.config.epochs:
            waited = count(self.patience, "epoch")  # "1 epoch", "5 epochs"
            message = f"no better {loop.score.name} in {waited}; restored epoch {loop.best_index() + 1}"
            loop.stop("early_stopping", message)


class DivergenceGuard(Hook):
    """Stops the run when a step's loss is NaN or infinite, naming the epoch, the step and a smaller rate;
    warns in the result when the loss ended far above where it started without becoming infinite (a
    learning rate so large that the run bounces around at a huge loss)."""

    factor = 10  #: a final training loss this many times the first step's counts as exploded

    def __init__(self) -> None:
        self.first_loss: float | None = None

    def on_fit_end(self, loop: LoopState, result: Any) -> None:
        if result.status != "completed" or not loop.history or self.first_loss is None:
            return
        final = loop.history[-1]["train_loss"]
        if final > self.factor * max(self.first_loss, 1e-3):
            result.message = (
                f"warning: the training loss rose from {self.first_loss:.3g} at the first step to {final:.3g}; "
                f"the learning rate {loop.lr:g} is probably too large: try {loop.lr / 10:g}"
            )

    def on_epoch_trained(self, loop: LoopState, epoch: int, stats: EpochStats) -> None:
        if self.first_loss is None and len(stats.losses):
            self.first_loss = float(stats.losses[0])
        bad = np.flatnonzero(~np.isfinite(stats.losses))
        if bad.size:
            directory = loop.run_dir
            saved = f"; the last good epoch ({epoch - 1}) is saved in {directory}" if directory and epoch > 1 else ""
            loop.stop(
                "diverged",
                f"the loss became {stats.losses[bad[0]]} at epoch {epoch}, step {bad[0] + 1} of {loop.steps} "
                f"(learning rate {loop.lr:g}); try a smaller --lr, e.g. {loop.lr / 10:g}{saved}",
            )


class EpochLog(Hook):
    """One line per epoch: losses, accuracies (a regression run: losses only), learning rate, time."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log

    def on_epoch_end(self, loop: LoopState, row: dict[str, Any]) -> None:
        self.log(f"epoch {row['epoch']}: {loop.task.epoch_figures(row)} | lr {row['lr']:g} | {row['seconds']:.1f} s")


class Checkpoint(Hook):
    """The run directory's files: resumes from its checkpoint, writes the config before the first epoch,
    then after an epoch the checkpoint, the weights (last, and best when a better epoch came) and the
    metrics, in that order (the metrics are never ahead of the checkpoint), and the result at the end.

    Every file is fsynced, which costs ~10-40 ms a file on a cloud disk: for runs of many short epochs
    (a Playground set, 1,000 epochs of a fraction of a second) that was most of the run. So after the
    first epoch the files are written at most every ``every`` seconds, and always after the last epoch
    (or the one a hook stopped the run at). An epoch not written yet is kept in memory (a copy of its
    state), and Ctrl-C or SIGTERM (``on_interrupt``) writes it: such a run resumes after the last epoch
    it finished. Only SIGKILL (or a power cut) loses up to those seconds of training.
    """

    every = 5.0  #: seconds between writes after the first epoch

    def __init__(self, run_dir: RunDir, resume: bool):
        self.run_dir, self.resume = run_dir, resume
        self.written: int | None = None  #: the number of epochs the files hold (None: none written yet)
        self.last_write = -math.inf
        self.unsaved: _Epoch | None = None  #: the last finished epoch, when the files are behind it

    def on_fit_start(self, loop: LoopState) -> None:
        saved = self.run_dir.read_checkpoint() if self.resume else None
        if saved is not None:
            loop.restore(*saved)
            loop.log(f"resuming {self.run_dir} after epoch {len(loop.history)}")
        self.run_dir.begin()  # every check has passed: from here on the run writes
        self.run_dir.write_config(loop.config.to_dict(), dataset_info(loop.dataset))
        if saved is not None and loop.history:  # the files an interrupted write left behind the checkpoint
            self._write_epoch(loop, best=True)

    def on_epoch_end(self, loop: LoopState, row: dict[str, Any]) -> None:
        due = time.monotonic() - self.last_write >= self.every
        if self.written is None or due or loop.stopped or len(loop.history) == loop.config.epochs:
            self._save(loop)
        else:  # the next epoch changes the trainable's arrays in place: keep a copy for on_interrupt
            self.unsaved = self._epoch(loop, copy=True)

    def on_interrupt(self, loop: LoopState) -> None:
        if self.unsaved is not None and self.unsaved.epochs != self.written:
            self._write(self.unsaved)

    def _save(self, loop: LoopState) -> None:
        self._write(self._epoch(loop, copy=False))

    def _epoch(self, loop: LoopState, copy: bool) -> _Epoch:
        """What the files of the epoch just finished hold (``copy``: arrays the next epoch cannot change)."""
        better = self.written is None or loop.best_index() >= self.written  # a best epoch since the last write
        own = (lambda arrays: {k: np.array(v, copy=True) for k, v in arrays.items()}) if copy else dict
        state, info = loop.checkpoint()
        best = own(loop.best_state) if better and loop.best_state is not None else None
        history = {"history": list(info["history"])}
        return _Epoch(str(loop.spec), own(state), info | history, own(loop.trainable.weights()), best)

    def _write(self, epoch: _Epoch) -> None:
        spec = {"spec": epoch.spec}
        self.run_dir.save_checkpoint(epoch.state, epoch.info)
        self.run_dir.save_weights("last", epoch.last, spec)
        if epoch.best is not None:
            self.run_dir.save_weights("best", epoch.best, spec)
        self.run_dir.write_metrics(epoch.info["history"])
        self.written, self.last_write, self.unsaved = epoch.epochs, time.monotonic(), None

    def _write_epoch(self, loop: LoopState, best: bool) -> None:
        spec = {"spec": str(loop.spec)}
        self.run_dir.save_weights("last", loop.trainable.weights(), spec)
        if best:
            self.run_dir.save_weights("best", loop.best_state, spec)
        self.run_dir.write_metrics(loop.history)
        self.written, self.last_write = len(loop.history), time.monotonic()

    def on_fit_end(self, loop: LoopState, result: Any) -> None:
        if loop.history and self.written != len(loop.history):
            self._save(loop)
        self.run_dir.write_result(result.to_dict())


@dataclass
class _Epoch:
    """The files of one finished epoch, before they are written: checkpoint, last and best weights, metrics."""

    spec: str
    state: dict[str, np.ndarray]
    info: dict[str, Any]
    last: dict[str, np.ndarray]
    best: dict[str, np.ndarray] | None

    @property
    def epochs(self) -> int:
        return len(self.info["history"])


def dataset_info(dataset: Any) -> dict[str, Any]:
    """What a saved run needs to know about its data to make predictions later."""
    return {
        "name": dataset.name,
        "description": dataset.describe(),
        "input_shape": list(dataset.input_shape),
        "classes": list(dataset.classes),
        "task": dataset.task,
    }


def terminal_bar(**options: Any) -> Any:
    """A tqdm bar in a terminal or a notebook; in a pipe or a log file a disabled one (no '\\r' lines: the
    per-epoch lines say it all), as ``progress.Display`` does."""
    import sys

    from tqdm.auto import tqdm

    shown = "notebook" in tqdm.__module__ or sys.stderr.isatty()
    return tqdm(**options, disable=not shown)


class ProgressBar(Hook):
    """A tqdm bar per epoch (notebook-aware, a terminal only) with the step, the loss and the time left."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_epoch_start(self, loop: LoopState, epoch: int) -> None:
        self.bar = terminal_bar(
            total=loop.steps, desc=f"epoch {epoch}/{loop.config.epochs}", unit="step", leave=False, dynamic_ncols=True
        )

    def on_step(self, loop: LoopState, step: int, steps: int, loss: float | None) -> None:
        self.bar.update(step - self.bar.n)
        if loss is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_epoch_trained(self, loop: LoopState, epoch: int, stats: EpochStats) -> None:
        self.bar.close()
