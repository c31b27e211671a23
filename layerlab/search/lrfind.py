"""The learning-rate range test: train for a few hundred steps while eta grows exponentially, and read
off where the loss stops falling.

The slides' rule (Nielsen, "Neural Networks and Deep Learning", chapter 3, "How to choose a neural
network's hyper-parameters?"): take eta as large as possible without the cost oscillating or rising.
Smith ("Cyclical learning rates for training neural networks", 2017) and fastai/PyTorch Lightning
measure that in one sweep: eta goes from ``start_lr`` to ``end_lr`` over ``steps`` mini-batches, the loss
is smoothed (an exponential moving average, bias-corrected), and the sweep stops once the smoothed
loss is 4x its minimum. The **threshold** is the eta of the lowest smoothed loss (from there on the loss
rises or oscillates); the **suggestion** is a safe fraction of it (``fraction``, 1/10 by default, as
fastai's "minimum / 10": at the threshold the steps are already too large to keep improving).

A curve that gives no threshold is said so, not read as noise: either the loss never falls clearly
(the sweep is too short, or starts too low, for this model: a sigmoid network learns slowly at first):
the mean of the ``SKIP`` losses up to the lowest smoothed one is not ``CLEAR_FALL`` (25%) below the mean
of the first ``SKIP`` (the smoothed loss lags too far behind to be compared; a cross-entropy of 2.4 that
ends near 2.15 is a network that has barely begun to learn, not a threshold); or the loss is still at its
lowest in the last ``TAIL`` of a sweep that never rose (was not cut short, and ends less than ``MIN_FALL``
above its lowest smoothed loss: the threshold lies beyond ``end_lr``). Then
``threshold`` and ``suggestion`` are None and ``problem`` says why and what to change; ``layerlab tune``
then falls back on Nielsen's own rule (see ``layerlab.search.tune``).

The sweep trains a fresh model and writes nothing but the plot and ``lr-find.json``; the weights are
thrown away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import TrainConfig
from ..engine import make_trainable
from ..files import FolderError, check_output_folder, make_folder, write_figure, write_json
from ..hooks import terminal_bar
from ..train import load_data
from .space import SearchError

SMOOTHING = 0.98  #: weight of the past in the moving average of the loss (fastai's)
STOP_FACTOR = 4.0  #: stop once the smoothed loss is this many times its minimum
SKIP = 10  #: first steps not considered for the minimum (the average of a few losses is noisy), as Lightning
MIN_FALL = 0.1  #: a clear rise or fall near the end of the sweep: 10%
CLEAR_FALL = 0.25  #: a curve that learns: 25% down from the first SKIP losses to the SKIP up to the threshold
QUICK = {"data": "mnist-small", "limit": 2000}  #: --quick (lr-find, tune): these settings, unless given
TAIL = 0.1  #: a minimum in the last 10% of a sweep that never rose is not a threshold (it lies beyond)


@dataclass
class LRFindResult:
    """What the learning-rate range test found: the loss at every step's rate, and a suggested rate."""

    lrs: np.ndarray = field(repr=False)  #: eta of every step
    losses: np.ndarray = field(repr=False)  #: the loss of every step
    smoothed: np.ndarray = field(repr=False)
    threshold: float | None  #: eta of the lowest smoothed loss: above it the loss rises (None: see problem)
    suggestion: float | None  #: ``fraction`` x threshold
    fraction: float
    stopped: str  #: why the sweep ended
    problem: str = ""  #: why the curve gives no threshold, and what to change; "" when it does
    plot: Path | None = None

    def __repr__(self) -> str:
        return self.summary() + (f"\nplot: {self.plot}" if self.plot else "")

    def _repr_html_(self) -> str:
        """The summary and the plot (loss against eta), for a notebook."""
        import base64
        import html

        parts = [f"<p>{html.escape(self.summary())}</p>"]
        if self.plot is not None and Path(self.plot).is_file():
            data = base64.b64encode(Path(self.plot).read_bytes()).decode("ascii")
            parts.append(f'<img src="data:image/png;base64,{data}" alt="lr-find" style="max-width: 100%">')
        return "\n".join(parts)

    def summary(self) -> str:
        if self.problem:
            return (
                f"no learning rate suggested: {self.problem} ({self.stopped}); or find eta by Nielsen's threshold "
                "rule: `layerlab tune`, step 2"
            )
        return (
            f"the loss falls fastest up to eta ~ {self.threshold:.3g} and rises or oscillates beyond it "
            f"({self.stopped}); suggested learning rate: {self.suggestion:.3g} ({self.fraction:g} x the threshold)"
        )


def smooth(losses: np.ndarray, beta: float = SMOOTHING) -> np.ndarray:
    """Bias-corrected exponential moving average, as fastai's and Lightning's range tests."""
    average, out = 0.0, np.empty(len(losses))
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        out[i] = average / (1 - beta ** (i + 1))
    return out


def lr_find(
    config: TrainConfig,
    dataset=None,
    *,
    steps: int = 200,
    start_lr: float = 1e-5,
    end_lr: float = 10.0,
    fraction: float = 0.1,
    out: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> LRFindResult:
    """Sweep eta from ``start_lr`` to ``end_lr`` over ``steps`` mini-batches of ``config``'s model, data,
    optimiser and batch size; with ``out`` write ``lr-find.png`` and ``lr-find.json`` there (a folder of an
    earlier range test only with ``overwrite``: it is refused before the sweep)."""
    if not (isinstance(steps, int) and steps >= 10):
        raise SearchError(f"--steps must be a whole number >= 10, got {steps}")
    if not 0 < start_lr < end_lr:
        raise SearchError(f"--start-lr must be > 0 and below --end-lr, got {start_lr} and {end_lr}")
    if not 0 < fraction <= 1:
        raise SearchError(f"--fraction must be in (0, 1], got {fraction}")
    config = config.replace(lr=start_lr, schedule="constant", warmup=0)
    config.check()
    if out is not None:  # a folder of an earlier range test only with overwrite; any other is refused now
        check_output_folder(out, "lr-find.json", "learning-rate range test", lambda info: "lr-find", "lr-find")
        if (Path(out) / "lr-find.json").exists() and not overwrite:
            raise FolderError(
                f"--out {out} holds an earlier learning-rate range test; give another --out, or "
                "--overwrite to replace it"
            )
    from ..spec import parse

    dataset = dataset if dataset is not None else load_data(config)
    spec = parse(config.model, dataset.input_shape)
    trainable = make_trainable(config, spec, len(dataset.train))
    trainable.add_data("train", dataset.train.x, dataset.train.y)
    rng = np.random.default_rng([config.seed, 7])
    needed = steps * config.batch_size
    order = np.concatenate([rng.permutation(len(dataset.train)) for _ in range(math.ceil(needed / len(dataset.train)))])
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(steps) / (steps - 1))
    bar = _bar(progress, steps)
    stats = trainable.train_epoch(order[:needed], config.batch_size, bar, lrs)
    bar.close()
    losses = np.asarray(stats.losses, dtype=float)
    finite = np.isfinite(losses)
    stopped = f"{steps} steps up to eta {end_lr:g}"
    if not finite.all():
        first = int(np.argmin(finite))
        losses = losses[:first]
        stopped = f"the loss became infinite at eta {lrs[first]:.3g}"
    smoothed = smooth(losses)
    if len(smoothed) < 2 * SKIP:
        raise SearchError(f"the loss diverged within {len(smoothed)} steps: lower --start-lr (now {start_lr:g})")
    low = np.minimum.accumulate(smoothed[SKIP:])
    too_high = np.flatnonzero(smoothed[SKIP:] > STOP_FACTOR * low)
    if too_high.size:
        end = int(too_high[0]) + SKIP
        stopped = f"the smoothed loss passed {STOP_FACTOR:g}x its minimum at eta {lrs[end]:.3g}"
        losses, smoothed = losses[: end + 1], smoothed[: end + 1]
    lrs = lrs[: len(losses)]
    best = SKIP + int(np.argmin(smoothed[SKIP:]))
    rose = len(losses) < steps or smoothed[-1] > (1 + MIN_FALL) * smoothed[best]  # cut short, or up again by the end
    problem = _problem(losses, smoothed, best, rose=rose, end_lr=end_lr, start_lr=start_lr)
    threshold = None if problem else float(lrs[best])
    suggestion = None if threshold is None else threshold * fraction
    result = LRFindResult(lrs, losses, smoothed, threshold, suggestion, fraction, stopped, problem)
    if out is not None:
        directory = Path(out)
        make_folder(directory)
        result.plot = plot(result, directory / "lr-find.png", config)
        write_json(
            directory / "lr-find.json",
            {
                "threshold": threshold,
                "suggestion": suggestion,
                "problem": problem,
                "fraction": fraction,
                "stopped": stopped,
                "lrs": lrs.tolist(),
                "losses": losses.tolist(),
                "smoothed": smoothed.tolist(),
                "config": config.to_dict(),
            },
        )
    return result


def _problem(losses: np.ndarray, smoothed: np.ndarray, best: int, rose: bool, end_lr: float, start_lr: float) -> str:
    """Why the curve gives no threshold (see the module docstring), or ""."""
    start, low = float(np.mean(losses[:SKIP])), float(np.mean(losses[best + 1 - SKIP : best + 1]))
    if low > (1 - CLEAR_FALL) * start:
        return (
            f"the loss never fell clearly (at its lowest {low:.3g}, first steps {start:.3g}): the curve "
            f"is flat before it rises; give more --steps or a higher --start-lr (now {start_lr:g})"
        )
    if not rose and best >= (1 - TAIL) * len(losses):
        return f"the loss still falls at the end of the sweep: the threshold is beyond eta {end_lr:g}; raise --end-lr"
    return ""


def _bar(enabled: bool, steps: int):
    class Bar:
        def __init__(self):
            self.tqdm = terminal_bar(total=steps, desc="lr-find", unit="step", leave=False) if enabled else None
            self.done = 0

        def __call__(self, done: int, loss: float | None) -> None:
            if self.tqdm is not None:
                self.tqdm.update(done - self.done)
                self.done = done

        def close(self) -> None:
            if self.tqdm is not None:
                self.tqdm.close()

    return Bar()


def y_limits(result: LRFindResult) -> tuple[float, float]:
    """The loss axis of the plot: the smoothed curve from its start down to its lowest point fills most of it,
    with room above for the rise after the threshold (a flat curve stays visible, not squeezed under the
    noisy losses of the last steps)."""
    smoothed = result.smoothed
    best = SKIP + int(np.argmin(smoothed[SKIP:])) if len(smoothed) > SKIP else int(np.argmin(smoothed))
    low, high = float(smoothed.min()), float(smoothed[: best + 1].max())
    span = max(high - low, 0.02 * max(abs(high), 1e-12))
    return max(0.0, low - 0.15 * span), min(float(smoothed.max()), high + 0.6 * span) + 0.05 * span


def plot(result: LRFindResult, path: Path, config: TrainConfig) -> Path:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.2))
    ax = figure.add_subplot()
    ax.plot(result.lrs, result.losses, color="#bbbbbb", linewidth=0.8, label="loss of each mini-batch")
    ax.plot(result.lrs, result.smoothed, color="#1f77b4", linewidth=2, label="smoothed loss")
    if result.threshold is not None and result.suggestion is not None:
        ax.axvline(result.threshold, color="#d62728", linestyle="--", label=f"threshold {result.threshold:.3g}")
        ax.axvline(result.suggestion, color="#2ca02c", linestyle="-", label=f"suggestion {result.suggestion:.3g}")
    ax.set_xscale("log")
    ax.set_ylim(*y_limits(result))
    ax.set_xlabel("learning rate eta (log scale)")
    ax.set_ylabel(f"training loss ({config.loss})")
    title = f"Learning-rate range test: {config.optimizer}, batch {config.batch_size}"
    ax.set_title(title + ("" if result.threshold is not None else "\n(no threshold: see lr-find.json)"), fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=9, loc="upper left")
    figure.tight_layout()
    return write_figure(path, figure, dpi=100)
