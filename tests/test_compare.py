"""`layerlab train` and `layerlab ensemble` write their own report; `layerlab report RUN...` compares
runs; `eval` and `predict` take an ensemble's directory. Real (tiny) training on Playground's XOR."""

from __future__ import annotations

import json

import numpy as np
import pytest

import layerlab.api as api
from layerlab.cli import main
from layerlab.data import load
from layerlab.phrases import describe_changes
from layerlab.report.reading import read_runs, setting_defaults
from layerlab.report.table import rows
from layerlab.rundir import RunDir

XOR = ["--data", "xor", "--model", "dense(4) tanh dense(2)", "--epochs", "2", "--batch-size", "25", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A plain run and an ensemble of 2, each trained for 2 epochs through the CLI."""
    root = tmp_path_factory.mktemp("runs")
    assert main(["train", *XOR, "--out", str(root / "one")]) == 0
    assert main(["ensemble", *XOR, "--members", "2", "--lr", "0.3", "--val", "0.2", "--out", str(root / "vote")]) == 0
    return root


def test_train_and_ensemble_write_their_own_report(trained):
    for name in ("one", "vote"):
        run = trained / name
        html = (run / "report.html").read_text()
        assert html.count("data:image/png;base64,") == len(list((run / "report").glob("*.png")))
        assert {path.stem.split("-")[0] for path in (run / "report").glob("*.png")} == {
            "curves",
            "gradients",
            "boundaries",
            "confusion",
        }
        assert RunDir(run).read_arrays(RunDir.PREDICTIONS)["y_true"].shape == (250,)  # Playground's test half


def test_report_compares_a_run_and_an_ensemble(trained, capsys):
    assert main(["report", str(trained / "one"), str(trained / "vote")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 runs compared: one, vote: 2 runs, 2 done, 0 failed, 0 pending"
    at = next(i for i, line in enumerate(out) if line.lstrip("*= ").split()[:1] == ["one"])
    one = " ".join(line.strip() for line in out[at : at + 2])  # what it changed wraps onto the line below
    # what differs: the validation split, the learning rate (their defaults)
    assert "val=none (default), lr=0.1" in one and one.count("(default)") == 2
    assert out[-1] == f"report: {trained / 'compare-one-vote' / 'report.html'}"
    vote = json.loads((trained / "vote" / "ensemble.json").read_text())
    row = next(line for line in out if line.lstrip("*= ").split()[:1] == ["vote"])  # starred or tied by its val
    assert f"{vote['vote_accuracy']:.2%}" in row
    (_, ensemble) = rows(read_runs([trained / "one", trained / "vote"], trained / "compare-one-vote").runs)
    assert ensemble.best_val_accuracy == vote["vote_val_accuracy"] > 0.5  # the vote's, as `eval` prints it
    assert f"{vote['vote_val_accuracy']:.2%}" in row


def test_settings_that_resolve_to_the_same_value_are_no_difference(trained, capsys):
    # "one" left lr unset: SGD's own 0.1; "again" gives lr 0.1: only the epochs differ
    assert main(["train", *XOR, "--lr", "0.1", "--epochs", "1", "--out", str(trained / "again")]) == 0
    capsys.readouterr()
    assert main(["report", str(trained / "one"), str(trained / "again"), "--out", str(trained / "same")]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [row[:2] for row in rows if row[:1] in (["one"], ["again"])] == [["one", "epochs=2"], ["again", "epochs=1"]]


def test_an_ensemble_directory_evaluates_and_predicts_by_majority_vote(trained, capsys):
    ensemble = api.load(trained / "vote")
    assert isinstance(ensemble, api.EnsembleRun) and len(ensemble.members) == 2
    test = load("xor").test
    probabilities = np.stack([member.predict_proba(test.x) for member in ensemble.members])
    assert np.array_equal(ensemble.predict(test.x), api.majority_vote(probabilities))
    vote = json.loads((trained / "vote" / "ensemble.json").read_text())["vote_accuracy"]
    assert ensemble.evaluate(test.x, test.y) == pytest.approx(vote)
    assert main(["eval", str(trained / "vote")]) == 0
    printed = capsys.readouterr().out
    assert "an ensemble of 2 members: accuracy of their majority vote" in printed
    val = json.loads((trained / "vote" / "ensemble.json").read_text())["vote_val_accuracy"]
    assert f"validation accuracy: {val:.2%}" in printed  # the report's "best val" of the ensemble
    assert f"test accuracy: {vote:.2%} (250 examples)" in printed


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("xor", "val=none (default)"),
        ("mnist", "val=Nielsen's 10,000 (default)"),
        ("cifar10", "val=0.1 (default)"),
        ("mnist-small", "val=the fixed 1,000 (default)"),
        ("cifar10-small", "val=the fixed 200 (default)"),
    ],
)
def test_a_default_validation_split_says_what_it_is_for_the_data(data, words):
    settings = {"data": data, "val": None, "optimizer": "sgd"}
    assert describe_changes({"val": None}, setting_defaults(settings)) == words
    if data in ("xor", "mnist-small", "cifar10-small"):  # offline: the words are the split it loads
        assert len(load(data).val) == {"xor": 0, "mnist-small": 1000, "cifar10-small": 200}[data]


def test_report_refuses_runs_tested_on_different_data(trained, tmp_path, capsys):
    """A classifier of XOR points against a regression of the curve, and the curve with other noise: nothing
    pairs their test examples, so no verdict; one line says why, and nothing is written."""
    curve = dict(data="curve", model="dense(1)", loss="mse", epochs=1, quiet=True)
    api.fit(out=tmp_path / "curve", **curve)
    api.fit(out=tmp_path / "noisier", data_options={"noise": 0.5}, **curve)
    assert main(["report", str(trained / "one"), str(tmp_path / "curve"), "--out", str(tmp_path / "a")]) == 2
    said = f"{trained / 'one'} was tested on xor and {tmp_path / 'curve'} on curve: runs are compared on one test set"
    assert said in capsys.readouterr().err
    assert main(["report", str(tmp_path / "curve"), str(tmp_path / "noisier"), "--out", str(tmp_path / "b")]) == 2
    assert "were tested on different examples of curve (other data options?)" in capsys.readouterr().err
    assert main(["report", str(trained / "one"), str(trained / "one"), "--out", str(tmp_path / "c")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{trained / 'one'} is given twice; give each run directory once")
    assert not any((tmp_path / name).exists() for name in "abc")


def test_runs_of_one_name_are_told_apart_by_their_folders(trained, tmp_path):
    import shutil

    for experiment in ("act", "act-s1"):
        shutil.copytree(trained / "one", tmp_path / experiment / "runs" / "relu")
    source = read_runs([tmp_path / "act" / "runs" / "relu", tmp_path / "act-s1" / "runs" / "relu"], tmp_path / "c")
    assert [run.name for run in source.runs] == ["act/relu", "act-s1/relu"]
