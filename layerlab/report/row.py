"""A run's line in a report's table (``table.rows`` makes them, ``verdicts`` compares them)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..task import Comparison, Sample, task_named

T = TypeVar("T")


@dataclass
class Row:
    """A run's line in the table. Accuracies are fractions; a number that does not exist (yet) is None."""

    run: str
    exercise: str
    changed: str  #: "lr=0.02, model=..." or "shared settings"
    status: str  #: done, failed, pending
    best_val_accuracy: float | None = None
    test_accuracy: float | None = None  #: at the epoch of best validation accuracy
    final_test_accuracy: float | None = None
    final_test_loss: float | None = None
    epochs: int | None = None
    seconds: float | None = None
    slide_reference: float | None = None
    difference_pp: float | None = None  #: ours minus the slide's, in percentage points
    loss_target: float | None = None
    reached_target: bool | None = None  #: test_loss < loss_target: at the best epoch, as the test column
    notes: str = ""
    best: bool = False  #: the best run of its exercise by best validation accuracy (regression: loss)
    task: str = "classification"  #: ``task.TASKS``' word; a regression run has no accuracies, the losses below
    best_val_loss: float | None = None  #: regression: the lowest validation loss
    test_loss: float | None = None  #: the test loss at the best epoch (regression: of lowest validation loss)
    repeats: int | None = None  #: finished repeats of a repeated run
    test_mean: float | None = None  #: test accuracy averaged over the repeats
    best_repeat: str | None = None  #: the name of the repeat shown
    directory: str = ""  #: the run's directory (of a repeated run: the repeat shown), from the report's
    sample: Sample | None = field(default=None, repr=False)  #: what the comparisons know of its test results
    examples: int | None = None  #: test examples the headline was measured on
    low: float | None = None  #: the headline's 95% interval (over seeds with repeats, else over test examples)
    high: float | None = None
    spread: float | None = None  #: standard deviation of the headline over the repeats
    versus: str | None = None  #: the run this one is compared with: its exercise's first run
    comparison: Comparison | None = None  #: this run minus ``versus``: difference, interval, verdict
    tied: bool = False  #: among the best of its exercise, with no clear difference between them
    chosen: bool = False  #: the run of best validation score of its exercise (starred or tied): its plots

    @property
    def headline(self) -> float | None:
        """The test accuracy, or a regression run's test loss (at the best validation epoch)."""
        return getattr(self, task_named(self.task).headline_key)

    @property
    def interval(self) -> str:
        """The headline's 95% interval, "93.5–96.1" (accuracy in %), or "" when unknown."""
        if self.low is None or self.high is None:
            return ""
        task = task_named(self.task)
        if task.has_classes:
            return f"{100 * self.low:.1f}–{100 * self.high:.1f}"
        return f"{task.show(self.low)}–{task.show(self.high)}"

    @property
    def figures(self) -> str:
        """The headline in words with its 95% interval: "test accuracy 95.00% (95% interval 93.47% to 96.14%)";
        of a repeated run, the mean over its seeds, the figure its interval is of: "mean test accuracy 94.47%
        over 3 seeds (95% interval ...)" (the test column has the shown seed's, not here)."""
        task = task_named(self.task)
        interval = f" (95% interval {task.show(self.low)} to {task.show(self.high)})" if self.low is not None else ""
        if self.repeats and self.repeats > 1 and self.sample is not None:
            return f"mean {task.headline} {task.show(self.sample.mean)} over {self.repeats} seeds{interval}"
        return f"{task.headline} {task.show(self.headline)}{interval}"

    @property
    def verdict(self) -> str:
        """The comparison's verdict in words with its difference: "better: +3.4 points (2.9 to 3.9)"."""
        c = self.comparison
        return "" if c is None else f"{c.verdict}: {task_named(self.task).difference_words(c)}"

    @property
    def mark(self) -> str:
        """``*`` for the best run of its exercise (a clear lead), ``=`` for the runs tied for best."""
        return "*" if self.best else "=" if self.tied else " "

    @property
    def shown_run(self) -> str:
        """The run whose files the plots show: of a repeated run, its best repeat."""
        return self.best_repeat or self.run


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def by_exercise(items: Iterable[T], exercise: Callable[[T], str]) -> dict[str, list[T]]:
    """Items grouped by exercise, in the order the exercises first appear."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(exercise(item), []).append(item)
    return groups
