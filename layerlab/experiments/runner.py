"""Experiments: a set of runs that differ in one or a few settings, read from a TOML file.

An experiment file has shared ``[settings]`` (any ``TrainConfig`` key), optional ``[quick]``
overrides that shrink every run for a one-minute try, and a list of ``[[runs]]``. A run names
itself, its ``exercise`` (the runs compared in one table and one figure), the settings it changes,
and optionally ``reference`` (the slide's accuracy), ``loss_target`` (a test loss the task aims to get
under, as Playground's tasks do), ``members`` (an ensemble by majority vote),
``repeats`` (train it N times with seeds seed, seed+1, ...; the report gives the best and the mean, as
Nielsen reported the best of 3), ``grid`` (one run per value of a key) and ``fit = "least-squares"`` (a
linear model's exact fit, ``least_squares.py``)::

    name = "lab4a"
    title = "Lab 4A: MNIST classification with an MLP"
    [settings]
    data = "mnist"
    model = "dense(100) relu dense(100) relu dense(10)"
    [quick]
    data = "mnist-small"
    epochs = 2
    [[runs]]
    name = "lr"
    exercise = "Exercise 4: learning rate"
    grid = { lr = [0.002, 0.02] }

With ``--quick`` the ``[quick]`` table overrides the run's own settings too (a run's ``epochs = 40``
becomes the quick one), a run is trained once whatever its ``repeats``, and a run's own
``quick = {...}`` overrides all that in turn (settings, ``members``, ``repeats``; ``note`` replaces the
run's note; ``skip = true`` leaves the run out). The quick run's notes say what ran: a summary of the
``[quick]`` settings against the full run's, then ``quick_notes`` (a top-level list; without it the
full run's ``notes``, marked as such); each run's note says what its own quick settings changed and
what was reduced (members, repeats).

Each run trains in ``<out>/runs/<name>-<key>/`` where ``name`` is the run's (the first of the runs that
share the folder) and ``key`` a hash of its resolved settings (see ``RunPlan.key``; a folder is found by its
key, so the bare ``runs/<key>/`` of earlier versions is used as it is), so runs with identical settings are
trained once, a finished run is reused, and an
interrupted one resumes from its checkpoint when the experiment is started again with the same
settings. After training, the runner stores what the report plots need: ``predictions.npz`` (test
labels, predictions, probabilities, misclassified examples) and, for the 2D Playground sets,
``boundary.npz`` (the model's output over the plane).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import multiprocessing
import os
import re
import tomllib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import TrainConfig, check_settings, paths_from, read_toml, setting_names, toml_value
from ..errors import LayerlabError
from ..files import check_output_folder, make_folder, write_json
from ..phrases import count, describe_changes
from ..progress import Display, RunProgress, Send, drain, queue_sender
from ..report.reading import setting_defaults
from ..report.verdicts import matching, parse_expectation, threshold
from ..rundir import RunDir
from ..spec import KINDS, parse
from ..train import load_data
from ..weights import file_sha256
from .least_squares import FITS, LeastSquares


class ExperimentError(LayerlabError, ValueError):
    """An experiment file or name that cannot be used."""


#: Settings that do not change a run's numbers: runs that differ only in them are one run.
NOT_IN_KEY = ("data_dir", "eval_batch_size", "threads")


@dataclass
class RunPlan:
    """One run of an experiment: its settings fully resolved."""

    name: str
    exercise: str
    config: TrainConfig
    changed: dict[str, Any]
    reference: float | None = None
    loss_target: float | None = None  #: the final test loss should be below it
    members: int = 1
    note: str = ""
    repeat_of: str = ""  #: for one of a run's repeats (named "<run>#2"): the run's name
    folder: str = ""  #: its directory in the experiment's, once ``name_folders`` has chosen it
    fit: str = "gradient-descent"  #: or "least-squares" (``least_squares.py``: a linear model's exact fit)

    @property
    def key(self) -> str:
        """A short hash of everything that determines the run's numbers: the settings that differ from
        their defaults (so a later layerlab with new settings still finds the runs you finished), less
        those that say only where the data is or how it is evaluated (``NOT_IN_KEY``). The starting
        weights count by their content, not their path: the SHA-256 of ``init_weights``' file (a moved
        file finds its runs again; an edited one trains new runs instead of reusing the old)."""
        defaults = TrainConfig().to_dict()
        settings = {k: v for k, v in self.config.to_dict().items() if k not in NOT_IN_KEY and v != defaults[k]}
        if self.config.init_weights is not None:
            settings["init_weights"] = f"sha256:{file_sha256(self.config.init_weights)}"
        key: dict[str, Any] = {"config": settings, "members": self.members}
        if self.fit != "gradient-descent":
            key["fit"] = self.fit
        text = json.dumps(key, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    @property
    def directory(self) -> str:
        """Runs with the same settings (the same exercise baseline, say) share one directory: runs/<name>-<key>
        (``name_folders``), or runs/<key> before it has chosen."""
        return self.folder or f"runs/{self.key}"


def name_folders(experiment: Experiment, directory: Path) -> None:
    """Give each run its folder: the one already in ``directory/runs`` with its key (``<name>-<key>``, or the
    bare ``<key>`` of earlier versions), else ``runs/<name>-<key>`` after the first run with its settings
    (readable: ``layerlab predict runs/lab4a/runs/mlp-100-e459c6b3fc digit.png``)."""
    existing = {}
    if (directory / "runs").is_dir():
        for path in sorted((directory / "runs").iterdir()):
            if path.is_dir():
                existing.setdefault(path.name.rsplit("-", 1)[-1], f"runs/{path.name}")
    chosen: dict[str, str] = {}
    for run in experiment.runs:
        key = run.key
        if key not in chosen:
            name = re.sub(r"[^a-z0-9]+", "-", run.name.lower()).strip("-")[:48].rstrip("-")
            chosen[key] = existing.get(key) or f"runs/{name + '-' if name else ''}{key}"
        run.folder = chosen[key]


@dataclass
class Experiment:
    """A parsed experiment file: its title and description, the runs it plans, and notes for the report."""

    name: str
    title: str
    description: str
    runs: list[RunPlan]
    quick: bool = False
    source: str = ""
    notes: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  #: runs ``skip``ped by the quick variant (--quick)
    quick_data: frozenset[str] = frozenset()  #: the datasets the --quick variant trains on
    expect: list[str] = field(default_factory=list)  #: what the slides expect: "ex1-mlp > ex1-linear", ...
    quick_expect: list[str] | None = None  #: those the quick variant is sized to show (None: all of them)

    def select(self, names: list[str]) -> Experiment:
        """The same experiment with only the runs named (a repeated run's name selects all its repeats)."""
        known = list(dict.fromkeys(run.repeat_of or run.name for run in self.runs))
        unknown = [name for name in names if name not in known and name not in {run.name for run in self.runs}]
        if unknown:
            raise ExperimentError(f"{self.name} has no run {', '.join(unknown)}; its runs: {', '.join(known)}")
        return replace(self, runs=[run for run in self.runs if run.name in names or run.repeat_of in names])


# ---------------------------------------------------------------------------------------------------
# Reading experiment files
# ---------------------------------------------------------------------------------------------------


def builtin_names() -> dict[str, str]:
    """Built-in experiments: name -> one-line title."""
    names = {}
    for entry in sorted(resources.files(__package__).joinpath("builtin").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            names[entry.name.removesuffix(".toml")] = tomllib.loads(entry.read_text())["title"]
    return names


#: How far ``--seed 1`` moves every run's seed: past any run's repeats and members (seed, seed + 1, ...).
SEED_STRIDE = 100_000


def load_experiment(
    name_or_path: str, quick: bool = False, overrides: dict[str, Any] | None = None, seed: int = 0
) -> Experiment:
    """A built-in experiment by name, or an experiment TOML file; ``overrides`` apply to every run. ``seed``
    trains the whole experiment again with other initial weights, orders and dropout masks: every run's own
    seed (0 by default; its repeats' and members' the next ones) moves by ``SEED_STRIDE`` x ``seed``, so the
    runs of two experiment seeds never share a seed."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ExperimentError(f"seed must be a whole number >= 0, got {seed!r}")
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        document, source, folder = read_toml(path, "experiment file"), str(path), path.parent
    else:
        builtin = resources.files(__package__).joinpath("builtin", f"{name_or_path}.toml")
        if not builtin.is_file():
            known = ", ".join(builtin_names())
            raise ExperimentError(f"unknown experiment {name_or_path!r}: give a .toml file or one of: {known}")
        document, source, folder = tomllib.loads(builtin.read_text()), f"built-in {name_or_path}", None
    return _experiment(document, source, quick, overrides or {}, folder, seed)


def _experiment(
    document: dict[str, Any],
    source: str,
    quick: bool,
    overrides: dict[str, Any],
    folder: Path | None = None,
    seed: int = 0,
) -> Experiment:
    """The runs of an experiment file's tables; the file's relative paths are from its ``folder``."""
    _check_document(document, source)
    shared = setting_names(document.get("settings", {}), f"{source} [settings]")
    quick_table = setting_names(document.get("quick", {}), f"{source} [quick]")
    quick_shared = quick_table if quick else {}
    for table, values in (("settings", shared), ("quick", quick_shared)):  # a misspelt setting: its table's fault
        try:
            check_settings(values, f"{source} [{table}]")
        except LayerlabError as e:
            raise ExperimentError(str(e)) from None
    runs, left_out, quick_data, everything = [], [], set(), []
    for i, entry in enumerate(document["runs"]):
        entry = _check_run(entry, source, i)
        for run in _expand_grid(entry):
            everything.append(run["name"])
            changes = {k: v for k, v in run.items() if k not in RUN_TYPES}
            if not run.get("quick", {}).get("skip", False):
                quick_data.add((shared | changes | quick_table | run.get("quick", {})).get("data", TrainConfig.data))
            quick_changes = dict(run.get("quick", {})) if quick else {}
            quick_note = quick_changes.pop("note", None)
            if quick_changes.pop("skip", False):
                left_out.append(run["name"] + (f" ({quick_note})" if quick_note else ""))
                continue
            full_members, full_repeats = run.get("members", 1), run.get("repeats", 1)
            members = int(quick_changes.pop("members", full_members))
            quick_repeats = document.get("quick_repeats", 1)  # a quick run's repeats, unless the run says
            repeats = quick_changes.pop("repeats", quick_repeats if quick else full_repeats)
            if not isinstance(repeats, int) or repeats < 1:
                raise ExperimentError(f"{source}, run {run['name']!r}: repeats must be a whole number >= 1")
            target = run.get("loss_target")
            if target is not None and (isinstance(target, bool) or not isinstance(target, int | float) or target <= 0):
                raise ExperimentError(
                    f"{source}, run {run['name']!r}: loss_target must be a number > 0, got {target!r}"
                )
            settings = shared | changes | quick_shared | quick_changes  # --quick beats a run's epochs
            settings = (paths_from(settings, folder) if folder is not None else settings) | overrides
            try:
                config = TrainConfig.from_dict(settings)
                config = config.replace(seed=config.seed + SEED_STRIDE * seed)
                config.check()
                parse(config.model)  # a misspelt model now, not when its run starts training
                if config.init_weights is not None:
                    file_sha256(config.init_weights)  # a missing file now: the run's key needs its contents
            except LayerlabError as e:
                raise ExperimentError(f"{source}, run {run['name']!r}: {e}") from None
            if run.get("fit", FITS[0]) not in FITS:
                raise ExperimentError(
                    f"{source}, run {run['name']!r}: fit = {toml_value(run['fit'])}: use one of {', '.join(FITS)}"
                )
            note = run.get("note", "")
            if quick:
                ran = _describe_quick(quick_changes, members, full_members, repeats, full_repeats)
                parts = [quick_note] if quick_note is not None else [f"full run: {note}" if note else ""]
                note = "; ".join(part for part in [*parts, ran] if part)
            plan = RunPlan(
                name=run["name"],
                exercise=run.get("exercise", ""),
                config=config,
                changed=changes,
                reference=run.get("reference"),
                loss_target=run.get("loss_target"),
                members=members,
                note=note,
                fit=run.get("fit", FITS[0]),
            )
            runs.extend(_repeats(plan, repeats))
    names = [r.name for r in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ExperimentError(f"{source}: run names must be unique, repeated: {', '.join(duplicates)}")
    known = [*names, *(_base(n) for n in names)]
    expect = _expectations(document.get("expect", []), source, known, everything)
    quick_expect = document.get("quick_expect")
    if quick_expect is not None:
        _expectations(quick_expect, source, known, everything)
        extra = [text for text in quick_expect if text not in expect]
        if extra:
            raise ExperimentError(f"{source}: quick_expect names {extra[0]!r}, which is not in expect; add it there")
    notes = list(document.get("notes", []))
    if quick:
        notes = [_quick_summary(shared, quick_shared, left_out)] + list(
            document.get("quick_notes", [f"Full run: {note}" for note in notes])
        )
    return Experiment(
        name=document["name"],
        title=document.get("title", document["name"]),
        description=document.get("description", ""),
        runs=runs,
        quick=quick,
        source=source,
        notes=notes,
        left_out=left_out,
        quick_data=frozenset(map(str, quick_data)),
        expect=expect,
        quick_expect=quick_expect,
    )


def _base(name: str) -> str:
    return name.rpartition("#")[0] or name  # a repeat's run: "4-relu#2" -> "4-relu"


def _expectations(texts: list[Any], source: str, names: list[str], everything: list[str]) -> list[str]:
    """The ``expect`` list checked: each "RUN > RUN", "RUN >= RUN" or "RUN ~ RUN" naming runs of the file
    (a name or a pattern such as ``relu-*he_normal*``; runs a quick variant leaves out count)."""
    for text in texts:
        if not isinstance(text, str):
            raise ExperimentError(f'{source}: expect: {toml_value(text)} is not text such as "ex1-mlp > ex1-linear"')
        try:
            expectation = parse_expectation(text)
        except ValueError as e:
            raise ExperimentError(f"{source}: expect: {e}") from None
        for side in (expectation.left, expectation.right):
            if threshold(side) is not None:  # an accuracy to beat
                continue
            if not matching(side, names) and not matching(side, everything):
                raise ExperimentError(
                    f"{source}: expect {text!r}: no run is named {side!r}; the runs: {', '.join(dict.fromkeys(names))}"
                )
    return list(texts)


#: How the quick summaries name the settings a quick run changes most often.
_WORDS = {
    "data": lambda v: f"data {v}",
    "limit": lambda v: "all training images" if v is None else f"the first {v:,} training images",
    "epochs": lambda v: f"{v} epoch{'s' * (v != 1)}",
    "batch_size": lambda v: f"batches of {v}",
    "lr": lambda v: f"learning rate {v:g}" if v is not None else "the optimiser's usual learning rate",
}


def _words(key: str, value: Any) -> str:
    return _WORDS[key](value) if key in _WORDS else f"{key} = {value}"


def _quick_summary(shared: dict[str, Any], quick_shared: dict[str, Any], left_out: list[str]) -> str:
    """The experiment's note on what --quick ran: its settings for every run, and the full run's."""
    defaults = TrainConfig().to_dict()
    ran = ", ".join(_words(k, v) for k, v in quick_shared.items())
    full = ", ".join(_words(k, shared.get(k, defaults.get(k))) for k in quick_shared)
    summary = f"Quick run: {ran or 'the full settings'} (the full run: {full})" if ran else "Quick run"
    if left_out:
        summary += f"; left out (full run only): {', '.join(left_out)}"
    return summary + "."


def _describe_quick(changes: dict[str, Any], members: int, full_members: int, repeats: int, full_repeats: int) -> str:
    """A run's own quick settings, and what --quick reduced (members of an ensemble, repeats)."""
    parts = [_words(k, v) for k, v in changes.items()]
    if members != full_members:
        parts.append(f"{members} members (full run: {full_members})")
    if repeats != full_repeats:
        full = "once" if full_repeats == 1 else f"{full_repeats} times"
        parts.append(f"trained {'once' if repeats == 1 else f'{repeats} times'} (full run: {full})")
    return f"quick: {', '.join(parts)}" if parts else ""


#: The top-level keys and tables of an experiment file, and what each holds.
DOCUMENT_KEYS = {
    "name": str,
    "title": str,
    "description": str,
    "settings": dict,
    "quick": dict,
    "runs": list,
    "notes": list,
    "quick_notes": list,
    "expect": list,
    "quick_expect": list,
    "quick_repeats": int,
}
#: The keys of a run that are not settings, and their types (members and repeats: whole numbers >= 1).
RUN_TYPES = {
    "name": str,
    "exercise": str,
    "reference": float,
    "loss_target": float,
    "members": int,
    "repeats": int,
    "grid": dict,
    "note": str,
    "quick": dict,
    "fit": str,
}
_EXPECTED = {str: "text in quotes", dict: "a table", list: "a list", int: "a whole number >= 1", float: "a number"}


def _typed(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, kind)


def _check_document(document: dict[str, Any], source: str) -> None:
    """Unknown top-level keys and tables (a misspelt ``[setings]``) are errors, as are values of the wrong type."""
    for key, value in document.items():
        if key not in DOCUMENT_KEYS:
            close = difflib.get_close_matches(key, DOCUMENT_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ExperimentError(
                f"{source}: unknown key or table {key!r}{hint}; an experiment file has {', '.join(DOCUMENT_KEYS)}"
            )
        if not _typed(value, DOCUMENT_KEYS[key]):
            raise ExperimentError(f"{source}: {key} = {toml_value(value)}: expected {_EXPECTED[DOCUMENT_KEYS[key]]}")
    for key in ("name", "runs"):
        if key not in document:
            raise ExperimentError(f"{source}: missing `{key}`")


def _check_run(entry: Any, source: str, index: int) -> dict[str, Any]:
    """A ``[[runs]]`` entry with its keys spelled as settings are and its own keys (not settings) type-checked."""
    if not isinstance(entry, dict):
        raise ExperimentError(f"{source}: run {index + 1} is {entry!r}, not a table ([[runs]] with name = ...)")
    entry = setting_names(entry, f"{source}, run {index + 1}")
    if not isinstance(entry.get("name"), str):
        raise ExperimentError(f'{source}: run {index + 1} has no name (name = "...")')
    where = f"{source}, run {entry['name']!r}"
    if not isinstance(entry.get("quick", {}), dict):
        raise ExperimentError(f"{where}: quick = {entry['quick']!r}: expected a table such as {{epochs = 1}}")
    entry["quick"] = setting_names(entry.get("quick", {}), f"{where} quick")
    for table in (entry, entry["quick"]):
        for key, kind in RUN_TYPES.items():
            if key in table and not _typed(table[key], kind):
                raise ExperimentError(f"{where}: {key} = {toml_value(table[key])}: expected {_EXPECTED[kind]}")
    for key, values in entry.get("grid", {}).items():
        if not isinstance(values, list) or not values:
            raise ExperimentError(f"{where}: grid {key} = {values!r}: expected a list of values, e.g. [0.1, 1.0]")
    entry["grid"] = setting_names(entry.get("grid", {}), f"{where} grid")
    return entry


def _repeats(plan: RunPlan, count: int) -> list[RunPlan]:
    """``count`` copies of a run named ``<name>#1``, ``#2``, ..., each with the next seeds (an ensemble's
    members take ``members`` seeds each, so no two networks of the repeats share one)."""
    if count == 1:
        return [plan]
    seed = plan.config.seed
    return [
        replace(
            plan,
            name=f"{plan.name}#{i + 1}",
            repeat_of=plan.name,
            config=plan.config.replace(seed=seed + i * plan.members),
        )
        for i in range(count)
    ]


def _expand_grid(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """A run with ``grid = {key = [v1, v2]}`` becomes one run per value, named ``<name>-<key>=<value>``;
    a grid of models names each by its hidden layers' widths (``task5-xor-4-2``, see ``model_labels``)."""
    grid = entry.get("grid")
    if not grid:
        return [entry]
    runs = [{k: v for k, v in entry.items() if k != "grid"}]
    for key, values in grid.items():
        labels = model_labels(values) if key == "model" else None
        labels = labels or [f"{key}={value}" for value in values]
        pairs = list(zip(values, labels, strict=True))
        runs = [run | {key: value, "name": f"{run['name']}-{label}"} for run in runs for value, label in pairs]
    return runs


def model_labels(models: list[Any]) -> list[str] | None:
    """Short distinct names of model specs, as Playground names its networks: the hidden layers' widths
    (``dense(4) tanh dense(2) tanh dense(1) sigmoid`` -> ``4-2``; none: ``no-hidden``), with their
    activations where the widths alone would repeat (``16-16-16-relu``); None when they still repeat or
    a spec does not parse (the grid then names runs ``model=<spec>``)."""
    widths, activations = [], []
    for model in models:
        try:
            layers = parse(model).layers if isinstance(model, str) else None
        except LayerlabError:
            layers = None
        if not layers:
            return None
        weighted = [i for i, layer in enumerate(layers) if {"units", "filters"} & set(layer.args)]
        hidden = [layers[i].args.get("units", layers[i].args.get("filters")) for i in weighted[:-1]]
        kinds = [layer.kind for layer in layers[: weighted[-1]] if KINDS[layer.kind].activation] if weighted else []
        widths.append("-".join(map(str, hidden)) or "no-hidden")
        activations.append("-".join(dict.fromkeys(kinds)))
    for labels in (widths, [f"{w}-{a}" if a else w for w, a in zip(widths, activations, strict=True)]):
        if len(set(labels)) == len(labels):
            return labels
    return None


# ---------------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------------


def run_experiment(
    experiment: Experiment,
    out: str | os.PathLike,
    jobs: int = 1,
    log=print,
    progress: bool = True,
    executor=None,
    display: Any = None,
) -> Path:
    """Train every run that has not finished yet, then write ``experiment.json``; returns its directory.
    ``executor(experiment, todo, train, log)``, if given, decides which runs this process trains (calling
    ``train(run)``) and yields ``(run, error or None)``; e.g. ``layerlab.search.distribute`` shares them
    between machines. ``display`` shows the progress (default: a ``progress.Display``; in a notebook
    ``live.NotebookProgress``)."""
    directory = check_output_folder(out, "experiment.json", "experiment", lambda index: index["name"], experiment.name)
    name_folders(experiment, directory)
    statuses = {run.name: _finished(RunDir(directory / run.directory)) for run in experiment.runs}
    todo: dict[str, RunPlan] = {}
    for run in experiment.runs:
        if statuses[run.name] != "done":
            todo.setdefault(run.key, run)  # runs with the same settings train once
    todo = list(todo.values())
    check_shared(experiment, todo)  # what every run needs: refused once, before anything is written
    make_folder(directory)
    _write_index(directory, experiment, statuses)
    log(
        f"{experiment.title}{' (quick run: fewer images and epochs)' if experiment.quick else ''}: "
        f"{plan_summary(experiment, statuses, todo)}"
    )
    display = display if display is not None else Display(log, live=None if progress else False)
    try:
        if executor is not None:
            train = functools.partial(_train_run, directory=str(directory), send=display.event if progress else None)
            for run, error in executor(experiment, todo, train, display.log):
                _record(statuses, experiment, run, _outcome(error, run, display.log))
            done = {run.name for run in experiment.runs if _finished(RunDir(directory / run.directory)) == "done"}
            _write_index(directory, experiment, statuses | dict.fromkeys(done, "done"))  # some trained elsewhere
        elif jobs > 1 and sum(run.members for run in todo) > 1:
            for run, outcome in _train_in_parallel(todo, directory, jobs, display, progress):
                _record(statuses, experiment, run, outcome)
                _write_index(directory, experiment, statuses)
        else:
            numbers = {run.name: i for i, run in enumerate(todo, 1)}
            for group in _seed_groups(todo):
                for run in group:
                    changed = describe_changes(run.changed, setting_defaults(run.config.to_dict()))
                    display.log(f"[{numbers[run.name]}/{len(todo)}] {run.name}: {changed}")
                send = display.event if progress else None
                for run, error in _train_group(group, str(directory), send, display.log):
                    _record(statuses, experiment, run, _outcome(error, run, display.log))
                _write_index(directory, experiment, statuses)
    finally:
        display.close()
    return directory


def plan_summary(experiment: Experiment, statuses: dict[str, Any], todo: list[RunPlan]) -> str:
    """What the runner is about to do, in words that add up to the ``[i/N]`` counter: "8 runs, 0 already
    finished (5 to train: 3 share settings with another); left out of the quick run: big"."""
    reused = sum(status == "done" for status in statuses.values())
    shared = len(experiment.runs) - reused - len(todo)  # pending runs whose directory another run trains
    text = f"{count(len(experiment.runs), 'run')}, {reused} already finished"
    if shared:
        text += f" ({len(todo)} to train: {shared} share{'s' * (shared == 1)} settings with another)"
    if experiment.left_out:
        text += f"; left out of the quick run: {', '.join(experiment.left_out)}"
    return text


def check_shared(experiment: Experiment, todo: list[RunPlan]) -> None:
    """Check once what the runs to train share, so that a missing GPU or dataset is one line before
    anything starts, not the same failure in every run: each device the runs ask for exists (the
    message ``layerlab train`` gives), and the files of each dataset they read are there and sound
    (downloaded once if need be). A run that fails for its own reasons (its validation split, say)
    later still fails on its own."""
    from ..data import DataError, expected_files, load, works_offline
    from ..engine import check_device

    for config in {(run.config.engine, run.config.device): run.config for run in todo}.values():
        check_device(config)
    for (name, data_dir), runs in _group(todo, lambda run: (run.config.data, run.config.data_dir)).items():
        if works_offline(name):
            continue  # generated or embedded: nothing to find
        try:
            load(name, data_dir=data_dir, val=0)  # the files, not a run's own split of them (val, limit)
        except DataError as e:
            names = ", ".join(run.name for run in runs)
            users = "every run" if len(runs) == len(todo) else f"{'run' + 's' * (len(runs) > 1)} {names}"
            fixes = []
            if not experiment.quick and experiment.quick_data and all(map(works_offline, experiment.quick_data)):
                fixes.append(f"--quick (its data, {', '.join(sorted(experiment.quick_data))}, needs no download)")
            if expected_files(name) and not data_dir:
                fixes.append(f"--data-dir DIR holding {expected_files(name)}")
            advice = f"; or give {' or '.join(fixes)}" if fixes else ""
            raise ExperimentError(f"dataset {name} ({users} of {experiment.name}): {e}{advice}") from None


def _group(runs: list[RunPlan], key) -> dict[Any, list[RunPlan]]:
    groups: dict[Any, list[RunPlan]] = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    return groups


def _train_in_parallel(todo: list[RunPlan], directory: Path, jobs: int, display: Display, progress: bool):
    """Train the runs in ``jobs`` processes, yielding each run and its outcome as it ends. An ensemble's
    members are separate tasks, so its five networks train side by side like any other runs; once all
    of them have finished, one more task combines them (the members are reused, not retrained). The
    workers send their progress through a queue; the display shows it while the runs train."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: safe with torch loaded
    events = context.Queue() if progress else None
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(threads, events)) as pool:
        tasks = {}  # future -> (run, member index or None for the run itself)
        members_left = {}
        for run in todo:
            if run.members > 1:
                members_left[run.key] = run.members
                tasks |= {pool.submit(_train_member, run, i, str(directory)): (run, i) for i in range(run.members)}
            else:
                tasks[pool.submit(_train_run, run, str(directory), _WORKER)] = (run, None)
        while tasks:
            finished, _ = wait(tasks, timeout=0.2, return_when=FIRST_COMPLETED)
            if events is not None:
                drain(events, display)
            for future in finished:
                run, member = tasks.pop(future)
                error = future.exception()
                if member is None:
                    yield run, _outcome(error, run, display.log)
                elif run.key not in members_left:
                    continue  # a member of an ensemble that has failed already
                elif error is not None:
                    del members_left[run.key]
                    yield run, _outcome(error, run, display.log)
                else:
                    members_left[run.key] -= 1
                    if members_left[run.key] == 0:
                        del members_left[run.key]
                        tasks[pool.submit(_train_run, run, str(directory), _WORKER)] = (run, None)
        if events is not None:
            drain(events, display)


#: ``_train_run``'s ``send`` in a worker process: the queue the worker was started with (``_start_worker``).
_WORKER = "worker"
_worker_events: Any = None


def _start_worker(threads: int, events: Any) -> None:
    """Each of the parallel workers gets its share of the cores, not all of them, and the progress queue."""
    global _worker_events
    _worker_events = events
    _limit_threads(threads)


def _limit_threads(threads: int) -> None:
    """Each of the parallel workers gets its share of the cores, not all of them."""
    import torch

    torch.set_num_threads(threads)


def _record(statuses: dict[str, Any], experiment: Experiment, run: RunPlan, outcome: str | dict) -> None:
    """The outcome of a trained directory holds for every run that shares it."""
    for other in experiment.runs:
        if other.key == run.key:
            statuses[other.name] = outcome


def _outcome(error: BaseException | None, run: RunPlan, log) -> str | dict:
    if error is None:
        return "done"
    log(f"run {run.name} failed: {error}")
    return {"status": "failed", "error": str(error)}


def _finished(run_dir: RunDir) -> str:
    """A run is done when it has its result and the predictions the report needs (else it resumes: a
    finished run only writes them)."""
    return "done" if run_dir.is_finished() and run_dir.has(RunDir.PREDICTIONS) else "pending"


def _write_index(directory: Path, experiment: Experiment, statuses: dict[str, Any]) -> None:
    runs = []
    for run in experiment.runs:
        status = statuses[run.name]
        entry = {
            "name": run.name,
            "exercise": run.exercise,
            "changed": run.changed,
            "directory": run.directory,
            "status": status if isinstance(status, str) else status["status"],
            "ensemble": run.members > 1,
            "config": run.config.to_dict(),
        }
        if isinstance(status, dict):
            entry["error"] = status["error"]
        if run.reference is not None:
            entry["reference"] = run.reference
        if run.loss_target is not None:
            entry["loss_target"] = run.loss_target
        if run.note:
            entry["note"] = run.note
        if run.fit != FITS[0]:
            entry["fit"] = run.fit
        if run.repeat_of:
            entry["repeat_of"] = run.repeat_of
        runs.append(entry)
    write_json(
        directory / "experiment.json",
        {
            "name": experiment.name,
            "title": experiment.title,
            "description": experiment.description,
            "quick": experiment.quick,
            "source": experiment.source,
            "notes": experiment.notes,
            "expect": experiment.expect,
            "quick_expect": experiment.quick_expect,
            "runs": runs,
        },
    )


def _train_run(run: RunPlan, directory: str, send: Send | str | None) -> None:
    """Train one run (or ensemble) and store the artifacts the report needs; ``send`` receives its
    progress (``layerlab.progress``; ``_WORKER``: the queue of this worker process; None: no progress)."""
    from .. import api

    run_dir = RunDir(Path(directory) / run.directory)
    dataset = load_data(run.config)
    settings = run.config.to_dict()
    if run.members > 1:
        result, members = api.ensemble(
            run.members, dataset, out=run_dir.path, resume=True, quiet=True, hooks=_progress(run, send), **settings
        )
        api.save_outputs(api.EnsembleRun.of(members, run_dir.path), dataset, result.test_probabilities)
    else:
        api.save_outputs(
            api.fit(dataset, out=run_dir.path, resume=True, quiet=True, hooks=_progress(run, send), **settings), dataset
        )


def _seed_groups(todo: list[RunPlan]) -> list[list[RunPlan]]:
    """The runs in order, those that differ in their seed only (a run's repeats, a grid of seeds) in one
    group, trained together (``_train_group``); an ensemble is a group of its own (its members are)."""
    groups: dict[Any, list[RunPlan]] = {}
    for run in todo:
        settings = {k: v for k, v in run.config.to_dict().items() if k not in ("seed", *NOT_IN_KEY)}
        key = json.dumps(settings, sort_keys=True, default=str) if run.members == 1 else run.key
        groups.setdefault(key, []).append(run)
    return list(groups.values())


def _train_group(runs: list[RunPlan], directory: str, send: Send | None, log) -> list[tuple[RunPlan, Any]]:
    """Train runs that differ in their seed only as one stacked model (``api.fit_together``; one at a time
    where the engine cannot, with a line that says why); returns each run with its error or None."""
    from .. import api

    if len(runs) == 1:
        try:
            _train_run(runs[0], directory, send)
            return [(runs[0], None)]
        except LayerlabError as error:
            return [(runs[0], error)]
    try:
        dataset = load_data(runs[0].config)
        outs = [RunDir(Path(directory) / run.directory).path for run in runs]
        hooks = [_progress(run, send) for run in runs]
        configs = [run.config for run in runs]
        trained = api.fit_together(configs, dataset, outs, resume=True, quiet=True, hooks=hooks, note=log)
    except LayerlabError as error:
        return [(run, error) for run in runs]
    outcomes = []
    for run, outcome in zip(runs, trained, strict=True):
        if isinstance(outcome, LayerlabError):
            outcomes.append((run, outcome))
            continue
        try:
            api.save_outputs(outcome, dataset)
            outcomes.append((run, None))
        except LayerlabError as error:
            outcomes.append((run, error))
    return outcomes


def _train_member(run: RunPlan, index: int, directory: str) -> None:
    """Train one member of an ensemble run in a worker (``_train_run`` combines the members afterwards)."""
    from .. import api

    run_dir = Path(directory) / run.directory
    api.ensemble_member(
        index,
        load_data(run.config),
        out=run_dir,
        resume=True,
        quiet=True,
        hooks=_progress(run, _WORKER),
        **run.config.to_dict(),
    )


def _progress(run: RunPlan, send: Send | str | None) -> list:
    """The hooks of a run: its fit (``LeastSquares`` for ``fit = "least-squares"``), then its progress (an
    ensemble's members each name themselves), if any."""
    if send == _WORKER:
        send = queue_sender(_worker_events) if _worker_events is not None else None
    fitting = [LeastSquares()] if run.fit == "least-squares" else []
    if send is None:
        return fitting
    return [*fitting, RunProgress(run.name, send, members=run.members, seed=run.config.seed)]


def load_index(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / "experiment.json"
    if not path.exists():
        raise ExperimentError(f"{directory} is not an experiment directory (no experiment.json)")
    return json.loads(path.read_text())
