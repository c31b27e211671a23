"""Reports of an experiment: a table of its runs, plots, one Markdown and one self-contained HTML file.

The input is an experiment directory as ``layerlab run`` writes it (``layerlab/experiments/runner.py``)::

    experiment.json   name, title, description, quick, notes, and per run: name, exercise, changed (the
                      settings that differ from the shared ones), directory, status (done, failed,
                      pending), error, ensemble, note, reference (the slide's accuracy, a fraction),
                      loss_target (a test loss to get under)
    runs/<run>/       a run directory (``layerlab/train.py``) plus predictions.npz and, for the 2D
                      Playground sets, boundary.npz; an ensemble holds ensemble.json, the predictions of
                      its vote and member-1/, member-2/, ..., each a run directory

The report goes next to ``experiment.json``::

    report/*.png      per exercise: learning curves, gradient norms per layer, decision boundaries; for
                      the best run of each exercise: confusion matrix, misclassified test images and
                      first-layer conv filters
    report.md         the table and links to the plots
    report.html       the same with the plots embedded as data URIs: one file that opens anywhere

The numbers follow Nielsen's protocol (deck 001): "test" is the test accuracy at the epoch of best
validation accuracy, "final" the one after the last epoch. The best run of an exercise is the finished
run with the highest best validation accuracy (never the test accuracy: that would select on the test
set). An ensemble reports its majority vote as test accuracy, the epochs of one member and the seconds
of all members together; it has no validation accuracy of its own and is not ranked. A plot whose input
is missing (a pending or failed run, no predictions.npz, a model without conv layers) is left out.

The figures are drawn with matplotlib's object interface (``Figure``, no pyplot), so the Agg renderer
writes the PNGs and no window opens and no global backend changes.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import sys
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import teaching_plots
from .errors import LayerlabError
from .files import write_text
from .weights import load_weights

QUICK_NOTE = "quick run: fewer images and epochs; accuracies are not comparable to the slides"
BEST_MARK = "★"
EXPLANATION = (
    f"{BEST_MARK} marks the best run of each exercise, chosen by best validation accuracy. "
    "test: test accuracy at the epoch of best validation accuracy (Nielsen's protocol); final: after the "
    "last epoch. An ensemble reports its majority vote as test accuracy, the epochs of one member and the "
    "seconds of all members; it has no validation accuracy of its own and is not ranked."
)
REFERENCE_EXPLANATION = "slide: the accuracy on the slides; Δ pp: ours minus the slide's, in points."
LOSS_EXPLANATION = "Runs without a validation set (Playground) are not ranked; test loss: at the last epoch."
TARGET_EXPLANATION = (
    "test loss: at the last epoch; target: the test loss the task aims to get under; reached: whether the run's "
    "test loss ended under it."
)
REPEATS_EXPLANATION = (
    "A run trained several times (repeats, with the next seeds) shows its repeat with the best test accuracy, "
    "as Nielsen reported his best of 3; mean: the test accuracy averaged over its repeats; seconds: of all repeats."
)
#: TensorFlow Playground's colours: orange for negative (class 0), blue for positive (class 1).
PLAYGROUND_COLOURS = ("#f59322", "#e8eaeb", "#0877bd")


class ReportError(LayerlabError, ValueError):
    """An experiment directory, or a file in it, that a report cannot be made from."""


# ---------------------------------------------------------------------------------------------------
# Reading an experiment directory
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """One run's entry in experiment.json and its directory."""

    entry: dict[str, Any]
    directory: Path

    @property
    def name(self) -> str:
        return self.entry["name"]

    @property
    def exercise(self) -> str:
        return self.entry.get("exercise") or "runs"

    def file(self, name: str) -> Path | None:
        """``name`` in the run directory, else in member-1/ (an ensemble's training files are there)."""
        for folder in (self.directory, self.directory / "member-1"):
            if (folder / name).is_file():
                return folder / name
        return None

    def json(self, name: str) -> dict[str, Any] | None:
        path = self.file(name)
        return _read_json(path) if path else None

    def metrics(self) -> list[dict[str, Any]]:
        """The epochs of metrics.jsonl (member 1's for an ensemble); [] before the first epoch."""
        path = self.file("metrics.jsonl")
        if path is None:
            return []
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        try:
            return [json.loads(line) for line in lines]
        except json.JSONDecodeError as e:
            raise ReportError(f"{path} is not valid JSON lines ({e}); run the experiment again") from None

    def dataset(self) -> dict[str, Any]:
        """config.json's description of the data: name, classes, input_shape, task."""
        return (self.json("config.json") or {}).get("dataset", {})


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ReportError(f"{path} is not valid JSON ({e}); run the experiment again to rewrite it") from None


def _read_npz(path: Path | None) -> dict[str, np.ndarray] | None:
    if path is None:
        return None
    try:
        with np.load(path) as arrays:
            return {name: arrays[name] for name in arrays.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ReportError(f"{path} cannot be read ({e}); delete it and run the experiment again") from None


def _load(experiment_dir: str | os.PathLike) -> tuple[dict[str, Any], list[_Run]]:
    directory = Path(experiment_dir)
    index = directory / "experiment.json"
    if not index.is_file():
        raise ReportError(
            f"{directory} is not an experiment directory (no experiment.json); "
            "give the directory that `layerlab run` wrote"
        )
    experiment = _read_json(index)
    runs = []
    for i, entry in enumerate(experiment.get("runs", [])):
        missing = [key for key in ("name", "directory", "status") if key not in entry]
        if missing:
            raise ReportError(f"{index}: run {i + 1} has no {', '.join(missing)}; run the experiment again")
        reference = entry.get("reference")
        if reference is not None and not (isinstance(reference, int | float) and 0 < reference <= 1):
            raise ReportError(
                f"{index}: run {entry['name']!r} has reference {reference!r}; give the slide's accuracy as a "
                "fraction, e.g. 0.978 for 97.80%"
            )
        runs.append(_Run(entry, directory / entry["directory"]))
    return experiment, runs


def _by_exercise(items: list, exercise=lambda item: item["exercise"]) -> dict[str, list]:
    """Items grouped by exercise, in the order the exercises first appear."""
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(exercise(item), []).append(item)
    return groups


# ---------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------


def table(experiment_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """One row per run, in the order of experiment.json.

    Keys: run, exercise, changed (``"lr=0.02, model=..."``), best_val_accuracy, test_accuracy (at the
    best validation epoch), final_test_accuracy, final_test_loss, epochs, seconds, status (done, failed,
    pending), slide_reference and difference_pp (ours minus the slide's, percentage points; None without a
    reference), loss_target and reached_target (final_test_loss < loss_target; None without a target), notes,
    and best (True for the best run of its exercise by best validation accuracy).
    A run trained several times (``repeats``) is one row: the numbers of its repeat with the best test
    accuracy (Nielsen reported his best of 3), with repeats (how many finished), test_mean over them and
    best_repeat (that repeat's name; None for other rows). Accuracies are fractions; a number that does
    not exist (yet) is None.
    """
    return _rows(_load(experiment_dir)[1])


def _rows(runs: list[_Run]) -> list[dict[str, Any]]:
    rows = _merge_repeats([(run, _row(run)) for run in runs])
    for group in _by_exercise(rows).values():
        ranked = [row for row in group if row["status"] == "done" and not _missing(row["best_val_accuracy"])]
        if ranked:
            max(ranked, key=lambda row: row["best_val_accuracy"])["best"] = True  # the first one on a tie
    return rows


def _row(run: _Run) -> dict[str, Any]:
    entry = run.entry
    result = run.json("result.json") or {}
    notes = [entry.get("note", "")]
    if result.get("status") in ("early_stopping", "diverged"):
        notes.append(f"{result['status'].replace('_', ' ')}: {result.get('message', '')}")
    if entry["status"] == "failed":
        notes.append(f"failed: {entry.get('error', 'no error message')}")
    changed = ", ".join(f"{key}={value}" for key, value in entry.get("changed", {}).items())
    row = {
        "run": run.name,
        "exercise": run.exercise,
        "changed": changed or "shared settings",
        "best_val_accuracy": result.get("best_val_accuracy"),
        "test_accuracy": result.get("test_accuracy"),
        "final_test_accuracy": result.get("final_test_accuracy"),
        "epochs": result.get("epochs"),
        "seconds": result.get("seconds"),
        "status": entry["status"],
        "slide_reference": entry.get("reference"),
        "difference_pp": None,
        "best": False,
    }
    if entry.get("ensemble"):
        values, note = _ensemble_values(run)
        row |= values
        notes.append(note)
    if row["slide_reference"] is not None and not _missing(row["test_accuracy"]):
        row["difference_pp"] = 100 * (row["test_accuracy"] - row["slide_reference"])
    history = [] if entry.get("ensemble") else run.metrics()
    row["final_test_loss"] = history[-1].get("test_loss") if history else None
    row["loss_target"] = entry.get("loss_target")
    row["reached_target"] = None
    if row["loss_target"] is not None and not _missing(row["final_test_loss"]):
        row["reached_target"] = bool(row["final_test_loss"] < row["loss_target"])
    row["notes"] = "; ".join(note for note in notes if note)
    return {key: None if _missing(value) else value for key, value in row.items()}  # NaN: no validation set


def _merge_repeats(pairs: list[tuple[_Run, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows in order, the repeats of a run (entries with ``repeat_of``) folded into one row."""
    groups: dict[str, list[dict[str, Any]]] = {}
    ordered: list[dict[str, Any] | list[dict[str, Any]]] = []
    for run, row in pairs:
        base = run.entry.get("repeat_of")
        if not base:
            ordered.append(row | {"repeats": None, "test_mean": None, "best_repeat": None})
        elif base in groups:
            groups[base].append(row)
        else:
            groups[base] = [row]
            ordered.append(groups[base])
    return [item if isinstance(item, dict) else _repeated_row(item) for item in ordered]


def _repeated_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    base = rows[0]["run"].rpartition("#")[0]
    done = [row for row in rows if row["status"] == "done" and row["test_accuracy"] is not None]
    if not done:
        return rows[0] | {"run": base, "repeats": 0, "test_mean": None, "best_repeat": None}
    best = max(done, key=lambda row: row["test_accuracy"])  # the first one on a tie
    accuracies = [row["test_accuracy"] for row in done]
    unfinished = [row for row in rows if row not in done]
    status = unfinished[0]["status"] if unfinished else "done"
    notes = [best["notes"], f"best of {len(done)} runs ({', '.join(f'{a:.2%}' for a in accuracies)})"]
    if len(done) > 1:
        notes[-1] += f", mean {np.mean(accuracies):.2%} ± {np.std(accuracies, ddof=1):.2%}"
    if unfinished:
        notes.append(f"{len(unfinished)} of {len(rows)} repeats {status}")
    return best | {
        "run": base,
        "seconds": sum(row["seconds"] or 0 for row in rows),
        "status": status,
        "repeats": len(done),
        "test_mean": float(np.mean(accuracies)),
        "best_repeat": best["run"],
        "notes": "; ".join(note for note in notes if note),
    }


def _ensemble_values(run: _Run) -> tuple[dict[str, Any], str]:
    """The vote's accuracy as test accuracy, member 1's epochs, the seconds of all members; and a note."""
    summary = run.json("ensemble.json")
    if summary is None:  # not finished: no vote yet
        return {"best_val_accuracy": None, "test_accuracy": None, "final_test_accuracy": None}, ""
    members = [_read_json(path) for path in run.directory.glob("member-*/result.json")]
    first = run.directory / "member-1" / "result.json"
    accuracies = summary["member_accuracies"]
    values = {
        "best_val_accuracy": None,
        "test_accuracy": summary["vote_accuracy"],
        "final_test_accuracy": None,
        "epochs": _read_json(first)["epochs"] if first.is_file() else None,
        "seconds": sum(member["seconds"] for member in members) if members else None,
    }
    note = (
        f"majority vote of {len(accuracies)}: members {np.mean(accuracies):.2%} on average, best "
        f"{max(accuracies):.2%}; mean probability {summary['mean_accuracy']:.2%}"
    )
    return values, note


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _percent(value: float | None) -> str:
    return "—" if _missing(value) else f"{value:.2%}"


def _points(value: float | None) -> str:
    return "—" if _missing(value) else f"{value:+.2f}"


def _loss(value: float | None) -> str:
    return "—" if _missing(value) else f"{value:.4g}"


def _number(value: float | None, digits: int = 0) -> str:
    return "—" if _missing(value) else f"{value:.{digits}f}"


def _has_references(rows: list[dict[str, Any]]) -> bool:
    return any(row["slide_reference"] is not None for row in rows)


def _has_targets(rows: list[dict[str, Any]]) -> bool:
    return any(row["loss_target"] is not None for row in rows)


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def _has_unranked_losses(rows: list[dict[str, Any]]) -> bool:
    """Whether a run has a test loss but no validation accuracy (a Playground set): then show the loss."""
    return any(row["best_val_accuracy"] is None and row["final_test_loss"] is not None for row in rows)


def _columns(rows: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """(header, row key, formatter) of the shared columns; slide and Δ pp only when a run has a reference,
    test loss only when a run has no validation accuracy or a loss target, target and reached only with one."""
    hidden = set() if _has_references(rows) else {"slide_reference", "difference_pp"}
    hidden |= set() if _has_unranked_losses(rows) or _has_targets(rows) else {"final_test_loss"}
    hidden |= set() if _has_targets(rows) else {"loss_target", "reached_target"}
    hidden |= set() if any(row["repeats"] for row in rows) else {"test_mean"}
    columns = [
        ("run", "run", str),
        ("changed", "changed", str),
        ("best val", "best_val_accuracy", _percent),
        ("test", "test_accuracy", _percent),
        ("mean", "test_mean", _percent),
        ("final", "final_test_accuracy", _percent),
        ("test loss", "final_test_loss", _loss),
        ("target", "loss_target", _loss),
        ("reached", "reached_target", _yes_no),
        ("slide", "slide_reference", _percent),
        ("Δ pp", "difference_pp", _points),
        ("epochs", "epochs", _number),
        ("seconds", "seconds", lambda value: _number(value, 1)),
        ("status", "status", str),
    ]
    return [column for column in columns if column[1] not in hidden]


_TEXT_KEYS = ("run", "changed", "status", "exercise", "notes")  # left-aligned; the numbers go right


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of ``rows`` (from ``table``) with exercise and notes columns; the best run has a ★."""
    columns = [("exercise", "exercise", str), *_columns(rows), ("notes", "notes", str)]
    lines = [
        "| " + " | ".join(header for header, _, _ in columns) + " |",
        "|" + "|".join("---" if key in _TEXT_KEYS else "---:" for _, key, _ in columns) + "|",
    ]
    for row in rows:
        cells = [_escape_markdown(show(row[key])) for _, key, show in columns]
        if row["best"]:
            cells[1] = f"{BEST_MARK} **{cells[1]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _escape_markdown(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


#: Terminal headers, short to leave room for the settings at 100 columns.
_SHORT_HEADERS = {"best val": "val", "test loss": "loss", "epochs": "ep", "seconds": "sec"}


def terminal_table(rows: list[dict[str, Any]], width: int = 100) -> str:
    """``rows`` as plain text at most ``width`` columns wide.

    One block per exercise; ``*`` marks the best run; long settings end in an ellipsis; notes (errors,
    ensembles, early stopping) go on an indented line below their run.
    """
    columns = [(_SHORT_HEADERS.get(header, header), key, show) for header, key, show in _columns(rows)]
    cells = [[show(row[key]) for _, key, show in columns] for row in rows]
    headers = [header for header, _, _ in columns]
    widths = [max(map(len, texts)) for texts in zip(headers, *cells, strict=True)]
    widths[0] = min(widths[0], 16)
    others = 2 + sum(widths) - widths[1] + 2 * (len(widths) - 1)
    widths[1] = max(12, min(widths[1], width - others))

    def line(mark: str, texts: list[str]) -> str:
        fitted = [
            _cut(text, size).ljust(size) if key in _TEXT_KEYS else _cut(text, size).rjust(size)
            for text, size, (_, key, _) in zip(texts, widths, columns, strict=True)
        ]
        return (mark + " " + "  ".join(fitted)).rstrip()

    lines = [line(" ", headers)]
    pairs = list(zip(rows, cells, strict=True))
    for exercise, group in _by_exercise(pairs, lambda pair: pair[0]["exercise"]).items():
        lines.append(_cut(exercise, width))
        for row, texts in group:
            lines.append(line("*" if row["best"] else " ", texts))
            if row["notes"]:
                lines.append(_cut("    " + row["notes"], width))
    lines.append(_cut("* best run of its exercise by val (best validation accuracy); test: at that epoch", width))
    if any(row["repeats"] for row in rows):
        lines.append(_cut("  a repeated run shows its repeat with the best test; mean: over its repeats", width))
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def print_summary(experiment_dir: str | os.PathLike, file: TextIO | None = None) -> None:
    """The experiment's title, counts of runs by status, and its table, for the terminal."""
    experiment, runs = _load(experiment_dir)
    rows = _rows(runs)
    file = file or sys.stdout
    statuses = [row["status"] for row in rows]
    counts = ", ".join(f"{statuses.count(status)} {status}" for status in ("done", "failed", "pending"))
    print(f"{experiment.get('title', experiment['name'])}: {len(rows)} runs, {counts}", file=file)
    if experiment.get("quick"):
        print(QUICK_NOTE, file=file)
    print(terminal_table(rows), file=file)


# ---------------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------------


@dataclass
class Plot:
    """A figure that ``make_plots`` wrote: the exercise it belongs to, what it shows, its PNG file."""

    exercise: str
    caption: str
    path: Path


def make_plots(experiment_dir: str | os.PathLike) -> list[Plot]:
    """Draw every plot whose input exists into ``<experiment_dir>/report/``; returns them in report order."""
    return _plots(Path(experiment_dir), _load(experiment_dir)[1])


def _plots(directory: Path, runs: list[_Run]) -> list[Plot]:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError("the report's plots need matplotlib: pip install matplotlib") from None
    out = directory / "report"
    out.mkdir(exist_ok=True)
    rows = _rows(runs)
    best = {row["best_repeat"] or row["run"] for row in rows if row["best"]}
    shown = {row["best_repeat"] or row["run"] for row in rows}  # of a run's repeats, the best one
    runs = [run for run in runs if run.name in shown]
    plots = []
    for exercise, group in _by_exercise(runs, lambda run: run.exercise).items():
        tag = _slug(exercise)
        drawings = [
            (f"curves-{tag}", partial(_learning_curves, group)),
            (f"gradients-{tag}", partial(_gradient_norms, group)),
            (f"boundaries-{tag}", partial(_decision_boundaries, group)),
            (f"capacity-{tag}", partial(teaching_plots.capacity, group)),
            (f"layer-gradients-{tag}", partial(teaching_plots.gradients_by_layer, group)),
            (f"activations-{tag}", partial(teaching_plots.activations_for, group)),
        ]
        for run in (run for run in group if run.name in best):
            predictions = _read_npz(run.file("predictions.npz"))
            name = _slug(run.name)
            if predictions is not None:
                drawings.append((f"confusion-{name}", partial(_confusion_matrix, run, predictions)))
                drawings.append((f"misclassified-{name}", partial(_misclassified, run, predictions)))
            drawings.append((f"filters-{name}", partial(_filters, run)))
        for file, draw in drawings:
            caption = draw(out / f"{file}.png")  # None: the plot's input is missing, nothing was written
            if caption:
                plots.append(Plot(exercise, caption, out / f"{file}.png"))
    return plots


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "runs"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _panels(count: int, size: float, columns: int):
    """A figure of ``count`` square-ish panels, ``columns`` to a row; the unused ones hidden."""
    rows = math.ceil(count / columns)
    columns = min(count, columns)
    figure = _figure(size * columns + 0.8, size * rows)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return figure, axes[:count]


def _image_grid(count: int, columns: int, width: float, height: float):
    """A figure with ``count`` small image axes, ``columns`` to a row, without frames or ticks."""
    rows = math.ceil(count / columns)
    figure = _figure(width * columns, height * rows + 0.3)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    return figure, axes[:count]


def _save(figure, path: Path) -> None:
    figure.savefig(path, dpi=100)


def _series(history: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([math.nan if _missing(epoch.get(key)) else epoch[key] for epoch in history], dtype=float)


def _epoch_axis(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _label(run: _Run) -> str:
    return f"{run.name} (member 1)" if run.entry.get("ensemble") else run.name


#: Line style, legend and caption words of the learning curves; "test" only for runs without a
#: validation set (Playground).
_CURVES = {
    "train": ("--", "training", "training dashed"),
    "val": ("-", "validation", "validation solid"),
    "test": (":", "test (no validation set)", "test dotted"),
}


def _learning_curves(runs: list[_Run], path: Path) -> str | None:
    """Accuracy and cost per epoch, one colour per run: training dashed, validation solid (test dotted
    for a run without a validation set)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import PercentFormatter

    curves = [(run, history) for run in runs if (history := run.metrics())]
    if not curves:
        return None
    figure = _figure(11, 4.2)
    accuracy, cost = figure.subplots(1, 2)
    drawn, legend = set(), []
    for i, (run, history) in enumerate(curves):
        held_out = "val" if np.isfinite(_series(history, "val_loss")).any() else "test"
        for split in ("train", held_out):
            drawn.add(split)
            for ax, measure in ((accuracy, "accuracy"), (cost, "loss")):
                series = _series(history, f"{split}_{measure}")
                ax.plot(_series(history, "epoch"), series, _CURVES[split][0], color=f"C{i % 10}")
        legend.append(Line2D([], [], color=f"C{i % 10}", label=_label(run)))
    styles = [(style, name, words) for split, (style, name, words) in _CURVES.items() if split in drawn]
    legend += [Line2D([], [], color="k", ls=style, label=name) for style, name, _ in styles]
    accuracy.set_title("accuracy")
    accuracy.yaxis.set_major_formatter(PercentFormatter(1))
    cost.set_title("cost (loss)")
    _epoch_axis(accuracy)
    _epoch_axis(cost)
    figure.legend(handles=legend, loc="outside right upper", fontsize=8)
    _save(figure, path)
    return f"Learning curves of {len(curves)} run(s): " + ", ".join(words for _, _, words in styles)


def _layer_index(name: str) -> float:
    """The layer's index in the spec (``"3.weight"`` -> 3); names without one sort last."""
    head = name.split(".")[0]
    return int(head) if head.isdigit() else math.inf


def _gradient_norms(runs: list[_Run], path: Path) -> str | None:
    """Mean gradient norm of each layer's weights per epoch, log scale; early layers dark, late ones light."""
    import matplotlib

    found = [(run, history) for run in runs if (history := run.metrics()) and history[0].get("grad_norms")]
    if not found:
        return None
    figure, axes = _panels(len(found), 4, columns=3)
    for ax, (run, history) in zip(axes, found, strict=True):
        layers = sorted({name for epoch in history for name in epoch.get("grad_norms", {})}, key=_layer_index)
        shades = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(layers)))
        for layer, shade in zip(layers, shades, strict=True):
            norms = [epoch.get("grad_norms", {}).get(layer, math.nan) for epoch in history]
            ax.plot(_series(history, "epoch"), norms, marker="o", markersize=3, color=shade, label=layer)
        ax.set(yscale="log", title=_label(run), ylabel="mean gradient norm")
        _epoch_axis(ax)
        ax.legend(fontsize=7)
    _save(figure, path)
    return "Gradient norm of each layer's weights per epoch (mean over the epoch's steps; log scale)"


def _decision_boundaries(runs: list[_Run], path: Path) -> str | None:
    """The model's output over the plane in Playground's colours, with training and test points."""
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.lines import Line2D

    found = [(run, grid) for run in runs if (grid := _read_npz(run.file("boundary.npz")))]
    if not found:
        return None
    colours = LinearSegmentedColormap.from_list("playground", PLAYGROUND_COLOURS)
    figure, axes = _panels(len(found), 3.4, columns=4)
    for ax, (run, grid) in zip(axes, found, strict=True):
        train_y, test_y = grid["train_y"].ravel(), grid["test_y"].ravel()
        if run.dataset().get("task") == "regression":
            top = max(np.abs(grid["p"]).max(), np.abs(train_y).max(), np.abs(test_y).max())
            low, high = -top, top
        else:
            low, high = 0.0, 1.0
        plane = grid["xx"], grid["yy"], grid["p"]
        ax.contourf(*plane, np.linspace(low, high, 21), cmap=colours, extend="both")
        ax.contour(*plane, [(low + high) / 2], colors="k", linewidths=0.8)
        style = dict(cmap=colours, vmin=low, vmax=high, s=14, linewidths=0.7)
        ax.scatter(*grid["train_points"].T, c=train_y, edgecolors="white", **style)
        ax.scatter(*grid["test_points"].T, c=test_y, edgecolors="black", marker="s", **style)
        ax.set(title=run.name, aspect="equal", xticks=[], yticks=[])
    points = [Line2D([], [], ls="", marker="o", mfc="grey", mec="white", label="training"),
              Line2D([], [], ls="", marker="s", mfc="grey", mec="black", label="test")]  # fmt: skip
    figure.legend(handles=points, loc="outside lower center", ncols=2, fontsize=8)
    _save(figure, path)
    return "Decision boundaries: the model's output over the plane (orange negative, blue positive)"


def _class_names(run: _Run, count: int) -> list[str]:
    names = [str(name) for name in run.dataset().get("classes", [])]
    return names + [str(i) for i in range(len(names), count)]


def _is_classification(run: _Run, predictions: dict[str, np.ndarray]) -> bool:
    return run.dataset().get("task", "classification") == "classification" and "proba" in predictions


def _confusion_matrix(run: _Run, predictions: dict[str, np.ndarray], path: Path) -> str | None:
    """Counts of (true class, predicted class) on the test set, the diagonal being the correct ones."""
    if not _is_classification(run, predictions):
        return None
    y_true, y_pred = predictions["y_true"].astype(int), predictions["y_pred"].astype(int)
    names = _class_names(run, max(y_true.max(), y_pred.max()) + 1)
    k = len(names)
    counts = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    size = 2.5 + 0.45 * k
    figure = _figure(size, size)
    ax = figure.subplots()
    ax.imshow(counts, cmap="Blues")
    if k <= 20:
        for (i, j), count in np.ndenumerate(counts):
            colour = "white" if count > counts.max() / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=colour)
    if max(map(len, names)) > 2:  # words (CIFAR-10's classes) rather than digits
        ax.set_xticks(range(k), names, rotation=45, ha="right")
    else:
        ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set(xlabel="predicted", ylabel="true", title=f"{run.name}: {np.mean(y_true == y_pred):.2%} correct")
    _save(figure, path)
    return f"Confusion matrix of {run.name}, the best run: {len(y_true):,} test examples"


def _as_image(x: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A (channels, height, width) input as imshow takes it: grey (dark ink) or RGB."""
    if x.shape[0] != 3:
        return x[0], "gray_r"
    rgb = x.transpose(1, 2, 0)
    if rgb.dtype == np.uint8:
        return rgb, None
    return (rgb - rgb.min()) / max(float(np.ptp(rgb)), 1e-12), None


def _misclassified(run: _Run, predictions: dict[str, np.ndarray], path: Path) -> str | None:
    """The misclassified test images the runner kept (up to 36), titled "true -> predicted"."""
    images = predictions.get("mis_x")
    if not _is_classification(run, predictions) or images is None or images.ndim != 4 or not len(images):
        return None
    true, predicted = predictions["mis_true"].astype(int), predictions["mis_pred"].astype(int)
    names = _class_names(run, max(true.max(), predicted.max()) + 1)
    figure, axes = _image_grid(len(images), math.ceil(math.sqrt(len(images))), 1.3, 1.45)
    for ax, image, t, p in zip(axes, images, true, predicted, strict=True):
        pixels, colours = _as_image(image)
        ax.imshow(pixels, cmap=colours)
        ax.set_title(f"{names[t]} -> {names[p]}", fontsize=8)
    _save(figure, path)
    total = int(np.sum(predictions["y_true"] != predictions["y_pred"]))
    return f"{len(images)} of the {total} misclassified test images of {run.name} (true -> predicted)"


def _first_conv_weight(run: _Run) -> np.ndarray | None:
    """The weight (F, C, k, k) of the first conv layer in best.safetensors, if the model has one."""
    path = run.file("best.safetensors")
    if path is None:
        return None
    state, _ = load_weights(path)
    kernels = [(name, w) for name, w in state.items() if name.endswith("weight") and w.ndim == 4]
    return min(kernels, key=lambda item: _layer_index(item[0]))[1] if kernels else None


def _filters(run: _Run, path: Path) -> str | None:
    """The first layer's filters: for grey inputs darker is more positive (the slides' way), on one scale."""
    weight = _first_conv_weight(run)
    if weight is None:
        return None
    count, channels, k = weight.shape[0], weight.shape[1], weight.shape[2]
    figure, axes = _image_grid(count, min(count, 10), 0.9, 0.95)
    limit = float(np.abs(weight).max()) or 1.0
    for ax, kernel in zip(axes, weight, strict=True):
        if channels == 3:
            ax.imshow(_as_image(kernel)[0])
        else:
            ax.imshow(kernel[0], cmap="gray_r", vmin=-limit, vmax=limit)
    figure.suptitle(f"{run.name}: first-layer filters", fontsize=9)
    _save(figure, path)
    shown = "in colour, each on its own scale" if channels == 3 else "darker is more positive"
    if channels not in (1, 3):
        shown += f"; input channel 1 of {channels}"
    return f"The {count} first-layer filters ({k}x{k}) of {run.name}, the best run ({shown})"


# ---------------------------------------------------------------------------------------------------
# Markdown and HTML
# ---------------------------------------------------------------------------------------------------


def write_report(experiment_dir: str | os.PathLike) -> Path:
    """Write the plots, ``report.md`` and the self-contained ``report.html``; returns the HTML file."""
    directory = Path(experiment_dir)
    experiment, runs = _load(directory)
    rows = _rows(runs)
    plots = _plots(directory, runs)
    write_text(directory / "report.md", _markdown(experiment, rows, plots, directory))
    write_text(directory / "report.html", _html(experiment, rows, plots))
    return directory / "report.html"


def _explanation(rows: list[dict[str, Any]]) -> str:
    extra = [REFERENCE_EXPLANATION] * _has_references(rows) + [LOSS_EXPLANATION] * _has_unranked_losses(rows)
    extra += [TARGET_EXPLANATION] * _has_targets(rows)
    extra += [REPEATS_EXPLANATION] * any(row["repeats"] for row in rows)
    return " ".join([EXPLANATION, *extra])


def _markdown(experiment: dict[str, Any], rows: list[dict], plots: list[Plot], directory: Path) -> str:
    parts = [f"# {experiment.get('title', experiment['name'])}\n"]
    if experiment.get("quick"):
        parts.append(f"> **{QUICK_NOTE}**\n")
    if experiment.get("description"):
        parts.append(experiment["description"] + "\n")
    if experiment.get("notes"):
        parts.append("".join(f"- {note}\n" for note in experiment["notes"]))
    parts += ["## Results\n", markdown_table(rows), _explanation(rows) + "\n"]
    for exercise, group in _by_exercise(plots, lambda plot: plot.exercise).items():
        parts.append(f"## {exercise}\n")
        for plot in group:
            link = plot.path.relative_to(directory).as_posix()
            parts.append(f"![{plot.caption}]({link})\n\n*{plot.caption}*\n")
    return "\n".join(parts)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 14px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.best { background: #fff4c2; }
.quick { background: #fde8d4; border-left: 4px solid #f59322; padding: 0.5em 1em; font-weight: bold; }
.explanation, figcaption { color: #555; font-size: 14px; }
figure { margin: 1.5em 0; }
img { max-width: 100%; }
"""


def _html(experiment: dict[str, Any], rows: list[dict[str, Any]], plots: list[Plot]) -> str:
    e = html.escape
    title = e(experiment.get("title", experiment["name"]))
    parts = [f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>',
             f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>{title}</h1>"]  # fmt: skip
    if experiment.get("quick"):
        parts.append(f'<p class="quick">{e(QUICK_NOTE)}</p>')
    if experiment.get("description"):
        parts.append(f"<p>{e(experiment['description'])}</p>")
    if experiment.get("notes"):
        parts.append("<ul>" + "".join(f"<li>{e(note)}</li>" for note in experiment["notes"]) + "</ul>")
    parts += ["<h2>Results</h2>", _html_table(rows), f'<p class="explanation">{e(_explanation(rows))}</p>']
    for exercise, group in _by_exercise(plots, lambda plot: plot.exercise).items():
        parts.append(f"<h2>{e(exercise)}</h2>")
        for plot in group:
            data = base64.b64encode(plot.path.read_bytes()).decode("ascii")
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{e(plot.caption)}">'
                         f"<figcaption>{e(plot.caption)}</figcaption></figure>")  # fmt: skip
    parts.append("</body>\n</html>\n")
    return "\n".join(parts)


def _html_table(rows: list[dict[str, Any]]) -> str:
    columns = [("exercise", "exercise", str), *_columns(rows), ("notes", "notes", str)]
    headers = "".join(f"<th>{html.escape(header)}</th>" for header, _, _ in columns)
    lines = ["<table>", f"<tr>{headers}</tr>"]
    for row in rows:
        cells = []
        for _, key, show in columns:
            text = html.escape(show(row[key]))
            if key == "run" and row["best"]:
                text = f"{BEST_MARK} <b>{text}</b>"
            cells.append(f"<td>{text}</td>" if key in _TEXT_KEYS else f'<td class="number">{text}</td>')
        lines.append(('<tr class="best">' if row["best"] else "<tr>") + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


__all__ = ["Plot", "QUICK_NOTE", "ReportError", "make_plots", "markdown_table", "print_summary", "table",
           "terminal_table", "write_report"]  # fmt: skip
