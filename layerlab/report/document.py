"""What an experiment's report says, before it is rendered: header, rows, shared settings, the base model,
plots; and the same as a ``Page`` of blocks for the Markdown and HTML renderers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LayerlabError
from ..spec import parse
from .blocks import Block, Bullets, Code, Figure, Heading, Item, Page, Paragraph
from .columns import explanation, quick_note, runs_table, settings_lines
from .reading import ExperimentSource
from .row import Row, by_exercise
from .table import base_settings
from .verdicts import ExpectationCheck, check_expectations, conclusion


@dataclass
class Plot:
    """A figure of the report: the exercise it belongs to, what it shows, its PNG file."""

    exercise: str
    caption: str
    path: Path


@dataclass
class Document:
    """A report as data, before rendering: title, table rows, base settings and plots, for the
    terminal, Markdown and HTML renderers."""

    title: str
    rows: list[Row]
    description: str = ""
    quick: bool = False
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  #: the settings where a run does not change them
    settings_title: str = "Base settings"
    model_summary: str = ""  #: the base model's layers, as ``layerlab summary`` prints them
    plots: list[Plot] = field(default_factory=list)
    conclusions: list[tuple[str, str]] = field(default_factory=list)  #: (exercise, its one-sentence conclusion)
    expectations: list[ExpectationCheck] = field(default_factory=list)  #: what the slides expect, checked


def document(experiment: ExperimentSource, table: list[Row], plots: list[Plot]) -> Document:
    settings = base_settings(experiment.runs)
    single = len(experiment.runs) == 1
    return Document(
        title=experiment.title,
        rows=table,
        description=experiment.description,
        quick=experiment.quick,
        notes=experiment.notes,
        settings=settings,
        settings_title="Settings" if single else 'Base settings (each run\'s "changed" says where it differs)',
        model_summary=_summary(settings.get("model"), experiment),
        plots=plots,
        conclusions=conclusions(table, experiment.quick),
        expectations=expectations(experiment, table),
    )


def page_of(document: Document) -> Page:
    """The report as a page: banner, description, notes, conclusions, expectations, the table of runs and
    what it means, the shared settings and base model, then the plots of each exercise."""
    quick = document.quick
    blocks: list[Block] = [Paragraph(quick_note(document.rows), "quick")] if quick else []
    blocks += [Paragraph(document.description)] if document.description else []
    blocks += [Bullets([Item(note) for note in document.notes])] if document.notes else []
    if document.conclusions:
        items = [Item(sentence, lead=f"{exercise}.") for exercise, sentence in document.conclusions]
        blocks += [Heading("Conclusions"), Bullets(items)]
    if document.expectations:
        items = [Item(check.sentence, status=check.status) for check in document.expectations]
        blocks += [Heading("What the slides expect"), Bullets(items)]
    blocks += [
        Heading("Results"),
        runs_table(document.rows, quick),
        Paragraph(explanation(document.rows, quick), "explanation"),
    ]
    if document.settings:
        blocks += [Heading(document.settings_title), Code("\n".join(settings_lines(document.settings)), "toml")]
    if document.model_summary:
        blocks += [Paragraph("The base model, layer by layer:"), Code(document.model_summary)]
    for exercise, group in by_exercise(document.plots, _plot_exercise).items():
        blocks += [Heading(exercise), *(Figure(plot.caption, plot.path) for plot in group)]
    return Page(document.title, blocks)


def _plot_exercise(plot: Plot) -> str:
    return plot.exercise


def expectations(experiment: ExperimentSource, table: list[Row]) -> list[ExpectationCheck]:
    """The experiment's ``expect`` list checked against its table (a quick run: those it is sized to show)."""
    return check_expectations(table, experiment.expect, experiment.quick, experiment.quick_expect)


def conclusions(table: list[Row], quick: bool = False) -> list[tuple[str, str]]:
    """Each exercise's one-sentence conclusion (``verdicts.conclusion``), in the table's order."""
    found = [(exercise, conclusion(group, quick)) for exercise, group in by_exercise(table, _exercise).items()]
    return [(exercise, sentence) for exercise, sentence in found if sentence]


def _exercise(row: Row) -> str:
    return row.exercise


def _summary(model: str | None, experiment: ExperimentSource) -> str:
    """``layerlab summary``'s table of the base model on the runs' input shape; "" when unknown."""
    shapes = [run.dataset.get("input_shape") for run in experiment.runs if run.dataset.get("input_shape")]
    if not model or not shapes:
        return ""
    try:
        return parse(model, tuple(shapes[0])).summary()
    except LayerlabError:
        return ""
