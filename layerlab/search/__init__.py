"""Hyperparameter search on Optuna, the slides' tuning strategy (``tune``) and the learning-rate range test.

    import layerlab
    result = layerlab.search("search-mlp", quick=True)              # a built-in, or a search .toml file
    result.best.params, result.best.val_accuracy, result.best.test_accuracy
    layerlab.search("my-search.toml", storage="postgresql://lab@db/searches", jobs=2)   # many machines

Modules: ``space`` (the search file and its checks), ``storage`` (SQLite, PostgreSQL, journal file; the
heartbeat), ``trial`` (a trial is a run directory), ``study`` (workers and budgets), ``cma`` (the CMA-ES
sampler), ``report`` and its ``plots``, ``lrfind`` (the learning-rate range test) and ``tune`` (the slides'
step-by-step strategy).

The module itself is callable: ``layerlab.search(...)`` is ``layerlab.search.search(...)``.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .space import SEARCH_KEYS, SearchDefinition, SearchError, builtin_searches, load_search, parse_search

SEARCH_OPTIONS = tuple(sorted(SEARCH_KEYS))  #: the [search] keys, also flags of `layerlab search`


@dataclass
class SearchResult:
    """What ``search`` returns: the study's directory, the Optuna study, its best trial and the report written."""

    directory: Path
    study: Any  #: the optuna.Study
    best: Any  #: report.Best: params, val_accuracy, test_accuracy (regression: val_loss, test_loss), command;
    #: None without a completed trial
    report: Path | None

    @property
    def trials(self) -> list[dict[str, Any]]:
        """Every trial: number, state, value (the objective) and its parameters."""
        return [
            {"number": t.number, "state": t.state.name.lower(), "value": t.value, **t.params} for t in self.study.trials
        ]

    def __repr__(self) -> str:
        states = [trial["state"] for trial in self.trials]
        counted = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
        lines = [f"search in {self.directory}: {len(states)} trials ({counted or 'none'})"]
        if self.best is not None:
            lines += [f"best: trial {self.best.number}: {', '.join(self.best.figures())}", f"  {self.best.command}"]
        if self.report is not None:
            lines.append(f"report: {self.report}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The search's report page (trials table, best settings, plots), as ``write_report`` wrote it."""
        import html

        if self.report is not None and self.report.is_file():
            from ..report.inline import inline_html

            return inline_html(self.report.read_text())
        return f"<pre>{html.escape(repr(self))}</pre>"


def search(
    search: str | SearchDefinition = "search-mlp",
    out: str | Path | None = None,
    *,
    storage: str | None = None,
    jobs: int = 1,
    quick: bool = False,
    study: str | None = None,
    report: bool = True,
    log=print,
    **overrides: Any,
) -> SearchResult:
    """Run a search (a built-in name, a TOML file or a ``SearchDefinition``) in ``out`` (default
    ``runs/<name>``), on ``jobs`` workers here, sharing the study in ``storage`` (default: SQLite in
    ``out``) with any other workers; then write the report. ``overrides`` are search options (trials,
    timeout, sampler, pruner, seed, heartbeat) or run settings (data_dir, device, epochs, ...)."""
    from .report import measure_best, write_report
    from .study import open_study, run_search

    if isinstance(search, SearchDefinition) and (overrides or quick):
        raise SearchError("a SearchDefinition is already checked: give quick and overrides to load_search instead")
    definition = search if isinstance(search, SearchDefinition) else load_search(search, quick, overrides)
    directory = Path(out or f"runs/{definition.name}{'-quick' if definition.quick else ''}")
    url, study_name = run_search(definition, directory, storage, jobs, study, log)
    optuna_study, _ = open_study(definition, url, study_name)
    page = write_report(optuna_study, definition, directory, url, log) if report else None
    best = measure_best(optuna_study, definition, directory, log)
    return SearchResult(directory, optuna_study, best, page)


def is_search(directory: str | Path) -> bool:
    """Whether ``directory`` is a search's (``layerlab search --out``): it has the search's ``search.json``."""
    from .report import INFO

    return (Path(directory) / INFO).is_file()


def rewrite_report(directory: str | Path, storage: str | None = None, log=print) -> Path:
    """Write a search directory's report again from its study (``layerlab report SEARCH_DIR``): the trials so
    far, the best one measured on its test set; ``storage`` when the study's URL needs a password that the
    folder does not keep. Returns the HTML file."""
    from .report import load_study, write_report

    study, definition, url = load_study(directory, storage, with_url=True)
    return write_report(study, definition, Path(directory), url, log)


class _CallableModule(types.ModuleType):
    """``layerlab.search`` is this package and, called, the ``search`` function."""

    def __call__(self, *args: Any, **kwargs: Any) -> SearchResult:
        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "SearchDefinition",
    "SearchError",
    "SearchResult",
    "builtin_searches",
    "is_search",
    "load_search",
    "parse_search",
    "rewrite_report",
    "search",
]
