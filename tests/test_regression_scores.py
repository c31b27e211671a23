"""A regression run (mean squared error on the Playground's plane) is judged by its validation loss
everywhere: the plateau schedule, early stopping, a search's objective and ranking, and every line the
run, ``layerlab eval`` and a search print; a classification run keeps its accuracies."""

from __future__ import annotations

import math
import re
import textwrap

import pytest

import layerlab
from layerlab.cli import main
from layerlab.config import TrainConfig
from layerlab.progress import RunProgress
from layerlab.rundir import RunDir
from layerlab.schedules import Schedule
from layerlab.task import task_named

#: A tiny regression run whose validation loss falls for 4 epochs, rises at epoch 5, then falls again
#: (numpy engine, seed 0), while its meaningless "accuracy" (0.66, 0.68, 0.64, ...) stalls at epoch 3.
PLANE = dict(data="plane", loss="mse", model="dense(4) tanh dense(1)", epochs=8, val=0.2, engine="numpy", lr=0.1)


def lrs_replayed(history, key, task, **settings):
    """The rates a plateau schedule gives when it watches ``key`` of the recorded epochs."""
    schedule = Schedule(TrainConfig(**settings), 0.1, task_named(task).score.better)
    rates = []
    for row in history:
        rates.append(schedule.for_epoch(row["epoch"]))
        schedule.after_epoch(row[key])
    return rates


def test_plateau_lowers_eta_when_the_validation_loss_of_a_regression_run_stalls(capsys):
    run = layerlab.fit(**PLANE, schedule="plateau", lr_patience=1, progress=False)
    history = run.result.history
    losses = [row["val_loss"] for row in history]
    assert all(b < a for a, b in zip(losses[:4], losses[1:4], strict=False)) and losses[4] > losses[3]
    assert all(b < a for a, b in zip(losses[5:], losses[6:], strict=False))
    # One decay, after the one epoch (5) without a lower validation loss; never while the loss falls.
    assert [row["lr"] for row in history] == [0.1] * 5 + [0.05] * 3
    assert [row["lr"] for row in history] == lrs_replayed(
        history, "val_loss", "regression", schedule="plateau", lr_patience=1
    )
    # Watching the accuracy (the old rule) would have halved eta at epoch 4 already: the test tells them apart.
    by_accuracy = lrs_replayed(history, "val_accuracy", "classification", schedule="plateau", lr_patience=1)
    assert by_accuracy[3] == 0.05
    # What the run prints: losses, no accuracy, no percentages.
    out = capsys.readouterr().out
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 8
    for line, row in zip(epochs, history, strict=True):
        assert re.fullmatch(
            r"epoch \d: train loss \d\.\d{4} \| val loss \d\.\d{4} \| test loss \d\.\d{4} \| lr 0\.\d+ "
            r"\| \d+\.\d s",
            line,
        ), line
        assert f"val loss {row['val_loss']:.4f}" in line
    assert not re.search(r"acc|%", "\n".join(epochs + [out.splitlines()[-1]]))
    assert f"test loss {run.result.test_loss:.4g} at epoch 8 (lowest validation loss" in out


def test_early_stopping_of_a_regression_run_waits_for_a_lower_validation_loss():
    run = layerlab.fit(**PLANE, patience=1, progress=False, quiet=True)
    result = run.result
    assert (result.status, result.epochs, result.best_epoch) == ("early_stopping", 5, 4)
    assert result.message == "no better validation loss in 1 epoch; restored epoch 4"
    assert result.best_val_loss == min(row["val_loss"] for row in result.history)
    assert math.isclose(result.test_loss, result.history[3]["test_loss"])


def test_the_progress_lines_of_a_regression_run_show_its_losses():
    events = []
    hook = RunProgress("plane", lambda run, kind, text: events.append((kind, text)), interval=0)
    layerlab.fit(**(PLANE | {"epochs": 2}), hooks=[hook], progress=False, quiet=True)
    epoch_lines = [text for kind, text in events if kind == "epoch"]
    assert len(epoch_lines) == 2 and all("val loss" in t and "test loss" in t for t in epoch_lines)
    live = [text for kind, text in events if kind == "step"]
    assert re.search(r"\| val loss \d\.\d{4}", live[-1])  # the last epoch's validation loss on the live line
    assert not any("acc" in text or "%" in text for _, text in events)
    assert events[-1][0] == "end" and "test loss" in events[-1][1]


def test_a_classification_run_still_prints_its_accuracies():
    events = []
    hook = RunProgress("xor", lambda run, kind, text: events.append((kind, text)), interval=0)
    lines = []
    layerlab.api.trainer.fit(
        TrainConfig(data="xor", model="dense(4) tanh dense(2)", epochs=2, val=0.2, engine="numpy"),
        progress=False,
        log=lines.append,
        hooks=[hook],
    )
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2
    assert all(
        re.search(r"train loss \d\.\d{4} acc \d+\.\d\d% \| val loss \d\.\d{4} acc \d+\.\d\d% \| test acc", line)
        for line in epochs
    )
    assert re.search(r"\| val acc \d+\.\d\d%", [t for k, t in events if k == "step"][-1])
    assert "test accuracy" in lines[-1]


def test_eval_of_a_regression_run_prints_its_losses(tmp_path, capsys):
    run = layerlab.fit(**(PLANE | {"epochs": 3}), out=tmp_path / "plane", progress=False, quiet=True)
    assert main(["eval", str(tmp_path / "plane")]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"acc|%", out.split("\nrecorded: ")[1])  # after the data's description (noise 0%)
    assert f"test loss (mse): {run.result.test_loss:.4g} (250 examples)" in out
    assert f"validation loss (mse): {run.result.best_val_loss:.4g} (50 examples)" in out
    evaluation = layerlab.evaluate(tmp_path / "plane")
    assert evaluation.task == "regression" and evaluation.accuracy == {}
    assert evaluation.loss["test"][0] == pytest.approx(run.result.test_loss, rel=1e-5)


SEARCH = textwrap.dedent(
    """
    name = "plane"
    title = "Plane search"
    [settings]
    data = "plane"
    loss = "mse"
    val = 0.2
    engine = "numpy"
    model = "dense({units}) tanh dense(1)"
    epochs = 3
    [space]
    units = { choice = [1, 4] }
    lr = { choice = [0.001, 0.1] }
    [search]
    sampler = "grid"
    pruner = "none"
    """
)


def test_a_regression_search_minimises_the_validation_loss(tmp_path):
    path = tmp_path / "plane.toml"
    path.write_text(SEARCH)
    lines = []
    result = layerlab.search(str(path), tmp_path / "out", log=lines.append)
    assert result.study.direction.name == "MINIMIZE"
    trials = result.study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    for trial in trials:
        recorded = RunDir(tmp_path / "out" / trial.user_attrs["run"]).read_result()
        assert trial.value == recorded["best_val_loss"]
    best = result.best
    assert best.task == "regression" and best.val_loss == min(t.value for t in trials)
    assert best.val_loss < max(t.value for t in trials)  # the choice mattered: the lowest, not the highest
    recorded = RunDir(tmp_path / "out" / best.run).read_result()
    assert best.test_loss == pytest.approx(recorded["test_loss"], rel=1e-5)
    text = "\n".join(lines)
    assert f"validation loss {best.val_loss:.4f} (chose it); test loss {best.test_loss:.4f}" in text
    table = text.split("\n-")[0].splitlines()[-1]  # the terminal table's header
    assert "val loss" in table and "acc" not in text and "%" not in text.split("\n-")[1].split("best:")[0]
    first = text.split("\n-")[1].splitlines()[1]  # the table's first row is the best trial
    assert first.split()[0] == str(best.number)
    assert "Trials are chosen by validation loss" in (tmp_path / "out" / "report.md").read_text()


def test_a_regression_ensemble_is_measured_by_the_test_loss_of_its_mean_output(tmp_path, capsys):
    result, runs = layerlab.ensemble(2, **(PLANE | {"epochs": 2}), out=tmp_path / "ens", progress=False, quiet=True)
    y = layerlab.api.load_data(runs[0].config).test.y[:, 0]
    outputs = result.test_probabilities[:, :, -1]  # each member's single output (predict_proba: [1 - p, p])
    assert result.task == "regression" and math.isnan(result.vote_accuracy)
    assert result.member_losses == pytest.approx([((o - y) ** 2).mean() for o in outputs], rel=1e-5)
    assert result.mean_loss == pytest.approx(((outputs.mean(0) - y) ** 2).mean(), rel=1e-5)
    assert result.mean_loss < max(result.member_losses)
    assert "%" not in result.summary() and f"mean output: test loss {result.mean_loss:.4g}" in result.summary()
    assert main(["report", str(tmp_path / "ens")]) == 0
    out = capsys.readouterr().out
    assert f"{result.mean_loss:.4g}" in out and "%" not in out


def test_tune_refuses_a_regression_set_in_one_line(tmp_path):
    from layerlab.search import SearchError
    from layerlab.search.tune import tune

    with pytest.raises(SearchError, match=r"plane is a regression set \(no accuracy\): use `layerlab search`"):
        tune(
            TrainConfig(data="plane", loss="mse", model="dense(4) tanh dense(1)"), tmp_path / "tune", log=lambda m: None
        )
    assert not (tmp_path / "tune").exists()


def test_a_regression_run_without_a_validation_set_says_so_in_its_summary():
    result = layerlab.fit(**(PLANE | {"epochs": 2, "val": None}), progress=False, quiet=True).result
    assert result.best_epoch == 2 and math.isnan(result.best_val_loss)
    assert result.summary().startswith(
        f"test loss {result.test_loss:.4g} at epoch 2 (no validation set: the last epoch)"
    )


@pytest.mark.parametrize("data", ["xor", "plane"])
def test_a_run_without_a_validation_set_prints_no_nan_validation_figures(data):
    """Playground sets have no validation split unless --val asks: the lines leave the validation out."""
    events, lines = [], []
    hook = RunProgress(data, lambda run, kind, text: events.append((kind, text)), interval=0)
    loss = "mse" if data == "plane" else "cross_entropy"
    layerlab.api.trainer.fit(
        TrainConfig(
            data=data, model=f"dense(4) tanh dense({1 if data == 'plane' else 2})", loss=loss, epochs=2, engine="numpy"
        ),
        progress=False,
        log=lines.append,
        hooks=[hook],
    )
    printed = lines + [text for _, text in events]
    assert len([line for line in lines if line.startswith("epoch ")]) == 2
    assert not any("nan" in text or re.search(r"\bval ", text) for text in printed), printed
    assert "(no validation set: the last epoch" in lines[-1]
