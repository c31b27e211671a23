"""Every report page as Markdown (``markdown_page``): an experiment's (the table, the shared settings, links to
the plots), a search's and ``layerlab tune``'s."""

from __future__ import annotations

from pathlib import Path

from .blocks import Block, Bullets, Code, Figure, Heading, Item, Page, Paragraph, Table
from .columns import BEST_MARK, MARK, TIED_MARK, runs_table
from .document import Document, page_of
from .row import Row


def markdown_table(rows: list[Row], quick: bool = False) -> str:
    """A Markdown table of ``rows`` with exercise and notes columns; the best run has a ★."""
    return _table(runs_table(rows, quick))


def markdown(document: Document, directory: Path) -> str:
    """An experiment's whole report; plot links relative to ``directory`` (where report.md goes)."""
    return markdown_page(page_of(document), directory)


def markdown_page(page: Page, directory: Path) -> str:
    """A page as Markdown: its title, its blocks a blank line apart; figure links relative to ``directory``."""
    parts = [f"# {page.title}\n", *(markdown_block(block, directory) for block in page.blocks)]
    return "\n".join(parts + [MARK + "\n"] * page.marked)


def markdown_block(block: Block, directory: Path) -> str:
    """One block, ending with a newline."""
    if isinstance(block, Heading):
        return f"## {block.text}\n"
    if isinstance(block, Paragraph):
        return {"quick": f"> **{block.text}**", "strong": f"**{block.text}**"}.get(block.style, block.text) + "\n"
    if isinstance(block, Bullets):
        return "".join(f"- {_item(item)}\n" for item in block.items)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Code):
        return f"```{block.language}\n{block.text}\n```\n"
    if isinstance(block, Figure):
        link = block.path.relative_to(directory).as_posix()
        return f"![{block.caption}]({link})\n\n*{block.caption}*\n"
    raise TypeError(f"not a report block: {block!r}")


def _item(item: Item) -> str:
    lead = f"**{_escape(item.lead)}** " if item.lead else ""
    status = f"*{item.status}*: " if item.labelled else ""
    return lead + status + item.text + (f"`{item.code}`" if item.code else "")


def _table(table: Table) -> str:
    lines = [
        "| " + " | ".join(table.headers) + " |",
        "|" + "|".join("---:" if table.is_numeric(i) else "---" for i in range(len(table.headers))) + "|",
    ]
    for number, row in enumerate(table.rows):
        cells = [_escape(cell) for cell in row]
        mark, at = table.mark(number), table.marked_column
        if mark == "best":
            cells[at] = f"{BEST_MARK} **{cells[at]}**"
        elif mark == "tied":
            cells[at] = f"{TIED_MARK} {cells[at]}"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
