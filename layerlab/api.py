"""The Python API for notebooks and scripts; the command line is a thin layer over it.

    import layerlab
    run = layerlab.fit(model="conv(20, 5) maxpool(2) relu flatten dense(100) relu dense(10)",
                         data="mnist-small", epochs=3, lr=0.1, out="runs/cnn")
    run.result.test_accuracy          # at the epoch of best validation accuracy
    run.predict(images)               # class indices
    run = layerlab.load("runs/cnn")   # later, from the run directory

``fit`` takes every setting of ``TrainConfig`` as a keyword (the same names as the CLI flags).
``ensemble`` trains several members with different seeds and combines them by majority vote and by
mean probability (Nielsen, chapter 6: "a majority vote of 5 networks").
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import train as trainer
from .config import TrainConfig
from .data.dataset import Dataset
from .data.images import decode, prepare
from .engine import make_predictor
from .errors import LayerlabError, TrainError
from .preflight import check_output, output_warnings
from .rundir import RunDir, RunDirError
from .spec import Spec, parse
from .task import CLASSIFICATION, Task, task_named
from .train import RunResult, load_data
from .weights import save_weights

if TYPE_CHECKING:
    from .numpy.gradcheck import ModelCheck


@dataclass(frozen=True)
class Repeated:
    """A run trained with several seeds (an experiment's ``repeats``) as its report's row tells it, beside the
    one repeat whose weights a ``Run`` holds (``layerlab.run(...).runs[name]``: the repeat its row shows)."""

    name: str  #: the run's name in its experiment: "ex1-mlp"
    figures: str  #: its row's (``report.row.Row.figures``): the mean over the seeds with its 95% interval
    shown: str  #: the repeat these weights are: "ex1-mlp#1"

    def __str__(self) -> str:
        return f"{self.name}: {self.figures}; the weights and the result below are one seed's, {self.shown}'s"


@dataclass
class Run:
    """A trained model, its settings, its result and the names of its classes; for a repeated run's best repeat
    by the run's own name (``Experiment.runs``), what the repeats say together (``repeated``)."""

    config: TrainConfig
    trainable: Any
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]
    result: RunResult | None = None
    directory: Path | None = None
    repeated: Repeated | None = None

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) for a batch shaped like the training inputs (uint8 or float)."""
        x = np.asarray(x)
        if x.shape[1:] != self.input_shape:
            raise TrainError(
                f"inputs of shape {x.shape[1:]} do not fit this model, which takes {self.input_shape} "
                f"({'x'.join(map(str, self.input_shape))} per example)"
            )
        return self.trainable.predict_proba(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> float:
        """Accuracy on (x, y)."""
        return float((self.predict(x) == np.asarray(y)).mean())

    def predict_files(self, paths: Sequence[str | os.PathLike], invert: bool | None = None) -> list[Prediction]:
        """Classify image files: each decoded (at most ``images.MAX_PIXELS`` pixels) and prepared as the
        training images were (``data.images.prepare``: for MNIST's shape, polarity, a 20x20 box, centred
        by centre of mass; else resized); ``invert`` None detects dark-on-light digits, True/False forces."""
        if len(self.input_shape) != 3:
            raise TrainError(f"this run's model takes {self.input_shape} features, not images")
        inputs, notes = zip(*(prepare(decode(p, paper=True), self.input_shape, invert) for p in paths), strict=True)
        probabilities = self.predict_proba(np.stack(inputs))
        width = probabilities.shape[1]
        classes = self.classes if len(self.classes) == width else tuple(map(str, range(width)))
        return [Prediction(str(path), classes, p, n) for path, p, n in zip(paths, probabilities, notes, strict=True)]

    def plot(self, kind: str = "curves") -> Any:
        """A matplotlib figure of this run, as its report draws it: "curves" (accuracy and loss per epoch),
        "gradients" (each layer's gradient norm); for a run with a directory and predictions (``layerlab run``,
        ``write_report``) also "confusion", "misclassified", "filters", "boundaries"."""
        from .report.inline import run_figure

        history = self.result.history if self.result is not None else []
        task = self.result.task if self.result is not None else CLASSIFICATION.name
        dataset = {"name": self.config.data, "classes": list(self.classes), "input_shape": list(self.input_shape)}
        name = self.directory.name if self.directory is not None else "run"
        if self.directory is not None and RunDir(self.directory).has(RunDir.CONFIG):
            return run_figure(name, self.directory, kind)
        return run_figure(name, None, kind, history, self.config.to_dict(), dataset | {"task": task})

    def __repr__(self) -> str:
        where = f" in {self.directory}" if self.directory is not None else ""
        result = self.result.summary() if self.result is not None else "not trained here (loaded weights)"
        return "\n".join([f"Run{where}: {self.config.model} on {self.config.data}", *self._repeated(), result])

    def _repeated(self) -> list[str]:
        """The line of a repeated run's figures over its seeds, before one seed's (none for a single run)."""
        return [str(self.repeated)] if self.repeated is not None else []

    def _repr_html_(self) -> str:
        return run_html(self)

    def save(self, path: str | os.PathLike) -> Path:
        """The weights as .safetensors or .npz, with the spec and settings as metadata."""
        metadata = {
            "config": json.dumps(self.config.to_dict()),
            "classes": json.dumps(list(self.classes)),
            "input_shape": json.dumps(list(self.input_shape)),
        }
        return save_weights(path, self.trainable.weights(), metadata)


@dataclass
class Prediction:
    """What ``Run.predict_files`` says about one image: class probabilities and how the image was prepared."""

    path: str
    classes: tuple[str, ...]
    probabilities: np.ndarray
    notes: list[str]  #: what was done to the image, in words (inverted, resized, centred...)

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable classes and their probabilities, most probable first."""
        if k < 1:
            raise TrainError(f"top must be at least 1 (the number of classes shown), got {k}")
        order = np.argsort(self.probabilities, kind="stable")[::-1][:k]
        return [(self.classes[i], float(self.probabilities[i])) for i in order]


def fit(
    dataset: Dataset | None = None,
    *,
    out: str | os.PathLike | RunDir | None = None,
    resume: bool = False,
    progress: bool = True,
    quiet: bool = False,
    hooks: Sequence[Any] = (),
    overwrite: bool = False,
    weights: str = "best",
    **settings: Any,
) -> Run:
    """Train a model; ``settings`` are ``TrainConfig``'s fields (model, data, epochs, lr, ...).

    ``hooks`` are called at every epoch and step (see ``layerlab.hooks``). ``resume`` continues the run
    in ``out`` with its own settings (those given here override them: more ``epochs``, say);
    ``overwrite`` replaces it (once the new run has its first checkpoint); ``out`` may be a ``RunDir`` opened
    with its mode (``RunDir(path, "resume")``) instead. The returned run holds the
    weights of the epoch its result reports: the best validation accuracy, or the last with ``weights="last"``;
    with ``out``, its test predictions are saved there too (reports compare runs on them).
    """
    run_dir = RunDir.opened(out, resume, overwrite)
    config = _config(settings, run_dir)
    dataset = dataset if dataset is not None else load_data(config)
    spec = parse(config.model, dataset.input_shape, dataset.name)
    check_output(spec, dataset, config.loss)
    for warning in output_warnings(spec, config.loss):
        print(f"warning: {warning}", file=sys.stderr)
    log, progress = None if quiet else print, progress and not quiet
    result, trainable = trainer.fit(config, dataset, run_dir, progress=progress, log=log, hooks=hooks, weights=weights)
    directory = Path(result.directory) if result.directory else None
    run = Run(config, trainable, dataset.classes, dataset.input_shape, result, directory)
    if run_dir is not None:  # what a report compares runs on: each one's answer for every test example
        save_outputs(run, dataset, run_dir=run_dir)
    return run


def run_html(run: Run) -> str:
    """A run for a notebook: its model, data, the settings off their defaults, its result, its learning curves."""
    from html import escape

    from .report.inline import figure_html

    defaults = TrainConfig().to_dict()
    changed = {k: v for k, v in run.config.to_dict().items() if v != defaults[k] and k not in ("model", "data")}
    settings = ", ".join(f"{k}={v}" for k, v in changed.items()) or "the defaults"
    parts = [
        f"<p><b>model</b>: <code>{escape(run.config.model)}</code> on <b>{escape(run.config.data)}</b>; "
        f"settings: {escape(settings)}</p>",
    ]
    if run.directory is not None:
        parts.append(f"<p>directory: <code>{escape(str(run.directory))}</code></p>")
    parts += [f"<p><b>{escape(line)}</b></p>" for line in run._repeated()]
    if run.result is not None:
        parts.append(f"<p>{escape(run.result.summary())}</p>")
        if run.result.history:
            parts.append(figure_html(run.plot("curves"), "learning curves"))
    return "\n".join(parts)


def _config(settings: dict[str, Any], run_dir: RunDir | None) -> TrainConfig:
    """The settings given over those a resumed run was started with (over the defaults)."""
    resumed = run_dir is not None and run_dir.resuming and run_dir.has(RunDir.CONFIG)
    saved = run_dir.read_config()["config"] if resumed else {}
    return TrainConfig.from_dict(saved | settings)


def gradcheck(model: str | Spec, input_shape: tuple[int, ...] | None = None, **options: Any) -> ModelCheck:
    """Check the numpy engine's backprop for a model against finite differences (float64, a random batch);
    ``options`` are ``numpy.gradcheck.check_spec``'s (batch, loss, entries, seed, tolerance, training)."""
    from .numpy.gradcheck import check_spec

    spec = parse(model, input_shape) if isinstance(model, str) else model
    return check_spec(spec if input_shape is None else spec.with_input(input_shape), **options)


def load(directory: str | os.PathLike, weights: str = "best", device: str | None = None) -> Run:
    """A run from its directory: ``weights`` is "best" (the epoch of best validation accuracy) or "last".
    An ensemble's directory gives an ``EnsembleRun`` of its members (majority vote, mean probability)."""
    run_dir = RunDir(directory)
    if run_dir.members() and not run_dir.has(RunDir.CONFIG):
        return load_ensemble(run_dir.path, weights, device)
    if not run_dir.is_run():
        _not_an_experiment(run_dir.path)
    saved = run_dir.read_config()
    config = TrainConfig.from_dict(saved["config"])
    if device is not None:
        config = config.replace(device=device)
    info = saved["dataset"]
    input_shape = tuple(info["input_shape"])
    predictor = make_predictor(config, parse(config.model, input_shape))
    predictor.load_weights(run_dir.load_weights(weights)[0])
    result = run_dir.read_result()
    result = RunResult(**result) if result is not None else None
    return Run(config, predictor, tuple(info["classes"]), input_shape, result, run_dir.path)


def _not_an_experiment(directory: Path) -> None:
    """An experiment's folder given where a run is needed: say which run folders it holds."""
    from .report.reading import is_experiment, read_experiment

    if not is_experiment(directory):
        return
    folders = list(dict.fromkeys(str(run.directory) for run in read_experiment(directory).runs))
    shown = ", ".join(folders[:4]) + (f" and {len(folders) - 4} more (see its report)" if len(folders) > 4 else "")
    raise RunDirError(
        f"{directory} is an experiment's folder, not a run: give one of its run folders"
        + (f": {shown}" if folders else " (it has none yet: run the experiment)")
    )


@dataclass
class Evaluation:
    """A saved run measured again on its data: accuracy per split (a regression run: its loss per split),
    and per test-time-augmentation view."""

    run: Run
    data: str  #: the dataset, in words
    accuracy: dict[str, tuple[float, int]]  #: "validation"/"test" -> (accuracy, examples); {} for regression
    tta: dict | None = None  #: ``augment.evaluate_tta``'s answer: {"views": {name: accuracy}, "averaged": ...}
    task: str = "classification"  #: ``task.TASKS``' word; a regression run's ``loss`` holds the measure
    loss: dict[str, tuple[float, int]] = field(default_factory=dict)  #: regression: split -> (loss, examples)
    warnings: list[str] = field(default_factory=list)  #: test-time views wrong for the data or that lower accuracy


def evaluate(
    run: Run | str | os.PathLike,
    *,
    weights: str = "best",
    device: str | None = None,
    tta: str | Sequence[str] | None = None,
) -> Evaluation:
    """Accuracy of a run (or the run in a directory) on its validation and test sets; with ``tta`` (view
    names such as "rotations", "crops,flip") also on the test set seen through each view and averaged.
    A regression run (Playground's plane, the curve) is measured by its loss (mse or sse) instead."""
    run = run if isinstance(run, Run) else load(run, weights=weights, device=device)
    dataset = load_data(run.config)
    task = task_named(dataset.task)
    splits = [(name, split) for name, split in (("validation", dataset.val), ("test", dataset.test)) if len(split)]
    if tta and not task.has_classes:
        raise TrainError(
            "test-time augmentation averages class probabilities; a regression run has none: leave out --tta"
        )
    measured = {name: (measure(run, split.x, split.y, task), len(split)) for name, split in splits}
    if not task.has_classes:
        return Evaluation(run, dataset.describe(), {}, task=task.name, loss=measured)
    views = None
    if tta:
        from .augment import evaluate_tta, tta_warnings

        names = tta.split(",") if isinstance(tta, str) else list(tta)
        views = evaluate_tta(run.predict_proba, dataset.test.x, dataset.test.y, names, batch_size=1000)
        if len(dataset.val):  # judged on the validation set, never on the test set it reports
            checked = evaluate_tta(run.predict_proba, dataset.val.x, dataset.val.y, names, batch_size=1000)
            warnings = tta_warnings(names, dataset.classes, checked)
            return Evaluation(run, dataset.describe(), measured, views, warnings=warnings)
    return Evaluation(run, dataset.describe(), measured, views)


def measure(run: Run, x: np.ndarray, y: np.ndarray, task: Task) -> float:
    """The run's headline measure on (x, y): its accuracy, or its loss (mse or sse, as it trained: the number
    its training reported as the validation or test loss of these weights)."""
    if task.has_classes:
        return run.evaluate(x, y)
    return task.measure(run.predict_proba(x), y, run.config.loss)


# ---------------------------------------------------------------------------------------------------
# Ensembles
# ---------------------------------------------------------------------------------------------------


@dataclass
class EnsembleResult:
    """Each member's test accuracy and the two ways of combining them. A regression ensemble (no classes
    to vote on) has NaN accuracies and is measured by its test loss: each member's and their mean output's."""

    member_accuracies: list[float]
    vote_accuracy: float  #: majority vote of the members' predicted classes (Nielsen, chapter 6)
    mean_accuracy: float  #: class of the highest mean probability
    members: list[RunResult]
    test_probabilities: np.ndarray = field(repr=False)  #: (members, N, classes), each member's test predictions
    task: str = "classification"  #: ``task.TASKS``' word; a regression ensemble has the losses below
    member_losses: list[float] = field(default_factory=list)  #: regression: each member's test loss
    mean_loss: float = math.nan  #: regression: the test loss of the members' mean output
    vote_val_accuracy: float = math.nan  #: the majority vote on the validation set (NaN without one)

    def __repr__(self) -> str:
        return f"EnsembleResult of {len(self.members)} members\n{self.summary()}"

    def _repr_html_(self) -> str:
        from html import escape

        return "<pre>" + escape(repr(self)) + "</pre>"

    def summary(self) -> str:
        if not task_named(self.task).has_classes:
            members = ", ".join(f"{loss:.4g}" for loss in self.member_losses)
            return f"members' test loss: {members}\nmean output: test loss {self.mean_loss:.4g} on the test set"
        members = ", ".join(f"{a:.2%}" for a in self.member_accuracies)
        return (
            f"members: {members}\nmajority vote: {self.vote_accuracy:.2%}, "
            f"mean probability: {self.mean_accuracy:.2%} on the test set"
        )


def ensemble_member(
    index: int, dataset: Dataset | None = None, *, out: str | os.PathLike | RunDir | None = None, **options: Any
) -> Run:
    """Train member ``index`` (from 0) of an ensemble: seed ``seed + index``, directory ``out/member-<index + 1>``;
    ``options`` are ``fit``'s. ``ensemble`` trains the members together (``fit_together``); an experiment
    with ``--jobs`` trains them side by side, each with this."""
    seed = options.get("seed", TrainConfig().seed) + index
    top = RunDir.opened(out, options.pop("resume", False), options.pop("overwrite", False))
    return fit(dataset, out=top.member(index) if top is not None else None, **(options | {"seed": seed}))


def majority_vote(probabilities: np.ndarray) -> np.ndarray:
    """Classes by majority vote over members; a tie goes to the tied class with the highest summed probability.

    ``probabilities`` has shape (members, N, classes).
    """
    members, n, classes = probabilities.shape
    votes = np.zeros((n, classes))
    np.add.at(votes, (np.arange(n)[None, :].repeat(members, 0), probabilities.argmax(axis=2)), 1)
    tie_break = probabilities.sum(axis=0) / (members + 1)  # < 1: only decides between equal vote counts
    return (votes + tie_break).argmax(axis=1)


def ensemble(
    members: int = 5,
    dataset: Dataset | None = None,
    *,
    out: str | os.PathLike | RunDir | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    quiet: bool = False,
    hooks: Sequence[Any] = (),
    **settings: Any,
) -> tuple[EnsembleResult, list[Run]]:
    """Train ``members`` runs with seeds seed, seed+1, ... and combine their test predictions (each member
    with the weights of its best validation epoch); ``hooks`` are every member's (see ``fit``). ``out``: the
    ensemble's folder, its members ``member-1``, ... in it (opened in its mode, as ``fit``'s)."""
    if members < 2:
        raise TrainError(f"an ensemble needs at least 2 members, got {members}")
    top = RunDir.opened(out, resume, overwrite)
    if top is not None:  # the folder is kept: its members continue or replace themselves
        top.claim("new" if top.mode == "new" else "resume")
    try:
        config = _config(settings, top.member(0) if top is not None else None)
        dataset = dataset if dataset is not None else load_data(config)
        runs = _train_members(config, members, dataset, top, progress and not quiet, quiet, hooks)
        probabilities = np.stack([run.predict_proba(dataset.test.x) for run in runs])
        result = _combine(runs, dataset, probabilities)
        if top is not None:
            top.begin()
            top.write_ensemble({k: v for k, v in asdict(result).items() if k not in ("members", "test_probabilities")})
    finally:
        if top is not None:
            top.release()
    return result, runs


def _train_members(config, members, dataset, top, progress, quiet, hooks) -> list[Run]:
    """The members, trained together where the engine can (``fit_together``); each gets its own copy of
    every hook (they train at once)."""
    configs = [config.replace(seed=config.seed + i) for i in range(members)]
    if not quiet:
        print(f"members 1-{members} (seeds {config.seed}-{config.seed + members - 1})")
    run_dirs = [top.member(i) if top is not None else None for i in range(members)]
    own_hooks = [[copy.copy(hook) for hook in hooks] for _ in range(members)]
    runs = fit_together(configs, dataset, run_dirs, progress=progress, quiet=quiet, hooks=own_hooks)
    for run in runs:
        if isinstance(run, Exception):
            raise run
    return runs


def fit_together(
    configs: Sequence[TrainConfig],
    dataset: Dataset,
    outs: Sequence[str | os.PathLike | RunDir | None],
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    quiet: bool = False,
    hooks: Sequence[Sequence[Any]] | None = None,
    note: Any = print,
) -> list[Run | LayerlabError]:
    """Train runs whose settings differ in their seed only (repeats, an ensemble's members) as one stacked
    model where the engine can (``layerlab.together``), else one at a time (``note`` gets the line that
    says why); each run ``outs[i]`` is written as ``fit`` writes it. Returns each run, or the error it ended
    with (a ``DivergedError`` once its files are written)."""
    from . import together

    check_output(parse(configs[0].model, dataset.input_shape, dataset.name), dataset, configs[0].loss)
    log = None if quiet else print
    outcomes = together.fit_together(
        configs, dataset, outs, resume, progress and not quiet, log, hooks, overwrite, note=note if quiet else None
    )
    runs: list[Run | LayerlabError] = []
    for config, outcome in zip(configs, outcomes, strict=True):
        if isinstance(outcome, LayerlabError):
            runs.append(outcome)
            continue
        result, trainable = outcome
        directory = Path(result.directory) if result.directory else None
        runs.append(Run(config, trainable, dataset.classes, dataset.input_shape, result, directory))
    return runs


def _combine(runs: list[Run], dataset: Dataset, probabilities: np.ndarray) -> EnsembleResult:
    """The members' test figures: accuracies and their vote, or a regression set's losses."""
    x, y, members, task = dataset.test.x, dataset.test.y, [run.result for run in runs], task_named(dataset.task)
    if not task.has_classes:  # no classes to vote on: the loss of the members' mean output
        losses = [measure(run, x, y, task) for run in runs]
        mean = measure(EnsembleRun.of(runs), x, y, task)
        nan = math.nan
        return EnsembleResult([nan] * len(runs), nan, nan, members, probabilities, task.name, losses, mean)
    val = dataset.val
    if len(val):  # the vote's own validation accuracy, as `layerlab eval` prints it
        vote_val = float((majority_vote(np.stack([run.predict_proba(val.x) for run in runs])) == val.y).mean())
    return EnsembleResult(
        member_accuracies=[float((p.argmax(1) == y).mean()) for p in probabilities],
        vote_accuracy=float((majority_vote(probabilities) == y).mean()),
        mean_accuracy=float((probabilities.mean(0).argmax(1) == y).mean()),
        members=members,
        test_probabilities=probabilities,
        vote_val_accuracy=vote_val if len(val) else math.nan,
    )


@dataclass
class EnsembleRun(Run):
    """An ensemble's members as one model: ``predict`` is their majority vote, ``predict_proba`` their mean
    probability (``config``, ``classes`` and ``input_shape`` are member 1's, the same for all)."""

    members: list[Run] = field(default_factory=list)

    @classmethod
    def of(cls, members: list[Run], directory: str | os.PathLike | None = None) -> EnsembleRun:
        first = members[0]
        path = Path(directory) if directory is not None else None
        return cls(first.config, None, first.classes, first.input_shape, None, path, members=members)

    def member_probabilities(self, x: np.ndarray) -> np.ndarray:
        """(members, N, classes): each member's class probabilities."""
        return np.stack([member.predict_proba(x) for member in self.members])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.member_probabilities(x).mean(axis=0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return majority_vote(self.member_probabilities(x))

    def save(self, path: str | os.PathLike) -> Path:
        raise TrainError("an ensemble is saved as its members' directories; save a member (run.members[i])")

    def __repr__(self) -> str:
        where = f" in {self.directory}" if self.directory is not None else ""
        lines = [f"EnsembleRun{where}: {len(self.members)} members of {self.config.model} on {self.config.data}"]
        lines += self._repeated()
        lines += [f"  member {i}: {m.result.summary()}" for i, m in enumerate(self.members, 1) if m.result is not None]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td>member {i}</td><td>{escape(m.result.summary() if m.result is not None else '')}</td></tr>"
            for i, m in enumerate(self.members, 1)
        )
        heading = "\n".join([repr(self).splitlines()[0], *self._repeated()])
        return f"<pre>{escape(heading)}</pre><table>{rows}</table>"


def load_ensemble(directory: str | os.PathLike, weights: str = "best", device: str | None = None) -> EnsembleRun:
    """The ensemble in ``directory`` (``layerlab ensemble --out``): its members loaded with ``load``."""
    run_dir = RunDir(directory)
    members = [load(member.path, weights, device) for member in run_dir.members()]
    if not members:
        raise TrainError(f"{run_dir.path} holds no ensemble members (member-1, ...); train one: `layerlab ensemble`")
    return EnsembleRun.of(members, run_dir.path)


def save_outputs(
    run: Run, dataset: Dataset, member_probabilities: np.ndarray | None = None, *, run_dir: RunDir | None = None
) -> None:
    """Store in the run's directory (``run_dir``, else ``run.directory``) what a report draws from the model: the
    test set's predictions with (up to 36) misclassified inputs, and for a 2D Playground set the output over the
    plane. ``member_probabilities``: an ensemble's test probabilities (members, N, classes), if already known."""
    run_dir, test = run_dir or RunDir(run.directory), dataset.test
    if member_probabilities is not None:
        proba, predicted = member_probabilities.mean(axis=0), majority_vote(member_probabilities)
    else:
        proba, predicted = run.predict_proba(test.x), run.predict(test.x)
    if not task_named(dataset.task).has_classes:
        run_dir.write_arrays(RunDir.PREDICTIONS, y_true=test.y, y_pred=proba)
    else:
        wrong = np.flatnonzero(predicted != test.y)[:36]
        run_dir.write_arrays(
            RunDir.PREDICTIONS,
            y_true=test.y,
            y_pred=predicted,
            proba=proba,
            mis_x=test.x[wrong],
            mis_true=test.y[wrong],
            mis_pred=predicted[wrong],
        )
    if dataset.info.get("points") is not None:
        from .data import playground

        xx, yy, grid = playground.grid(dataset.info.get("features", ("x1", "x2")), resolution=100)
        output = run.predict_proba(grid.astype(np.float32))
        p = output[:, 1] if output.shape[1] > 1 else output[:, 0]
        points = dataset.info["points"]
        run_dir.write_arrays(
            RunDir.BOUNDARY,
            xx=xx,
            yy=yy,
            p=p.reshape(xx.shape),
            train_points=points["train"],
            train_y=dataset.train.y,
            test_points=points["test"],
            test_y=test.y,
        )


def write_report(run: Run, dataset: Dataset | None = None) -> Path:
    """Write a trained run's (or ensemble's) own report into its directory: the predictions its plots need
    (``save_outputs``), then ``report.md``, ``report.html`` and ``report/*.png``; returns the HTML file."""
    from . import report

    if run.directory is None:
        raise TrainError("this run has no directory to write a report into; train it with out=...")
    save_outputs(run, dataset if dataset is not None else load_data(run.config))
    return report.compare([run.directory], quiet=True)
