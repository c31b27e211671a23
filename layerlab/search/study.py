"""Running a search: the Optuna study, its workers, the budget.

A worker loops: fail the trials whose heartbeat stopped (their parameters are queued again), then stop
if the budget is spent, wait if the trials left are all running elsewhere, else run one trial. Any
number of workers, in this process, in ``--jobs`` processes or on other machines with the same
command and ``--storage``, share the study this way:

- the trial budget counts finished trials (completed or pruned), so a killed trial is replaced, and
  a worker starts no trial once the running and finished ones make the budget;
- a grid search queues every point of the grid when the study is created (``enqueue_trial``), and a
  queued trial is handed to exactly one worker (the storage pops it in a transaction), so no point runs
  twice and none is skipped;
- with a wall-time budget (``timeout``) no trial starts after it; the running ones finish.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import secrets
import time
import warnings
from pathlib import Path

from ..files import check_output_folder, make_folder
from .cma import cma_sampler
from .cma import describe as describe_cma
from .report import INFO, write_info
from .space import SearchDefinition, SearchError, describe_budget
from .storage import open_storage, public_url, storage_url
from .trial import NotQueued, Objective

POLL = 1.0  #: seconds between looks at the study while the last trials run elsewhere


def make_sampler(definition: SearchDefinition, seed: int | None):
    import optuna

    startup = max(3, min(10, (definition.trials or 40) // 4))  # random trials before the model is fitted
    if definition.sampler == "grid":
        return optuna.samplers.GridSampler({n: p.grid() for n, p in definition.space.items()}, seed=seed)
    if definition.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if definition.sampler == "cmaes":
        return cma_sampler(seed)
    if definition.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)


def make_pruner(definition: SearchDefinition):
    import optuna

    epochs = int(definition.settings.get("epochs", 10))
    if definition.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if definition.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if definition.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 2), reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(definition: SearchDefinition, url: str, study_name: str, seed: int | None = None, storage=None):
    """Create the study (and queue a grid's points) or join it; returns (study, created). ``storage``: the
    storage of ``url`` when it is already open."""
    storage = storage or open_storage(url, definition.heartbeat)
    sampler, pruner = make_sampler(definition, seed), make_pruner(definition)
    points = definition.grid() if definition.sampler == "grid" else []
    attrs = {"definition": _jsonable(definition.to_dict())}
    return open_queue(
        storage, url, study_name, definition.fingerprint(), points, sampler, pruner, attrs, definition.score.direction
    )


def open_queue(
    storage,
    url: str,
    study_name: str,
    fingerprint: str,
    points: list[dict],
    sampler=None,
    pruner=None,
    attrs: dict | None = None,
    direction: str = "maximize",
):
    """Create a study whose first trials are ``points`` (queued), or join it once its creator has queued
    them; a study with another ``fingerprint`` (other settings) is refused. Returns (study, created).
    ``direction``: "maximize" (a validation accuracy) or "minimize" (a regression run's validation loss)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            storage=storage, study_name=study_name, direction=direction, sampler=sampler, pruner=pruner
        )
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner)
        created = False
    if created:
        study.set_user_attr("fingerprint", fingerprint)
        for key, value in (attrs or {}).items():
            study.set_user_attr(key, value)
        for point in points:
            study.enqueue_trial(point)
        study.set_user_attr("ready", True)
    else:
        _wait_until_ready(study, url, study_name)
        if study.user_attrs.get("fingerprint") != fingerprint:
            raise SearchError(
                f"the study {study_name!r} in {public_url(url)} belongs to a search with other settings; give it "
                "another name with --study, or use another --out / --storage"
            )
    return study, created


def _wait_until_ready(study, url: str, study_name: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not study.user_attrs.get("ready"):
        if time.monotonic() > deadline:
            raise SearchError(f"the study {study_name!r} in {public_url(url)} was never finished being created")
        time.sleep(0.2)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def counts(study) -> dict[str, int]:
    from optuna.trial import TrialState

    tally = {state: 0 for state in ("finished", "running", "waiting", "failed")}
    names = {
        TrialState.COMPLETE: "finished",
        TrialState.PRUNED: "finished",
        TrialState.RUNNING: "running",
        TrialState.WAITING: "waiting",
        TrialState.FAIL: "failed",
    }
    for trial in study.get_trials(deepcopy=False):
        tally[names[trial.state]] += 1
    return tally


def work(
    definition: SearchDefinition,
    directory: str | Path,
    url: str,
    study_name: str,
    seed: int | None,
    deadline: float | None = None,
    log=print,
) -> int:
    """One worker: run trials until the budget is spent; returns how many it ran."""
    study, _ = open_study(definition, url, study_name, seed)
    objective = Objective(definition, directory, log)
    slot = Path(directory) / ".budget.lock"
    return loop(study, objective, definition.trials, definition.sampler == "grid", deadline, slot)


def loop(
    study, objective, trials: int | None, queued_only: bool, deadline: float | None = None, slot: Path | None = None
) -> int:
    """Run ``objective`` on the study's trials until ``trials`` have finished (over all workers), the
    ``deadline`` has passed, or (``queued_only``) no queued trial is left; returns how many ran here.

    Counting the trials and creating the next one happen under an OS lock on ``slot`` (the objective
    frees it as soon as its trial exists), so two workers sharing the folder never both take the last
    place of the budget."""
    import optuna

    ran = 0
    while deadline is None or time.time() < deadline:
        with _BudgetSlot(slot) as held:
            optuna.storages.fail_stale_trials(study)  # a killed worker's trial is queued again
            retry_interrupted(study)  # and so is one that Ctrl-C ended
            n = counts(study)
            if trials is not None and n["finished"] >= trials:
                break
            if n["waiting"] == 0:
                if queued_only and n["running"] == 0:
                    break  # every queued point has been tried (some failed)
                if queued_only or (trials is not None and n["finished"] + n["running"] >= trials):
                    held.release()
                    time.sleep(POLL)  # the last trials run elsewhere: wait for them, or retry them if they die
                    continue
            objective.on_start = held.release
            optuna.logging.set_verbosity(optuna.logging.ERROR)  # errors reach the caller: no traceback warnings
            try:
                study.optimize(objective, n_trials=1, gc_after_trial=False, catch=(NotQueued,))
            finally:
                optuna.logging.set_verbosity(optuna.logging.WARNING)
        ran += 1
    return ran


def retry_interrupted(study) -> None:
    """Queue again, once, each trial that Ctrl-C ended (Optuna marks it failed; the objective marks it
    ``interrupted``), as a killed worker's trial is: the same parameters, and its run directory continues
    from its last checkpoint. The copy records the trial it retries (``retry_history``), as Optuna's own do."""
    import optuna
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {number for trial in trials for number in trial.system_attrs.get("retry_history", [])}
    with warnings.catch_warnings():  # experimental since Optuna 2.8, and what this is for
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # not RetryFailedTrialCallback: deprecated in Optuna 4.9, its FutureWarning reached the student
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=None)
    for trial in trials:
        if trial.state == TrialState.FAIL and trial.user_attrs.get("interrupted") and trial.number not in retried:
            retry(study, trial)


class _BudgetSlot:
    """An exclusive ``flock`` on a file for a ``with`` block, released early by ``release()`` (or by the
    OS if the process dies); no lock at all without a path."""

    def __init__(self, path: Path | None):
        self.path, self.fd = path, None

    def __enter__(self) -> _BudgetSlot:
        if self.path is not None:
            self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None

    def __exit__(self, *exc) -> None:
        self.release()


def _worker_process(definition, directory, url, study_name, seed, deadline, index, threads) -> int:
    import torch

    torch.set_num_threads(threads)
    return work(definition, directory, url, study_name, seed, deadline, log=lambda m: print(f"[worker {index}] {m}"))


def _check_device(definition: SearchDefinition) -> None:
    """``--device cuda`` on a machine without one is refused once, as ``train`` words it (not per trial)."""
    from ..config import TrainConfig
    from ..engine import check_device

    chosen = {k: definition.settings[k] for k in ("engine", "device") if k in definition.settings}
    if all(isinstance(v, str) and "{" not in v for v in chosen.values()) and not set(chosen) & set(definition.space):
        check_device(TrainConfig(**chosen))


def run_search(
    definition: SearchDefinition,
    directory: str | Path,
    storage: str | None = None,
    jobs: int = 1,
    study_name: str | None = None,
    log=print,
) -> tuple[str, str]:
    """Run this machine's share of the search (``jobs`` workers); returns (storage URL, study name)."""
    if jobs < 1:
        raise SearchError(f"--jobs must be at least 1, got {jobs}")
    _check_device(definition)  # before the folder and the study exist: a fixed command then starts afresh
    directory = check_output_folder(directory, INFO, "search", lambda info: info["definition"]["name"], definition.name)
    url = storage_url(storage, directory)
    # A server or a journal file given: reached before the folder is made, so a wrong address leaves nothing
    opened = open_storage(url, definition.heartbeat) if storage is not None else None
    make_folder(directory)
    study_name = study_name or definition.name
    write_info(directory, definition, url, study_name)  # first: a worker joining later recognises the folder
    _, created = open_study(definition, url, study_name, definition.seed, opened)
    budget = describe_budget(definition)
    log(
        f"search {study_name!r}: {definition.sampler} sampler, {definition.pruner} pruner, budget "
        f"{budget}; study in {public_url(url)} ({'new' if created else 'joined'}), "
        f"{jobs} worker{'s' * (jobs > 1)} here"
    )
    if definition.sampler == "cmaes":
        log(describe_cma(definition))
    deadline = time.time() + definition.timeout if definition.timeout else None
    # The worker that created the study draws the seeded sequence; workers joining it draw their own.
    seeds = [definition.seed + i if created else secrets.randbits(31) for i in range(jobs)]
    if jobs == 1:
        work(definition, directory, url, study_name, seeds[0], deadline, log)
        return url, study_name
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_worker_process,
            args=(definition, str(directory), url, study_name, seeds[i], deadline, i + 1, threads),
        )
        for i in range(jobs)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [i + 1 for i, p in enumerate(processes) if p.exitcode != 0]
    if failed:
        raise SearchError(f"worker(s) {', '.join(map(str, failed))} ended with an error (see above)")
    return url, study_name
