"""Reading what a report is made from: an experiment directory, or run directories to compare.

This is the only module of the report that opens files. An experiment directory is what ``layerlab run``
writes (``layerlab/experiments/runner.py``)::

    experiment.json   name, title, description, quick, notes, and per run: name, exercise, changed (the
                      settings that differ from the shared ones), directory, status (done, failed,
                      pending), error, ensemble, note, reference (the slide's accuracy, a fraction),
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
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LayerlabError
from ..weights import load_weights


class ReportError(LayerlabError, ValueError):
    """An experiment or run directory, or a file in it, that a report cannot be made from."""


@dataclass
class RunSource:
    """One run as the report sees it: its entry in the experiment and the files of its directory."""

    name: str
    directory: Path
    status: str  #: done, failed, pending
    exercise: str = "runs"
    changed: dict[str, Any] = field(default_factory=dict)
    ensemble: bool = False
    error: str = ""
    note: str = ""
    reference: float | None = None  #: the slide's accuracy, a fraction
    loss_target: float | None = None
    repeat_of: str | None = None
    recorded_settings: dict[str, Any] | None = None  #: from experiment.json; else config.json's

    def file(self, name: str) -> Path | None:
        """``name`` in the run directory, else in member-1/ (an ensemble's training files are there)."""
        for folder in (self.directory, self.directory / "member-1"):
            if (folder / name).is_file():
                return folder / name
        return None

    def _json(self, name: str) -> Any:
        path = self.file(name)
        return read_json(path) if path else None

    @cached_property
    def result(self) -> dict[str, Any]:
        """result.json (member 1's for an ensemble); {} before the run ends."""
        return self._json("result.json") or {}

    @cached_property
    def saved_config(self) -> dict[str, Any]:
        return self._json("config.json") or {}

    @property
    def settings(self) -> dict[str, Any]:
        """Every setting of the run (TrainConfig's fields); {} when the run has not started."""
        return self.recorded_settings or self.saved_config.get("config", {})

    @property
    def dataset(self) -> dict[str, Any]:
        """config.json's description of the data: name, classes, input_shape, task."""
        return self.saved_config.get("dataset", {})

    @cached_property
    def metrics(self) -> list[dict[str, Any]]:
        """The epochs of metrics.jsonl (member 1's for an ensemble); [] before the first epoch."""
        return read_jsonl(self.file("metrics.jsonl"))

    @cached_property
    def ensemble_summary(self) -> dict[str, Any] | None:
        """ensemble.json: member_accuracies, vote_accuracy, mean_accuracy; None before the vote."""
        path = self.directory / "ensemble.json"
        return read_json(path) if path.is_file() else None

    @cached_property
    def members(self) -> list[RunSource]:
        """An ensemble's members in order (member-1, member-2, ...); [] for a single run."""
        if not self.ensemble:
            return []
        folders = sorted(self.directory.glob("member-*"), key=lambda p: int(p.name.rpartition("-")[2] or 0))
        return [RunSource(f"{self.name} member {f.name.rpartition('-')[2]}", f, self.status, self.exercise)
                for f in folders if f.is_dir()]  # fmt: skip

    def arrays(self, name: str) -> dict[str, np.ndarray] | None:
        """``predictions`` or ``boundary``: the arrays the runner saved, None when there are none."""
        return read_npz(self.directory / f"{name}.npz")

    def first_conv_weight(self) -> np.ndarray | None:
        """The weight (F, C, k, k) of the first conv layer in best.safetensors, if the model has one."""
        path = self.file("best.safetensors")
        if path is None:
            return None
        state, _ = load_weights(path)
        kernels = [(name, w) for name, w in state.items() if name.endswith("weight") and w.ndim == 4]
        return min(kernels, key=lambda item: layer_index(item[0]))[1] if kernels else None


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
    comparison: bool = False  #: made from run directories rather than an experiment


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ReportError(f"{path} is not valid JSON ({e}); run the experiment again to rewrite it") from None


def read_jsonl(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    try:
        return [json.loads(line) for line in lines]
    except json.JSONDecodeError as e:
        raise ReportError(f"{path} is not valid JSON lines ({e}); run the experiment again") from None


def read_npz(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as arrays:
            return {name: arrays[name] for name in arrays.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ReportError(f"{path} cannot be read ({e}); delete it and run the experiment again") from None


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
                exercise=entry.get("exercise") or "runs",
                changed=entry.get("changed", {}),
                ensemble=bool(entry.get("ensemble")),
                error=entry.get("error", "") if entry["status"] == "failed" else "",
                note=entry.get("note", ""),
                reference=reference,
                loss_target=entry.get("loss_target"),
                repeat_of=entry.get("repeat_of"),
                recorded_settings=entry.get("config"),
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
    )


def read_runs(run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike) -> ExperimentSource:
    """Run directories (plain runs or ensembles) side by side; ``changed`` holds the settings that differ."""
    if not run_dirs:
        raise ReportError("give at least one run directory to report on")
    runs = [_run_directory(Path(path)) for path in run_dirs]
    names = [run.name for run in runs]
    for run in runs:
        if names.count(run.name) > 1:  # runs/a/member-1 and runs/b/member-1: say which
            run.name = f"{run.directory.parent.name}/{run.name}"
    if len(runs) > 1:
        everything = [run.settings for run in runs]
        keys = dict.fromkeys(key for settings in everything for key in settings)
        differ = [key for key in keys if len({json.dumps(s.get(key), sort_keys=True) for s in everything}) > 1]
        for run in runs:
            run.changed = {key: run.settings.get(key) for key in differ}
    title = runs[0].name if len(runs) == 1 else f"{len(runs)} runs compared: {', '.join(run.name for run in runs)}"
    return ExperimentSource(name="comparison", title=title, directory=Path(out), runs=runs, comparison=True)


def _run_directory(directory: Path) -> RunSource:
    if is_experiment(directory):
        raise ReportError(
            f"{directory} is an experiment directory: report it on its own (`layerlab report {directory}`), "
            "or give its run directories (runs/<name>) to compare them with others"
        )
    ensemble = (directory / "ensemble.json").is_file() or (directory / "member-1" / "config.json").is_file()
    if not ensemble and not (directory / "config.json").is_file():
        raise ReportError(
            f"{directory} is not a run directory (no config.json); give directories written by "
            "`layerlab train --out` or `layerlab ensemble --out`"
        )
    finished = directory / ("ensemble.json" if ensemble else "result.json")
    name = directory.resolve().name
    return RunSource(name, directory, "done" if finished.is_file() else "pending", ensemble=ensemble)
