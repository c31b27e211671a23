"""The report as one self-contained HTML file: the plots embedded as data URIs, so it opens anywhere."""

from __future__ import annotations

import base64
import html

from .columns import BEST_MARK, MARK, TIED_MARK, explanation, file_columns, quick_note, settings_lines
from .document import Document
from .row import Row, by_exercise

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 14px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.best { background: #fff4c2; }
.quick { background: #fde8d4; border-left: 4px solid #f59322; padding: 0.5em 1em; font-weight: bold; }
.explanation, figcaption { color: #555; font-size: 14px; }
pre { background: #f6f6f6; padding: 0.6em 1em; overflow-x: auto; font-size: 13px; }
figure { margin: 1.5em 0; }
img { max-width: 100%; }
.agrees { color: #1a7f37; font-weight: bold; } .disagrees { color: #b3261e; font-weight: bold; }
.cannot, .not { color: #8a6d00; font-weight: bold; }
"""


def html_page(document: Document) -> str:
    e = html.escape
    title = e(document.title)
    parts = [
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>',
        f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>{title}</h1>",
    ]
    if document.quick:
        parts.append(f'<p class="quick">{e(quick_note(document.rows))}</p>')
    if document.description:
        parts.append(f"<p>{e(document.description)}</p>")
    if document.notes:
        parts.append("<ul>" + "".join(f"<li>{e(note)}</li>" for note in document.notes) + "</ul>")
    if document.conclusions:
        items = "".join(f"<li><b>{e(exercise)}.</b> {e(sentence)}</li>" for exercise, sentence in document.conclusions)
        parts += ["<h2>Conclusions</h2>", f"<ul>{items}</ul>"]
    if document.expectations:
        items = "".join(
            f'<li><span class="{check.status.split()[0]}">{e(check.status)}</span>: {e(check.sentence)}</li>'
            for check in document.expectations
        )
        parts += ["<h2>What the slides expect</h2>", f"<ul>{items}</ul>"]
    rows = document.rows
    parts += [
        "<h2>Results</h2>",
        html_table(rows, document.quick),
        f'<p class="explanation">{e(explanation(rows, document.quick))}</p>',
    ]
    if document.settings:
        lines = "\n".join(settings_lines(document.settings))
        parts += [f"<h2>{e(document.settings_title)}</h2>", f"<pre>{e(lines)}</pre>"]
    if document.model_summary:
        parts.append(f"<p>The base model, layer by layer:</p>\n<pre>{e(document.model_summary)}</pre>")
    for exercise, group in by_exercise(document.plots, lambda plot: plot.exercise).items():
        parts.append(f"<h2>{e(exercise)}</h2>")
        for plot in group:
            data = base64.b64encode(plot.path.read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{e(plot.caption)}">'
                f"<figcaption>{e(plot.caption)}</figcaption></figure>"
            )
    parts.append(f"{MARK}\n</body>\n</html>\n")
    return "\n".join(parts)


def html_table(rows: list[Row], quick: bool = False) -> str:
    shown = file_columns(rows, quick)
    headers = "".join(f"<th>{html.escape(column.header)}</th>" for column in shown)
    lines = ["<table>", f"<tr>{headers}</tr>"]
    for row in rows:
        cells = []
        for column in shown:
            text = html.escape(column.cell(row))
            if column.field == "run" and row.best:
                text = f"{BEST_MARK} <b>{text}</b>"
            elif column.field == "run" and row.tied:
                text = f"{TIED_MARK} {text}"
            cells.append(f"<td>{text}</td>" if column.text else f'<td class="number">{text}</td>')
        lines.append(('<tr class="best">' if row.best else "<tr>") + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)
