"""A report as a notebook shows it: the object ``layerlab.report(...)`` returns (and ``layerlab.run``'s
``Experiment`` builds on).

It shows itself through the report's own renderers, so that whatever the report says (its columns, the
sentences that explain them, its conclusions, its figures) appears in the notebook without code of its
own here: ``_repr_html_`` is the body of ``report.html`` as ``html_page`` wrote it (its stylesheet scoped
to the output cell, so that it does not restyle the notebook), and ``__repr__`` the terminal's table
(``terminal.summary``). ``rows`` is the table model (``table.Row``), ``figures`` the report's matplotlib
figures drawn again from the runs (``plots.drawings``).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .document import conclusions, expectations
from .reading import ExperimentSource, ReportError, RunSource, is_experiment, read_experiment, read_runs
from .table import Row, rows
from .terminal import summary
from .verdicts import ExpectationCheck

#: The class of the element the report's HTML sits in, inside a notebook's output cell.
SCOPE = "layerlab-report"


@dataclass
class Report:
    """A written report: ``page`` (report.html), ``directory`` (where it is), ``sources`` (the directories it
    reports on: one experiment directory, or run directories compared)."""

    page: Path
    directory: Path
    sources: tuple[Path, ...]
    _figures: dict[str, Any] | None = field(default=None, repr=False)
    _complete: bool = field(default=False, repr=False)  #: every figure is in ``_figures``
    _first: dict[str, Any] = field(default_factory=dict, repr=False)  #: ``figure(name)``'s answers

    @property
    def markdown(self) -> Path:
        """report.md, next to report.html."""
        return self.directory / "report.md"

    def source(self) -> ExperimentSource:
        """The runs as the report reads them (read again on every call: a run may have finished meanwhile)."""
        if len(self.sources) == 1 and is_experiment(self.sources[0]):
            return read_experiment(self.sources[0])
        return read_runs(self.sources, self.directory)

    @property
    def rows(self) -> list[Row]:
        """The table model: one ``Row`` per run (repeats folded), the best of each exercise marked."""
        return rows(self.source().runs)

    table = rows

    @property
    def figures(self) -> list[Any]:
        """The report's figures as matplotlib ``Figure`` objects, in report order (drawn once, then kept)."""
        return list(self._drawn().values())

    def figure(self, name: str) -> Any:
        """The first figure whose name starts with ``name``: "curves", "confusion", "sweep-exercise-4", ...
        (only that figure is drawn, and kept)."""
        if name in self._first:
            return self._first[name]
        if self._figures is not None and self._complete:
            found = next((figure for key, figure in self._figures.items() if key.startswith(name)), None)
        else:
            found = next((figure for _, figure in self._drawings(lambda key: key.startswith(name))), None)
        if found is not None:
            self._first[name] = found
            return found
        raise ReportError(f"this report has no figure {name!r}; it has: {', '.join(self._drawn()) or 'none'}")

    @property
    def figure_names(self) -> list[str]:
        return list(self._drawn())

    def _drawn(self) -> dict[str, Any]:
        if self._figures is None or not self._complete:
            self._figures = dict(self._drawings(lambda key: True))
            self._complete = True
        return self._figures

    def _drawings(self, wanted):
        """(name, figure) of each drawing ``wanted`` accepts, in report order (no other is drawn)."""
        from .plots import drawings

        source = self.source()
        for drawing in drawings(source, rows(source.runs), wanted):
            yield drawing.name, drawing.figure

    @property
    def conclusions(self) -> list[tuple[str, str]]:
        """(exercise, its one-sentence conclusion): who beats whom by how much, or no clear difference."""
        source = self.source()
        return conclusions(rows(source.runs), source.quick)

    @property
    def expectations(self) -> list[ExpectationCheck]:
        """What the experiment expects (the slides' lessons), each checked: agrees, disagrees, cannot tell yet."""
        source = self.source()
        return expectations(source, rows(source.runs))

    def text(self) -> str:
        """The title, the counts of runs by status and the table, as ``layerlab report`` prints them."""
        source = self.source()
        out = io.StringIO()
        table = rows(source.runs)
        summary(source.title, source.quick, table, out, expectations(source, table))
        return out.getvalue().rstrip("\n")

    def __repr__(self) -> str:
        return f"{self.text()}\nreport: {self.page}"

    def _repr_html_(self) -> str:
        return inline_html(self.page.read_text())


def inline_html(page: str) -> str:
    """A whole report.html as a fragment for a notebook's output: its body in a ``<div class="layerlab-report">``
    with its stylesheet's rules limited to that element (a rule for ``body`` applies to the element itself)."""
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    body = re.search(r"<body>(.*)</body>", page, re.S)
    if body is None:
        raise ReportError("this report.html has no body: write the report again with layerlab report")
    css = scoped(style[1]) if style else ""
    return f'<div class="{SCOPE}">\n<style>{css}</style>\n{body[1].strip()}\n</div>'


def scoped(css: str) -> str:
    """Every rule of ``css`` limited to ``.layerlab-report`` (``body`` becomes the element itself)."""

    def rule(match: re.Match) -> str:
        selectors = [s.strip() for s in match[1].split(",")]
        limited = [f".{SCOPE}" if s == "body" else f".{SCOPE} {s}" for s in selectors if s]
        return f"{', '.join(limited)} {{{match[2]}}}"

    return re.sub(r"([^{}]+)\{([^{}]*)\}", rule, css).strip()


def run_figure(
    name: str,
    directory: Path | None,
    kind: str = "curves",
    history: list[dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
    dataset: dict[str, Any] | None = None,
) -> Any:
    """One run's figure as its report draws it (``Run.plot``): the first drawing whose name starts with
    ``kind`` ("curves", "gradients", "confusion", "misclassified", "filters", "boundaries"). A run without a
    directory is drawn from its ``history``, ``settings`` and ``dataset`` (its epochs only: no predictions)."""
    from .plots import drawings

    if directory is not None:
        source = read_runs([directory], directory)
    else:
        run = RunSource(name, Path("."), "done")
        run.__dict__.update(  # what the run directory would hold (RunSource's cached properties)
            metrics=history or [], saved_config={"config": settings or {}, "dataset": dataset or {}}, result={}
        )
        source = ExperimentSource(name, name, Path("."), [run])
    table = rows(source.runs)
    names = []
    for drawing in drawings(source, table):
        if drawing.name.startswith(kind):
            return drawing.figure
        names.append(drawing.name.split("-")[0])
    where = "" if directory is not None else " (a run trained without out= has only its epochs: curves, gradients)"
    raise ReportError(f"this run has no {kind!r} figure{where}; it has: {', '.join(dict.fromkeys(names)) or 'none'}")


def figure_html(figure: Any, alt: str = "") -> str:
    """A matplotlib figure as an ``<img>`` with the PNG inline (it shows under any matplotlib backend)."""
    import base64
    import html

    from ..live import png

    data = base64.b64encode(png(figure)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" style="max-width: 100%">'
