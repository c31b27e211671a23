"""Reports: a table of runs, plots, one Markdown and one self-contained HTML file.

A report is made from an experiment directory (``layerlab run``) or from any run directories side by
side (``layerlab train --out``, ``layerlab ensemble --out``, an experiment's runs)::

    report/*.png      per exercise: learning curves, gradient norms per layer, decision boundaries,
                      accuracy against a swept setting; for the best run of each exercise: confusion
                      matrix, misclassified test images and first-layer conv filters
    report.md         the table, the shared settings and the base model, links to the plots
    report.html       the same with the plots embedded as data URIs: one file that opens anywhere

The package: ``reading`` (the only code that opens files), ``table`` (typed rows), ``columns`` (what the
renderers share), the renderers ``terminal``, ``markdown`` and ``html_page``, and ``plots``.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..files import make_folder, out_folder, write_text
from ..rundir import RunDir
from .columns import MARK, QUICK_NOTE
from .document import Plot, document
from .document import expectations as expectations_of
from .html_page import html_page
from .inline import Report
from .markdown import markdown, markdown_table
from .reading import ExperimentSource, ReportError, is_experiment, read_experiment, read_runs
from .row import Row
from .table import rows
from .terminal import summary, terminal_table
from .verdicts import ExpectationCheck

#: What a report folder holds (``--out`` of a comparison may hold these from an earlier one, nothing else).
REPORT_FILES = ("report.md", "report.html", "report")


def table(experiment_dir: str | os.PathLike) -> list[Row]:
    """One row per run of an experiment directory, in the order of experiment.json (see ``Row``)."""
    return rows(read_experiment(experiment_dir).runs)


def expectations(experiment_dir: str | os.PathLike) -> list[ExpectationCheck]:
    """What the experiment expects (its ``expect`` list), each checked against its runs: agrees, disagrees,
    cannot tell yet, not measured, or (a quick run) needs the full run."""
    experiment = read_experiment(experiment_dir)
    return expectations_of(experiment, rows(experiment.runs))


def print_summary(experiment_dir: str | os.PathLike, file: TextIO | None = None) -> None:
    """The experiment's title, counts of runs by status, and its table, for the terminal."""
    _print(read_experiment(experiment_dir), file)


def make_plots(experiment_dir: str | os.PathLike) -> list[Plot]:
    """Draw every plot whose input exists into ``<experiment_dir>/report/``; returns them in report order."""
    from .plots import save_plots

    experiment = read_experiment(experiment_dir)
    return save_plots(experiment, rows(experiment.runs))


def write_report(experiment_dir: str | os.PathLike) -> Path:
    """Write the plots, ``report.md`` and the self-contained ``report.html``; returns the HTML file."""
    return _write(read_experiment(experiment_dir))


def compare(
    run_dirs: Sequence[str | os.PathLike],
    out: str | os.PathLike | None = None,
    file: TextIO | None = None,
    quiet: bool = False,
) -> Path:
    """Report on run directories side by side (plain runs and ensembles) with the tables and plots of an
    experiment: the table printed to ``file`` (standard output; nothing with ``quiet``), the files of
    ``write_report`` in ``out``. One directory alone: the report goes into it; several: ``out`` defaults
    to ``compare-<first>-<second>...`` next to the first. Returns the HTML file."""
    experiment = read_runs(run_dirs, out_folder(out) if out is not None else default_out(run_dirs))
    _check_comparison_out(experiment.directory, run_dirs)  # before anything is printed or written
    table = rows(experiment.runs)  # read once: every run's predictions, for the printed table and the files
    if not quiet:
        _print(experiment, file, table)
    return _write(experiment, table)


def default_out(run_dirs: Sequence[str | os.PathLike]) -> Path:
    first = Path(run_dirs[0])
    if len(run_dirs) == 1:
        return first
    names = "-".join(Path(path).resolve().name for path in run_dirs)
    return first.resolve().parent / f"compare-{names[:60]}"


def report(paths: Sequence[str | os.PathLike], out: str | os.PathLike | None = None) -> Path:
    """``layerlab report``: one experiment directory, or run directories to compare. Prints the table."""
    if len(paths) == 1 and is_experiment(paths[0]):
        if out is not None:
            raise ReportError("an experiment's report goes into its own directory; --out is for run directories")
        experiment = read_experiment(paths[0])
        table = rows(experiment.runs)  # read once: every run's predictions, for the printed table and the files
        _print(experiment, None, table)
        return _write(experiment, table)
    return compare(paths, out)


def build(*paths: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike | None = None) -> Report:
    """``layerlab.report(...)``: write the report of an experiment directory, or of run directories side by
    side, as ``layerlab report`` does but without printing, and return it (a ``Report``: its table, figures,
    and in a notebook the page itself)."""
    flat = [Path(p) for item in paths for p in ([item] if isinstance(item, str | os.PathLike) else item)]
    if not flat:
        raise ReportError("give an experiment directory, or run directories to compare")
    if len(flat) == 1 and is_experiment(flat[0]):
        if out is not None:
            raise ReportError("an experiment's report goes into its own directory; out= is for run directories")
        page = write_report(flat[0])
    else:
        page = compare(flat, out, quiet=True)
    return Report(page, page.parent, tuple(flat))


def _print(experiment: ExperimentSource, file: TextIO | None, table: list[Row] | None = None) -> None:
    table = table if table is not None else rows(experiment.runs)
    summary(experiment.title, experiment.quick, table, file or sys.stdout, expectations_of(experiment, table))


def _write(experiment: ExperimentSource, table: list[Row] | None = None) -> Path:
    from .plots import save_plots

    directory = experiment.directory
    make_folder(directory)
    table = table if table is not None else rows(experiment.runs)
    page = document(experiment, table, save_plots(experiment, table))
    write_text(directory / "report.md", markdown(page, directory))
    write_text(directory / "report.html", html_page(page))
    return directory / "report.html"


def _check_comparison_out(directory: Path, run_dirs: Sequence[str | os.PathLike]) -> None:
    """Where a comparison's report may go, by the rules of run directories: a run's own directory when it is
    the one run reported; else a new or empty folder, or one that holds only an earlier comparison's report.
    Another run's or an experiment's directory (its own report would be replaced) and a folder of the
    user's other files are refused."""
    if len(run_dirs) == 1 and directory.resolve() == Path(run_dirs[0]).resolve():
        return  # one run: its own report
    refuse = ReportError.advising
    if is_experiment(directory) or RunDir(directory).is_run():
        raise refuse(
            "{out} {path} is a run's or an experiment's directory: the comparison would replace its own report; "
            "give another {out}",
            path=directory,
        )
    if not directory.is_dir():
        return
    others = sorted(p.name for p in directory.iterdir() if p.name not in REPORT_FILES)
    if others:
        raise refuse(
            "{out} {path} holds other files ({names}) and no comparison; give a new or empty folder "
            "(yours stay untouched)",
            path=directory,
            names=", ".join(others[:3]) + (", ..." if len(others) > 3 else ""),
        )
    for name in ("report.md", "report.html"):
        path = directory / name
        if path.is_file() and MARK not in path.read_text(errors="replace"):
            raise refuse(
                "{path} was not written by layerlab; give another {out} (your file stays untouched)", path=path
            )
    if (directory / "report").exists() and not (directory / "report.html").is_file():
        raise refuse("{path} is not a layerlab report's; give another {out}", path=directory / "report")


class _CallableModule(types.ModuleType):
    """``layerlab.report`` is this package and, called, ``build``: ``layerlab.report("runs/lab4a-quick")``."""

    def __call__(self, *paths: Any, out: str | os.PathLike | None = None) -> Report:
        return build(*paths, out=out)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "Plot",
    "QUICK_NOTE",
    "Report",
    "ReportError",
    "Row",
    "build",
    "compare",
    "expectations",
    "make_plots",
    "markdown_table",
    "print_summary",
    "report",
    "table",
    "terminal_table",
    "write_report",
]
