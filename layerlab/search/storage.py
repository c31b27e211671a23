"""Where a study lives, so that workers on one or many machines share it.

- ``None``: an SQLite file ``study.db`` in the search directory (one machine, any number of ``--jobs``);
- ``postgresql://user@host:port/db`` (or ``mysql://...``, ``sqlite:///path``): a database server that
  workers on many machines reach with the same command;
- ``journal:PATH`` or a path ending in ``.log``: Optuna's journal file, for a shared filesystem (NFS)
  without a database server.

Every storage keeps a heartbeat: a running trial records one every ``heartbeat`` seconds; a trial without
one for ``3 x heartbeat`` seconds (its worker was killed, even by SIGKILL, or its machine went down) is
marked failed by the next worker that looks, and Optuna's ``RetryHeartbeatStaleTrialCallback`` queues
the same parameters again, which that worker picks up first. The retried trial resumes the killed one's
run directory from its last checkpoint, so the finished epochs are not trained again. Optuna's
database storage has the heartbeat built in (``heartbeat_interval``, ``grace_period``); its journal
storage does not, so ``JournalHeartbeatStorage`` records it as a trial attribute through the journal.

Ctrl-C (or SIGTERM) never lands inside a storage call: it waits for the call in progress (milliseconds) to
finish, then ends the command as ever. An interrupted commit could leave SQLite's write lock held by a connection nobody
would close, so that the interrupted trial's own "failed" record and the heartbeat thread waited on it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import signal
import threading
import time
import warnings
from pathlib import Path

from .space import SearchError

GRACE = 3  #: heartbeats a running trial may miss before it counts as dead
_DRIVERS = {"postgresql://": "postgresql+psycopg://", "postgres://": "postgresql+psycopg://"}


def storage_url(storage: str | None, directory: str | Path) -> str:
    """The storage a search uses: the one given, or ``sqlite:///<directory>/study.db``."""
    if storage is None:
        return f"sqlite:///{Path(directory).resolve() / 'study.db'}"
    if storage.startswith("journal:") or storage.endswith((".log", ".journal")):
        return storage if storage.startswith("journal:") else f"journal:{storage}"
    if "://" not in storage:
        raise SearchError(
            f"--storage {storage!r} is neither a database URL (postgresql://user@host:5432/db, sqlite:///file.db) "
            "nor a journal file (journal:/shared/dir/study.log)"
        )
    return storage


def public_url(url: str) -> str:
    """The URL with any password replaced by ***, to print and to write in reports."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def open_storage(url: str, heartbeat: int):
    """An Optuna storage for ``url`` with the heartbeat on (see the module docstring)."""
    import optuna

    # Optuna marks the heartbeat and its retry callback experimental; they are what this module is for.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
    typed = url  # what the messages show: the address as given, not the driver's
    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        if not path.parent.is_dir():
            raise SearchError(f"--storage {url}: the folder {path.parent} does not exist")
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        return whole_calls(JournalHeartbeatStorage(backend, heartbeat, retry))
    for plain, driver in _DRIVERS.items():
        if url.startswith(plain):
            url = driver + url.removeprefix(plain)  # psycopg 3, not SQLAlchemy's default psycopg2
    # SQLite waits at most 20 s for another connection's lock (ample for the workers' short writes).
    engine = {"connect_args": {"timeout": 20}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(5):
        try:
            storage = optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine,
                heartbeat_interval=heartbeat,
                grace_period=GRACE * heartbeat,
                heartbeat_stale_trial_callback=retry,
            )
            storage.engine.pool.logger.addFilter(_no_interrupt_tracebacks)  # the same filter once per logger
            return whole_calls(storage)
        except Exception as e:  # sqlalchemy's errors: one line, with the URL
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            racing = "already exists" in reason or "duplicate key" in reason  # another worker creates the tables
            if racing and attempt < 4:
                time.sleep(0.5 + attempt)
                continue
            raise SearchError(f"cannot open the study storage {public_url(typed)}: {reason}") from None


def whole_calls(storage):
    """``storage`` with each public method run whole: Ctrl-C or SIGTERM that arrives during the call is
    delivered, to the handler that was there, once it returns (see the module docstring)."""
    for name, _ in inspect.getmembers(type(storage), inspect.isfunction):
        if not name.startswith("_"):
            setattr(storage, name, _uninterrupted(getattr(storage, name)))
    return storage


def _uninterrupted(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
        handlers = {n: h for n, h in handlers.items() if callable(h) and h is not _held}  # Python's, not SIG_DFL
        if threading.current_thread() is not threading.main_thread() or not handlers:
            return method(*args, **kwargs)  # signals reach the main thread only; an outer call holds them
        held.clear()
        for number in handlers:
            signal.signal(number, _held)
        try:
            return method(*args, **kwargs)
        finally:
            for number, handler in handlers.items():
                signal.signal(number, handler)
            for number in dict.fromkeys(held):
                signal.raise_signal(number)  # now the handler that was there before (Ctrl-C: KeyboardInterrupt)

    return call


held: list[int] = []  #: the signals that arrived during a storage call (the main thread's only)


def _held(number: int, frame) -> None:
    held.append(number)


def _no_interrupt_tracebacks(record: logging.LogRecord) -> bool:
    """Drop SQLAlchemy's log of an interrupted connection reset: Ctrl-C that lands while a connection goes
    back to the pool is logged with a traceback ("Exception during reset or similar") and then raised as
    ever; the command line says "interrupted" in one line, and the traceback would only bury it."""
    error = record.exc_info[0] if record.exc_info else None
    return error is None or issubclass(error, Exception)


def _journal_storage_class():
    import optuna
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.trial import TrialState

    class _JournalHeartbeatStorage(optuna.storages.JournalStorage, BaseHeartbeat):
        """Optuna's journal storage with a heartbeat recorded as the trial's ``heartbeat`` system attribute
        (wall-clock seconds; the machines sharing the file need roughly synchronised clocks)."""

        def __init__(self, backend, heartbeat: int, callback):
            super().__init__(backend)
            self._heartbeat, self._callback = heartbeat, callback

        def record_heartbeat(self, trial_id: int) -> None:
            self.set_trial_system_attr(trial_id, "heartbeat", time.time())

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            now, stale = time.time(), []
            for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
                last = trial.system_attrs.get("heartbeat")
                if last is None and trial.datetime_start is not None:
                    last = trial.datetime_start.timestamp()
                if last is not None and now - last > GRACE * self._heartbeat:
                    stale.append(trial._trial_id)
            return stale

        def get_heartbeat_interval(self) -> int | None:
            return self._heartbeat

        def get_heartbeat_stale_trial_callback(self):
            return self._callback

    return _JournalHeartbeatStorage


def JournalHeartbeatStorage(backend, heartbeat: int, callback):  # noqa: N802 - a class made on first use
    """A journal storage with a heartbeat (the class is built on first use, so importing layerlab does not
    import Optuna)."""
    return _journal_storage_class()(backend, heartbeat, callback)
