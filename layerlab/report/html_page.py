"""Every report page as one self-contained HTML file (``html_document``), in one style: the plots embedded
as data URIs, so that it opens anywhere."""

from __future__ import annotations

import base64
import html

from .blocks import Block, Bullets, Code, Figure, Heading, Item, Page, Paragraph, Table
from .columns import BEST_MARK, MARK, TIED_MARK, runs_table
from .document import Document, page_of
from .row import Row

STYLESHEET = """
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
    """An experiment's report."""
    return html_document(page_of(document))


def html_document(page: Page) -> str:
    """A page as a whole HTML file: its title, its blocks, and the one stylesheet of every report."""
    title = html.escape(page.title)
    parts = [
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>',
        f"<style>{STYLESHEET}</style>\n</head>\n<body>\n<h1>{title}</h1>",
        *filter(None, (html_block(block) for block in page.blocks)),
        f"{MARK}\n</body>\n</html>\n" if page.marked else "</body>\n</html>\n",
    ]
    return "\n".join(parts)


def html_block(block: Block) -> str:
    """One block as HTML ("" for an empty paragraph)."""
    e = html.escape
    if isinstance(block, Heading):
        return f"<h2>{e(block.text)}</h2>"
    if isinstance(block, Paragraph):
        if not block.text:
            return ""
        if block.style == "strong":
            return f"<p><b>{e(block.text)}</b></p>"
        return f'<p class="{block.style}">{e(block.text)}</p>' if block.style else f"<p>{e(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_item(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Code):
        return f"<pre>{e(block.text)}</pre>"
    if isinstance(block, Figure):
        data = base64.b64encode(block.path.read_bytes()).decode("ascii")
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{e(block.caption)}">'
            f"<figcaption>{e(block.caption)}</figcaption></figure>"
        )
    raise TypeError(f"not a report block: {block!r}")


def _item(item: Item) -> str:
    e = html.escape
    lead = f"<b>{e(item.lead)}</b> " if item.lead else ""
    status = f'<span class="{item.status.split()[0]}">{e(item.status)}</span>: ' if item.labelled else ""
    return lead + status + e(item.text) + (f"<code>{e(item.code)}</code>" if item.code else "")


def html_table(rows: list[Row], quick: bool = False) -> str:
    return _table(runs_table(rows, quick))


def _table(table: Table) -> str:
    headers = "".join(f"<th>{html.escape(header)}</th>" for header in table.headers)
    lines = ["<table>", f"<tr>{headers}</tr>"]
    for number, row in enumerate(table.rows):
        cells = []
        for column, cell in enumerate(row):
            text, mark = html.escape(cell), table.mark(number) if column == table.marked_column else ""
            if mark == "best":
                text = f"{BEST_MARK} <b>{text}</b>"
            elif mark == "tied":
                text = f"{TIED_MARK} {text}"
            cells.append(f'<td class="number">{text}</td>' if table.is_numeric(column) else f"<td>{text}</td>")
        lines.append(('<tr class="best">' if table.mark(number) == "best" else "<tr>") + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)
