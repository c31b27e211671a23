"""`layerlab tune` and `layerlab lr-find` as a new user meets them: the default sigmoid model (whose range
test gives no threshold), the chance check of every step, an earlier range test never silently replaced,
only the flags lr-find uses, and no progress-bar '\\r' in a pipe. Real tiny runs on mnist-small."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import layerlab
from layerlab.cli import main
from layerlab.config import TrainConfig
from layerlab.search.lrfind import lr_find, y_limits

SIGMOID = TrainConfig().model  # Nielsen's flatten dense(100) sigmoid dense(10), the default


@pytest.mark.parametrize(
    ("model", "steps", "end_lr", "problem"),
    [
        (SIGMOID, 60, 10.0, "the loss never fell clearly"),  # too short for a sigmoid network: flat, then noise
        ("flatten dense(10)", 200, 0.3, "the loss still falls at the end of the sweep"),  # not risen by eta 0.3
    ],
)
def test_lr_find_says_when_its_curve_gives_no_threshold(tmp_path, model, steps, end_lr, problem):
    config = TrainConfig(limit=2000, model=model)
    found = lr_find(config, steps=steps, end_lr=end_lr, out=tmp_path, progress=False)
    assert found.threshold is None and found.suggestion is None
    assert found.problem.startswith(problem) and found.summary().startswith("no learning rate suggested")
    saved = json.loads((tmp_path / "lr-find.json").read_text())
    assert saved["suggestion"] is None and saved["problem"] == found.problem
    assert (tmp_path / "lr-find.png").stat().st_size > 5000  # the curve is still plotted


def test_lr_find_on_a_nearly_flat_curve_suggests_nothing_and_its_plot_shows_the_curve(tmp_path):
    """The default sigmoid network's 200-step sweep goes from 2.38 to about 2.13 (smoothed) before it rises: it
    has barely begun to learn, and a threshold read off it (eta ~4) was noise. Its plot's loss axis ran from
    about 1.9 to 10, the curve a flat line at the bottom."""
    found = lr_find(TrainConfig(limit=2000), steps=200, out=tmp_path, progress=False)
    assert found.threshold is None and found.suggestion is None
    assert found.problem.startswith("the loss never fell clearly")
    low, high = y_limits(found)
    assert low <= found.smoothed.min() and high >= found.smoothed[0]  # the whole fall is on the axis
    assert high - low < 4 * (found.smoothed[0] - found.smoothed.min())  # and fills a good part of it
    steep = lr_find(TrainConfig(limit=2000, model="flatten dense(10)"), steps=200, progress=False)
    assert steep.problem == "" and 0.1 < steep.threshold < 5  # a curve that falls 55% still has its threshold


def test_tune_quick_default_model_recommends_a_model_that_learns(tmp_path, capsys):
    assert main(["tune", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # the range test's threshold (eta ~4: 0.406), or, where its curve gives none, Nielsen's rule
    assert "a tenth of that threshold" in out or "a factor of two below the threshold" in out
    summary = json.loads((tmp_path / "tune.json").read_text())
    assert summary["warning"] == "" and "AT CHANCE" not in out and "WARNING" not in out
    assert summary["val_accuracy"] > 0.8 and summary["test_accuracy"] > 0.8  # chance: ~11%
    assert 0.1 <= summary["recommendation"]["lr"] <= 1  # half of the largest eta whose cost fell: 0.5


def test_tune_says_when_runs_are_at_chance_and_warns_about_the_recommendation(tmp_path, capsys):
    argv = ["tune", "--quick", "--model", "flatten dense(10)", "--lr", "1e-7", "--limit", "300", "--epochs", "2"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    concluded = [line for line in out.splitlines() if "concluded" in line]
    assert sum("AT CHANCE" in line for line in concluded) >= 4  # steps 3, 4, 5 and 6 each say so
    assert "lambda stays 0" in out and "m stays 10" in out  # nothing was built on a chance-level run
    summary = json.loads((tmp_path / "tune.json").read_text())
    assert "does not beat chance" in summary["warning"] and "!! WARNING" in out
    assert summary["val_accuracy"] < 0.25


def test_lr_find_refuses_to_replace_an_earlier_range_test(tmp_path, capsys, cli_error):
    out = tmp_path / "lr"
    argv = ["lr-find", "--model", "flatten dense(10)", "--limit", "300", "--steps", "30", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    before = (out / "lr-find.json").read_bytes()
    assert "--overwrite to replace it" in cli_error(*argv, "--start-lr", "1e-3")
    assert (out / "lr-find.json").read_bytes() == before  # untouched
    assert main([*argv, "--start-lr", "1e-3", "--overwrite"]) == 0
    assert json.loads((out / "lr-find.json").read_text())["lrs"][0] == pytest.approx(1e-3)


def test_lr_find_offers_only_the_flags_it_uses_and_quick(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["lr-find", "--help"])
    help = capsys.readouterr().out
    for flag in ("--epochs", "--resume", "--patience", "--schedule", "--warmup", "--lr "):
        assert flag not in help
    for flag in ("--overwrite", "--quick", "--steps", "--batch-size", "--optimizer"):
        assert flag in help
    with pytest.raises(SystemExit, match="2"):
        main(["lr-find", "--epochs", "3"])
    err = capsys.readouterr().err
    assert "unknown flag --epochs 3 (did you mean --steps?)" in err and len(err.strip().splitlines()) == 1
    out = tmp_path / "quick"
    assert main(["lr-find", "--quick", "--steps", "20", "--model", "flatten dense(10)", "--out", str(out)]) == 0
    config = json.loads((out / "lr-find.json").read_text())["config"]
    assert config["data"] == "mnist-small" and config["limit"] == 2000


def test_tune_offers_only_the_flags_it_uses(capsys):
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    help = capsys.readouterr().out
    for flag in ("--resume", "--overwrite", "--patience"):  # tune stops early by its own rule
        assert flag not in help
    for flag in ("--out", "--quick", "--epochs", "--lr ", "--l2", "--batch-size", "--schedule"):
        assert flag in help
    with pytest.raises(SystemExit, match="2"):
        main(["tune", "--quick", "--resume"])
    err = capsys.readouterr().err
    assert err == (
        "layerlab tune: error: unknown flag --resume (tune does not take it: run the same command again to continue: "
        "the runs already in --out are reused); see `layerlab tune --help`\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--epochs", "2", "--limit", "300", "--model", "flatten dense(10)"],
        ["lr-find", "--limit", "300", "--steps", "30", "--model", "flatten dense(10)"],
    ],
)
def test_a_pipe_gets_plain_lines_and_no_progress_bar(tmp_path, argv):
    env = os.environ | {"PYTHONPATH": str(Path(layerlab.__file__).parent.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "layerlab", *argv, "--out", str(tmp_path / "out")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=300,
    )
    output = done.stdout.decode()  # not text=True: its universal newlines would turn the '\r' into '\n'
    assert done.returncode == 0, output
    assert "\r" not in output and "\x1b" not in output
    if argv[0] == "train":
        assert [line.split()[:2] for line in output.splitlines() if line.startswith("epoch")] == [
            ["epoch", "1:"],
            ["epoch", "2:"],
        ], output
    else:
        assert "learning rate" in output


def test_tune_does_not_call_its_epoch_cap_the_useful_number_of_epochs(tmp_path, capsys):
    """`tune --quick` concluded "about 4 epochs are useful" when 4 was the cap and the run still improved."""
    argv = ["tune", "--quick", "--model", "flatten dense(10)", "--limit", "300", "--epochs", "2"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    step3 = out[out.index("Step 3") : out.index("Step 4")]
    assert "best validation accuracy" in step3 and "at epoch 2, stopped after 2" in step3
    assert "epochs are useful" not in step3
    assert "still improving at epoch 2, the cap (--epochs): more epochs would help" in step3
