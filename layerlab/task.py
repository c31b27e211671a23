"""What a dataset asks of a model: to classify (MNIST, CIFAR-10, the Playground's circle) or to give a
number (the Playground's plane and multigauss, the curve). The one home of everything that differs
between the two:

- the **score** that ranks epochs, trials and runs: the validation accuracy (higher is better), or the
  validation loss (lower is better) where accuracies mean nothing;
- the **headline**: the test accuracy, or the test loss, at the best validation epoch (Nielsen's protocol);
- the figures an epoch and a run print;
- how a split is **measured** and how an **ensemble** combines its members (a majority vote of classes,
  the mean of outputs);
- the **statistics of a comparison**: an accuracy is a proportion of test images (Wilson's interval; two
  runs on the same images: McNemar's test and Newcombe's interval), a loss a mean over test examples
  (a bootstrap interval, paired example by example for two runs: squared errors have long tails); with
  repeats, the seeds are the samples (Welch's interval).

``task_named(name)`` gives the task of a dataset's ``task`` field ("classification" or "regression", the
word stored in result files). A third kind of task is a third subclass here, and nothing else branches on
a task's name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import stats
from .numpy.losses import make_loss
from .phrases import count


@dataclass(frozen=True)
class Score:
    """What ranks a run's epochs and a search's trials: a validation measure and its direction. One rule
    for every user (the best epoch, early stopping, the plateau schedule, a search's objective and pruner,
    the lines a run prints): ``Task.score``."""

    key: str  #: the metrics row's column
    name: str  #: in words
    short: str  #: in a progress line ("val acc 93.10%")
    higher_is_better: bool

    def better(self, value: float, than: float | None) -> bool:
        """Whether ``value`` beats ``than`` (None or NaN: nothing yet); a NaN value never does."""
        if math.isnan(value):
            return False
        if than is None or math.isnan(than):
            return True
        return value > than if self.higher_is_better else value < than

    def best_index(self, values: Sequence[float]) -> int:
        """The index of the best value, the first one on a tie; the last one when every value is NaN."""
        if all(math.isnan(v) for v in values):
            return len(values) - 1
        return int(np.nanargmax(values) if self.higher_is_better else np.nanargmin(values))

    @property
    def result_key(self) -> str:
        """The ``RunResult`` field of the best epoch's value: best_val_accuracy or best_val_loss."""
        return f"best_{self.key}"

    @property
    def worst(self) -> float:
        """The value of a run without one (no validation set, diverged): 0% accuracy, an infinite loss."""
        return 0.0 if self.higher_is_better else math.inf

    @property
    def direction(self) -> str:
        """Optuna's study direction."""
        return "maximize" if self.higher_is_better else "minimize"

    def show(self, value: float) -> str:
        """``value`` as the run's lines print it: a percentage, or a loss to 4 decimals."""
        return f"{value:.2%}" if self.higher_is_better else f"{value:.4f}"


@dataclass(frozen=True)
class Sample:
    """What a comparison knows of one run on the test set: its headline value per repeat (one value for a
    single run), and, for a single run, what it did on each test example (``per_example``: 1/0 correct for
    a classifier, the squared error for a regression), so two runs can be paired example by example."""

    values: tuple[float, ...]
    per_example: np.ndarray | None = None
    kind: str = "examples"  #: what the test examples are: "images", "points" or "examples" (``kind_of_examples``)

    @property
    def repeats(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan


def kind_of_examples(input_shape: Sequence[int] | None) -> str:
    """What a dataset's examples are, in a report's words: "images" (channels, height and width: MNIST, CIFAR-10,
    an image folder), "points" (a few numbers each: the Playground's sets, the curve) or "examples" (unknown: the
    files of a run that did not record its input shape)."""
    if not input_shape:
        return "examples"
    return {3: "images", 1: "points"}.get(len(input_shape), "examples")


def examples_in_words(n: int, kind: str) -> str:
    """ "1,000 test images", "100 test points"."""
    return f"{n:,} test {kind}"


@dataclass(frozen=True)
class Comparison:
    """A's headline minus B's with its 95% interval (in the headline's unit: points of accuracy, or loss),
    the verdict, and how it was computed (``method``: the test, the seeds, the test examples)."""

    difference: float
    low: float
    high: float
    verdict: str  #: "better", "worse" (A against B, by the task's direction) or "no clear difference"
    method: str

    @property
    def clear(self) -> bool:
        return self.verdict != NO_CLEAR


NO_CLEAR = "no clear difference"


class Task:
    """The behaviour a task's runs share; see the module's docstring."""

    name: str
    score: Score
    headline_key: str  #: the result's and the report row's headline field
    headline: str  #: in words
    combined_by: str  #: how an ensemble's members combine, in words
    has_classes: bool  #: class labels: accuracies, confusion matrices, votes, chance levels

    def show(self, value: float) -> str:
        """A headline value as a run's lines print it."""
        raise NotImplementedError

    def epoch_figures(self, row: dict[str, Any]) -> str:
        """An epoch's losses (and accuracies) as the run's lines print them."""
        raise NotImplementedError

    def result_numbers(self, result: Any) -> str:
        """A ``RunResult``'s headline numbers in one line."""
        raise NotImplementedError

    def measure(self, outputs: np.ndarray, y: np.ndarray, loss: str) -> float:
        """The headline measure of a model's ``outputs`` (``predict_proba``) on targets ``y``."""
        raise NotImplementedError

    def per_example(self, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
        """What a comparison pairs example by example: 1/0 correct, or the squared error."""
        raise NotImplementedError

    def outcomes(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """``per_example`` from a run's saved test predictions (``predictions.npz``: classes, or outputs)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ comparisons
    def interval(self, sample: Sample, examples: int) -> stats.Interval:
        """The 95% interval of a run's headline: over its seeds with repeats, else over the test examples."""
        if sample.repeats > 1:  # a t interval, cut to the values a headline can take (no accuracy above 100%)
            mean = stats.mean_interval(sample.values)
            low, high = self.headline_range
            return stats.Interval(mean.value, max(mean.low, low), min(mean.high, high))
        if not examples and sample.per_example is None:  # an old run without its saved predictions
            return stats.Interval(sample.values[0], math.nan, math.nan)
        return self._single_interval(sample, examples or len(sample.per_example))

    def _single_interval(self, sample: Sample, examples: int) -> stats.Interval:
        raise NotImplementedError

    headline_range: tuple[float, float] = (-math.inf, math.inf)  #: the values a headline can take

    def compare(self, a: Sample, b: Sample, examples: int) -> Comparison:
        """A against B: over seeds when both have repeats, else paired on the same test examples."""
        if a.repeats > 1 and b.repeats > 1:
            interval, _ = stats.welch(a.values, b.values)
            method = f"{a.repeats} and {b.repeats} seeds" if a.repeats != b.repeats else f"{a.repeats} seeds each"
        elif a.per_example is not None and b.per_example is not None and len(a.per_example) == len(b.per_example):
            interval, method = self._paired(a.per_example, b.per_example, a.kind if a.kind == b.kind else "examples")
        else:  # one side without its per-example results: two independent intervals
            interval, method = self._independent(a, b, examples)
        return Comparison(interval.value, interval.low, interval.high, self._verdict(interval), method)

    def _verdict(self, interval: stats.Interval) -> str:
        if math.isnan(interval.low) or not interval.excludes(0.0):
            return NO_CLEAR
        ahead = interval.value > 0
        return "better" if ahead == self.score.higher_is_better else "worse"

    def _paired(self, a: np.ndarray, b: np.ndarray, kind: str) -> tuple[stats.Interval, str]:
        """The difference of ``a`` and ``b``, paired example by example, and how it was measured (on ``kind``)."""
        raise NotImplementedError

    def _independent(self, a: Sample, b: Sample, examples: int) -> tuple[stats.Interval, str]:
        ia, ib = self.interval(a, examples), self.interval(b, examples)
        difference = a.mean - b.mean
        half = math.hypot(max(ia.high - ia.value, ia.value - ia.low), max(ib.high - ib.value, ib.value - ib.low))
        return stats.Interval(difference, difference - half, difference + half), "independent intervals"

    def lead(self, comparison: Comparison) -> Comparison:
        """A comparison turned so that its difference is A's advantage: positive when A is better (the
        higher accuracy, or the lower loss), with its interval turned alike; for "A beats B by ..."."""
        if self.score.higher_is_better:
            return comparison
        c = comparison
        return Comparison(-c.difference, -c.high, -c.low, c.verdict, c.method)

    def difference_words(self, comparison: Comparison) -> str:
        """The difference with its interval: "+3.4 points (+2.9 to +3.9)"."""
        if math.isnan(comparison.low):
            return self.amount(comparison.difference, signed=True)
        return f"{self.amount(comparison.difference, signed=True)} ({self.span(comparison)})"

    def amount(self, difference: float, signed: bool = False) -> str:
        """A difference in the headline's unit: "3.4 points" (of accuracy), "0.0123" (of loss)."""
        raise NotImplementedError

    def span(self, comparison: Comparison) -> str:
        """The difference's 95% interval: "+2.9 to +3.9"."""
        raise NotImplementedError


class Classification(Task):
    name = "classification"
    score = Score("val_accuracy", "validation accuracy", "val acc", higher_is_better=True)
    headline_key = "test_accuracy"
    headline = "test accuracy"
    combined_by = "accuracy of their majority vote"
    has_classes = True

    def show(self, value: float) -> str:
        return f"{value:.2%}"

    def epoch_figures(self, row: dict[str, Any]) -> str:
        has_val = not math.isnan(row["val_loss"])  # a Playground set has no validation split unless asked
        val = f" | val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.2%}" if has_val else ""
        return (
            f"train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.2%}{val} | "
            f"test acc {row['test_accuracy']:.2%}"
        )

    def result_numbers(self, result: Any) -> str:
        chosen = (
            "no validation set: the last epoch"
            if math.isnan(result.best_val_accuracy)
            else f"best validation {result.best_val_accuracy:.2%}"
        )
        n = getattr(result, "test_examples", 0)
        if n and not math.isnan(result.test_accuracy):  # Wilson's interval on the test set's size
            interval = stats.wilson(round(result.test_accuracy * n), n)
            chosen += f"; 95% interval {interval.low:.1%}–{interval.high:.1%} on {n:,} test examples"
        epochs = count(result.epochs, "epoch")
        return (
            f"test accuracy {result.test_accuracy:.2%} at epoch {result.best_epoch} ({chosen}); final test "
            f"{result.final_test_accuracy:.2%} after {epochs}, {result.seconds:.1f} s [{result.status}]"
        )

    def measure(self, outputs: np.ndarray, y: np.ndarray, loss: str) -> float:
        return float(self.per_example(outputs, y).mean()) if len(y) else math.nan

    def per_example(self, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (np.asarray(outputs).argmax(axis=1) == np.asarray(y)).astype(np.float64)

    def outcomes(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return (np.asarray(y_pred) == np.asarray(y_true)).astype(np.float64)  # an ensemble's: its vote's

    def _single_interval(self, sample: Sample, examples: int) -> stats.Interval:
        return stats.wilson(round(sample.values[0] * examples), examples)

    headline_range = (0.0, 1.0)  #: an accuracy

    def _paired(self, a: np.ndarray, b: np.ndarray, kind: str) -> tuple[stats.Interval, str]:
        a, b = a.astype(bool), b.astype(bool)
        both, only_a, only_b = int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum())
        neither = len(a) - both - only_a - only_b
        interval = stats.paired_difference(both, only_a, only_b, neither)
        p = stats.mcnemar(only_a, only_b)  # the images one run gets right and the other wrong: 50/50 if no difference
        return interval, f"paired on {examples_in_words(len(a), kind)}, McNemar's p = {p:.2g}"

    def amount(self, difference: float, signed: bool = False) -> str:
        return f"{_points(difference)} points" if signed else f"{100 * difference:.1f} points"

    def span(self, comparison: Comparison) -> str:
        return f"{_points(comparison.low)} to {_points(comparison.high)}"


def _points(fraction: float) -> str:
    """A signed difference in points of accuracy, "+2.4"; 0 unsigned, and two decimals where one would round a
    nonzero end of an interval to "+0.0" (a clear verdict whose interval would seem to touch 0)."""
    points = 100 * fraction
    if points == 0:
        return "0.0"
    return f"{points:+.2f}" if abs(points) < 0.05 else f"{points:+.1f}"


class Regression(Task):
    name = "regression"
    score = Score("val_loss", "validation loss", "val loss", higher_is_better=False)
    headline_key = "test_loss"
    headline = "test loss"
    combined_by = "loss of their mean output"
    has_classes = False

    def show(self, value: float) -> str:
        return f"{value:.4g}"

    def epoch_figures(self, row: dict[str, Any]) -> str:
        has_val = not math.isnan(row["val_loss"])
        val = f" | val loss {row['val_loss']:.4f}" if has_val else ""
        return f"train loss {row['train_loss']:.4f}{val} | test loss {row['test_loss']:.4f}"

    def result_numbers(self, result: Any) -> str:
        chosen = (
            "no validation set: the last epoch"
            if math.isnan(result.best_val_loss)
            else f"lowest validation loss {result.best_val_loss:.4g}"
        )
        return (
            f"test loss {result.test_loss:.4g} at epoch {result.best_epoch} ({chosen}) after "
            f"{count(result.epochs, 'epoch')}, {result.seconds:.1f} s [{result.status}]"
        )

    def measure(self, outputs: np.ndarray, y: np.ndarray, loss: str) -> float:
        """The run's own loss (mse or sse, as it trained) of its outputs: the number its training reported.
        The engines give a single output as the columns [1 - p, p] (``predict_proba``), so the outputs are
        the last ``targets`` columns."""
        y = _targets(y)
        outputs = np.asarray(outputs)[:, -y.shape[1] :]
        return make_loss(loss).forward(outputs.astype(np.float64), y.astype(np.float64))

    def per_example(self, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
        y = _targets(y)
        outputs = np.asarray(outputs, dtype=np.float64)[:, -y.shape[1] :]
        return ((outputs - y) ** 2).sum(axis=1)

    def outcomes(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return self.per_example(y_pred, y_true)

    headline_range = (0.0, math.inf)  #: a mean squared error

    def _single_interval(self, sample: Sample, examples: int) -> stats.Interval:
        if sample.per_example is None:
            return stats.Interval(sample.values[0], math.nan, math.nan)
        spread = stats.bootstrap_mean(sample.per_example)  # the squared errors' mean, scaled to the loss
        if not spread.value > 0:
            return stats.Interval(sample.values[0], math.nan, math.nan)
        scale = sample.values[0] / spread.value  # mse or sse: a fixed multiple of the mean squared error
        return stats.Interval(sample.values[0], spread.low * scale, spread.high * scale)

    def _paired(self, a: np.ndarray, b: np.ndarray, kind: str) -> tuple[stats.Interval, str]:
        interval = stats.bootstrap_mean(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
        return interval, f"paired on {examples_in_words(len(a), kind)} (squared errors, bootstrap)"

    def amount(self, difference: float, signed: bool = False) -> str:
        return f"{difference:+.3g} in test loss" if signed else f"{abs(difference):.3g} in test loss"

    def span(self, comparison: Comparison) -> str:
        return f"{comparison.low:+.3g} to {comparison.high:+.3g}"


def _targets(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return y.reshape(len(y), -1)


CLASSIFICATION = Classification()
REGRESSION = Regression()
TASKS: dict[str, Task] = {task.name: task for task in (CLASSIFICATION, REGRESSION)}


def task_named(name: str | Task | None) -> Task:
    """The task of a dataset's or a result's ``task`` word; classification when unknown (older files)."""
    if isinstance(name, Task):
        return name
    return TASKS.get(str(name), CLASSIFICATION)
