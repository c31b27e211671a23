"""Experiments: a set of runs that differ in one or a few settings, read from a TOML file.

An experiment file has shared ``[settings]`` (any ``TrainConfig`` key), optional ``[quick]``
overrides that shrink every run for a one-minute try, and a list of ``[[runs]]``. A run names
itself, its ``exercise`` (the runs compared in one table and one figure), the settings it changes,
and optionally ``reference`` (the slide's accuracy), ``loss_target`` (a test loss the task aims to get
under, as Playground's tasks do), ``members`` (an ensemble by majority vote),
``repeats`` (train it N times with seeds seed, seed+1, ...; the report gives the seed of best validation
score and the mean over the seeds; Nielsen reported the best of 3), ``grid`` (one run per value of a key)
and ``fit = "least-squares"`` (a linear model's exact fit, ``least_squares.py``)::

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

This module turns such a file into an ``Experiment``: the file read and checked, grids and repeats expanded,
the quick variant's settings applied, and the ``expect`` list checked against the runs' names; the runs are
trained by ``execute.py``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import (
    PATH_SETTINGS,
    TrainConfig,
    check_settings,
    paths_from,
    read_toml,
    setting_names,
    toml_value,
)
from ..errors import LayerlabError
from ..report.verdicts import matching, parse_expectation, threshold
from ..spec import KINDS, parse
from ..weights import file_sha256
from .least_squares import FITS


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
    changed: dict[str, Any]  #: the settings it changes, with the values it trains with; an ensemble's ``members``
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
    name_or_path: str,
    quick: bool = False,
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    repeats: int | None = None,
) -> Experiment:
    """A built-in experiment by name, or an experiment TOML file; ``overrides`` apply to every run. ``seed``
    trains the whole experiment again with other initial weights, orders and dropout masks: every run's own
    seed (0 by default; its repeats' and members' the next ones) moves by ``SEED_STRIDE`` x ``seed``, so the
    runs of two experiment seeds never share a seed. ``repeats`` trains every run that many times (seeds
    seed, seed+1, ...), whatever the file says: what a report asks for where two runs are within noise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ExperimentError(f"seed must be a whole number >= 0, got {seed!r}")
    if repeats is not None and (isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1):
        raise ExperimentError(f"repeats must be a whole number >= 1 (the trainings of each run), got {repeats!r}")
    path = Path(name_or_path)
    builtin_name = path.suffix != ".toml" and name_or_path in builtin_names()
    if path.suffix == ".toml" or (path.exists() and not (path.is_dir() and builtin_name)):
        document, source, folder = read_toml(path, "experiment file"), str(path), path.parent
    else:
        builtin = resources.files(__package__).joinpath("builtin", f"{name_or_path}.toml")
        if not builtin.is_file():
            known = ", ".join(builtin_names())
            close = difflib.get_close_matches(name_or_path, builtin_names(), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ExperimentError(f"unknown experiment {name_or_path!r}: {hint}give a .toml file or one of: {known}")
        document, source, folder = tomllib.loads(builtin.read_text()), f"built-in {name_or_path}", None
    return _experiment(document, source, quick, overrides or {}, folder, seed, repeats)


@dataclass(frozen=True)
class _Reading:
    """What every run of an experiment file is read with: the file's shared settings and its ``[quick]``
    table, the options of this reading (--quick, overrides, --seed) and where the file's relative paths
    start."""

    source: str
    quick: bool
    shared: dict[str, Any]
    quick_table: dict[str, Any]
    quick_repeats: int  #: a quick run's repeats, unless the run says
    overrides: dict[str, Any]
    folder: Path | None
    seed: int
    repeats: int | None = None  #: every run's repeats (``--repeats``), whatever the file says

    @property
    def quick_shared(self) -> dict[str, Any]:
        """The ``[quick]`` settings that apply: all of them with --quick, none without."""
        return self.quick_table if self.quick else {}

    @cached_property
    def unchanged(self) -> dict[str, Any]:
        """The settings of a run that changes nothing (once for every run: ``_shown_changes`` compares each run
        with it); empty where the shared settings alone are not a run (every run completes them)."""
        try:
            return _run_config(self, "(shared settings)", dict(self.quick_shared)).to_dict()
        except ExperimentError:
            return {}


def _experiment(
    document: dict[str, Any],
    source: str,
    quick: bool,
    overrides: dict[str, Any],
    folder: Path | None = None,
    seed: int = 0,
    repeats: int | None = None,
) -> Experiment:
    """The runs of an experiment file's tables; the file's relative paths are from its ``folder``."""
    _check_document(document, source)
    reading = replace(_reading(document, source, quick, overrides, folder, seed), repeats=repeats)
    runs, left_out, quick_data, everything = [], [], set(), []
    for i, entry in enumerate(document["runs"]):
        for run in _expand_grid(_check_run(entry, source, i)):
            everything.append(run["name"])
            if not run.get("quick", {}).get("skip", False):
                quick_data.add(_quick_data(reading, run))
            skipped = _skipped(reading, run)
            if skipped:
                left_out.append(skipped)
            else:
                runs.extend(_plan_run(reading, run))
    names = _unique_names(runs, source)
    expect, quick_expect = _expect_lists(document, source, [*names, *(_base(n) for n in names)], everything)
    return Experiment(
        name=document["name"],
        title=document.get("title", document["name"]),
        description=document.get("description", ""),
        runs=runs,
        quick=quick,
        source=source,
        notes=_notes(document, reading, left_out),
        left_out=left_out,
        quick_data=frozenset(map(str, quick_data)),
        expect=expect,
        quick_expect=quick_expect,
    )


def _reading(
    document: dict[str, Any], source: str, quick: bool, overrides: dict[str, Any], folder: Path | None, seed: int
) -> _Reading:
    """The file's ``[settings]`` and ``[quick]`` tables checked (a misspelt setting is its table's fault)."""
    shared = setting_names(document.get("settings", {}), f"{source} [settings]")
    quick_table = setting_names(document.get("quick", {}), f"{source} [quick]")
    for table, values in (("settings", shared), ("quick", quick_table if quick else {})):
        try:
            check_settings(values, f"{source} [{table}]")
        except LayerlabError as e:
            raise ExperimentError(str(e)) from None
    return _Reading(source, quick, shared, quick_table, document.get("quick_repeats", 1), overrides, folder, seed)


def _changes(run: dict[str, Any]) -> dict[str, Any]:
    """The settings a ``[[runs]]`` entry changes (its keys that are not a run's own, ``RUN_TYPES``)."""
    return {k: v for k, v in run.items() if k not in RUN_TYPES}


def _quick_data(reading: _Reading, run: dict[str, Any]) -> str:
    """The dataset the run trains on in the quick variant."""
    settings = reading.shared | _changes(run) | reading.quick_table | run.get("quick", {})
    return settings.get("data", TrainConfig.data)


def _skipped(reading: _Reading, run: dict[str, Any]) -> str:
    """The run as the quick variant's notes list it when --quick leaves it out (``skip = true``), else ""."""
    own = run.get("quick", {}) if reading.quick else {}
    if not own.get("skip", False):
        return ""
    return run["name"] + (f" ({own['note']})" if own.get("note") else "")


def _plan_run(reading: _Reading, run: dict[str, Any]) -> list[RunPlan]:
    """A run's plans (one per repeat): its settings resolved and checked, its quick variant's reductions and
    its note."""
    quick_changes = dict(run.get("quick", {})) if reading.quick else {}
    quick_note = quick_changes.pop("note", None)
    quick_changes.pop("skip", False)
    full_members, full_repeats = run.get("members", 1), run.get("repeats", 1)
    members = int(quick_changes.pop("members", full_members))
    repeats = quick_changes.pop("repeats", reading.quick_repeats if reading.quick else full_repeats)
    repeats = reading.repeats if reading.repeats is not None else repeats
    _check_counts(reading.source, run, repeats)
    config = _run_config(reading, run["name"], _changes(run) | reading.quick_shared | quick_changes)
    if run.get("fit", FITS[0]) not in FITS:
        raise ExperimentError(
            f"{reading.source}, run {run['name']!r}: fit = {toml_value(run['fit'])}: use one of {', '.join(FITS)}"
        )
    note = run.get("note", "")
    if reading.quick:
        ran = _describe_quick(quick_changes, members, full_members, repeats, full_repeats)
        parts = [quick_note] if quick_note is not None else [f"full run: {note}" if note else ""]
        note = "; ".join(part for part in [*parts, ran] if part)
    plan = RunPlan(
        name=run["name"],
        exercise=run.get("exercise", ""),
        config=config,
        changed=_shown_changes(reading, run, quick_changes, config) | ({"members": members} if members > 1 else {}),
        reference=run.get("reference"),
        loss_target=run.get("loss_target"),
        members=members,
        note=note,
        fit=run.get("fit", FITS[0]),
    )
    return _repeats(plan, repeats)


def _shown_changes(
    reading: _Reading, run: dict[str, Any], quick_changes: dict[str, Any], config: TrainConfig
) -> dict[str, Any]:
    """The settings the run changes (its own and, with --quick, its own quick ones) with the values it trains
    with: the ``[quick]`` table's and the command line's beat the run's (a patience of 10 runs as 3 with
    --quick); a path as the file wrote it, and a seed too, as the run's name gives it (``--seed`` moves every
    seed by the same amount, which the report's notes say once)."""
    written = _changes(run) | reading.quick_shared | quick_changes | reading.overrides
    used = config.to_dict()
    as_written = (*PATH_SETTINGS, "seed")
    shared = reading.unchanged  # where empty, every setting the run gives is shown
    return {
        key: written[key] if key in as_written else _differing(used[key], shared.get(key))
        for key in _changes(run) | quick_changes
        if key in as_written or used[key] != shared.get(key, object())  # a quick table can undo a change (lr)
    }


def _differing(value: Any, shared: Any) -> Any:
    """``value``, or of a table of options (``data_options``) the entries that differ from the shared ones."""
    if isinstance(value, dict) and isinstance(shared, dict):
        return {key: item for key, item in value.items() if shared.get(key) != item}
    return value


def _check_counts(source: str, run: dict[str, Any], repeats: Any) -> None:
    """The run's repeats (a whole number >= 1) and loss target (a number > 0)."""
    if not isinstance(repeats, int) or repeats < 1:
        raise ExperimentError(f"{source}, run {run['name']!r}: repeats must be a whole number >= 1")
    target = run.get("loss_target")
    if target is not None and (isinstance(target, bool) or not isinstance(target, int | float) or target <= 0):
        raise ExperimentError(f"{source}, run {run['name']!r}: loss_target must be a number > 0, got {target!r}")


def _run_config(reading: _Reading, name: str, changes: dict[str, Any]) -> TrainConfig:
    """The run's ``TrainConfig``: the shared settings, then the run's (``changes``: with --quick, the quick ones
    last, so that --quick beats a run's epochs), then the overrides; its seed moved by ``--seed``; checked now
    (a misspelt model, a missing ``init_weights`` file), not when its run starts training."""
    settings = reading.shared | changes
    settings = (paths_from(settings, reading.folder) if reading.folder is not None else settings) | reading.overrides
    try:
        config = TrainConfig.from_dict(settings)
        config = config.replace(seed=config.seed + SEED_STRIDE * reading.seed)
        config.check()
        parse(config.model)  # a misspelt model now, not when its run starts training
        if config.init_weights is not None:
            file_sha256(config.init_weights)  # a missing file now: the run's key needs its contents
    except LayerlabError as e:
        raise ExperimentError(f"{reading.source}, run {name!r}: {e}") from None
    return config


def _unique_names(runs: list[RunPlan], source: str) -> list[str]:
    names = [r.name for r in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ExperimentError(f"{source}: run names must be unique, repeated: {', '.join(duplicates)}")
    return names


def _expect_lists(
    document: dict[str, Any], source: str, known: list[str], everything: list[str]
) -> tuple[list[str], list[str] | None]:
    """The file's ``expect`` and ``quick_expect`` lists, checked (``quick_expect`` is a part of ``expect``)."""
    expect = _expectations(document.get("expect", []), source, known, everything)
    quick_expect = document.get("quick_expect")
    if quick_expect is not None:
        _expectations(quick_expect, source, known, everything)
        extra = [text for text in quick_expect if text not in expect]
        if extra:
            raise ExperimentError(f"{source}: quick_expect names {extra[0]!r}, which is not in expect; add it there")
    return expect, quick_expect


def _notes(document: dict[str, Any], reading: _Reading, left_out: list[str]) -> list[str]:
    """The report's notes: the file's; with --quick, what the quick run ran, then ``quick_notes`` (without
    them the full run's notes, marked as such)."""
    notes = list(document.get("notes", []))
    seed = []
    if reading.seed:  # the report says which draw it is: two seeds' reports side by side differ here
        stride = f"{SEED_STRIDE * reading.seed:,}"
        seed = [f"Seed {reading.seed} (--seed {reading.seed}): every run's seed is moved by {stride} from seed 0's."]
    if not reading.quick:
        return seed + notes
    own = [run["name"] for run in document["runs"] if set(run.get("quick", {})) - {"note", "skip"}]
    summary = _quick_summary(reading.shared, reading.quick_shared, left_out, own)
    return [summary, *seed] + list(document.get("quick_notes", [f"Full run: {note}" for note in notes]))


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


def _quick_summary(shared: dict[str, Any], quick_shared: dict[str, Any], left_out: list[str], own: list[str]) -> str:
    """The experiment's note on what --quick ran: its settings for every run, and the full run's; ``own``: the
    runs with quick settings of their own, which their notes give."""
    defaults = TrainConfig().to_dict()
    ran = ", ".join(_words(k, v) for k, v in quick_shared.items())
    full = ", ".join(_words(k, shared.get(k, defaults.get(k))) for k in quick_shared)
    summary = f"Quick run: {ran or 'the full settings'} (the full run: {full})" if ran else "Quick run"
    if ran and own:
        summary += f", except where a run's note says otherwise ({', '.join(own)})"
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
            changed=plan.changed
            | ({"seed": plan.changed["seed"] + i * plan.members} if "seed" in plan.changed else {}),
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
