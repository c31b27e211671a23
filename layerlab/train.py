"""Training, engine-agnostic: mini-batches, schedules, early stopping, checkpoints, metrics.

The loop follows deck 003 (an epoch is one pass over the training set in mini-batches; iterations
per epoch = examples / batch size) and Nielsen's protocol from deck 001: after every epoch measure
the validation accuracy, and report the test accuracy *at the epoch of best validation accuracy*
(the final one too). Everything an engine does is behind a small ``Learner`` interface (see
``layerlab/numpy/learner.py`` and ``layerlab/torch/learner.py``), so this file knows nothing about
arrays on devices.

A run directory holds::

    config.json          the resolved configuration
    metrics.jsonl        one JSON line per epoch (rewritten atomically after each epoch)
    checkpoint.npz       everything needed to resume after a kill (written atomically each epoch)
    best.safetensors     the weights of the epoch with the best validation accuracy
    last.safetensors     the weights after the last epoch
    result.json          the summary, written when the run ends (completed, stopped early or diverged)

``fit(config)`` with ``resume=True`` continues from ``checkpoint.npz``; on CPU with a seed the resumed
run ends with exactly the numbers of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .data.dataset import Dataset
from .errors import LayerlabError
from .spec import Spec, parse, parse_calls
from .weights import load_weights, save_weights

NIELSEN_MLP = "flatten dense(100) sigmoid dense(10)"
ENGINES = ("torch", "numpy")
SCHEDULES = ("constant", "step", "cosine", "plateau")
COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune")
#: Learning rates when none is given: torch.optim's defaults, and Nielsen's 0.1 for plain SGD.
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.01, "adadelta": 1.0, "rmsprop": 0.01,
              "adam": 0.001}  # fmt: skip


class TrainError(LayerlabError, ValueError):
    """A configuration or a run directory that training cannot use."""


class DivergedError(LayerlabError, RuntimeError):
    """The loss became NaN or infinite."""


# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Every setting of a run. The command-line flags and TOML keys have the same names."""

    model: str = _setting(NIELSEN_MLP, "the model spec; the input shape comes from the data")
    data: str = _setting("mnist-small", "dataset name (layerlab datasets lists them) or an image folder/zip")
    data_dir: str | None = _setting(None, "where local copies of datasets are (else $LAYERLAB_DATA / the cache)")
    val: float | None = _setting(None, "validation fraction (MNIST uses Nielsen's 50k/10k split when None)")
    data_options: dict = field(
        default_factory=dict,
        metadata={"help": 'options of a generated dataset, e.g. {noise = 10, features = ["x1", "x2"]}'},
    )
    limit: int | None = _setting(None, "keep only the first N training images (quick runs)")
    expand: str | None = _setting(None, '"shift": add the 4 one-pixel shifts of every training image (deck 001)')
    augment: str | None = _setting(None, 'random transforms per batch, e.g. "rotate(15) elastic(alpha=34, sigma=4)"')
    engine: str = _setting("torch", "torch (fast, CPU or GPU) or numpy (the from-scratch engine)")
    device: str = _setting("auto", "auto, cpu, cuda, cuda:1, mps")
    dtype: str = _setting("float32", "float32 or float64")
    autocast: str | None = _setting(None, "torch engine: bf16 runs matrix products in bfloat16 (fast on GPUs)")
    channels_last: bool = _setting(False, "torch engine: convolutions in NHWC memory layout (faster on recent GPUs)")
    compile: str | None = _setting(
        None, "torch engine: torch.compile the model: default, reduce-overhead (CUDA graphs on a GPU), max-autotune"
    )
    epochs: int = _setting(10, "passes over the training set")
    batch_size: int = _setting(10, "examples per gradient step (mini-batch size m)")
    lr: float | None = _setting(None, "learning rate (eta); None: 0.1 for SGD, the optimiser's default otherwise")
    optimizer: str = _setting("sgd", "sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam")
    momentum: float | None = _setting(None, "for sgd/rmsprop (None: the optimiser's default)")
    weight_decay: float = _setting(0.0, "the optimiser's weight decay, on every parameter")
    l1: float = _setting(0.0, "Nielsen's lambda for L1: cost + l1/n sum |w| over dense/conv weights")
    l2: float = _setting(0.0, "Nielsen's lambda for L2: cost + l2/(2n) sum w^2 over dense/conv weights")
    loss: str = _setting("cross_entropy", "cross_entropy (from logits), nll, mse, sse, bce")
    schedule: str = _setting("constant", "constant, step, cosine, plateau (deck 001: lower eta when val stalls)")
    lr_step: int = _setting(10, "step schedule: epochs between decays")
    lr_gamma: float = _setting(0.5, "step/plateau: factor applied to the learning rate")
    lr_patience: int = _setting(5, "plateau: epochs without a better validation accuracy before a decay")
    lr_min: float = _setting(0.0, "cosine: final learning rate; plateau: no decay below it")
    warmup: int = _setting(0, "epochs over which the rate rises step by step from ~0 to lr (for large batches)")
    patience: int = _setting(0, "early stopping: epochs without a better validation accuracy (0: off)")
    seed: int = _setting(0, "seed of the initial weights, the example order, dropout and augmentation")
    eval_batch_size: int = _setting(1000, "batch size for evaluation (does not change results)")

    def check(self) -> None:
        """Raise a ``TrainError`` naming the first bad setting and what would be valid."""

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise TrainError(message)

        need(
            self.optimizer in DEFAULT_LR, f"--optimizer must be one of {', '.join(DEFAULT_LR)}, got {self.optimizer!r}"
        )
        need(
            self.momentum is None or self.optimizer in ("sgd", "momentum", "nesterov", "rmsprop"),
            f"--momentum applies to sgd, momentum, nesterov and rmsprop, not {self.optimizer}",
        )
        need(self.engine in ENGINES, f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        need(self.dtype in ("float32", "float64"), f"--dtype must be float32 or float64, got {self.dtype!r}")
        need(self.autocast in (None, "bf16"), f"--autocast knows only bf16, got {self.autocast!r}")
        need(self.autocast is None or self.engine == "torch", "--autocast bf16 needs --engine torch")
        need(
            self.compile in COMPILE_MODES,
            f"--compile must be one of {', '.join(m for m in COMPILE_MODES if m)}, got {self.compile!r}",
        )
        for flag, value in (("--compile", self.compile), ("--channels-last", self.channels_last)):
            need(not value or self.engine == "torch", f"{flag} needs --engine torch (a torch-only setting)")
        need(self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}")
        need(self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}")
        need(self.lr is None or self.lr > 0, f"--lr must be > 0, got {self.lr}")
        need(self.l1 >= 0 and self.l2 >= 0, f"--l1 and --l2 must be >= 0, got {self.l1} and {self.l2}")
        need(self.patience >= 0, f"--patience must be >= 0 (0 turns early stopping off), got {self.patience}")
        need(self.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        need(0 < self.lr_gamma <= 1, f"--lr-gamma must be in (0, 1], got {self.lr_gamma}")
        need(self.lr_step >= 1 and self.lr_patience >= 1, "--lr-step and --lr-patience must be at least 1")
        need(self.warmup >= 0, f"--warmup must be >= 0 epochs (0: none), got {self.warmup}")
        need(self.val is None or 0 <= self.val < 1, f"--val must be a fraction in [0, 1), got {self.val}")
        need(self.limit is None or self.limit >= 1, f"--limit must be at least 1, got {self.limit}")
        need(self.expand in (None, "shift"), f"--expand knows only 'shift' (deck 001), got {self.expand!r}")

    def resolved_lr(self) -> float:
        """The learning rate given, else the optimiser's usual one (Nielsen's eta = 0.1 for SGD)."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def optimizer_options(self) -> dict[str, float]:
        """Keyword options for the optimiser (the same names in both engines)."""
        options = {"weight_decay": self.weight_decay}
        if self.momentum is not None:
            options["momentum"] = self.momentum
        return options

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainError(f"unknown setting(s) {', '.join(unknown)}; known settings: {', '.join(sorted(known))}")
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------------------------------------
# What the trainer needs from an engine
# ---------------------------------------------------------------------------------------------------


@dataclass
class EpochStats:
    """What one pass over the training set produced."""

    losses: np.ndarray  #: the loss of every step, in order
    correct: int  #: training examples classified correctly (with dropout on, as the model trained)
    grad_norms: dict[str, float]  #: mean L2 norm of each weight's gradient over the epoch's steps


class Learner(Protocol):
    """An engine's model + optimiser, as the trainer drives it."""

    def add_data(self, name: str, x: np.ndarray, y: np.ndarray) -> None: ...
    def train_epoch(
        self,
        order: np.ndarray,
        batch_size: int,
        on_step: Callable[[int, float | None], None],
        step_lrs: np.ndarray | None = None,  # a learning rate per step (warm-up), else the one set_lr gave
    ) -> EpochStats: ...
    def evaluate(self, name: str) -> tuple[float, float]: ...
    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...
    def set_lr(self, lr: float) -> None: ...
    def weights(self) -> dict[str, np.ndarray]: ...
    def load_weights(self, state: dict[str, np.ndarray]) -> None: ...
    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...
    def load_training_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None: ...

    @property
    def description(self) -> str: ...


def make_learner(config: TrainConfig, spec: Spec, n_train: int) -> Learner:
    if config.engine == "numpy":
        from .numpy.learner import NumpyLearner

        return NumpyLearner(config, spec, n_train)
    from .torch.learner import TorchLearner

    return TorchLearner(config, spec, n_train)


# ---------------------------------------------------------------------------------------------------
# Learning-rate schedules
# ---------------------------------------------------------------------------------------------------


class Schedule:
    """The learning rate of each epoch: constant, step decay, cosine, or lowered when validation stalls.

    With ``warmup`` epochs the rate of those epochs rises linearly step by step from lr / (steps of the
    warm-up) to lr, as Goyal et al. (2017) do when eta is scaled up with the batch size (deck 001, eq. 6):
    large first steps from a fresh initialisation can otherwise leave ReLU units dead for good.
    """

    def __init__(self, config: TrainConfig, lr0: float):
        self.config, self.lr0 = config, lr0
        self.lr = lr0
        self.stalled = 0  # plateau: epochs since the validation accuracy last improved
        self.best = -math.inf

    def for_epoch(self, epoch: int) -> float:
        """The rate for epoch ``epoch`` (1-based)."""
        c = self.config
        if c.schedule == "step":
            self.lr = self.lr0 * c.lr_gamma ** ((epoch - 1) // c.lr_step)
        elif c.schedule == "cosine":
            progress = (epoch - 1) / max(1, c.epochs - 1)
            self.lr = c.lr_min + (self.lr0 - c.lr_min) * (1 + math.cos(math.pi * progress)) / 2
        return self.lr

    def for_steps(self, epoch: int, steps: int) -> np.ndarray | None:
        """The rate of each step of epoch ``epoch`` during the warm-up; None after it (``for_epoch`` holds)."""
        if epoch > self.config.warmup:
            return None
        done = (epoch - 1) * steps + np.arange(1, steps + 1)
        return self.for_epoch(epoch) * done / (self.config.warmup * steps)

    def after_epoch(self, val_accuracy: float) -> None:
        c = self.config
        if c.schedule != "plateau":
            return
        if val_accuracy > self.best:
            self.best, self.stalled = val_accuracy, 0
            return
        self.stalled += 1
        if self.stalled >= c.lr_patience:
            self.lr, self.stalled = max(c.lr_min, self.lr * c.lr_gamma), 0

    def state(self) -> dict[str, float]:
        return {"lr": self.lr, "stalled": self.stalled, "best": self.best}

    def load(self, state: dict[str, float]) -> None:
        self.lr, self.stalled, self.best = state["lr"], int(state["stalled"]), state["best"]


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """The numbers a run reports. Accuracies are fractions in [0, 1]."""

    status: str  #: completed, early_stopping, diverged
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

    def summary(self) -> str:
        return (
            f"test accuracy {self.test_accuracy:.2%} at epoch {self.best_epoch} (best validation "
            f"{self.best_val_accuracy:.2%}); final test {self.final_test_accuracy:.2%} after {self.epochs} epochs, "
            f"{self.seconds:.1f} s [{self.status}]"
        )


# ---------------------------------------------------------------------------------------------------
# Data for a run
# ---------------------------------------------------------------------------------------------------


def load_data(config: TrainConfig) -> Dataset:
    """The dataset a config names, with the 1-pixel-shift expansion applied when asked."""
    from . import data

    dataset = data.load(config.data, data_dir=config.data_dir, val=config.val, seed=config.seed, limit=config.limit,
                        options=config.data_options)  # fmt: skip
    if config.expand == "shift":
        from .augment import shift_expand

        x, y = shift_expand(dataset.train.x, dataset.train.y)
        dataset = dataclasses.replace(dataset, train=type(dataset.train)(x, y))
    return dataset


def augmentation_items(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``"rotate(15) elastic(alpha=34, sigma=4)"`` -> [("rotate", {"degrees": 15}), ("elastic", {...})]."""
    from .augment import AUGMENTATIONS

    items = []
    for name, args, kwargs in parse_calls(text, AUGMENTATIONS, "augmentation"):
        try:
            bound = inspect.signature(AUGMENTATIONS[name]).bind(*args, **kwargs)
        except TypeError as error:
            options = ", ".join(
                f"{p.name}={p.default}" for p in inspect.signature(AUGMENTATIONS[name]).parameters.values()
            )
            raise TrainError(f"--augment {name}: {error}; its options: {name}({options})") from None
        items.append((name, dict(bound.arguments)))
    return items


def dataset_info(dataset: Dataset) -> dict[str, Any]:
    """What a saved run needs to know about its data to make predictions later."""
    return {"name": dataset.name, "description": dataset.describe(), "input_shape": list(dataset.input_shape),
            "classes": list(dataset.classes), "task": dataset.task}  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------------------------------


def fit(
    config: TrainConfig,
    dataset: Dataset | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> tuple[RunResult, Learner]:
    """Train a model as ``config`` says; returns the result and the trained learner (best weights loaded
    when early stopping ended the run, the last weights otherwise).

    ``out`` is the run directory (checkpoints, metrics, weights); without it nothing is written.
    ``resume=True`` continues from ``out/checkpoint.npz`` if there is one.
    """
    config.check()
    log = log or (lambda message: None)
    dataset = dataset if dataset is not None else load_data(config)
    spec = parse(config.model, dataset.input_shape)
    spec.resolve()  # shape errors now, before any data moves
    directory = Path(out) if out is not None else None
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        write_json(directory / "config.json", {"config": config.to_dict(), "dataset": dataset_info(dataset)})

    learner = make_learner(config, spec, len(dataset.train))
    for name, split in (("train", dataset.train), ("val", dataset.val), ("test", dataset.test)):
        learner.add_data(name, split.x, split.y)
    rng = np.random.default_rng([config.seed, 3])  # the order of the training examples
    schedule = Schedule(config, config.resolved_lr())
    history: list[dict] = []
    best_state: dict[str, np.ndarray] | None = None
    start_epoch, elapsed = 1, 0.0

    checkpoint = directory / "checkpoint.npz" if directory is not None else None
    if resume and checkpoint is not None and checkpoint.exists():
        start_epoch, elapsed, history, best_state = _restore(checkpoint, config, learner, schedule, rng)
        log(f"resuming {directory} after epoch {start_epoch - 1}")
    log(f"data: {dataset.describe()}")
    log(f"model: {spec} ({spec.num_params():,} parameters) on {learner.description}")

    status, message = "completed", ""
    stalled = _epochs_since_best(history)
    for epoch in range(start_epoch, config.epochs + 1):
        if config.patience and stalled >= config.patience:
            break
        started = time.perf_counter()
        lr = schedule.for_epoch(epoch)
        learner.set_lr(lr)
        order = rng.permutation(len(dataset.train))
        steps = math.ceil(len(order) / config.batch_size)
        with _progress_bar(progress, steps, f"epoch {epoch}/{config.epochs}") as bar:
            stats = learner.train_epoch(order, config.batch_size, bar.update, schedule.for_steps(epoch, steps))
        bad = np.flatnonzero(~np.isfinite(stats.losses))
        if bad.size:
            status, message = "diverged", _divergence_message(stats.losses, bad[0], epoch, steps, lr, directory)
            break
        val_loss, val_acc = learner.evaluate("val") if len(dataset.val) else (math.nan, math.nan)
        test_loss, test_acc = learner.evaluate("test")
        elapsed += time.perf_counter() - started
        row = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": float(stats.losses.mean()),
            "train_accuracy": stats.correct / len(order),
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "test_loss": test_loss,
            "test_accuracy": test_acc,
            "seconds": elapsed,
            "grad_norms": stats.grad_norms,
        }
        history.append(row)
        if best_state is None or _is_best(history):
            best_state = learner.weights()
        schedule.after_epoch(val_acc)
        stalled = _epochs_since_best(history)
        log(
            f"epoch {epoch}: train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.2%} | "
            f"val loss {val_loss:.4f} acc {val_acc:.2%} | test acc {test_acc:.2%} | lr {lr:g} | {elapsed:.1f} s"
        )
        if directory is not None:
            write_jsonl(directory / "metrics.jsonl", history)
            save_weights(directory / "last.safetensors", learner.weights(), {"spec": str(spec)})
            if _is_best(history):
                save_weights(directory / "best.safetensors", best_state, {"spec": str(spec)})
            _save_checkpoint(checkpoint, config, learner, schedule, rng, history, best_state, elapsed)
    if status == "completed" and config.patience and len(history) < config.epochs:
        status = "early_stopping"
        message = (
            f"no better validation accuracy in {config.patience} epochs; restored epoch {_best_index(history) + 1}"
        )
    if status == "early_stopping" and best_state is not None:
        learner.load_weights(best_state)

    result = _result(status, history, elapsed, dataset, learner, directory, message)
    if directory is not None:
        write_json(directory / "result.json", {k: v for k, v in dataclasses.asdict(result).items() if k != "history"})
    if status == "diverged":
        raise DivergedError(message)
    log(result.summary())
    return result, learner


def _divergence_message(losses: np.ndarray, step: int, epoch: int, steps: int, lr: float, directory) -> str:
    saved = f"; the last good epoch ({epoch - 1}) is saved in {directory}" if directory and epoch > 1 else ""
    return (
        f"the loss became {losses[step]} at epoch {epoch}, step {step + 1} of {steps} (learning rate {lr:g}); "
        f"try a smaller --lr, e.g. {lr / 10:g}{saved}"
    )


def _is_best(history: list[dict]) -> bool:
    return _best_index(history) == len(history) - 1


def _best_index(history: list[dict]) -> int:
    """The epoch (0-based) of the highest validation accuracy, the first one on a tie."""
    accuracies = [row["val_accuracy"] for row in history]
    if all(math.isnan(a) for a in accuracies):  # no validation set: the last epoch counts
        return len(history) - 1
    return int(np.nanargmax(accuracies))


def _epochs_since_best(history: list[dict]) -> int:
    return len(history) - 1 - _best_index(history) if history else 0


def _result(status, history, elapsed, dataset, learner, directory, message) -> RunResult:
    if not history:
        nan = math.nan
        return RunResult(status, 0, 0, nan, nan, nan, nan, elapsed, dataset.describe(), learner.description,
                         history, str(directory) if directory else None, message)  # fmt: skip
    best = history[_best_index(history)]
    last = history[-1]
    return RunResult(
        status=status,
        epochs=len(history),
        best_epoch=best["epoch"],
        best_val_accuracy=best["val_accuracy"],
        test_accuracy=best["test_accuracy"],
        final_val_accuracy=last["val_accuracy"],
        final_test_accuracy=last["test_accuracy"],
        seconds=elapsed,
        dataset=dataset.describe(),
        engine=learner.description,
        history=history,
        directory=str(directory) if directory else None,
        message=message,
    )


# ---------------------------------------------------------------------------------------------------
# Checkpoints: one .npz with arrays under prefixes, plus JSON metadata
# ---------------------------------------------------------------------------------------------------


def _save_checkpoint(path, config, learner, schedule, rng, history, best_state, elapsed) -> None:
    arrays, meta = learner.training_state()
    state = {f"model/{k}": v for k, v in learner.weights().items()}
    state |= {f"best/{k}": v for k, v in best_state.items()}
    state |= {f"train/{k}": v for k, v in arrays.items()}
    info = {
        "config": config.to_dict(),
        "epoch": len(history),
        "elapsed": elapsed,
        "history": history,
        "schedule": schedule.state(),
        "order_rng": rng.bit_generator.state,
        "learner": meta,
    }
    save_weights(path, state, {"checkpoint": json.dumps(info)})


def _restore(path, config, learner, schedule, rng):
    try:
        state, metadata = load_weights(path)
        info = json.loads(metadata["checkpoint"])
    except (KeyError, ValueError) as error:
        raise TrainError(f"{path} is not a layerlab checkpoint ({error}); delete it to start the run afresh") from None
    saved = TrainConfig.from_dict(info["config"])
    changed = [k for k, v in saved.to_dict().items() if k not in ("epochs", "patience") and getattr(config, k) != v]
    if changed:
        raise TrainError(
            f"cannot resume {path.parent}: the run was started with different settings ({', '.join(changed)}); "
            "use another --out directory or the original settings"
        )

    def part(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

    learner.load_weights(part("model/"))
    learner.load_training_state(part("train/"), info["learner"])
    schedule.load(info["schedule"])
    rng.bit_generator.state = info["order_rng"]
    return info["epoch"] + 1, info["elapsed"], info["history"], part("best/")


# ---------------------------------------------------------------------------------------------------
# Small helpers: atomic files, progress
# ---------------------------------------------------------------------------------------------------


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are ordinary result files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, default=_jsonable) + "\n")


def write_jsonl(path: Path, rows: Sequence[dict]) -> None:
    write_atomic(path, "".join(json.dumps(row, default=_jsonable) + "\n" for row in rows))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, steps: int, loss: float | None) -> None:
        pass


class _Bar(_NoBar):
    """A tqdm bar (notebook-aware) showing step, loss and ETA."""

    def __init__(self, total: int, description: str):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=description, unit="step", leave=False, dynamic_ncols=True)
        self.done = 0

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def update(self, steps: int, loss: float | None) -> None:
        self.bar.update(steps - self.done)
        self.done = steps
        if loss is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)


def _progress_bar(enabled: bool, total: int, description: str) -> _NoBar:
    return _Bar(total, description) if enabled else _NoBar()
