"""One trial of a search: the trial's point of the space -> run settings -> an ordinary run directory.

The run directory is ``<search>/runs/<key>``, ``key`` being the experiments' hash of the settings
(``RunPlan.key``): a trial whose settings came before reuses the finished run (no training), and a trial
retried after its worker was killed resumes the run from its last checkpoint. A lock file per key keeps
two workers that drew the same settings from writing one directory at once: the second waits, then
reuses the first one's result.

Each epoch's validation score is reported to Optuna (``trial.report``) by a training hook, which
ends the run with status "pruned" when the pruner says the trial is hopeless. The value of a trial is
its best validation score: the validation accuracy, or for a regression set (the Playground's plane) the
validation loss, which the study minimises (``Task.score``); the test set is never shown to the search.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import DivergedError, LayerlabError
from ..experiments.plan import RunPlan
from ..hooks import Hook
from ..rundir import RunDir
from ..task import Score
from ..train import load_data
from .space import SearchDefinition

_DATA_KEYS = ("data", "data_dir", "val", "data_options", "limit", "expand", "seed")
_datasets: dict[str, Any] = {}  # one worker process trains many trials on the same data: load it once


def run_key(config: TrainConfig) -> str:
    """The run directory name of these settings (shared with experiments: the same settings, one run)."""
    return RunPlan(name="trial", exercise="", config=config, changed={}).key


def dataset_for(config: TrainConfig):
    key = json.dumps({k: getattr(config, k) for k in _DATA_KEYS}, sort_keys=True, default=str)
    if key not in _datasets:
        _datasets.clear()
        _datasets[key] = load_data(config)
    return _datasets[key]


@contextmanager
def file_lock(path: Path):
    """An exclusive OS lock on ``path`` (created if needed) for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released by the OS if this process dies
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Objective:
    """``Objective(definition, directory)(trial)`` trains the trial's run and returns its best validation
    score (``definition.score``: accuracy, or a regression set's loss; raises ``optuna.TrialPruned`` for a
    pruned one)."""

    def __init__(self, definition: SearchDefinition, directory: str | Path, log=print):
        self.definition, self.directory, self.log = definition, Path(directory), log
        self.on_start = lambda: None  #: called once the trial exists (``study.loop`` frees the budget slot)

    def __call__(self, trial) -> float:
        try:
            return self._run(trial)
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)  # Optuna marks it failed; the next start queues it again
            raise

    def _run(self, trial) -> float:
        import optuna

        self.on_start()
        if self.definition.sampler == "grid" and not is_queued(trial):
            raise NotQueued(f"trial {trial.number}: every grid point is taken")
        params = {name: param.suggest(trial) for name, param in self.definition.space.items()}
        config = self.definition.config(params)
        key = run_key(config)
        run_dir = self.directory / "runs" / key
        trial.set_user_attr("run", f"runs/{key}")
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
        cpu = time.process_time()
        with file_lock(self.directory / "runs" / f".{key}.lock"):
            result = RunDir(run_dir).read_result()
            reused = result is not None and result.get("status") != "pruned" and result["epochs"] > 0
            score = self.definition.score
            for row in RunDir(run_dir).read_metrics():  # epochs already trained: a retried, repeated or resumed run
                if _report(trial, row, score) and not reused:  # a finished run costs nothing more: never pruned
                    self._pruned(trial, row, shown)
            if reused:
                self.log(f"trial {trial.number}: {shown}: reusing finished run {run_dir}")
            else:
                self.log(f"trial {trial.number}: {shown}")
                result = self._train(trial, config, run_dir)
        trial.set_user_attr("status", result["status"])
        trial.set_user_attr("epochs", result["epochs"])
        trial.set_user_attr("seconds", result["seconds"])
        trial.set_user_attr("cpu_seconds", time.process_time() - cpu)  # this process, all its threads
        if result["status"] == "pruned":
            raise optuna.TrialPruned(result.get("message", ""))
        value = result.get(score.result_key)
        return score.worst if value is None or math.isnan(value) else float(value)

    def _pruned(self, trial, row: dict, shown: str) -> None:
        import optuna

        trial.set_user_attr("status", "pruned")
        trial.set_user_attr("epochs", row["epoch"])
        trial.set_user_attr("seconds", row["seconds"])
        self.log(f"trial {trial.number}: {shown}: pruned at epoch {row['epoch']} (already trained)")
        raise optuna.TrialPruned()

    def _train(self, trial, config: TrainConfig, run_dir: Path) -> dict:
        from .. import api

        try:
            api.fit(
                dataset_for(config),
                out=run_dir,
                resume=True,
                quiet=True,
                progress=False,
                hooks=[PruningHook(trial)],
                **config.to_dict(),
            )
        except DivergedError as e:
            self.log(f"trial {trial.number}: diverged: {e}")
        except LayerlabError as e:  # a setting this point of the space cannot train with: a failed trial
            raise LayerlabError(f"trial {trial.number} ({config.model}): {e}") from None
        return RunDir(run_dir).read_result()


def is_queued(trial) -> bool:
    """Whether a trial came from the queue (``enqueue_trial`` or a retry), with its parameters fixed."""
    return "fixed_params" in trial.storage.get_trial_system_attrs(trial._trial_id)


class NotQueued(Exception):
    """A worker asked for a queued trial that another worker took first (the trial is marked failed, no
    parameters: reports leave it out)."""


def _report(trial, row: dict, score: Score) -> bool:
    """Report an epoch's validation score; whether the pruner stops the trial there."""
    value = row.get(score.key)
    if value is None or math.isnan(value):
        return False
    if row["epoch"] not in trial.storage.get_trial(trial._trial_id).intermediate_values:
        trial.report(value, row["epoch"])
    return trial.should_prune()


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class PruningHook(Hook):
    """Reports each epoch's validation score (``LoopState.score``) to the Optuna trial and stops a hopeless run
    (status "pruned"; its run directory can be resumed if the same settings come again)."""

    def __init__(self, trial):
        self.trial = trial

    def on_epoch_end(self, loop, row) -> None:
        score = loop.score
        if _report(self.trial, row, score):
            loop.stop("pruned", f"pruned at epoch {row['epoch']}: {score.name} {score.show(row[score.key])}")
