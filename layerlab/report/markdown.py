"""The report as Markdown: the table, the shared settings, links to the plots."""

from __future__ import annotations

from pathlib import Path

from .columns import BEST_MARK, MARK, TIED_MARK, explanation, file_columns, quick_note, settings_lines
from .document import Document
from .row import Row, by_exercise


def markdown_table(rows: list[Row], quick: bool = False) -> str:
    """A Markdown table of ``rows`` with exercise and notes columns; the best run has a ★."""
    shown = file_columns(rows, quick)
    lines = [
        "| " + " | ".join(column.header for column in shown) + " |",
        "|" + "|".join("---" if column.text else "---:" for column in shown) + "|",
    ]
    for row in rows:
        cells = [_escape(column.cell(row)) for column in shown]
        if row.best:
            cells[1] = f"{BEST_MARK} **{cells[1]}**"
        elif row.tied:
            cells[1] = f"{TIED_MARK} {cells[1]}"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(document: Document, directory: Path) -> str:
    """The whole report; plot links relative to ``directory`` (where report.md goes)."""
    parts = [f"# {document.title}\n"]
    if document.quick:
        parts.append(f"> **{quick_note(document.rows)}**\n")
    if document.description:
        parts.append(document.description + "\n")
    if document.notes:
        parts.append("".join(f"- {note}\n" for note in document.notes))
    if document.conclusions:
        parts.append("## Conclusions\n")
        parts.append("".join(f"- **{_escape(exercise)}.** {sentence}\n" for exercise, sentence in document.conclusions))
    if document.expectations:
        parts.append("## What the slides expect\n")
        parts.append("".join(f"- *{check.status}*: {check.sentence}\n" for check in document.expectations))
    parts += [
        "## Results\n",
        markdown_table(document.rows, document.quick),
        explanation(document.rows, document.quick) + "\n",
    ]
    if document.settings:
        lines = "\n".join(settings_lines(document.settings))
        parts += [f"## {document.settings_title}\n", f"```toml\n{lines}\n```\n"]
    if document.model_summary:
        parts.append(f"The base model, layer by layer:\n\n```\n{document.model_summary}\n```\n")
    for exercise, group in by_exercise(document.plots, lambda plot: plot.exercise).items():
        parts.append(f"## {exercise}\n")
        for plot in group:
            link = plot.path.relative_to(directory).as_posix()
            parts.append(f"![{plot.caption}]({link})\n\n*{plot.caption}*\n")
    parts.append(MARK + "\n")
    return "\n".join(parts)
