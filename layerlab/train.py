"""The training loop: epochs of mini-batches, evaluation after each; everything else is a hook.

An epoch is one pass over the training set in mini-batches (iterations per epoch = examples / batch
size). Following Nielsen's protocol ("Neural Networks and Deep Learning", chapter 1 and 3), after every
epoch the loop measures the validation accuracy, and the run reports the test accuracy *at the epoch of
best validation accuracy* (the final one too). The engine is behind ``layerlab.engine.Trainable``, the
run directory behind ``layerlab.rundir.RunDir``; early stopping, keeping the best weights, the
divergence guard, checkpoints, the epoch log and the progress bar are hooks (``layerlab.hooks``).

``fit(config, out=..., resume=True)`` continues from the run's checkpoint; on CPU with a seed the
resumed run ends with exactly the numbers of an uninterrupted one. ``config.init_weights`` starts the
run from a file's weights instead of the seed's draw (as Keras' ``load_weights`` then ``fit``); the
file is read only at the start: a resumed run continues from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import TrainConfig
from .data.dataset import Dataset
from .engine import EpochStats, Trainable, make_trainable
from .errors import DivergedError, Terminated
from .hooks import Checkpoint, DivergenceGuard, EarlyStopping, EpochLog, Hook, Hooks, KeepBest, LoopState, ProgressBar
from .preflight import initial_weights
from .rundir import RunDir
from .spec import Spec, parse
from .task import task_named


@dataclass
class RunResult:
    """The numbers a run reports. Accuracies are fractions in [0, 1]."""

    status: str  #: completed, early_stopping, diverged, or what a hook's ``loop.stop`` said
    epochs: int  #: epochs trained
    best_epoch: int
    best_val_accuracy: float
    test_accuracy: float  #: at the best validation epoch (Nielsen's protocol): the headline number
    final_val_accuracy: float
    final_test_accuracy: float
    seconds: float
    dataset: str
    engine: str
    history: list[dict] = field(default_factory=list, repr=False)
    directory: str | None = None
    message: str = ""
    task: str = "classification"  #: ``task.TASKS``' word: a regression run's best epoch has the lowest val loss
    best_val_loss: float = math.nan
    test_loss: float = math.nan  #: at the best validation epoch: a regression run's headline number
    test_examples: int = 0  #: the test set's size, for the headline's interval (0: unknown, an older result)

    def summary(self) -> str:
        """One line: the headline numbers, the status, and the run's message (a warning, why it stopped)."""
        return task_named(self.task).result_numbers(self) + (f" {self.message}" if self.message else "")

    def to_dict(self) -> dict[str, Any]:
        """What ``result.json`` holds: everything but the history (that is ``metrics.jsonl``)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "history"}


def load_data(config: TrainConfig) -> Dataset:
    """The dataset a config names, with the 1-pixel-shift expansion applied when asked."""
    from . import data

    dataset = data.load(
        config.data,
        data_dir=config.data_dir,
        val=config.val,
        seed=config.seed,
        limit=config.limit,
        options=config.data_options,
    )
    if config.expand == "shift":
        from .augment import shift_expand

        x, y = shift_expand(dataset.train.x, dataset.train.y)
        dataset = dataclasses.replace(dataset, train=type(dataset.train)(x, y))
    return dataset


def standard_hooks(config: TrainConfig, run_dir: RunDir | None, progress: bool, log, weights) -> list:
    """The hooks every run has, in the order they run: the run-directory files come before the epoch's line,
    so an epoch that was printed is one that Ctrl-C keeps (``Checkpoint.on_interrupt``)."""
    hooks = [KeepBest(weights), DivergenceGuard()]
    hooks += [EarlyStopping(config.patience)] if config.patience else []
    hooks += [Checkpoint(run_dir, run_dir.resuming)] if run_dir is not None else []
    return hooks + [EpochLog(log)] + ([ProgressBar()] if progress else [])


def fit(
    config: TrainConfig,
    dataset: Dataset | None = None,
    out: str | os.PathLike | RunDir | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    hooks: Sequence[Any] = (),
    overwrite: bool = False,
    weights: str = "best",
) -> tuple[RunResult, Trainable]:
    """Train a model as ``config`` says; returns the result and the trainable with the weights of the epoch
    the result reports (best validation accuracy; ``weights="last"``: the last epoch's). ``out`` is the run
    directory (without it nothing is written; a ``RunDir`` keeps the mode it was opened with); ``resume``
    continues from its checkpoint, ``overwrite`` replaces the run there; ``hooks`` run after the built-in ones
    (``layerlab.hooks``).
    """
    config.check()
    run_dir = RunDir.opened(out, resume, overwrite)
    log = log or (lambda line: None)
    dataset = dataset if dataset is not None else load_data(config)
    if "data_dir" in dataset.info:  # an embedded or generated dataset: say that the folder given is not read
        log(f"note: {dataset.info['data_dir']}")
    spec = parse(config.model, dataset.input_shape, dataset.name)
    spec.resolve()  # shape errors now, before any data moves
    trainable, started_from = build_trainable(config, spec, dataset, run_dir)
    run_dir = run_dir.claim() if run_dir is not None else None
    loop = LoopState(config, dataset, spec, trainable, run_dir, log)
    signals = Signals().install()
    calls = Hooks([signals, *standard_hooks(config, run_dir, progress, log, weights), *hooks])
    try:
        calls.on_fit_start(loop)
        announce(loop, started_from)
        for epoch in range(len(loop.history) + 1, config.epochs + 1):
            if loop.stopped:
                break
            train_epoch(loop, epoch, calls)
        result = run_result(loop)
        calls.on_fit_end(loop, result)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (``Terminated``): write the last finished epoch, then end
        calls.on_interrupt(loop)
        raise
    finally:
        signals.restore()
        if run_dir is not None:
            run_dir.release()
    if result.status == "diverged":
        raise DivergedError(result.message)
    log(result.summary())
    return result, trainable


class Signals(Hook):
    """Ctrl-C (SIGINT) and SIGTERM (``kill``, a job scheduler) while ``fit`` trains: raised as
    ``KeyboardInterrupt`` / ``Terminated``, so the hooks' ``on_interrupt`` writes the last finished epoch
    (SIGTERM would otherwise end the process at once). A signal that lands where Python only prints an
    exception and goes on (a ``__del__``, a weakref or garbage-collector callback: ``sys.unraisablehook``)
    is raised at the next step instead. Installed only in the main thread, over Python's own handlers (not
    over a program's own)."""

    def __init__(self) -> None:
        self.pending: type[BaseException] | None = None
        self.previous: dict[int, Any] = {}
        self.unraisable_hook: Any = None

    def install(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for number, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
                if signal.getsignal(number) == default:
                    self.previous[number] = signal.signal(number, self._received)
            if self.previous:
                self.unraisable_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        return self

    def restore(self) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        if self.unraisable_hook is not None:
            sys.unraisablehook, self.unraisable_hook = self.unraisable_hook, None

    def _unraisable(self, unraisable: Any) -> None:
        """An interrupt Python could not raise where it landed (a weakref callback, say): kept for the next
        step; anything else goes to the hook that was there before."""
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            self.pending = type(unraisable.exc_value)
        else:
            self.unraisable_hook(unraisable)

    def _received(self, number: int, frame: Any) -> None:
        error = Terminated if number == signal.SIGTERM else KeyboardInterrupt
        while frame is not None:
            if frame.f_code.co_name == "__del__":
                self.pending = error
                return
            frame = frame.f_back
        raise error()

    def on_epoch_start(self, loop: LoopState, epoch: int) -> None:
        self._raise_pending()

    def on_step(self, loop: LoopState, step: int, steps: int, loss: float | None) -> None:
        self._raise_pending()

    def _raise_pending(self) -> None:
        if self.pending is not None:
            error, self.pending = self.pending, None
            raise error()


def build_trainable(config: TrainConfig, spec: Spec, dataset: Dataset, run_dir: RunDir | None) -> tuple[Trainable, str]:
    """The engine's trainable for ``spec``, holding the dataset's three splits, with its starting weights
    (``load_initial_weights``); and what the model's log line adds about them."""
    trainable = make_trainable(config, spec, len(dataset.train))
    started_from = load_initial_weights(config, spec, trainable, run_dir)
    for name, split in (("train", dataset.train), ("val", dataset.val), ("test", dataset.test)):
        trainable.add_data(name, split.x, split.y)
    return trainable, started_from


def announce(loop: LoopState, started_from: str) -> None:
    """The run's first lines: the data, the model on its engine (and the weights it starts from); a note
    when the model is compiled first."""
    spec, config = loop.spec, loop.config
    loop.log(
        f"data: {loop.dataset.describe()}\nmodel: {spec} ({spec.num_params():,} parameters) on "
        f"{loop.trainable.description}{started_from}"
    )
    if config.compile:
        loop.log(f"compiling the model (--compile {config.compile}): the first steps take 20 s or more")


def load_initial_weights(config: TrainConfig, spec: Spec, trainable: Trainable, run_dir: RunDir | None) -> str:
    """Put the weights of ``config.init_weights`` into the trainable, checked against the spec (a
    ``WeightsError`` line otherwise); not when the run resumes from its checkpoint (the file is read only
    at the start). Returns what the model's log line adds: ", starting from the weights in FILE" or ""."""
    if config.init_weights is None or (run_dir is not None and run_dir.resuming and run_dir.has(RunDir.CHECKPOINT)):
        return ""
    trainable.load_weights(initial_weights(config.init_weights, spec))
    return f", starting from the weights in {config.init_weights}"


def train_epoch(loop: LoopState, epoch: int, calls: Hooks) -> None:
    """One pass over the training set, then the evaluation; appends the epoch's row to ``loop.history``."""
    started = time.perf_counter()
    order, step_lrs = start_epoch(loop, epoch, calls)
    stats = loop.trainable.train_epoch(
        order, loop.config.batch_size, lambda step, loss: calls.on_step(loop, step, loop.steps, loss), step_lrs
    )
    finish_epoch(loop, epoch, calls, stats, started)


def start_epoch(loop: LoopState, epoch: int, calls: Hooks) -> tuple[np.ndarray, np.ndarray | None]:
    """What comes before an epoch's training pass: the hooks, the learning rate, the order of the
    examples and the per-step rates (warm-up); ``layerlab.together`` calls it for each run it trains."""
    calls.on_epoch_start(loop, epoch)
    loop.lr = loop.schedule.for_epoch(epoch)
    loop.trainable.set_lr(loop.lr)
    return loop.rng.permutation(len(loop.dataset.train)), loop.schedule.for_steps(epoch, loop.steps)


def finish_epoch(loop: LoopState, epoch: int, calls: Hooks, stats: EpochStats, started: float) -> None:
    """What comes after an epoch's training pass: the hooks, the evaluation and the epoch's row."""
    trainable = loop.trainable
    calls.on_epoch_trained(loop, epoch, stats)
    if loop.stopped:  # diverged: the weights are not worth evaluating
        return
    val_loss, val_accuracy = trainable.evaluate("val") if len(loop.dataset.val) else (math.nan, math.nan)
    test_loss, test_accuracy = trainable.evaluate("test")
    loop.elapsed += time.perf_counter() - started
    row = {
        "epoch": epoch,
        "lr": loop.lr,
        "train_loss": float(stats.losses.mean()),
        "train_accuracy": stats.correct / len(loop.dataset.train),
        "val_loss": val_loss,
        "val_accuracy": val_accuracy,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "seconds": loop.elapsed,
        "grad_norms": stats.grad_norms,
    }
    loop.history.append(row)
    loop.schedule.after_epoch(row[loop.score.key])  # plateau: the validation accuracy, or loss (regression)
    calls.on_epoch_end(loop, row)


def run_result(loop: LoopState) -> RunResult:
    """The result of the run so far: the best epoch's numbers and the last one's."""
    nan, history = math.nan, loop.history
    best = (
        history[loop.best_index()]
        if history
        else {"epoch": 0, "val_accuracy": nan, "test_accuracy": nan, "val_loss": nan, "test_loss": nan}
    )
    last = history[-1] if history else best
    return RunResult(
        status=loop.status,
        epochs=len(history),
        best_epoch=best["epoch"],
        best_val_accuracy=best["val_accuracy"],
        test_accuracy=best["test_accuracy"],
        final_val_accuracy=last["val_accuracy"],
        final_test_accuracy=last["test_accuracy"],
        seconds=loop.elapsed,
        dataset=loop.dataset.describe(),
        engine=loop.trainable.description,
        history=history,
        directory=str(loop.run_dir) if loop.run_dir is not None else None,
        message=loop.message,
        task=loop.task.name,
        best_val_loss=best["val_loss"],
        test_loss=best["test_loss"],
        test_examples=len(loop.dataset.test),
    )
