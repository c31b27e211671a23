"""``layerlab run EXPERIMENT --storage URL``: an experiment's runs shared by workers on many machines.

Each distinct run of the experiment (a grid point, a repeat, an ensemble; runs with the same settings
are one) is a queued trial of an Optuna study named after the experiment; every worker, started with
the same command on any machine, takes the next queued run, trains it in the experiment directory
(which the machines share, e.g. over NFS) and marks it done. The storage's heartbeat finds the run of a
killed worker and queues it again; the retried run resumes from its checkpoint (see ``storage``). Each
worker writes ``experiment.json`` from the run directories when it ends, so the last one to finish
leaves the complete index and report.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .storage import open_storage, public_url, storage_url
from .study import loop, open_queue
from .trial import NotQueued, file_lock, is_queued

HEARTBEAT = 10


def report_lock(directory: str | Path):
    """One worker at a time writes the experiment's report (workers of one machine or of several sharing
    the directory; an OS lock, released if the process dies)."""
    return file_lock(Path(directory) / ".report.lock")


def shared_executor(storage: str, directory: str | Path, study_name: str | None = None, heartbeat: int = HEARTBEAT):
    """An executor for ``run_experiment(..., executor=...)``: trains this worker's share of the runs."""

    def execute(experiment, todo, train, log):
        from ..errors import LayerlabError

        url = storage_url(storage, directory)
        keys = sorted({run.key for run in experiment.runs})
        name = study_name or f"experiment-{Path(directory).resolve().name}"
        fingerprint = hashlib.sha256(json.dumps(keys).encode()).hexdigest()[:12]
        study, created = open_queue(
            open_storage(url, heartbeat), url, name, fingerprint, [{"run": key} for key in keys]
        )
        log(
            f"sharing {len(keys)} runs through the study {name!r} in {public_url(url)} "
            f"({'new' if created else 'joined'})"
        )
        by_key = {run.key: run for run in reversed(experiment.runs)}  # the first run of each key
        pending = {run.key for run in todo}
        outcomes = []

        def objective(trial) -> float:
            if not is_queued(trial):
                raise NotQueued("every run is taken")
            run = by_key[trial.suggest_categorical("run", keys)]
            if run.key not in pending:
                return 0.0  # finished before this worker started
            log(f"{run.name}: training (trial {trial.number})")
            try:
                train(run)
                outcomes.append((run, None))
            except LayerlabError as error:  # a run that fails is an outcome of the experiment, not of the worker
                outcomes.append((run, error))
            return 0.0

        loop(study, objective, len(keys), queued_only=True)
        return outcomes

    return execute
