"""The report of a search: trials table, optimisation history, parameter importances, slice and contour
plots of the most important parameters, and the best configuration as a ready ``layerlab train`` line.

Written next to the study as ``report.md`` and a self-contained ``report.html`` (plots embedded), with
the plots in ``report/``; the terminal gets the table of the best trials. The report is a page of the report
package's blocks, rendered by its Markdown, HTML and terminal renderers (one style for every report). The
plots are Optuna's matplotlib visualisations. The best trial is the one with the best validation score (the highest
validation accuracy; for a regression set such as the Playground's plane, the lowest validation loss);
its test accuracy (or test loss) is measured once, here, from its run directory (its best-validation
weights), and is never shown to the search.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..files import write_json, write_text
from ..report.blocks import Bullets, Figure, Heading, Item, Page, Paragraph, Table
from ..report.html_page import html_document
from ..report.markdown import markdown_page
from ..report.terminal import text_table
from ..rundir import RunDir
from ..task import Score, task_named
from .cma import describe as describe_cma
from .plots import importance_caveat, important_params, make_plots
from .space import SearchDefinition, describe_budget
from .storage import public_url
from .trial import dataset_for, run_key

INFO = "search.json"  #: what `layerlab report` needs to find the study again


@dataclass
class Best:
    """The best trial and its configuration, ready to train again. A regression search's best has NaN
    accuracies and its losses in ``val_loss`` / ``test_loss``."""

    number: int
    params: dict[str, Any]
    val_accuracy: float
    test_accuracy: float
    run: str
    config: dict[str, Any]
    command: str
    config_file: str
    task: str = "classification"
    val_loss: float | None = None
    test_loss: float | None = None

    def figures(self) -> tuple[str, str]:
        """("validation accuracy 93.10%", "test accuracy 92.80%"); a regression search's losses
        ("validation loss 0.0123", "test loss 0.0130")."""
        task = task_named(self.task)
        val, test = (self.val_accuracy, self.test_accuracy) if task.has_classes else (self.val_loss, self.test_loss)
        return f"{task.score.name} {task.score.show(val)}", f"{task.headline} {task.score.show(test)}"


def write_info(directory: Path, definition: SearchDefinition, url: str, study_name: str) -> None:
    # A password in the URL is not written down: give --storage again to reopen such a study.
    write_json(directory / INFO, {"study": study_name, "storage": public_url(url), "definition": definition.to_dict()})


def load_study(directory: str | Path, storage: str | None = None, with_url: bool = False):
    """The study of a search directory (``storage`` when its URL needs a password that is not stored) and its
    definition; ``with_url``: and the storage's URL."""
    import optuna

    from .space import SearchError
    from .storage import open_storage

    info_file = Path(directory) / INFO
    if not info_file.is_file():
        raise SearchError(f"{directory} is not a search directory (no {INFO}); run `layerlab search` first")
    info = json.loads(info_file.read_text())
    definition = _definition(info["definition"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage or info["storage"]
    study = optuna.load_study(study_name=info["study"], storage=open_storage(url, 10))
    return (study, definition, url) if with_url else (study, definition)


def _definition(values: dict[str, Any]) -> SearchDefinition:
    from .space import Param

    values = dict(values)
    values["space"] = {name: Param(**{**p, "values": tuple(p["values"])}) for name, p in values["space"].items()}
    return SearchDefinition(**values)


def trial_rows(study) -> list[dict[str, Any]]:
    """One row per trial that ran (a queued trial another worker took first is left out)."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state.name in ("WAITING",) or (trial.state.name == "FAIL" and not trial.params):
            continue
        retried = trial.system_attrs.get("failed_trial")
        status = trial.user_attrs.get("status", trial.state.name.lower())
        if trial.state.name == "FAIL":
            ended = "interrupted" if trial.user_attrs.get("interrupted") else "killed"
            if _was_retried(study, trial.number):
                status = f"{ended}, retried"
            else:
                status = "interrupted" if trial.user_attrs.get("interrupted") else "failed"
        attrs = trial.user_attrs
        rows.append(
            {
                "trial": trial.number,
                "status": status,
                "value": trial.value,
                "retry_of": retried,
                "epochs": attrs.get("epochs"),
                "seconds": attrs.get("seconds"),
                "params": dict(trial.params),
                "run": attrs.get("run"),
            }
        )
    return rows


def _was_retried(study, number: int) -> bool:
    return any(number in t.system_attrs.get("retry_history", []) for t in study.get_trials(deepcopy=False))


def best_trial(study):
    """The completed trial of the best value in the study's direction (a regression search minimises its
    validation loss), the first one on a tie."""
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = -1 if study.direction == StudyDirection.MINIMIZE else 1
    return max(complete, key=lambda t: (sign * t.value, -t.number)) if complete else None


def measure_best(study, definition: SearchDefinition, directory: Path, log=print) -> Best | None:
    """The best trial's test accuracy (a regression search: test loss), from its run directory's best weights
    (trained again if the run is on another machine); kept in ``best.json`` so that it is measured once."""
    from .. import api

    trial = best_trial(study)
    if trial is None:
        return None
    config = definition.config(trial.params)
    key = run_key(config)
    saved = directory / "best.json"
    if saved.is_file():
        best = Best(**json.loads(saved.read_text()))
        if best.number == trial.number and best.run == f"runs/{key}":
            return best
    run_dir = directory / "runs" / key
    dataset = dataset_for(config)
    if not RunDir(run_dir).is_finished() or not RunDir(run_dir).weights_file("best").is_file():
        log(f"the best trial's run is not on this machine: training it again in {run_dir}")
        api.fit(dataset, out=run_dir, resume=True, quiet=True, progress=False, **config.to_dict())
    run = api.load(run_dir, "best")
    config_file = directory / "best.toml"
    write_text(config_file, _toml(_changed(config)))
    where = (f"runs/{key}", config.to_dict(), train_command(config, config_file), str(config_file))
    task = task_named(dataset.task)
    test = api.measure(run, dataset.test.x, dataset.test.y, task)
    if task.has_classes:
        best = Best(trial.number, dict(trial.params), float(trial.value), test, *where)
    else:
        best = Best(trial.number, dict(trial.params), math.nan, math.nan, *where, task.name, float(trial.value), test)
    write_json(saved, dataclasses.asdict(best))
    return best


def _changed(config: TrainConfig) -> dict[str, Any]:
    defaults = TrainConfig().to_dict()
    return {k: v for k, v in config.to_dict().items() if v != defaults[k]}


def train_command(config: TrainConfig, config_file: str | Path | None = None) -> str:
    """``layerlab train --model ... --lr ...`` with every setting that is not the default; settings that
    have no flag (tables such as data_options) come from ``config_file``, which holds them all."""
    parts = ["layerlab", "train"]
    if config_file is not None and any(isinstance(v, dict) for v in _changed(config).values()):
        parts += ["--config", str(config_file)]
    for key, value in ({"data": config.data} | _changed(config)).items():
        flag = f"--{key.replace('_', '-')}"
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{key.replace('_', '-')}")
        elif isinstance(value, dict):
            continue  # TOML only: in the config file
        else:
            parts += [flag, str(value)]  # every digit: the same settings find the same run again
    return shlex.join(parts + ["--out", "runs/best"])


def _toml(values: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(map(value, v)) + "]"
        return repr(v)

    return "".join(f"{k} = {value(v)}\n" for k, v in values.items())


# ---------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------


def _cells(row: dict[str, Any], names: list[str], score: Score) -> list[str]:
    value = row["value"]
    cells = [
        str(row["trial"]),
        row["status"] + (f" (retry of {row['retry_of']})" if row["retry_of"] is not None else ""),
    ]
    cells += [
        "" if value is None else score.show(value),
        str(row["epochs"] or ""),
        "" if row["seconds"] is None else f"{row['seconds']:.1f}",
    ]
    return cells + [_fmt(row["params"].get(name)) for name in names]


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def headers(score: Score) -> list[str]:
    return ["trial", "status", score.short, "epochs", "seconds"]


def ranked(rows: list[dict[str, Any]], score: Score) -> list[dict[str, Any]]:
    """The trials best first (``score``: the highest accuracy, or the lowest loss); those without a value last."""
    sign = 1 if score.higher_is_better else -1
    return sorted(rows, key=lambda r: (r["value"] is None, -sign * (r["value"] or 0)))


def trials_table(rows: list[dict[str, Any]], names: list[str], score: Score) -> Table:
    """The trials (in ``rows``' order) with their status, score, epochs, seconds and the parameters ``names``."""
    return Table(headers(score) + names, [_cells(row, names, score) for row in rows])


def terminal_table(rows: list[dict[str, Any]], names: list[str], score: Score, top: int | None = 10) -> str:
    """The ``top`` trials, best first, as plain text."""
    return text_table(trials_table(ranked(rows, score)[:top], names, score))


def summary(study, definition: SearchDefinition, best: Best | None) -> list[str]:
    rows = trial_rows(study)
    status = {}
    for row in rows:
        status[row["status"]] = status.get(row["status"], 0) + 1
    seconds = sum(row["seconds"] or 0 for row in rows)
    lines = [
        f"{len(rows)} trials ({', '.join(f'{n} {s}' for s, n in sorted(status.items()))}); "
        f"{seconds:,.0f} s of training in all"
    ]
    if best is not None:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
        chose, test = best.figures()
        lines += [
            f"best: trial {best.number}, {params}",
            f"  {chose} (chose it); {test} (measured once, for this trial only)",
            f"  train it again: {best.command}",
            f"  or: layerlab train --config {best.config_file}",
        ]
    caveat = importance_caveat(study, definition)
    return lines + ([caveat[0].upper() + caveat[1:] + "."] if caveat else [])


# ---------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------


def write_report(study, definition: SearchDefinition, directory: Path, url: str, log=print) -> Path:
    """Measure the best trial, write ``report.md``, ``report.html`` and print the summary; returns the HTML."""
    directory = Path(directory)
    best = measure_best(study, definition, directory, log)
    rows = trial_rows(study)
    names = important_params(study, definition)
    plots = make_plots(study, definition, directory)
    lines = summary(study, definition, best)
    score = definition.score
    log(terminal_table(rows, names, score))
    for line in lines:
        log(line)
    blocks = [
        *_header(definition, url, study.study_name),
        Bullets([_item(line.strip()) for line in lines]),
        Heading("Trials"),
        trials_table(rows, names, score),
        *(Figure(caption, path) for path, caption in plots),
    ]
    page = Page(definition.title, blocks, marked=False)  # rewritten by its folder (search.json), not by a mark
    write_text(directory / "report.md", markdown_page(page, directory))
    write_text(directory / "report.html", html_document(page))
    return directory / "report.html"


def _item(line: str) -> Item:
    """A summary line as a list item, its command line (if any) as code."""
    head, sep, command = line.partition(": layerlab ")
    return Item(f"{head}: ", code=f"layerlab {command}") if sep else Item(line)


def _header(definition: SearchDefinition, url: str, study_name: str) -> list[Paragraph]:
    space = "; ".join(f"{name}: {param.describe()}" for name, param in definition.space.items())
    budget = describe_budget(definition)
    study = (
        f"Study {study_name!r} in {public_url(url)}: {definition.sampler} sampler, {definition.pruner} pruner, "
        f"budget {budget}."
    )
    if definition.sampler == "cmaes":
        study += " " + describe_cma(definition)
    paragraphs = [
        Paragraph(definition.description),  # even when empty: report.md keeps its blank lines
        Paragraph(study),
        Paragraph(f"Space: {space}."),
        Paragraph(
            f"Trials are chosen by {definition.score.name}; the test {definition.score.name.split()[-1]} is "
            "measured once, for the best."
        ),
    ]
    if definition.quick:
        banner = "quick search: small data and few epochs; the numbers are not the real ones"
        paragraphs.insert(0, Paragraph(banner, "strong"))
    return paragraphs
