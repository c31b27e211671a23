"""The command line's commands as Python functions, for notebooks and scripts; ``cli/`` parses and prints over them.

    import layerlab
    lab = layerlab.run("lab4a", quick=True)       # layerlab run lab4a --quick: an Experiment
    lab                                           # in a notebook: the report (table, verdicts, figures)
    lab.rows, lab.figures, lab.runs["ex1-mlp"]    # the table model, matplotlib figures, a trained Run
    layerlab.lr_find(quick=True, model="flatten dense(100) relu dense(10)")
    layerlab.tune(quick=True)
    layerlab.exercise("dense", "relu", out="my_layers.py")
    layerlab.check("my_layers.py")                # a Grade: per layer class, per case
    layerlab.notebook("lab4a", out=".")           # copy a notebook that ships with layerlab

The others live where their work is: ``layerlab.report(...)`` (``report.build``), ``layerlab.explain(...)``
(``explain.trace``), ``layerlab.playground()`` (``playground.start``), ``layerlab.search(...)``. Every
function checks its arguments as the command does and raises the command's one-line error
(a ``LayerlabError``).
"""

from __future__ import annotations

import contextlib
import html
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import LayerlabError
from .report import Report

#: The notebooks that ship with layerlab (``layerlab/notebooks/<name>.ipynb``), in teaching order.
NOTEBOOKS = {
    "lab4a": "Lab 4A: an MLP on MNIST, exercise by exercise",
    "lab4b": "Lab 4B: a CNN on CIFAR-10",
    "nielsen": "Nielsen's ladder: from 784-100-10 sigmoid to an ensemble of CNNs",
    "backprop": "Backpropagation by hand: Mazur's example, then your own Dense and ReLU, graded",
    "activations": "Activations and the playground",
    "hyperparameters": "Choosing hyperparameters: lr-find, tune, search",
    "capacity": "Capacity and vanishing gradients",
}


class CommandError(LayerlabError, ValueError):
    """An argument of a command called from Python that the command line would refuse too."""


# ---------------------------------------------------------------------------------------------------
# layerlab run
# ---------------------------------------------------------------------------------------------------


@dataclass(repr=False)
class Experiment(Report):
    """A run experiment: its report (``page``, ``rows``, ``figures``; in a notebook it shows the report),
    ``runs`` (each finished run, loaded), ``failed`` (the names of the runs that failed)."""

    name: str = ""
    _runs: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def index(self) -> dict[str, Any]:
        from .experiments import load_index

        return load_index(self.directory)

    @property
    def failed(self) -> list[str]:
        return [run["name"] for run in self.index["runs"] if run["status"] == "failed"]

    @property
    def runs(self) -> dict[str, Any]:
        """Each finished run by name, as ``layerlab.load`` gives it (an ensemble: an ``EnsembleRun``); a repeated
        run both by its repeats' names ("x#1", "x#2", ...) and by its own: the repeat the table shows, with the row's
        mean over the seeds and its interval (``Run.repeated``), which its repr gives before that one seed's."""
        if self._runs is None:
            from .api import Repeated, load

            self._runs = {
                run["name"]: load(self.directory / run["directory"])
                for run in self.index["runs"]
                if run["status"] == "done"
            }
            for row in self.rows:  # a repeated run by its own name: the repeat its row shows ("x#2")
                if row.best_repeat in self._runs and row.run not in self._runs:
                    repeated = Repeated(row.run, row.figures, row.best_repeat)
                    self._runs[row.run] = replace(self._runs[row.best_repeat], repeated=repeated)
        return self._runs


def run(
    experiment: str | os.PathLike,
    *,
    quick: bool = False,
    out: str | os.PathLike | None = None,
    jobs: int = 1,
    device: str | None = None,
    threads: int | None = None,
    engine: str | None = None,
    data_dir: str | os.PathLike | None = None,
    only: str | list[str] | None = None,
    storage: str | None = None,
    progress: bool = True,
    log=print,
    seed: int = 0,
    repeats: int | None = None,
) -> Experiment:
    """``layerlab run``: train an experiment's runs that have not finished (a built-in name or a TOML file),
    then write its report; returns the ``Experiment``. ``out`` defaults to ``runs/<name>`` (``-quick`` with
    ``quick``); a finished run there is reused. ``jobs`` processes train side by side (in a notebook, one
    progress bar per run in flight); ``only``: the names of the runs to train (a list or "a,b"); ``seed`` trains
    the experiment again with other seeds (other initial weights, orders and dropout masks; ``load_experiment``);
    ``repeats`` trains every run that many times and compares their means (where a report finds two runs
    within noise)."""
    from . import report
    from .data import data_dir_given
    from .experiments import load_experiment, run_experiment

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise CommandError(f"--jobs is the number of processes training side by side, at least 1, got {jobs!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise CommandError(f"--threads must be a whole number, at least 1, got {threads!r}")
    data_dir = os.fspath(data_dir) if data_dir is not None else None
    data_dir_given(data_dir)  # a --data-dir that does not exist stops every run: say so once, up front
    given = (("device", device), ("data_dir", data_dir), ("engine", engine), ("threads", threads))
    overrides = {k: v for k, v in given if v}
    plan = load_experiment(os.fspath(experiment), quick=quick, overrides=overrides, seed=seed, repeats=repeats)
    if only:
        plan = plan.select(only.split(",") if isinstance(only, str) else list(only))
    seeded = (f"-seed{seed}" if seed else "") + (f"-repeats{repeats}" if repeats else "")
    out = Path(out if out is not None else f"runs/{plan.name}{'-quick' if quick else ''}{seeded}")
    executor, one_at_a_time = None, contextlib.nullcontext()
    if storage:  # the runs shared by workers on many machines; they write the report in turn
        from .search.distribute import report_lock, shared_executor

        executor, one_at_a_time = shared_executor(storage, out), report_lock(out)
    display = None
    if progress:
        from .live import NotebookProgress, in_notebook

        display = NotebookProgress(log) if in_notebook() else None
    directory = run_experiment(plan, out, jobs=jobs, log=log, progress=progress, executor=executor, display=display)
    with one_at_a_time:
        page = report.write_report(directory)
    return Experiment(page, directory, (directory,), name=plan.name)


# ---------------------------------------------------------------------------------------------------
# layerlab lr-find, layerlab tune
# ---------------------------------------------------------------------------------------------------


def _config(settings: dict[str, Any], base: dict[str, Any] | None = None):
    """``TrainConfig`` from keyword settings, each checked for its type and range as the flags are."""
    from .config import TrainConfig, check_settings

    check_settings(settings)
    config = TrainConfig.from_dict((base or {}) | settings)
    config.check()  # the ranges and names (epochs >= 1, a known optimiser), before any training starts
    return config


def lr_find(
    *,
    quick: bool = False,
    steps: int = 200,
    start_lr: float = 1e-5,
    end_lr: float = 10.0,
    fraction: float = 0.1,
    out: str | os.PathLike | None = "runs/lr-find",
    overwrite: bool = False,
    progress: bool = True,
    **settings: Any,
):
    """``layerlab lr-find``: the learning-rate range test of a model (``settings``: model, data, optimizer,
    batch_size, ...); returns an ``LRFindResult`` (the rates, losses, suggestion; its plot in ``out``)."""
    from .search.lrfind import QUICK
    from .search.lrfind import lr_find as sweep

    config = _config(settings, QUICK if quick else None)
    return sweep(
        config,
        steps=steps,
        start_lr=start_lr,
        end_lr=end_lr,
        fraction=fraction,
        out=out,
        progress=progress,
        overwrite=overwrite,
    )


def tune(*, quick: bool = False, out: str | os.PathLike | None = None, log=print, **settings: Any):
    """``layerlab tune``: Nielsen's step-by-step strategy for the settings left out (those given are kept);
    returns a ``TuneResult`` (the recommended settings, their accuracies, the log of the steps)."""
    from .search.tune import tune as tuner

    return tuner(_config(settings), out=out, quick=quick, explicit=set(settings), log=log)


# ---------------------------------------------------------------------------------------------------
# layerlab exercise, layerlab check
# ---------------------------------------------------------------------------------------------------


def exercise(*names: str, out: str | os.PathLike = "my_layers.py") -> Path:
    """``layerlab exercise``: write a starter file with a class per layer to fill in (never over a file)."""
    from .exercises import write_starter

    flat = [name for item in names for name in ([item] if isinstance(item, str) else item)]
    return write_starter(flat, out)


@dataclass
class Grade:
    """What ``check`` found: a ``grader.ClassReport`` per layer class (the cases it passed, the one it
    failed and why), and with ``train`` the test accuracy of a small model with your layer and with ours."""

    file: Path
    layers: list[Any]  #: grader.ClassReport
    comparison: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every class passed every case."""
        return all(not layer.failure for layer in self.layers)

    passed = ok  #: as ``classroom.CheckResult`` names it

    @property
    def reports(self) -> list[Any]:
        return self.layers

    @property
    def training(self) -> list[dict[str, Any]]:
        return self.comparison

    def __str__(self) -> str:
        from .grader import render

        return render(self.layers)

    def layer(self, name: str) -> Any:
        for report in self.layers:
            if report.name == name:
                return report
        raise KeyError(name)

    def cases(self) -> list[tuple[str, str, str, str]]:
        """(class, kind, case, result) for every case checked: "passed", "FAILED: why", or "not checked"."""
        from .grader import CASES

        lines = []
        for report in self.layers:
            for i, case in enumerate(CASES[report.kind]):
                described = case.describe()
                if i < len(report.passed):
                    result = "passed"
                elif i == len(report.passed) and report.failure:
                    result = f"FAILED: {report.failure}"
                else:
                    result = "not checked (an earlier case failed)"
                lines.append((report.name, report.kind, described, result))
        return lines

    def __repr__(self) -> str:
        from .grader import render

        lines = [render(self.layers)]
        for row in self.comparison:
            lines.append(f"{row['yours']}: {row['yours_accuracy']:.2%} test accuracy; ours: {row['ours_accuracy']:.2%}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        rows = []
        for name, kind, case, result in self.cases():
            colour = "#1a7f37" if result == "passed" else "#b42318" if result.startswith("FAILED") else "#777"
            rows.append(
                f"<tr><td><code>{e(name)}</code></td><td>{e(kind)}</td><td>{e(case)}</td>"
                f'<td style="color: {colour}">{e(result)}</td></tr>'
            )
        verdict = "every case passed" if self.ok else "some cases failed: fix the first failure, then check again"
        parts = [
            f"<p><b>{e(str(self.file))}</b>: {e(verdict)}</p>",
            "<table><tr><th>class</th><th>kind</th><th>case</th><th>result</th></tr>",
            *rows,
            "</table>",
        ]
        if self.comparison:
            parts.append("<p>Test accuracy on mnist-small (numpy engine, the same seed and settings):</p><table>")
            parts.append("<tr><th>model</th><th>yours</th><th>ours</th></tr>")
            for row in self.comparison:
                parts.append(
                    f"<tr><td><code>{e(row['yours'])}</code></td><td>{row['yours_accuracy']:.2%}</td>"
                    f"<td>{row['ours_accuracy']:.2%}</td></tr>"
                )
            parts.append("</table>")
        return "\n".join(parts)


def check(
    path: str | os.PathLike,
    *,
    train: bool = False,
    limit: int = 1000,
    epochs: int = 2,
    log=print,
    time_limit: float = 60.0,
    memory_limit: int = 1024,
    gradebooks: Sequence[str | os.PathLike] = (),
) -> Any:
    """``layerlab check``: grade the layer classes of your file (it is run: only a file you trust) against
    the engine's layers and finite differences; with ``train`` (when all pass) also train a small MNIST
    model with each of your layers and with ours. A folder is a class: each student's file is graded in its
    own process within ``time_limit`` seconds and ``memory_limit`` MB, into a ``classroom.Gradebook`` (written
    to each of ``gradebooks``: .csv, .json)."""
    from .classroom import check as grade

    for name, value in (("--limit", limit), ("--epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CommandError(f"{name} must be a whole number, at least 1, got {value!r}")
    result = grade(
        path,
        train=train,
        limit=limit,
        epochs=epochs,
        time_limit=time_limit,
        memory_limit=memory_limit,
        gradebooks=list(gradebooks),
        progress=log,
    )
    if Path(path).is_dir():
        return result
    return Grade(Path(path), result.reports, result.training)


# ---------------------------------------------------------------------------------------------------
# layerlab plot
# ---------------------------------------------------------------------------------------------------

#: The teaching figures of ``layerlab plot``.
FIGURES = ("activations",)


def plot(figure: str = "activations") -> Any:
    """``layerlab plot``: a teaching figure as a matplotlib ``Figure``: "activations" (step, linear, sigmoid,
    tanh, ReLU, leaky ReLU, ELU, maxout and their derivatives, from the numpy engine)."""
    from .report.plots.teaching import activation_gallery

    if figure not in FIGURES:
        raise CommandError(f"no figure {figure!r}; choose {', '.join(FIGURES)}")
    return activation_gallery()


# ---------------------------------------------------------------------------------------------------
# layerlab notebook
# ---------------------------------------------------------------------------------------------------


def notebook_path(name: str) -> Path:
    """The notebook ``name`` as it ships with layerlab (read-only)."""
    if name not in NOTEBOOKS:
        raise CommandError(f"no notebook {name!r}; choose one of {', '.join(NOTEBOOKS)}")
    return Path(str(resources.files("layerlab") / "notebooks" / f"{name}.ipynb"))


def notebook(name: str, out: str | os.PathLike = ".") -> Path:
    """``layerlab notebook NAME``: copy the notebook into the folder ``out`` (a file name ending in .ipynb
    also works); never over an existing file. Returns the copy."""
    source = notebook_path(name)
    out = Path(out)
    target = out if out.suffix == ".ipynb" else out / source.name
    if target.exists():
        raise CommandError(f"{target} exists: layerlab never replaces your file; give another --out")
    if not target.parent.is_dir():
        raise CommandError(f"cannot write {target}: the folder {target.parent} does not exist; create it first")
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(source.read_bytes())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o644)
        os.link(temp, target)  # fails if the file appeared meanwhile: never replaces
    except FileExistsError:
        raise CommandError(f"{target} exists: layerlab never replaces your file; give another --out") from None
    except OSError as e:
        raise CommandError(f"cannot write {target}: {e.strerror}") from None
    finally:
        Path(temp).unlink(missing_ok=True)
    return target


def notebooks() -> str:
    """The notebooks that ship with layerlab, a line each."""
    width = max(map(len, NOTEBOOKS))
    return "\n".join(f"{name:<{width}}  {title}" for name, title in NOTEBOOKS.items())


__all__ = [
    "NOTEBOOKS",
    "CommandError",
    "Experiment",
    "Grade",
    "check",
    "exercise",
    "lr_find",
    "notebook",
    "plot",
    "run",
    "tune",
]
