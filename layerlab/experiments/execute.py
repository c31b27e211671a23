"""Training an experiment's runs (``plan.py`` plans them).

Each run trains in ``<out>/runs/<name>-<key>/`` where ``name`` is the run's (the first of the runs that
share the folder) and ``key`` a hash of its resolved settings (see ``RunPlan.key``; a folder is found by its
key, so the bare ``runs/<key>/`` of earlier versions is used as it is), so runs with identical settings are
trained once, a finished run is reused, and an
interrupted one resumes from its checkpoint when the experiment is started again with the same
settings. After training, the runner stores what the report plots need: ``predictions.npz`` (test
labels, predictions, probabilities, misclassified examples) and, for the 2D Playground sets,
``boundary.npz`` (the model's output over the plane).

Runs train one after the other (those that differ in their seed only, together), in worker processes
(``--jobs``), or through an executor that shares them between machines; ``experiment.json`` (the runs'
index) is written before the first run and again as runs end.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import re
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from ..errors import LayerlabError
from ..files import check_output_folder, make_folder, write_json
from ..phrases import count, describe_changes
from ..progress import Display, RunProgress, Send, drain, queue_sender
from ..report.reading import setting_defaults
from ..rundir import RunDir
from ..train import load_data
from .least_squares import FITS, LeastSquares
from .plan import NOT_IN_KEY, Experiment, ExperimentError, RunPlan

#: After the experiment's title in the line a run starts with.
QUICK_TITLE = " (quick run: smaller settings; each run's note says which)"


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
    todo = _to_train(experiment, statuses)
    check_shared(experiment, todo)  # what every run needs: refused once, before anything is written
    make_folder(directory)
    _write_index(directory, experiment, statuses)
    log(f"{experiment.title}{QUICK_TITLE if experiment.quick else ''}: {plan_summary(experiment, statuses, todo)}")
    display = display if display is not None else Display(log, live=None if progress else False)
    try:
        if executor is not None:
            _train_by_executor(executor, experiment, todo, directory, statuses, display, progress)
        elif jobs > 1 and sum(run.members for run in todo) > 1:
            for run, outcome in _train_in_parallel(todo, directory, jobs, display, progress):
                _record(statuses, experiment, run, outcome)
                _write_index(directory, experiment, statuses)
        else:
            _train_in_turn(experiment, todo, directory, statuses, display, progress)
    finally:
        display.close()
    return directory


def _to_train(experiment: Experiment, statuses: dict[str, Any]) -> list[RunPlan]:
    """The runs not done yet, one per directory: runs with the same settings train once."""
    todo: dict[str, RunPlan] = {}
    for run in experiment.runs:
        if statuses[run.name] != "done":
            todo.setdefault(run.key, run)
    return list(todo.values())


def _train_by_executor(
    executor, experiment: Experiment, todo: list[RunPlan], directory: Path, statuses: dict, display, progress: bool
) -> None:
    """The runs that ``executor`` gives this process; then the index, with the runs trained elsewhere."""
    train = functools.partial(_train_run, directory=str(directory), send=display.event if progress else None)
    for run, error in executor(experiment, todo, train, display.log):
        _record(statuses, experiment, run, _outcome(error, run, display.log))
    done = {run.name for run in experiment.runs if _finished(RunDir(directory / run.directory)) == "done"}
    _write_index(directory, experiment, statuses | dict.fromkeys(done, "done"))  # some trained elsewhere


def _train_in_turn(
    experiment: Experiment, todo: list[RunPlan], directory: Path, statuses: dict, display, progress: bool
) -> None:
    """The runs here, in order, those that differ in their seed only together; the index after each group."""
    numbers = {run.name: i for i, run in enumerate(todo, 1)}
    for group in _seed_groups(todo):
        for run in group:
            changed = describe_changes(run.changed, setting_defaults(run.config.to_dict()))
            display.log(f"[{numbers[run.name]}/{len(todo)}] {run.name}: {changed}")
        send = display.event if progress else None
        for run, error in _train_group(group, str(directory), send, display.log):
            _record(statuses, experiment, run, _outcome(error, run, display.log))
        _write_index(directory, experiment, statuses)


def plan_summary(experiment: Experiment, statuses: dict[str, Any], todo: list[RunPlan]) -> str:
    """What the runner is about to do, in words that add up to the ``[i/N]`` counter: "8 runs, 0 already
    finished (5 to train: 3 share settings with another); left out of the quick run: big"."""
    reused = sum(status == "done" for status in statuses.values())
    shared = len(experiment.runs) - reused - len(todo)  # pending runs whose directory another run trains
    named = len({run.repeat_of or run.name for run in experiment.runs})
    repeats = f" ({len(experiment.runs)} with their repeats)" if named < len(experiment.runs) else ""
    text = f"{count(named, 'run')}{repeats}, {reused} already finished"
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
