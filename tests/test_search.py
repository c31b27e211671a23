"""Searches on one machine: the search file's checks, trials as run directories (reused when settings
repeat), pruning, the report and the best configuration's command line, lr-find, tune, the CLI."""

from __future__ import annotations

import json
import os
import shlex
import textwrap
import time

import pytest

import layerlab
from layerlab.cli import main, parser
from layerlab.cli.flags import train_settings
from layerlab.config import TrainConfig
from layerlab.report.html_page import STYLESHEET
from layerlab.rundir import RunDir
from layerlab.search import SearchError, load_search, parse_search
from layerlab.search.space import render

TOY = textwrap.dedent(
    """
    name = "toy"
    title = "Toy search"
    [settings]
    data = "xor"
    data_options = { n = 200 }
    val = 0.25
    model = "[dense({units}) {act}]*{layers} dense(2)"
    epochs = 4
    batch_size = 10
    [space]
    units = { int = [2, 8] }
    layers = { int = [1, 2] }
    act = { choice = ["tanh", "relu"] }
    lr = { log = [1e-3, 0.5] }
    [search]
    sampler = "random"
    pruner = "none"
    trials = 5
    """
)


def write(tmp_path, text=TOY, name="toy.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------------
# The search file
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "settings", "expected"),
    [
        ({"lr": {"log": [1.0, 1e-4]}}, {}, "[space] lr = {'log': [1.0, 0.0001]}: empty range: low 1.0 must be below"),
        ({"lr": {"log": [0, 1]}}, {}, "a log range needs low > 0, got 0"),
        ({"l2": {"choice": []}}, {}, "[space] l2 = {'choice': []}: expected a non-empty list"),
        ({"units": {"int": [10, 300.5]}}, {"model": "flatten dense({units}) dense(10)"}, "expected two integers"),
        ({"lr": {"logg": [1e-3, 0.1]}}, {}, "[space] lr = {'logg': [0.001, 0.1]}: expected exactly one of log, float"),
        ({"width": {"int": [10, 300]}}, {}, "[space] width: is neither a training setting nor a template field"),
        (
            {"units": {"int": [10, 30]}},
            {"model": "flatten dense({units}) {act} dense(10)"},
            "template field {act} has no",
        ),
        ({"lr": {"log": [1e-3, 0.1]}}, {"epoch": 3}, "[settings] epoch: unknown setting"),
        ({"lr": {"log": [1e-3, 0.1]}}, {"epochs": "ten"}, "[settings] + [space]: at {'lr': 0.001}"),
        ({"a": {"choice": ["relu", "sigmod"]}}, {"model": "flatten dense(10) {a} dense(10)"}, "unknown layer 'sigmod'"),
        ({"lr": {"log": [1e-3, 0.1]}}, {"lr": 0.1}, "[space] lr: is also fixed in [settings]"),
    ],
)
def test_a_wrong_space_is_one_error_naming_file_key_and_value(space, settings, expected):
    with pytest.raises(SearchError) as error:
        parse_search({"settings": settings, "space": space}, "my.toml")
    assert str(error.value).startswith("my.toml: ") and expected in str(error.value)


def test_wrong_search_options_and_grid_needs_finite_values():
    with pytest.raises(SearchError, match=r"\[search\] sampler = 'annealing': expected one of grid, random, tpe, gp"):
        parse_search({"space": {"lr": {"log": [1e-3, 0.1]}}, "search": {"sampler": "annealing"}}, "s.toml")
    with pytest.raises(SearchError, match=r"\[space\] lr: the grid sampler needs finitely many values"):
        parse_search({"space": {"lr": {"log": [1e-3, 0.1]}}, "search": {"sampler": "grid"}}, "s.toml")
    with pytest.raises(SearchError, match=r"\[search\] trials = 0: expected a whole number >= 1"):
        parse_search({"space": {"lr": {"log": [1e-3, 0.1]}}, "search": {"trials": 0}}, "s.toml")
    grid = parse_search(
        {
            "space": {"l2": {"choice": [0, 1]}, "batch_size": {"int": [10, 30], "step": 10}},
            "search": {"sampler": "grid"},
        }
    )
    assert grid.trials == 6 and grid.grid()[1] == {"l2": 0, "batch_size": 20}


def test_templates_fill_fields_and_repeat_blocks():
    template = "flatten [dense({units}) {act}]*{layers} dense(10)"
    assert render(template, {"units": 30, "act": "relu", "layers": 2}) == (
        "flatten dense(30) relu dense(30) relu dense(10)"
    )
    assert render(template, {"units": 30, "act": "relu", "layers": 0}) == "flatten  dense(10)"


def test_builtins_load_with_and_without_quick():
    for name in ("search-mlp", "search-cnn"):
        full, quick = load_search(name), load_search(name, quick=True)
        assert full.settings["data"] in ("mnist", "cifar10") and quick.settings["data"].endswith("-small")
        assert quick.trials < full.trials
    mlp = load_search("search-mlp")
    assert set(mlp.space) == {"units", "layers", "activation", "optimizer", "lr", "l2", "batch_size"}


# ---------------------------------------------------------------------------------------------------
# Running a search
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy search, run once for the tests below: (its file, its directory, its result)."""
    folder = tmp_path_factory.mktemp("toy")
    path = write(folder)
    return path, folder / "toy", layerlab.search(str(path), folder / "toy", log=lambda m: None)


def test_search_trials_are_run_directories_and_the_best_is_measured_once(toy):
    _, out, result = toy
    trials = result.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 5
    for trial in trials:
        run = RunDir(out / trial.user_attrs["run"])
        assert run.is_finished() and run.read_result()["best_val_accuracy"] == trial.value
    best = result.best
    assert best.val_accuracy == max(t.value for t in trials)
    recorded = RunDir(out / best.run).read_result()
    assert best.test_accuracy == pytest.approx(recorded["test_accuracy"])  # restored from the run's best weights
    # The command line trains exactly the best configuration (the same settings, the same run key).
    argv = shlex.split(best.command)[1:]
    args = parser().parse_args(argv)
    assert TrainConfig.from_dict(train_settings(args)).to_dict() == TrainConfig.from_dict(best.config).to_dict()
    assert TrainConfig.from_dict(json.loads(json.dumps(best.config))).model.count("dense(") >= 2
    report = (out / "report.md").read_text()
    assert "## Trials" in report and report.count("| completed") == 5 and "`layerlab train" in report
    assert (out / "report" / "history.png").stat().st_size > 5000
    assert (out / "report" / "importances.png").is_file() and (out / "report" / "contour.png").is_file()
    assert '<img src="data:image/png;base64,' in (out / "report.html").read_text()


def test_the_same_settings_reuse_the_finished_run(toy):
    path, out, _ = toy
    before = {p.name: (p / "result.json").stat().st_mtime_ns for p in (out / "runs").iterdir() if p.is_dir()}
    lines = []
    again = layerlab.search(str(path), out, study="again", report=False, log=lines.append)
    assert sum("reusing finished run" in line for line in lines) == 5  # same seed: the same 5 points
    after = {p.name: (p / "result.json").stat().st_mtime_ns for p in (out / "runs").iterdir() if p.is_dir()}
    assert after == before and len(again.study.get_trials()) == 5


def test_median_pruning_stops_hopeless_trials_early(tmp_path):
    text = TOY.replace('sampler = "random"', 'sampler = "grid"').replace('pruner = "none"', 'pruner = "median"')
    text = text.replace("trials = 5\n", "")
    text = (
        text.split("[space]")[0]
        + "[space]\nlr = { choice = [0.3, 0.2, 0.1, 1e-7, 1e-8] }\n"
        + ("[search]" + text.split("[search]")[1])
    )
    text = text.replace('model = "[dense({units}) {act}]*{layers} dense(2)"', 'model = "dense(8) tanh dense(2)"')
    result = layerlab.search(str(write(tmp_path, text)), tmp_path / "pruned", log=lambda m: None)
    states = {t.params["lr"]: t.state.name for t in result.study.get_trials()}
    assert states == {0.3: "COMPLETE", 0.2: "COMPLETE", 0.1: "COMPLETE", 1e-7: "PRUNED", 1e-8: "PRUNED"}
    pruned = [t for t in result.study.get_trials() if t.state.name == "PRUNED"]
    for trial in pruned:
        run = RunDir(tmp_path / "pruned" / trial.user_attrs["run"]).read_result()
        assert run["status"] == "pruned" and run["epochs"] < 4


def test_cli_search_bad_file_is_one_line(tmp_path, capsys):
    bad = write(tmp_path, TOY.replace("int = [2, 8]", "int = [8, 2]"), "bad.toml")
    assert main(["search", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.toml: [space] units" in err and "empty range" in err
    assert main(["search", "no-such-search"]) == 2
    assert "unknown search 'no-such-search'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["search-mlp", "search-cnn"])
def test_builtin_quick_searches_run(tmp_path, capsys, name):
    assert main(["search", name, "--quick", "--trials", "1", "--out", str(tmp_path / name), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "best: validation" in out and "layerlab train" in out and (tmp_path / name / "report.html").is_file()


# ---------------------------------------------------------------------------------------------------
# lr-find and tune
# ---------------------------------------------------------------------------------------------------


def test_lr_find_suggests_a_rate_that_learns(tmp_path):
    from layerlab.search.lrfind import lr_find

    config = TrainConfig(model="flatten dense(10)", data="mnist-small", limit=1500, batch_size=10)
    found = lr_find(config, steps=100, out=tmp_path, progress=False)
    assert 1e-3 < found.threshold < 10 and found.suggestion == pytest.approx(found.threshold / 10)
    assert found.smoothed.min() < found.smoothed[10]  # the loss fell before the threshold
    assert (tmp_path / "lr-find.png").stat().st_size > 5000
    assert json.loads((tmp_path / "lr-find.json").read_text())["suggestion"] == found.suggestion
    run = layerlab.fit(**config.replace(lr=found.suggestion, epochs=1).to_dict(), quiet=True)
    assert run.result.best_val_accuracy > 0.7  # far better than chance (10%)


def test_tune_quick_explains_each_step_and_reports_the_test_accuracy(tmp_path, capsys):
    argv = ["tune", "--quick", "--model", "flatten dense(20) relu dense(10)", "--limit", "500", "--epochs", "2"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for step in range(1, 7):
        assert f"== Step {step}:" in out
    assert out.count("concluded") >= 6 and "0 vs 1" in out and "eta" in out
    summary = json.loads((tmp_path / "tune.json").read_text())
    assert 0.5 < summary["test_accuracy"] <= 1 and summary["command"].startswith("layerlab train")
    assert summary["recommendation"]["lr"] > 0


def test_gp_sampler_hyperband_and_two_jobs(tmp_path):
    result = layerlab.search(
        str(write(tmp_path)),
        tmp_path / "gp",
        sampler="gp",
        pruner="hyperband",
        trials=4,
        report=False,
        log=lambda m: None,
    )
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in result.study.get_trials()) == 4
    two = layerlab.search(str(write(tmp_path)), tmp_path / "jobs", jobs=2, trials=4, report=False, log=lambda m: None)
    trials = two.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4  # two workers, the budget not overshot
    assert all(t.user_attrs["worker"].split(":")[1] != str(os.getpid()) for t in trials)  # in worker processes


# ---------------------------------------------------------------------------------------------------
# CMA-ES
# ---------------------------------------------------------------------------------------------------


def test_cmaes_samples_the_numbers_and_leaves_choices_to_random_draws(toy, tmp_path):
    lines = []
    result = layerlab.search(str(write(tmp_path)), tmp_path / "cma", sampler="cmaes", trials=4, log=lines.append)
    trials = result.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    said = "CMA-ES samples units, layers, lr; it handles numbers only, so act (a choice) is drawn at random"
    assert any(line.startswith(said) for line in lines)  # at the start, and in the report's header
    assert said in (tmp_path / "cma" / "report.md").read_text()
    # Trial 0 is drawn independently (Optuna's rule); from trial 1 on CMA-ES draws the numbers.
    assert ["cma:generation" in t.system_attrs for t in trials] == [False, True, True, True]
    random_points = [t.params for t in toy[2].study.get_trials()[:4]]  # the same file and seed, random sampler
    cma_points = [t.params for t in trials]
    assert cma_points[0] == random_points[0]
    assert all(cma_points[i] != random_points[i] for i in (1, 2, 3))
    numbers = [{k: v for k, v in p.items() if k != "act"} for p in cma_points]
    assert len({json.dumps(p, sort_keys=True) for p in numbers}) == 4


def test_cmaes_refuses_a_space_of_choices_only():
    with pytest.raises(SearchError) as error:
        parse_search({"space": {"l2": {"choice": [0, 1]}}, "search": {"sampler": "cmaes"}}, "s.toml")
    assert str(error.value) == (
        "s.toml: [search] sampler = 'cmaes': CMA-ES samples int, float and log ranges, and every parameter here "
        "is a choice; use tpe or random"
    )


def test_cmaes_state_is_read_back_without_running_any_other_pickle():
    """Optuna keeps CMA-ES's state as a pickle in the study: past one generation it is read back (here,
    by the restricted unpickler) and the search goes on; a pickle of anything else is refused."""
    import pickle

    import optuna

    from layerlab.search.cma import cma_sampler, load_optimizer

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=cma_sampler(seed=1))
    study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2 + t.suggest_int("n", 0, 9) ** 2, n_trials=20)
    generations = [t.system_attrs.get("cma:generation") for t in study.trials]
    assert max(g for g in generations if g is not None) >= 2  # the state was stored and restored twice
    assert study.best_value < 1.0  # and it found the bowl's bottom, near x = 1, n = 0
    stored = [t for t in study.trials if any(k.startswith("cma:optimizer") for k in t.system_attrs)]
    chunks = {k: v for k, v in stored[-1].system_attrs.items() if k.startswith("cma:optimizer:")}
    state = "".join(chunks[f"cma:optimizer:{i}"] for i in range(len(chunks)))
    assert type(load_optimizer(bytes.fromhex(state))).__name__ == "CMA"
    with pytest.raises(pickle.UnpicklingError, match=r"refers to posix.system, which it never holds"):
        load_optimizer(pickle.dumps(os.system))


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_search_on_a_missing_gpu_is_refused_before_its_folder_or_study_exists(tmp_path, cli_error):
    err = cli_error("search", "search-mlp", "--quick", "--device", "cuda", "--out", str(tmp_path / "s"))
    expected = "--device cuda was asked for, but this torch build sees no CUDA GPU; use --device cpu"
    assert err == f"layerlab search: error: {expected}\n"
    assert not (tmp_path / "s").exists()  # so the same command without --device cuda starts afresh


def test_a_trial_that_ctrl_c_ends_is_run_again_with_its_parameters_on_the_next_start(tmp_path):
    """Ctrl-C during trial 1: one line, no traceback; the same command again retries trial 1 (its parameters,
    its run directory continued) and the search ends with all 5 trials, as after a killed worker."""
    import signal
    import subprocess
    import sys

    import optuna

    path = write(tmp_path, TOY.replace("epochs = 4", "epochs = 100"))
    command = [sys.executable, "-m", "layerlab", "search", str(path), "--out", str(tmp_path / "s")]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in process.stdout:
        if line.startswith("trial 1:"):
            break
    runs, deadline = tmp_path / "s" / "runs", time.monotonic() + 60
    while len(list(runs.glob("*/checkpoint.npz"))) < 2 and process.poll() is None:  # trial 1 trains (100 epochs)
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1].endswith("run the same command again to continue")
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    study = optuna.load_study(study_name="toy", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    trials = study.get_trials()
    interrupted = [t for t in trials if t.state.name == "FAIL"]
    assert [t.number for t in interrupted] == [1] and interrupted[0].user_attrs["interrupted"]
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == 1]
    assert len(retry) == 1 and retry[0].params == interrupted[0].params and retry[0].state.name == "COMPLETE"
    assert retry[0].user_attrs["run"] == interrupted[0].user_attrs["run"]  # the same run directory, continued
    assert sum(t.state.name == "COMPLETE" for t in trials) == 5
    assert "| interrupted, retried" in (tmp_path / "s" / "report.md").read_text()


def test_a_search_whose_postgresql_server_is_down_leaves_no_folder_and_shows_the_address_as_typed(tmp_path, cli_error):
    import socket

    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://lab:secret@127.0.0.1:{port}/searches"
    err = cli_error("search", "search-mlp", "--quick", "--storage", url, "--out", str(tmp_path / "s"))
    typed = f"postgresql://lab:***@127.0.0.1:{port}/searches"  # not the driver's postgresql+psycopg://, no password
    assert err.startswith(f"layerlab search: error: cannot open the study storage {typed}: ") and "refused" in err
    assert not (tmp_path / "s").exists()  # so the same command, once the server is up, starts afresh


def test_ctrl_c_while_a_connection_goes_back_to_the_pool_is_raised_without_sqlalchemys_traceback(tmp_path, caplog):
    """SQLAlchemy logs an interrupted connection reset with its traceback ("Exception during reset or
    similar"), which reached the student after Ctrl-C under load. A KeyboardInterrupt raised at that very
    point (the pool's reset event, where the signal lands) still ends the command, without the log."""
    import logging

    from sqlalchemy import event

    from layerlab.search.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}", 10)
    pressed = []

    def ctrl_c(dbapi_connection, record, reset_state):
        if not pressed:
            pressed.append(True)
            raise KeyboardInterrupt

    event.listen(storage.engine.pool, "reset", ctrl_c)
    with caplog.at_level(logging.DEBUG), pytest.raises(KeyboardInterrupt):
        storage.get_all_studies()
    assert pressed and not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert storage.get_all_studies() == []  # the storage still works
    storage.engine.pool.logger.error("a real error", exc_info=ValueError("kept"))  # other errors are logged
    assert [r.getMessage() for r in caplog.records] == ["a real error"]


def test_ctrl_c_during_a_commit_waits_for_it_and_leaves_no_lock_behind(tmp_path):
    """A Ctrl-C that landed inside an SQLite commit left the write lock held by a connection nobody closed:
    the interrupted trial's "failed" record and Optuna's heartbeat thread then waited on it (the search
    hung after Ctrl-C). The signal now waits for the storage call: the write is whole, the lock free, and
    the interrupt raised once the call returns, by the handler that was there (the training loop's too)."""
    import signal
    import sqlite3

    import optuna
    from sqlalchemy import event

    from layerlab.search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    path = tmp_path / "study.db"
    storage = open_storage(f"sqlite:///{path}", 10)
    study = optuna.create_study(storage=storage, study_name="s")
    trial_id = study.ask()._trial_id
    armed, presses = [], []

    def press(connection):  # the signal arrives in the middle of the next commit
        if armed:
            presses.append(armed.pop())
            os.kill(os.getpid(), signal.SIGINT)

    event.listen(storage.engine, "commit", press)
    armed.append("a")
    with pytest.raises(KeyboardInterrupt):
        storage.set_trial_user_attr(trial_id, "a", 1)
    other = sqlite3.connect(path, timeout=0.5)
    other.execute("BEGIN IMMEDIATE")  # "database is locked" on the old code
    other.rollback()
    assert storage.get_trial(trial_id).user_attrs == {"a": 1}

    received = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))  # a loop's own
    armed.append("b")
    try:
        storage.set_trial_user_attr(trial_id, "b", 2)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert received == [signal.SIGINT] and presses == ["a", "b"]
    assert storage.get_trial(trial_id).user_attrs == {"a": 1, "b": 2}


def test_an_interrupted_trial_is_queued_again_without_a_warning():
    """Optuna's RetryFailedTrialCallback is deprecated (a FutureWarning on every resumed search): the retry
    queues the same parameters, and records the trial it retries, with nothing printed."""
    import warnings

    import optuna
    from optuna.trial import TrialState

    from layerlab.search.study import retry_interrupted

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    trial.set_user_attr("interrupted", True)
    study.tell(trial, state=TrialState.FAIL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        retry_interrupted(study)
        retry_interrupted(study)  # once only
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].params == {"x": x} and waiting[0].system_attrs["retry_history"] == [0]


def test_layerlab_report_of_a_search_folder_writes_its_report_again(tmp_path, capsys):
    path = write(tmp_path, TOY.replace("trials = 5", "trials = 2"))
    out = tmp_path / "s"
    assert main(["search", str(path), "--out", str(out), "--quiet"]) == 0
    (out / "report.html").unlink()
    (out / "report.md").unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[-1] == f"report: {out / 'report.html'}"
    assert "2 trials (2 completed)" in printed and "train it again: layerlab train" in printed
    assert "| Trials" not in printed and "## Trials" in (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and f"<style>{STYLESHEET}</style>" in page  # every report's style
    assert "<li>train it again: <code>layerlab train " in page and "<tr><td>0</td><td>completed</td>" in page
