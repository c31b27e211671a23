"""The table's columns as every renderer shows them: header, formatting, which ones a table needs,
and the sentences that explain them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import toml_value
from ..task import task_named
from .blocks import Table
from .row import Row, missing

#: In every report.md and report.html: a file with it was written by layerlab (and may be rewritten).
MARK = "<!-- written by layerlab report -->"
QUICK_NOTE = (
    "quick run: smaller settings than the full run (the notes say which); accuracies are not comparable to the slides"
)
QUICK_NOTE_REGRESSION = "quick run: fewer epochs; the losses are not comparable to a full run's"
BEST_MARK = "★"
TIED_MARK = "="
VERDICT_EXPLANATION = (
    f"{BEST_MARK} marks the best run of each exercise, chosen by its validation score, when it beats every other "
    f"run of the exercise clearly on the test set; {TIED_MARK} marks it and the runs tied with it (no clear "
    "difference from it); where another run beats it clearly on the test set, no run is marked. vs first run: the "
    "difference from the exercise's first run with its 95% interval (paired on the same test examples, or over the "
    "seeds with repeats) and the verdict: better, worse, or no clear difference."
)
INTERVAL_EXPLANATION = (
    "95% interval: of the test accuracy (Wilson's, on the test examples: images, or a 2-D set's points; with "
    "repeats, of the mean over the seeds). "
    "test: test accuracy at the epoch of best validation accuracy (Nielsen's protocol); final: after the last "
    "epoch; a run trained with several seeds shows its seed of best validation accuracy and the mean over the "
    "seeds. An "
    "ensemble reports its majority vote on the validation and test sets, the epochs of one member and the seconds "
    "of all members."
)
REGRESSION_INTERVAL_EXPLANATION = (
    "95% interval: of the test loss (a bootstrap interval over the test examples' squared errors; with repeats, "
    "over the seeds)."
)
EXPLANATION = f"{VERDICT_EXPLANATION} {INTERVAL_EXPLANATION}"
REFERENCE_EXPLANATION = "slide: the accuracy on the slides; Δ pp: ours minus the slide's, in points."
QUICK_REFERENCE_EXPLANATION = "slide: the accuracy on the slides, for the full run (a quick run's is not comparable)."
LOSS_EXPLANATION = "Runs without a validation set (Playground) are not ranked; test loss: at the last epoch."
TARGET_EXPLANATION = (
    "test loss at best: the test loss at the epoch of best validation accuracy, the weights of the test column and "
    "of the pictures; target: the test loss the task aims to get under; reached: whether that test loss is under it."
)
REGRESSION_EXPLANATION = (
    "A regression run (mean squared error) has no accuracies: its best epoch is the one of lowest validation loss "
    "(val loss), test loss at best is the test loss at that epoch, and its exercise's best run is the one of "
    "lowest val loss."
)
REPEATS_EXPLANATION = (
    "A run trained several times (repeats, with the next seeds) shows its repeat of best validation score (never "
    "chosen by the test set); mean: the test accuracy averaged over its repeats; seconds: of all repeats."
)


def percent(value: float | None) -> str:
    return "—" if missing(value) else f"{value:.2%}"


def points(value: float | None) -> str:
    return "—" if missing(value) else f"{value:+.2f}"


def loss(value: float | None) -> str:
    return "—" if missing(value) else f"{value:.4g}"


def number(value: float | None, digits: int = 0) -> str:
    return "—" if missing(value) else f"{value:.{digits}f}"


def yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


@dataclass(frozen=True)
class Column:
    """One column of a report table: its header and the ``Row`` attribute it shows, formatted by ``show``."""

    header: str
    field: str  #: the Row attribute shown
    show: Callable[[Any], str] = str
    short: str = ""  #: the terminal's header, to leave room for the settings at 100 columns
    text: bool = False  #: left-aligned words; numbers go right

    def cell(self, row: Row) -> str:
        return self.show(getattr(row, self.field))


EXERCISE = Column("exercise", "exercise", text=True)
NOTES = Column("notes", "notes", text=True)
DIRECTORY = Column("directory", "directory", text=True)
VERSUS = Column("vs first run", "verdict", text=True)
DIRECTORY_EXPLANATION = (
    "directory: the run's folder, relative to this report; give it to `layerlab eval` or `layerlab predict`."
)
_ALL = (
    Column("run", "run", text=True),
    Column("changed", "changed", text=True),
    Column("best val", "best_val_accuracy", percent, short="val"),
    Column("test", "test_accuracy", percent),
    Column("mean", "test_mean", percent),
    Column("95% interval", "interval", short="95%"),
    Column("final", "final_test_accuracy", percent),
    Column("val loss", "best_val_loss", loss, short="vloss"),
    Column("test loss at best", "test_loss", loss, short="tloss"),
    Column("test loss", "final_test_loss", loss, short="loss"),
    Column("target", "loss_target", loss),
    Column("reached", "reached_target", yes_no),
    Column("slide", "slide_reference", percent),
    Column("Δ pp", "difference_pp", points),
    Column("epochs", "epochs", number, short="ep"),
    Column("seconds", "seconds", lambda value: number(value, 1), short="sec"),
    Column("status", "status", text=True),
)


def _has_references(rows: list[Row]) -> bool:
    return any(row.slide_reference is not None for row in rows)


def _has_targets(rows: list[Row]) -> bool:
    return any(row.loss_target is not None for row in rows)


def _has_unranked_losses(rows: list[Row]) -> bool:
    """Whether a run has a test loss but no validation accuracy or loss (a Playground set): then show the loss."""
    return any(
        row.best_val_accuracy is None and row.best_val_loss is None and row.final_test_loss is not None for row in rows
    )


def all_regression(rows: list[Row]) -> bool:
    """Whether every run is a regression run: then the table has no accuracy columns."""
    return bool(rows) and not any(task_named(row.task).has_classes for row in rows)


def quick_note(rows: list[Row]) -> str:
    """The quick-run banner: a regression report speaks of losses, not accuracies."""
    return QUICK_NOTE_REGRESSION if all_regression(rows) else QUICK_NOTE


def has_regression(rows: list[Row]) -> bool:
    """Whether a regression run has a validation loss (without one, its last epoch's test loss says it all)."""
    return any(not task_named(row.task).has_classes and row.best_val_loss is not None for row in rows)


def _has_repeats(rows: list[Row]) -> bool:
    return any(row.repeats for row in rows)


def columns(rows: list[Row], quick: bool = False) -> list[Column]:
    """The shared columns: slide and Δ pp only when a run has a reference, the last test loss only when a
    run has no validation accuracy, the test loss at best, target and reached with a loss target, mean
    only with repeats, the regression losses only with a regression run (and no accuracies when every run
    is one); no Δ pp in a quick run's table (its accuracies are not comparable to the slides')."""
    hidden = set() if _has_references(rows) else {"slide_reference", "difference_pp"}
    hidden |= {"difference_pp"} if quick else set()
    hidden |= set() if _has_unranked_losses(rows) else {"final_test_loss"}
    hidden |= set() if _has_targets(rows) else {"loss_target", "reached_target"}
    hidden |= set() if _has_repeats(rows) else {"test_mean"}
    hidden |= set() if any(row.interval for row in rows) else {"interval"}
    hidden |= set() if has_regression(rows) else {"best_val_loss"}
    hidden |= set() if has_regression(rows) or _has_targets(rows) else {"test_loss"}
    if all_regression(rows):
        hidden |= {"best_val_accuracy", "test_accuracy", "final_test_accuracy"}
    return [column for column in _ALL if column.field not in hidden]


def explanation(rows: list[Row], quick: bool = False) -> str:
    extra = [QUICK_REFERENCE_EXPLANATION if quick else REFERENCE_EXPLANATION] * _has_references(rows) + [
        LOSS_EXPLANATION
    ] * _has_unranked_losses(rows)
    extra += [TARGET_EXPLANATION] * _has_targets(rows)
    extra += [REGRESSION_EXPLANATION] * has_regression(rows)
    extra += [REPEATS_EXPLANATION] * _has_repeats(rows)
    extra += [DIRECTORY_EXPLANATION] * any(row.directory for row in rows)
    measures = REGRESSION_INTERVAL_EXPLANATION if all_regression(rows) else INTERVAL_EXPLANATION
    return " ".join([VERDICT_EXPLANATION, measures, *extra])


def file_columns(rows: list[Row], quick: bool = False) -> list[Column]:
    """The columns of the report files' tables: the exercise, the shared ones, the run's directory (when
    known) and the notes."""
    versus = [VERSUS] * any(row.comparison is not None for row in rows)
    return [EXERCISE, *columns(rows, quick), *versus, *[DIRECTORY] * any(row.directory for row in rows), NOTES]


def settings_lines(settings: dict[str, Any]) -> list[str]:
    """The shared settings as TOML (``key = value`` lines a settings file takes), the model first (it is
    the one people look for); a setting left unset (None, which TOML lacks) as a comment."""
    ordered = sorted(settings.items(), key=lambda item: item[0] != "model")
    return [
        f"# {key}: not set (its default)" if value is None else f"{key} = {toml_value(value)}"
        for key, value in ordered
        if value not in ({}, "")
    ]


def runs_table(rows: list[Row], quick: bool = False) -> Table:
    """The report files' table of runs (``file_columns``): numbers right, the best run and those tied marked."""
    shown = file_columns(rows, quick)
    return Table(
        headers=[column.header for column in shown],
        rows=[[column.cell(row) for column in shown] for row in rows],
        numeric=[not column.text for column in shown],
        marks=["best" if row.best else "tied" if row.tied else "" for row in rows],
        marked_column=[column.field for column in shown].index("run"),
    )
