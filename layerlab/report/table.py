"""The table model: one typed row per run, the best run of each exercise, the settings the runs share.

The numbers follow Nielsen's protocol ("Neural Networks and Deep Learning", chapter 1): "test" is the
test accuracy at the epoch of best validation accuracy, "final" the one after the last epoch. The best
run of an exercise is the finished run with the highest best validation accuracy (never the test
accuracy: that would select on the test set). A regression run (the curve, Playground's plane and
multigauss) has no accuracies: its best epoch is the one of lowest validation loss, it shows that loss and
the test loss at that epoch, and the regression runs of an exercise are ranked by the validation loss.
An ensemble reports its majority vote's validation and test accuracy (ranked by the former like any run),
the epochs of one member and the seconds of all members together. A run trained several
times (``repeats``) is one row: its repeat with the best test accuracy, as Nielsen reported his best of 3,
and the mean over the repeats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np

from ..config import TrainConfig
from ..wording import describe_changes
from .reading import RunSource, setting_defaults

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
    task: str = "classification"  #: or "regression": no accuracies, the losses below instead
    best_val_loss: float | None = None  #: regression: the lowest validation loss
    test_loss: float | None = None  #: the test loss at the best epoch (regression: of lowest validation loss)
    repeats: int | None = None  #: finished repeats of a repeated run
    test_mean: float | None = None  #: test accuracy averaged over the repeats
    best_repeat: str | None = None  #: the name of the repeat shown
    directory: str = ""  #: the run's directory (of a repeated run: the repeat shown), from the report's

    @property
    def shown_run(self) -> str:
        """The run whose files the plots show: of a repeated run, its best repeat."""
        return self.best_repeat or self.run


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> Any:
    return None if missing(value) else value  # NaN in result.json: a run without a validation set


def by_exercise(items: Iterable[T], exercise: Callable[[T], str]) -> dict[str, list[T]]:
    """Items grouped by exercise, in the order the exercises first appear."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(exercise(item), []).append(item)
    return groups


def rows(runs: list[RunSource]) -> list[Row]:
    """One row per run in order (repeats folded into one), the best run of each exercise marked."""
    table = _merge_repeats([(run, _row(run)) for run in runs])
    for group in by_exercise(table, lambda row: row.exercise).values():
        ranked = [row for row in group if row.status == "done" and row.best_val_accuracy is not None]
        by_loss = [row for row in group if row.status == "done" and row.best_val_loss is not None]
        if ranked:
            max(ranked, key=lambda row: row.best_val_accuracy).best = True  # the first one on a tie
        elif by_loss:
            min(by_loss, key=lambda row: row.best_val_loss).best = True
    return table


def shown_runs(runs: list[RunSource], table: list[Row]) -> list[RunSource]:
    """The runs the plots show: of a repeated run, its best repeat."""
    shown = {row.shown_run for row in table}
    return [run for run in runs if run.name in shown]


def best_runs(table: list[Row]) -> set[str]:
    return {row.shown_run for row in table if row.best}


def _row(run: RunSource) -> Row:
    result = run.result
    notes = [run.note]
    if result.get("status") in ("early_stopping", "diverged"):
        notes.append(f"{result['status'].replace('_', ' ')}: {result.get('message', '')}")
    if run.status == "failed":
        notes.append(f"failed: {run.error or 'no error message'}")
    row = Row(
        run=run.name,
        exercise=run.exercise,
        changed=describe_changes(run.changed, setting_defaults(run.settings)),
        status=run.status,
        best_val_accuracy=_number(result.get("best_val_accuracy")),
        test_accuracy=_number(result.get("test_accuracy")),
        final_test_accuracy=_number(result.get("final_test_accuracy")),
        epochs=_number(result.get("epochs")),
        seconds=_number(result.get("seconds")),
        slide_reference=run.reference,
        loss_target=run.loss_target,
        directory=run.place,
    )
    if run.ensemble:
        notes.append(_ensemble_values(run, row))
    else:
        history = run.metrics
        row.final_test_loss = _number(history[-1].get("test_loss")) if history else None
        if run.dataset.get("task") == "regression":
            _regression_values(row, history, result.get("best_epoch"))
        elif row.loss_target is not None:  # the best epoch's weights: the test column's and the pictures'
            row.test_loss = _number(result.get("test_loss"))
            if row.test_loss is None:
                best = [epoch for epoch in history if epoch.get("epoch") == result.get("best_epoch")]
                row.test_loss = _number(best[0].get("test_loss")) if best else None
    if row.slide_reference is not None and row.test_accuracy is not None:
        row.difference_pp = 100 * (row.test_accuracy - row.slide_reference)
    if row.loss_target is not None and row.test_loss is not None:
        row.reached_target = bool(row.test_loss < row.loss_target)
    row.notes = "; ".join(note for note in notes if note)
    return row


def _regression_values(row: Row, history: list[dict[str, Any]], best_epoch: Any) -> None:
    """A regression run's losses at its best epoch (the lowest validation loss) in place of its accuracies."""
    best = next((epoch for epoch in history if epoch.get("epoch") == best_epoch), None)
    row.task = "regression"
    row.best_val_accuracy = row.test_accuracy = row.final_test_accuracy = None
    if best is not None:
        row.best_val_loss, row.test_loss = _number(best.get("val_loss")), _number(best.get("test_loss"))


def _ensemble_values(run: RunSource, row: Row) -> str:
    """The vote's accuracy as test accuracy, member 1's epochs, the seconds of all members; returns a note."""
    row.best_val_accuracy = row.final_test_accuracy = None
    summary = run.ensemble_summary
    if summary is None:  # not finished: no vote yet
        row.test_accuracy = None
        return ""
    results = [member.result for member in run.members if member.result]
    accuracies = summary["member_accuracies"]
    row.test_accuracy = summary["vote_accuracy"]
    row.best_val_accuracy = _number(summary.get("vote_val_accuracy"))  # None from a layerlab before it
    row.epochs = results[0].get("epochs") if results else None
    row.seconds = sum(result["seconds"] for result in results) if results else None
    if summary.get("task") == "regression":  # no classes to vote on: the test loss of the mean output
        row.task, row.test_accuracy, row.final_test_loss = "regression", None, _number(summary["mean_loss"])
        losses = summary["member_losses"]
        average, best = np.mean(losses), min(losses)
        return f"mean output of {len(losses)}: members' test loss {average:.4g} on average, best {best:.4g}"
    return (
        f"majority vote of {len(accuracies)}: members {np.mean(accuracies):.2%} on average, best "
        f"{max(accuracies):.2%}; mean probability {summary['mean_accuracy']:.2%}"
    )


def _merge_repeats(pairs: list[tuple[RunSource, Row]]) -> list[Row]:
    """Rows in order, the repeats of a run (entries with ``repeat_of``) folded into one row."""
    groups: dict[str, list[Row]] = {}
    ordered: list[Row | list[Row]] = []
    for run, row in pairs:
        if not run.repeat_of:
            ordered.append(row)
        elif run.repeat_of in groups:
            groups[run.repeat_of].append(row)
        else:
            groups[run.repeat_of] = [row]
            ordered.append(groups[run.repeat_of])
    return [item if isinstance(item, Row) else _repeated_row(item) for item in ordered]


def _repeated_row(repeats: list[Row]) -> Row:
    base = repeats[0].run.rpartition("#")[0]
    done = [row for row in repeats if row.status == "done" and row.test_accuracy is not None]
    if not done:
        return replace(repeats[0], run=base, repeats=0)
    best = max(done, key=lambda row: row.test_accuracy)  # the first one on a tie
    accuracies = [row.test_accuracy for row in done]
    unfinished = [row for row in repeats if row not in done]
    status = unfinished[0].status if unfinished else "done"
    notes = [best.notes, f"best of {len(done)} runs ({', '.join(f'{a:.2%}' for a in accuracies)})"]
    if len(done) > 1:
        notes[-1] += f", mean {np.mean(accuracies):.2%} ± {np.std(accuracies, ddof=1):.2%}"
    if unfinished:
        notes.append(f"{len(unfinished)} of {len(repeats)} repeats {status}")
    return replace(
        best,
        run=base,
        seconds=sum(row.seconds or 0 for row in repeats),
        status=status,
        repeats=len(done),
        test_mean=float(np.mean(accuracies)),
        best_repeat=best.run,
        notes="; ".join(note for note in notes if note),
    )


#: Settings that say where or how fast a run ran, not what it learned: left out of "shared settings".
_INCIDENTAL = ("data_dir", "device", "eval_batch_size", "compile", "channels_last")
#: Settings always shown; the others only when they are off their defaults.
_ALWAYS = ("model", "data", "epochs", "batch_size", "optimizer", "lr")


def base_settings(runs: list[RunSource]) -> dict[str, Any]:
    """The settings of the runs where they do not change them (their ``changed``), in TrainConfig's order:
    the main ones, and the others that are off their defaults; the ones that say where or how fast a
    run ran are left out. The base model is among them (unless every run changes it)."""
    recorded = [(run.settings, run.changed) for run in runs if run.settings]
    if not recorded:
        return {}
    defaults = TrainConfig().to_dict()
    base = {}
    for key in recorded[0][0]:
        values = {json.dumps(settings.get(key), sort_keys=True) for settings, changed in recorded if key not in changed}
        if key in _INCIDENTAL or len(values) != 1:
            continue
        value = next(settings[key] for settings, changed in recorded if key not in changed)
        if key in _ALWAYS or key not in defaults or value != defaults[key]:
            base[key] = value
    return base
