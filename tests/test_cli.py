"""The command line end to end, on the dataset shipped in the package."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time

import numpy as np
import pytest
from PIL import Image

from layerlab import cli
from layerlab.cli import main
from layerlab.cli.flags import run_directory
from layerlab.cli.interruptions import interrupted
from layerlab.rundir import RunDir

SMALL = ["--data", "mnist-small", "--limit", "300", "--epochs", "1", "--batch-size", "20", "--quiet"]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "mlp"
    assert main(["train", "--model", "flatten dense(30) relu dense(10)", *SMALL, "--out", str(out), "--lr", "0.1"]) == 0
    return out


def test_train_writes_a_complete_run(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.json", "metrics.jsonl", "result.json", "best.safetensors", "checkpoint.npz"} <= names
    result = json.loads((trained_run / "result.json").read_text())
    assert result["status"] == "completed" and result["epochs"] == 1
    assert result["test_accuracy"] > 0.5  # 300 digits, one epoch: far above chance (0.1)
    assert "mnist-small" in result["dataset"] and "embedded" in result["dataset"]
    config = json.loads((trained_run / "config.json").read_text())
    assert config["config"]["limit"] == 300 and config["dataset"]["input_shape"] == [1, 28, 28]


def test_eval_and_predict(trained_run, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "eval", str(trained_run), "--tta", "rotations")
    assert code == 0 and "test accuracy:" in out and "1,000 examples" in out
    table = [line for line in out.split("accuracy per view:\n")[1].splitlines() if line.startswith("  ")]
    views = dict(line.strip().rsplit(maxsplit=1) for line in table)  # then warnings about views, if any
    assert len(views) == 4 and "averaged" in views  # three angles and their average
    plain = float(out.split("test accuracy: ")[1].split("%")[0])
    assert plain in {float(v.rstrip("%")) for v in views.values()}  # the 0-degree view is the plain test set
    from layerlab.data import load

    digit = load("mnist-small").test.x[0, 0]
    Image.fromarray(digit).save(tmp_path / "digit.png")
    Image.fromarray(digit).resize((56, 56)).save(tmp_path / "big.png")
    code, out, _ = run_cli(capsys, "predict", str(trained_run), str(tmp_path / "digit.png"), str(tmp_path / "big.png"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"note: {tmp_path / 'digit.png'}: 28x28 light on dark, as MNIST: used as it is"
    assert lines[1].startswith(f"{tmp_path / 'digit.png'}: ") and lines[1].count("%") == 3  # the top 3 classes
    assert lines[2].startswith(f"note: {tmp_path / 'big.png'}: the digit (") and "20x20 box" in lines[2]
    assert lines[3].startswith(f"{tmp_path / 'big.png'}: ")


def test_config_file_and_flags(tmp_path, capsys):
    config = tmp_path / "lab.toml"
    config.write_text('model = "flatten dense(10)"\nepochs = 3\nlr = 0.5\nchannels_last = true\n')
    args = ("train", "--config", str(config), *SMALL, "--no-channels-last", "--out", str(tmp_path / "r"))
    code, out, _ = run_cli(capsys, *args)
    assert code == 0
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert saved["model"] == "flatten dense(10)" and saved["lr"] == 0.5
    assert saved["epochs"] == 1 and saved["channels_last"] is False  # the flags override the file


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--data", "imagenet"], "unknown dataset 'imagenet'"),
        (["train", "--model", "flatten dense(10) relu dens(3)", "--data", "mnist-small"], "unknown layer 'dens'"),
        (["train", "--device", "cuda:7", "--data", "mnist-small", "--limit", "10"], "--device"),
        (["train", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["train", "--seed", "-1", "--epochs", "1"], "--seed must be a whole number >= 0, got -1"),
        (["ensemble", "--seed", "-2", "--members", "2"], "--seed must be a whole number >= 0, got -2"),
        (["train", "--engine", "numpy", "--channels-last"], "--channels-last needs --engine torch"),
        (["eval", "no/such/run"], "not a run directory"),
        (["run", "lab9"], "unknown experiment 'lab9'"),
        (["summary", "--model", "conv(3, 5)", "--input", "1x4x4"], "kernel 5x5 is larger"),
    ],
)
def test_user_errors_are_one_clear_line(capsys, args, message):
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 5  # spec errors add a pointer under the text


def test_debug_shows_the_traceback():
    with pytest.raises(Exception, match="unknown dataset"):
        main(["train", "--data", "imagenet", "--debug"])


@pytest.mark.parametrize(
    "command", ["summary", "gradcheck", "train", "ensemble", "eval", "predict", "run", "list", "report", "datasets"]
)
def test_every_command_has_help_with_examples(command):
    result = subprocess.run([sys.executable, "-m", "layerlab", command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "examples:" in result.stdout and f"layerlab {command}" in result.stdout


def test_gradcheck_and_summary(capsys):
    code, out, _ = run_cli(capsys, "gradcheck", "--model", "input(1, 6, 6) conv(2, 3) relu flatten dense(3)")
    assert code == 0 and "all gradients agree" in out
    code, out, _ = run_cli(capsys, "summary")
    assert code == 0 and "trainable parameters: 137,660" in out  # the slides' Keras CNN


def test_ensemble_command(tmp_path, capsys):
    code, out, _ = run_cli(
        capsys, "ensemble", "--members", "2", "--model", "flatten dense(10)", *SMALL, "--out", str(tmp_path)
    )
    assert code == 0 and "majority vote:" in out
    saved = json.loads((tmp_path / "ensemble.json").read_text())
    assert len(saved["member_accuracies"]) == 2
    assert np.isclose(saved["vote_accuracy"], float(out.split("majority vote: ")[1].split("%")[0]) / 100, atol=1e-4)


def test_augmentation_errors_name_the_options(capsys):
    code, _, err = run_cli(capsys, "train", "--augment", "rotate(degree=3)", *SMALL)
    assert code == 2 and "its options: rotate(degrees=15.0)" in err
    code, _, err = run_cli(capsys, "train", "--augment", "rotat(3)", *SMALL)
    assert code == 2 and "did you mean 'rotate'" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "--epohcs", "1"], "layerlab train: error: unknown flag --epohcs 1 (did you mean --epochs?)"),
        (["train", "--epoch", "1"], "unknown flag --epoch 1 (did you mean --epochs?)"),  # no silent abbreviation
        (["train", "--learning-rate", "0.1"], "unknown flag --learning-rate 0.1 (did you mean --lr?)"),
        (["train", "--lambda=0.1"], "unknown flag --lambda=0.1 (did you mean --l2?)"),
        (["summary", "--learning-rate", "0.1"], "unknown flag --learning-rate 0.1; see"),  # summary has no --lr
        (["run", "lab4a", "--quik"], "layerlab run: error: unknown flag --quik (did you mean --quick?)"),
        (["train", "--limit", "abc"], "layerlab train: error: argument --limit: invalid int value: 'abc'"),
        (["train", "--lr", "inf"], "--lr inf: expected a finite number (learning rate (eta))"),
        (["train", "--out", "nothing-here", "--resume"], "--resume: nothing-here holds no run to continue"),
    ],
)
def test_a_wrong_flag_is_one_line_naming_the_command(argv, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with contextlib.suppress(SystemExit):
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "nothing-here").exists()


# ---------------------------------------------------------------------------------------------------
# What a new user met: Ctrl-C, a closed pipe, a flag from another tool, files written where, ...
# ---------------------------------------------------------------------------------------------------

#: 8,000 steps in an epoch: its progress bar is showing for seconds
LONG_EPOCH = ["--model", "flatten dense(30) relu dense(10)", "--data", "mnist-small", "--batch-size", "1"]
RESUME = "interrupted; to continue, run the same command with --resume"
AGAIN = "interrupted; run the same command again to continue"
#: an experiment of one run with LONG_EPOCH's settings: still training when the signal comes (a quick
#: built-in run could end first, and a signal that lands while Python shuts down kills it outright)
LONG_EXPERIMENT = """name = "long"
[settings]
data = "mnist-small"
model = "flatten dense(30) relu dense(10)"
batch_size = 1
[[runs]]
name = "long-run"
"""
LONG_RUN = ["run", "long.toml", "--out", "lab"]


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("argv", "terminal", "started", "hint"),
    [
        (["train", *LONG_EPOCH, "--out", "run"], True, "epoch 1/", RESUME),
        (["train", *LONG_EPOCH], True, "epoch 1/", "interrupted"),  # nothing was written: nothing to continue
        (["train", *LONG_EPOCH, "--out", "run"], False, "epoch 1: ", RESUME),  # a log file: no bar, no blank line
        (LONG_RUN, False, "[1/1] long-run", AGAIN),
        (["playground", "--no-browser", "--port", "FREE"], False, "http://", "interrupted"),
    ],
    ids=["train-out", "train", "train-out-logged", "run", "playground"],
)
def test_ctrl_c_says_how_to_continue_on_a_line_of_its_own(tmp_path, argv, terminal, started, hint):
    """A real process and a real SIGINT, as Ctrl-C in a terminal sends (the child gets the default handler
    back: a shell or CI that started the tests in the background may have them ignore SIGINT). Its stderr
    is a terminal (a pseudo-terminal, 100 columns: the progress bar shows) or a file."""
    out = tmp_path / "stdout"
    (tmp_path / "long.toml").write_text(LONG_EXPERIMENT)
    if "FREE" in argv:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            argv = [str(s.getsockname()[1]) if a == "FREE" else a for a in argv]
    reader, writer = pty.openpty() if terminal else os.pipe()
    if terminal:
        fcntl.ioctl(writer, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    err = bytearray()

    def read_err() -> str:
        while select.select([reader], [], [], 0)[0]:
            try:
                chunk = os.read(reader, 65536)
            except OSError:  # a terminal whose other end closed
                break
            if not chunk:
                break
            err.extend(chunk)
        return err.decode(errors="replace").replace("\r\n", "\n")  # a terminal sends \r\n for \n

    with out.open("w") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "layerlab", *argv],
            cwd=tmp_path,
            stdout=stdout,
            stderr=writer,
            preexec_fn=default_sigint,
        )
    os.close(writer)
    try:
        deadline = time.monotonic() + 120
        while started not in out.read_text() + read_err() and process.poll() is None:
            assert time.monotonic() < deadline, (out.read_text(), read_err())
            time.sleep(0.05)
        while argv[0] == "playground" and time.monotonic() < deadline:  # serving, not still starting up
            try:
                socket.create_connection(("127.0.0.1", int(argv[-1])), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130, read_err()
        text = read_err()
    finally:
        process.kill()
        os.close(reader)
    before, line = text.rsplit(f"layerlab {argv[0]}: ", 1)
    assert line.split("\n")[0] == hint and "Traceback" not in text
    if terminal:  # the epoch's bar was showing: the line starts under it, not after it
        assert before.endswith("\n") and "epoch 1/10:" in before.split("\n")[-2] and "%|" in before
    else:
        assert before == ""


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_ctrl_c_or_sigterm_keeps_every_epoch_that_was_printed(tmp_path, sig, status):
    """Checkpoints are written at most every 5 s, but Ctrl-C (or SIGTERM) writes the last finished epoch
    before the command ends: a student who saw 4 epochs printed resumes after epoch 4 or later, not 1."""
    argv = ["train", "--data", "circle", "--model", "dense(8) tanh dense(2)", "--batch-size", "1", "--epochs", "1000"]
    argv += ["--engine", "numpy", "--out", "run"]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "layerlab", *argv],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=default_sigint,
    )
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("epoch 4: "):  # about 0.3 s in: long before a 5 s write is due
                break
        process.send_signal(sig)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == status and err.strip() == f"layerlab train: {RESUME}", err
    lines += out.splitlines()
    printed = max(int(line.split(":")[0].split()[1]) for line in lines if line.startswith("epoch "))
    run = RunDir(tmp_path / "run")
    kept = run.read_checkpoint()[1]["epoch"]
    assert printed <= kept <= printed + 1 and len(run.read_metrics()) == kept  # +1: the signal came before its line
    resumed = subprocess.run(
        [sys.executable, "-m", "layerlab", "train", "--out", "run", "--resume", "--epochs", str(kept + 1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"resuming run after epoch {kept}\n" in resumed.stdout, resumed.stdout + resumed.stderr


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["search", "search-mlp"], AGAIN.removeprefix("interrupted")),
        (["tune"], AGAIN.removeprefix("interrupted")),
        (["ensemble", "--out", "nowhere"], ""),  # no run there yet: nothing to --resume
        (["summary"], ""),
        (["eval", "runs/x"], ""),
    ],
)
def test_the_interrupt_hint_of_each_command(argv, hint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = cli.parser().parse_args(argv)
    args.run_dir = run_directory(args)
    assert interrupted(args) == f"layerlab {argv[0]}: interrupted{hint}"


@pytest.mark.parametrize(
    ("flags", "hint"),
    [([], RESUME), (["--overwrite"], RESUME), (["--resume"], "interrupted; to continue, run the same command again")],
)
def test_the_interrupt_hint_of_a_run_that_is_there(flags, hint, tmp_path, monkeypatch):
    """Ctrl-C in `train --out DIR` once DIR holds a run: continue it (again, when it was resumed already)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "x").mkdir(parents=True)
    (tmp_path / "runs" / "x" / "config.json").write_text("{}")
    args = cli.parser().parse_args(["train", "--out", "runs/x", *flags])
    args.run_dir = run_directory(args)
    assert args.run_dir.mode == {"--overwrite": "overwrite", "--resume": "resume"}.get(next(iter(flags), ""), "new")
    assert interrupted(args) == f"layerlab train: {hint}"


@pytest.mark.parametrize("argv", [["explain", "--format", "json"], ["list"]])
def test_a_closed_pipe_ends_quietly(argv):
    """`layerlab explain --format json | head -c 400`: the reader went away before the output was written."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "layerlab", *argv], stdout=write, stderr=subprocess.PIPE, text=True, timeout=120
        )
    finally:
        os.close(write)
    assert result.stderr == "" and result.returncode == 141  # 128 + SIGPIPE, as `cat` ended by `head`


def test_train_and_ensemble_without_out_say_nothing_was_saved(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "train", "--model", "flatten dense(10)", *SMALL)
    assert code == 0 and out.splitlines()[-1] == "not saved: add --out DIR to keep the weights and a report"
    assert list(tmp_path.iterdir()) == []
    code, out, _ = run_cli(capsys, "ensemble", "--members", "2", "--model", "flatten dense(10)", *SMALL)
    assert code == 0 and "majority vote:" in out
    assert out.splitlines()[-1] == "not saved: add --out DIR to keep the weights and a report"
    assert list(tmp_path.iterdir()) == []


def test_a_models_own_input_must_match_the_data(capsys):
    code, _, err = run_cli(capsys, "train", "--model", "input(2) dense(3) tanh dense(2)", *SMALL)
    assert code == 2 and err == (
        "layerlab train: error: the model declares input(2) but mnist-small gives 1x28x28: leave input(...) out of "
        "the model, or make the two agree\n"
    )
    code, _, err = run_cli(capsys, "summary", "--model", "input(784) dense(10)", "--input", "1x28x28")
    assert code == 2 and "the model declares input(784) but --input gives 1x28x28" in err
    code, out, _ = run_cli(capsys, "train", "--model", "input(1, 28, 28) flatten dense(10)", *SMALL)
    assert code == 0 and out.startswith("test accuracy ")  # the same shape: fine


def test_plot_says_where_it_wrote_and_replaces_only_with_overwrite(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "plot", "activations")
    png = tmp_path / "activations.png"
    assert code == 0 and out == f"wrote {png}\n" and png.stat().st_size > 30_000
    png.write_text("mine")
    code, _, err = run_cli(capsys, "plot", "activations")
    assert (
        code == 2 and err == f"layerlab plot: error: {png} exists: give another --out, or --overwrite to replace it\n"
    )
    assert png.read_text() == "mine"
    code, out, _ = run_cli(capsys, "plot", "activations", "--overwrite")
    assert code == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_list_shows_the_searches_and_how_to_run_them(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and "\n  search-mlp " in out and "\n  search-cnn " in out and "\n  lab4a " in out
    assert "`layerlab search search-mlp --quick`" in out and "`layerlab run lab4a --quick`" in out
    assert out.index("lab4a") < out.index("searches") < out.index("search-mlp ")
