"""The table model: one typed row per run, the best run of each exercise, the settings the runs share.

The numbers follow Nielsen's protocol ("Neural Networks and Deep Learning", chapter 1): "test" is the
test accuracy at the epoch of best validation accuracy, "final" the one after the last epoch. The best
run of an exercise is the finished run with the highest best validation accuracy (never the test
accuracy: that would select on the test set). A regression run (the curve, Playground's plane and
multigauss) has no accuracies: its best epoch is the one of lowest validation loss, it shows that loss and
the test loss at that epoch, and the regression runs of an exercise are ranked by the validation loss.
An ensemble reports its majority vote's validation and test accuracy (ranked by the former like any run),
the epochs of one member and the seconds of all members together. A run trained several
times (``repeats``) is one row: its repeat of best validation score (the first where there is none), and the
mean over the repeats with its interval (Nielsen reported the best of his 3 runs; choosing a seed by its test
accuracy would select on the test set).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

from ..config import TrainConfig
from ..phrases import describe_changes
from ..task import REGRESSION, Sample, kind_of_examples, task_named
from .reading import RunSource, setting_defaults
from .row import Row, missing
from .verdicts import judge

T = TypeVar("T")


def _number(value: Any) -> Any:
    return None if missing(value) else value  # NaN in result.json: a run without a validation set


def rows(runs: list[RunSource]) -> list[Row]:
    """One row per run in order (repeats folded into one), each with its interval and its comparison with its
    exercise's first run, the best run of each exercise marked only where its lead is clear (``verdicts``)."""
    table = _merge_repeats([(run, _row(run)) for run in runs])
    judge(table)
    return table


def shown_runs(runs: list[RunSource], table: list[Row]) -> list[RunSource]:
    """The runs the plots show: of a repeated run, its best repeat."""
    shown = {row.shown_run for row in table}
    return [run for run in runs if run.name in shown]


def best_runs(table: list[Row]) -> set[str]:
    """The run of best validation score of each exercise (starred, or tied for best): the one its plots show."""
    return {row.shown_run for row in table if row.chosen}


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
        if not task_named(run.dataset.get("task")).has_classes:
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
    row.sample, row.examples = _sample(run, row)
    return row


def _sample(run: RunSource, row: Row) -> tuple[Sample | None, int | None]:
    """The run's headline and, from its saved test predictions, what it did on each test example."""
    if row.status != "done" or row.headline is None:
        return None, None
    kind = kind_of_examples(run.dataset.get("input_shape"))
    predictions = run.predictions()
    if predictions is None or "y_true" not in predictions:
        return Sample((row.headline,), kind=kind), None
    outcomes = task_named(row.task).outcomes(predictions["y_true"], predictions["y_pred"])
    return Sample((row.headline,), outcomes, kind), len(outcomes)


def _regression_values(row: Row, history: list[dict[str, Any]], best_epoch: Any) -> None:
    """A regression run's losses at its best epoch (the lowest validation loss) in place of its accuracies."""
    best = next((epoch for epoch in history if epoch.get("epoch") == best_epoch), None)
    row.task = REGRESSION.name
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
    if not task_named(summary.get("task")).has_classes:  # no classes to vote on: the test loss of the mean output
        row.task, row.test_accuracy, row.final_test_loss = REGRESSION.name, None, _number(summary["mean_loss"])
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
    task = task_named(repeats[0].task)
    done = [row for row in repeats if row.status == "done" and row.headline is not None]
    if not done:
        return replace(repeats[0], run=base, repeats=0)
    values = [row.headline for row in done]
    best, how = _chosen_seed(done, task)
    unfinished = [row for row in repeats if row not in done]
    status = unfinished[0].status if unfinished else "done"
    shown = ", ".join(task.show(value) for value in values)
    notes = [best.notes, f"{len(done)} seeds ({shown})"]
    if len(done) > 1:
        notes[-1] += f", mean {task.show(float(np.mean(values)))} (sd {task.show(float(np.std(values, ddof=1)))})"
        notes.append(f"shown: {best.run}, {how}")
    if unfinished:
        notes.append(f"{len(unfinished)} of {len(repeats)} repeats {status}")
    return replace(
        best,
        run=base,
        seconds=sum(row.seconds or 0 for row in repeats),
        status=status,
        repeats=len(done),
        test_mean=float(np.mean(values)),
        best_repeat=best.run,
        notes="; ".join(note for note in notes if note),
        sample=Sample(tuple(values), kind=best.sample.kind if best.sample else "examples"),
        spread=float(np.std(values, ddof=1)) if len(values) > 1 else None,
    )


def _chosen_seed(done: list[Row], task) -> tuple[Row, str]:
    """The repeat a repeated run's row shows, and why: the seed of best validation score (the first on a
    tie), as a run's epoch is chosen; the first seed where there is no validation score. Never by the test
    score: the exercise's best run is chosen by this row's validation score, and a seed picked by its test
    accuracy (a Playground task's lucky 1 in 20 at 99.6% beside a mean of 83.1%) would carry the test set
    into that choice."""
    scores = [getattr(row, task.score.result_key) for row in done]
    scores = [math.nan if value is None else value for value in scores]
    if all(math.isnan(value) for value in scores):
        return done[0], "the first seed (no validation score to choose by)"
    return done[task.score.best_index(scores)], f"the seed of best {task.score.name}"


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
