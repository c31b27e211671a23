"""What every report page is made of: headings, paragraphs, lists, tables, code and figures.

An experiment's report (``document.Document``), a search's (``search/report.py``) and ``layerlab tune``'s
notes are each a ``Page`` of these blocks; ``markdown.markdown_page`` and ``html_page.html_document``
render any page, so that every report has one Markdown form and one HTML style.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Paragraph:
    """A paragraph; ``style``: "quick" (the banner of a quick run), "strong", "explanation" (the small print
    under a table) or "" (plain)."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class Item:
    """A list item: an optional bold ``lead`` ("exercise 1.") or ``status`` ("agrees"), its ``text``, and an
    optional command after it, shown as code."""

    text: str
    lead: str = ""
    status: str = ""
    code: str = ""

    @property
    def labelled(self) -> bool:
        """Whether the status is shown before the text: not when the text says it already ("... not
        measured: ...", "Cannot tell yet whether ...")."""
        return bool(self.status) and self.status.lower() not in self.text.lower()


@dataclass(frozen=True)
class Bullets:
    items: list[Item]


@dataclass(frozen=True)
class Table:
    """A table of text cells; ``numeric``: the columns aligned right (none when empty); ``marks``: per row
    "best" or "tied" (or ""), shown on the cell of column ``marked_column``."""

    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    marked_column: int = 1

    def is_numeric(self, column: int) -> bool:
        return bool(self.numeric) and self.numeric[column]

    def mark(self, row: int) -> str:
        return self.marks[row] if self.marks else ""


@dataclass(frozen=True)
class Code:
    """Preformatted text; ``language`` names it for Markdown ("toml")."""

    text: str
    language: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG figure and its caption (the HTML embeds it; Markdown links it, relative to the page)."""

    caption: str
    path: Path


Block = Heading | Paragraph | Bullets | Table | Code | Figure


@dataclass
class Page:
    """A whole report page: its title and blocks; ``marked``: it ends with ``columns.MARK`` (a report that
    ``layerlab report`` may write again over an earlier one)."""

    title: str
    blocks: list[Block]
    marked: bool = True
