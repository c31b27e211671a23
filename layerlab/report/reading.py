"""Reading what a report is made from: an experiment directory, or run directories to compare.

This is the only module of the report that reads what runs left: run directories through ``RunDir`` (the
only code that knows their files), and the experiment's index, experiment.json. An experiment directory
is what ``layerlab run`` writes (``layerlab/experiments/execute.py``)::

    experiment.json   name, title, description, quick, notes, and per run: name, exercise, changed (the
                      settings that differ from the shared ones; an ensemble's members), directory, status
                      (done, failed, pending), error, ensemble, note, reference (the slide's accuracy, a fraction),
                      loss_target (a test loss to get under), repeat_of, config (every setting)
    runs/<run>/       a run directory plus predictions.npz and, for the 2D Playground sets, boundary.npz;
                      an ensemble holds ensemble.json, the predictions of its vote and member-1/, ...

Any run directories (``layerlab train --out``, ``layerlab ensemble --out``, an experiment's runs) can
also be read as an ad-hoc experiment: one run per directory, ``changed`` being the settings in which
they differ.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..config import TrainConfig
from ..data import default_val
from ..engine import OPTIMIZERS
from ..errors import LayerlabError
from ..rundir import RunDir


class ReportError(LayerlabError, ValueError):
    """An experiment or run directory, or a file in it, that a report cannot be made from."""


@dataclass
class RunSource:
    """One run as the report sees it: its entry in the experiment and its run directory (read through
    ``RunDir``, the only code that knows the files)."""

    name: str
    directory: Path
    status: str  #: done, failed, pending
    exercise: str = "Runs"
    changed: dict[str, Any] = field(default_factory=dict)
    ensemble: bool = False
    error: str = ""
    note: str = ""
    reference: float | None = None  #: the slide's accuracy, a fraction
    loss_target: float | None = None
    repeat_of: str | None = None
    recorded_settings: dict[str, Any] | None = None  #: from experiment.json; else config.json's
    place: str = ""  #: the run directory as the report names it: relative to the report's directory

    @cached_property
    def rundir(self) -> RunDir:
        return RunDir(self.directory)

    @cached_property
    def _training(self) -> RunDir:
        """The directory with the training files: member 1's for an ensemble."""
        return self.rundir.member(0) if self.ensemble else self.rundir

    @cached_property
    def result(self) -> dict[str, Any]:
        """result.json (member 1's for an ensemble); {} before the run ends."""
        return self._training.read_result() or {}

    @cached_property
    def saved_config(self) -> dict[str, Any]:
        return self._training.read_config() if self._training.has(RunDir.CONFIG) else {}

    @property
    def settings(self) -> dict[str, Any]:
        """Every setting of the run (TrainConfig's fields); {} when the run has not started."""
        return self.recorded_settings or self.saved_config.get("config", {})

    @property
    def dataset(self) -> dict[str, Any]:
        """config.json's description of the data: name, classes, input_shape, task."""
        return self.saved_config.get("dataset", {})

    @property
    def test_set(self) -> str:
        """The name of the data the run was tested on ("mnist-small"); "" before it starts."""
        return str(self.dataset.get("name") or self.settings.get("data") or "")

    @cached_property
    def metrics(self) -> list[dict[str, Any]]:
        """The epochs (member 1's for an ensemble); [] before the first epoch."""
        return self._training.read_metrics()

    @cached_property
    def ensemble_summary(self) -> dict[str, Any] | None:
        """ensemble.json: member_accuracies, vote_accuracy, mean_accuracy; None before the vote."""
        return self.rundir.read_ensemble()

    @cached_property
    def members(self) -> list[RunSource]:
        """An ensemble's members in order (member-1, member-2, ...); [] for a single run."""
        if not self.ensemble:
            return []
        return [
            RunSource(f"{self.name} member {i}", member.path, self.status, self.exercise)
            for i, member in enumerate(self.rundir.members(), 1)
        ]

    def predictions(self) -> dict[str, np.ndarray] | None:
        """The test set's labels, predictions and misclassified inputs, as the runner saved them; or None."""
        return self.rundir.read_arrays(RunDir.PREDICTIONS)

    def boundary(self) -> dict[str, np.ndarray] | None:
        """A 2D dataset's model output over the plane and its points, as the runner saved them; or None."""
        return self.rundir.read_arrays(RunDir.BOUNDARY)

    def first_conv_weight(self) -> np.ndarray | None:
        """The weight (F, C, k, k) of the first conv layer of the best weights, if the model has one."""
        if not self._training.weights_file("best").is_file():
            return None
        state, _ = self._training.load_weights("best")
        kernels = [(name, w) for name, w in state.items() if name.endswith("weight") and w.ndim == 4]
        return min(kernels, key=lambda item: layer_index(item[0]))[1] if kernels else None


def setting_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """What a setting left at None stands for in this run: the optimiser's own learning rate, the dataset's
    own validation split (MNIST: Nielsen's 10,000; a Playground set: none)."""
    optimizer = OPTIMIZERS.get(settings.get("optimizer") or "sgd")
    defaults = {"lr": optimizer.default_lr} if optimizer else {}
    return defaults | {"val": default_val(settings.get("data") or TrainConfig.data)}


def resolved(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings with the ones left at None as the run used them (``lr`` None: the optimiser's own)."""
    return settings | {k: v for k, v in setting_defaults(settings).items() if settings.get(k) is None}


def layer_index(name: str) -> float:
    """A weight's layer index in the spec, from 0 (``"3.weight"`` -> 3); names without one sort last."""
    head = name.split(".")[0]
    return int(head) if head.isdigit() else float("inf")


@dataclass
class ExperimentSource:
    """What the report's header shows, and the runs."""

    name: str
    title: str
    directory: Path  #: where the report goes
    runs: list[RunSource]
    description: str = ""
    quick: bool = False
    notes: list[str] = field(default_factory=list)
    expect: list[str] = field(default_factory=list)  #: what the experiment expects ("ex1-mlp > ex1-linear")
    quick_expect: list[str] | None = None  #: those a quick run is sized to show (None: all)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ReportError(f"{path} is not valid JSON ({e}); run the experiment again to rewrite it") from None


def is_experiment(directory: str | os.PathLike) -> bool:
    return (Path(directory) / "experiment.json").is_file()


def read_experiment(experiment_dir: str | os.PathLike) -> ExperimentSource:
    """An experiment directory as ``layerlab run`` wrote it."""
    directory = Path(experiment_dir)
    index = directory / "experiment.json"
    if not index.is_file():
        raise ReportError(
            f"{directory} is not an experiment directory (no experiment.json); "
            "give the directory that `layerlab run` wrote, or run directories to compare"
        )
    experiment = read_json(index)
    runs = []
    for i, entry in enumerate(experiment.get("runs", [])):
        missing = [key for key in ("name", "directory", "status") if key not in entry]
        if missing:
            raise ReportError(f"{index}: run {i + 1} has no {', '.join(missing)}; run the experiment again")
        reference = entry.get("reference")
        if reference is not None and not (isinstance(reference, int | float) and 0 < reference <= 1):
            raise ReportError(
                f"{index}: run {entry['name']!r} has reference {reference!r}; give the slide's accuracy as a "
                "fraction, e.g. 0.978 for 97.80%"
            )
        runs.append(
            RunSource(
                name=entry["name"],
                directory=directory / entry["directory"],
                status=entry["status"],
                exercise=entry.get("exercise") or "Runs",
                changed=entry.get("changed", {}),
                ensemble=bool(entry.get("ensemble")),
                error=entry.get("error", "") if entry["status"] == "failed" else "",
                note=entry.get("note", ""),
                reference=reference,
                loss_target=entry.get("loss_target"),
                repeat_of=entry.get("repeat_of"),
                recorded_settings=entry.get("config"),
                place=Path(entry["directory"]).as_posix(),
            )
        )
    return ExperimentSource(
        name=experiment["name"],
        title=experiment.get("title", experiment["name"]),
        directory=directory,
        runs=runs,
        description=experiment.get("description", ""),
        quick=bool(experiment.get("quick")),
        notes=list(experiment.get("notes", [])),
        expect=[text for text in experiment.get("expect", []) if isinstance(text, str)],
        quick_expect=experiment.get("quick_expect"),
    )


def read_runs(run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike) -> ExperimentSource:
    """Run directories (plain runs or ensembles) side by side; ``changed`` holds the settings that differ (and
    the number of networks, ``members``, where an ensemble's differs from another run's)."""
    if not run_dirs:
        raise ReportError("give at least one run directory to report on")
    runs = [_run_directory(Path(path)) for path in run_dirs]
    seen: set[Path] = set()
    for run in runs:
        if run.directory.resolve() in seen:
            raise ReportError(f"{run.directory} is given twice; give each run directory once")
        seen.add(run.directory.resolve())
    _same_test_set(runs)
    _distinct_names(runs)
    if len(runs) > 1:
        everything = [resolved(run.settings) for run in runs]  # lr None and lr 0.1 with SGD: the same
        keys = dict.fromkeys(key for settings in everything for key in settings)
        differ = [key for key in keys if len({json.dumps(s.get(key), sort_keys=True) for s in everything}) > 1]
        counts = [len(run.members) or 1 for run in runs]  # an ensemble's members, as its experiment's run shows them
        for run, count in zip(runs, counts, strict=True):
            run.changed = {key: run.settings.get(key) for key in differ}
            if len(set(counts)) > 1:
                run.changed["members"] = count
    for run in runs:  # where `layerlab eval` finds it from the report's directory
        run.place = Path(os.path.relpath(run.directory.resolve(), Path(out).resolve())).as_posix()
    title = runs[0].name if len(runs) == 1 else f"{len(runs)} runs compared: {', '.join(run.name for run in runs)}"
    return ExperimentSource(name="comparison", title=title, directory=Path(out), runs=runs)


def _distinct_names(runs: list[RunSource]) -> None:
    """Runs of the same name told apart by the folders above them: runs/a/member-1 and runs/b/member-1 are
    a/member-1 and b/member-1; two experiments' runs/relu#1 are act/relu#1 and act-s1/relu#1."""
    names = [run.name for run in runs]
    for run in runs:
        if names.count(run.name) < 2:
            continue
        same = [other for other in runs if other.name == run.name]
        parents = [other.directory.resolve().parents for other in same]
        for depth in range(min(len(p) for p in parents)):
            if len({p[depth].name for p in parents}) == len(same):  # this folder tells them apart
                break
        else:
            depth = 0
        for other, chain in zip(same, parents, strict=True):
            other.name = f"{chain[depth].name}/{other.name}"
        names = [r.name for r in runs]


def _same_test_set(runs: list[RunSource]) -> None:
    """Refuse runs tested on different data (another dataset, or other examples of it: a Playground set's
    noise, say): their accuracies (or losses) measure different things, and nothing pairs their examples."""
    started = [run for run in runs if run.test_set]
    first = started[0] if started else None
    for run in started[1:]:
        if run.test_set != first.test_set:
            raise ReportError(
                f"{first.directory} was tested on {first.test_set} and {run.directory} on {run.test_set}: runs are "
                "compared on one test set; report them one at a time (`layerlab report DIR`)"
            )
    labelled = [(run, p["y_true"]) for run in started if (p := run.predictions()) is not None and "y_true" in p]
    for run, y in labelled[1:]:
        first, y_first = labelled[0]
        if not np.array_equal(y, y_first):  # shapes too
            raise ReportError(
                f"{first.directory} and {run.directory} were tested on different examples of {first.test_set} "
                "(other data options?): runs are compared on one test set; report them one at a time"
            )


def _run_directory(directory: Path) -> RunSource:
    if not directory.is_dir():
        raise ReportError(
            f"{directory} does not exist; give a directory that `layerlab train --out`, `layerlab ensemble --out` "
            "or `layerlab run` wrote"
        )
    if is_experiment(directory):
        raise ReportError(
            f"{directory} is an experiment directory: report it on its own (`layerlab report {directory}`), "
            "or give its run directories (runs/<name>-<key>) to compare them with others"
        )
    rundir = RunDir(directory)
    ensemble = rundir.has(RunDir.ENSEMBLE) or bool(rundir.members())
    if not rundir.is_run():
        raise ReportError(
            f"{directory} is not a run directory (no config.json); give directories written by "
            "`layerlab train --out` or `layerlab ensemble --out`"
        )
    status = "done" if rundir.is_finished() else "pending"
    return RunSource(_run_name(directory), directory, status, ensemble=ensemble)


def _run_name(directory: Path) -> str:
    """The directory's name; for an experiment's run (runs/<name>-<key>), the name the experiment gives it."""
    path = directory.resolve()
    if is_experiment(path.parent.parent):
        entries = read_json(path.parent.parent / "experiment.json").get("runs", [])
        names = [e["name"] for e in entries if e.get("directory") == f"{path.parent.name}/{path.name}"]
        if names:
            return names[0]
    return path.name
