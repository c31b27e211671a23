"""Searches shared by several workers, one of them killed with SIGKILL mid-trial: on a real PostgreSQL 15
server, on SQLite and on Optuna's journal file.

Each test starts two `layerlab search` worker processes on one grid search (4 points), waits until
worker A is in the middle of a trial (an epoch written, more to come), kills it with SIGKILL, and lets
worker B finish. Then: 4 trials completed, each grid point exactly once, the killed trial failed and was
retried (B resumed its run directory: the epochs A had finished are kept, not trained again), and the
report is readable.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 6
SEARCH = textwrap.dedent(
    f"""
    name = "kill-test"
    title = "Two workers, one killed"
    [settings]
    data = "mnist-small"
    limit = 2000
    epochs = {EPOCHS}
    batch_size = 10
    model = "flatten dense({{units}}) relu dense(10)"
    engine = "torch"
    device = "cpu"
    [space]
    units = {{ choice = [8, 32] }}
    lr = {{ choice = [0.05, 0.2] }}
    [search]
    sampler = "grid"
    pruner = "none"
    heartbeat = 1
    """
)
GRID = {(units, lr) for units in (8, 32) for lr in (0.05, 0.2)}


def _initdb() -> str | None:
    found = shutil.which("initdb")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return str(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL cluster: Debian's server where it is installed, else the one PyPI's pgserver
    brings (the `[dev]` extra: no apt step)."""
    if _initdb() is not None:
        yield from _debian_postgres()
        return
    try:
        import pgserver
    except ImportError:
        pytest.skip("no PostgreSQL: neither Debian's (apt-get install postgresql) nor pgserver (pip install -e .[dev])")
    root = Path(tempfile.mkdtemp(prefix="layerlab-pgserver-"))
    root.chmod(0o755)  # as root, pgserver runs the server as its own unprivileged user
    server = pgserver.get_server(root / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()  # postgresql://postgres:@/postgres?host=<its socket folder>
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _debian_postgres():
    """A cluster of Debian's PostgreSQL in a temp dir on a free loopback port, trust authentication; as the
    unprivileged `postgres` user when the tests run as root (PostgreSQL refuses to run as root)."""
    initdb = _initdb()
    bindir = Path(initdb).resolve().parent
    root = Path(tempfile.mkdtemp(prefix="layerlab-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
        shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, text=True)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


def _worker(search_file: Path, out: Path, storage: str | None, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "layerlab", "search", str(search_file), "--out", str(out), "--quiet"]
    command += ["--storage", storage] if storage else []
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = os.environ | {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def _study(out: Path, storage: str | None):
    from layerlab.search.report import load_study

    return load_study(out, storage)[0]


def _running_trial_of(study, pid: int, out: Path):
    """Worker ``pid``'s running trial once it has finished an epoch and has more to go, else None."""
    for trial in study.get_trials(deepcopy=False):
        if trial.state.name != "RUNNING" or not trial.user_attrs.get("worker", "").endswith(f":{pid}"):
            continue
        metrics = out / trial.user_attrs["run"] / "metrics.jsonl"
        lines = metrics.read_text().splitlines() if metrics.is_file() else []
        if 1 <= len(lines) <= EPOCHS - 3:  # after its first epoch (always written), more to come
            return trial
    return None


def _checkpointed(run: Path) -> list[str]:
    """The epochs of a killed run that its checkpoint holds (a resumed run keeps exactly these)."""
    from layerlab.weights import load_weights

    epoch = json.loads(load_weights(run / "checkpoint.npz")[1]["checkpoint"])["epoch"]
    return (run / "metrics.jsonl").read_text().splitlines()[:epoch]


def _kill_one_worker_mid_trial(tmp_path: Path, storage: str | None):
    search_file = tmp_path / "kill-test.toml"
    search_file.write_text(SEARCH)
    out = tmp_path / "search"
    out.mkdir()
    a = _worker(search_file, out, storage, tmp_path / "a.log")
    time.sleep(1.0)  # A creates the study and queues the grid; B joins it
    b = _worker(search_file, out, storage, tmp_path / "b.log")
    killed, kept_lines, study = None, None, None
    deadline = time.monotonic() + 120
    try:
        while study is None and time.monotonic() < deadline:
            study = _study_or_none(out, storage)
            time.sleep(0.2)
        while killed is None and time.monotonic() < deadline and a.poll() is None:
            killed = _running_trial_of(study, a.pid, out)
            if killed is not None:
                a.send_signal(signal.SIGKILL)
                a.wait(10)
                kept_lines = _checkpointed(out / killed.user_attrs["run"])
            time.sleep(0.05)
        assert killed is not None, f"worker A never ran a trial to kill:\n{(tmp_path / 'a.log').read_text()}"
        assert kept_lines  # A had finished and checkpointed at least one epoch
        assert b.wait(150) == 0, (tmp_path / "b.log").read_text()
    finally:
        for process in (a, b):
            if process.poll() is None:
                process.kill()
                process.wait()
    return out, killed, kept_lines


def _study_or_none(out: Path, storage: str | None):
    import optuna

    from layerlab.search.report import INFO
    from layerlab.search.storage import open_storage, storage_url

    if not (out / INFO).is_file():  # the worker has not claimed the folder yet: opening its SQLite file now
        return None  # would create it, and the worker would then find a folder of someone else's files
    try:
        return optuna.load_study(study_name="kill-test", storage=open_storage(storage_url(storage, out), 1))
    except KeyError:  # not created yet
        return None


def _check(out: Path, storage: str | None, killed, kept_lines: list[str]) -> None:
    study = _study(out, storage)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == len(GRID)  # the requested number of trials
    points = [(t.params["units"], t.params["lr"]) for t in complete]
    assert sorted(points) == sorted(GRID)  # each grid point exactly once
    assert study.get_trials(deepcopy=False)[killed.number].state.name == "FAIL"
    retries = [t for t in complete if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].params == killed.params  # the killed trial was retried
    run = out / retries[0].user_attrs["run"]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == EPOCHS
    assert lines[: len(kept_lines)] == kept_lines  # resumed from A's checkpoint: A's epochs were kept
    assert all(0.3 < t.value <= 1 for t in complete)  # validation accuracies, better than chance (10%)
    report = (out / "report.md").read_text()
    assert "killed, retried" in report and "retry of" in report
    assert report.count("| completed") == len(GRID)  # one of them "completed (retry of N)"
    assert '<img src="data:image/png;base64,' in (out / "report.html").read_text()
    best = json.loads((out / "best.json").read_text())
    assert best["val_accuracy"] == max(t.value for t in complete) and 0.3 < best["test_accuracy"] <= 1


def test_postgresql_worker_killed_mid_trial(tmp_path, postgres_url):
    out, killed, kept = _kill_one_worker_mid_trial(tmp_path, postgres_url)
    _check(out, postgres_url, killed, kept)


def test_sqlite_worker_killed_mid_trial(tmp_path):
    out, killed, kept = _kill_one_worker_mid_trial(tmp_path, None)  # the default: study.db in the search directory
    assert (out / "study.db").is_file()
    _check(out, None, killed, kept)


def test_journal_worker_killed_mid_trial(tmp_path):
    storage = f"journal:{tmp_path / 'study.log'}"
    out, killed, kept = _kill_one_worker_mid_trial(tmp_path, storage)
    _check(out, storage, killed, kept)


EXPERIMENT = textwrap.dedent(
    """
    name = "shared"
    [settings]
    data = "xor"
    data_options = { n = 200 }
    val = 0.25
    model = "dense(4) tanh dense(2)"
    epochs = 3
    batch_size = 10
    [[runs]]
    name = "lr"
    grid = { lr = [0.01, 0.03, 0.1, 0.3] }
    [[runs]]
    name = "same-as-lr-0.1"
    lr = 0.1
    """
)


def test_experiment_runs_shared_by_two_workers(tmp_path):
    (tmp_path / "shared.toml").write_text(EXPERIMENT)
    storage = f"journal:{tmp_path / 'runs.log'}"
    command = [
        sys.executable,
        "-m",
        "layerlab",
        "run",
        str(tmp_path / "shared.toml"),
        "--out",
        str(tmp_path / "exp"),
        "--storage",
        storage,
        "--quiet",
    ]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for _ in range(2)
    ]
    logs = [worker.communicate(timeout=300)[0] for worker in workers]
    if [worker.returncode for worker in workers] != [0, 0]:
        pytest.fail("a worker failed:\n" + "\n----\n".join(logs))
    trained = [line.split(":")[0] for log in logs for line in log.splitlines() if ": training (trial" in line]
    assert sorted(trained) == sorted(["lr-lr=0.01", "lr-lr=0.03", "lr-lr=0.1", "lr-lr=0.3"])  # each once, 4 in all
    index = json.loads((tmp_path / "exp" / "experiment.json").read_text())
    assert [run["status"] for run in index["runs"]] == ["done"] * 5  # the last run shares lr=0.1's directory


def test_the_dev_extra_brings_a_postgresql_server_that_a_study_can_use(tmp_path):
    """Without Debian's PostgreSQL (a fresh machine), the `[dev]` extra's pgserver gives the search tests a
    server: no apt step, and it runs as root too (as its own unprivileged user)."""
    import optuna
    import pgserver

    from layerlab.search.storage import open_storage

    root = Path(tempfile.mkdtemp(prefix="layerlab-pgserver-"))
    root.chmod(0o755)
    server = pgserver.get_server(root / "data", cleanup_mode="delete")
    try:
        url = server.get_uri()
        assert url.startswith("postgresql://")
        study = optuna.create_study(storage=open_storage(url, 10), study_name="check")
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
        assert len(optuna.load_study(study_name="check", storage=open_storage(url, 10)).trials) == 2
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
