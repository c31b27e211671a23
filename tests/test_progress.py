"""Progress of `layerlab run`: plain lines in a pipe (one per epoch), live lines in a terminal, and the
workers of --jobs reporting to the parent, all with real processes and real training."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import layerlab
from layerlab.progress import Display, RunProgress, duration

EXPERIMENT = textwrap.dedent(
    """
    name = "progress"
    title = "Progress check"
    [settings]
    data = "xor"
    data_options = { n = 200 }
    val = 0.2
    model = "dense(4) tanh dense(2)"
    epochs = 3
    batch_size = 10
    [[runs]]
    name = "small"
    exercise = "A"
    [[runs]]
    name = "wide"
    exercise = "A"
    model = "dense(16) tanh dense(2)"
    [[runs]]
    name = "vote"
    exercise = "B"
    members = 2
    """
)
EPOCH_LINE = re.compile(
    r"^(?P<run>[\w -/]+): epoch (?P<epoch>\d)/3: train loss \d\.\d{4} acc [\d.]+% \| val loss \d\.\d{4} acc [\d.]+% \| "
    r"test acc [\d.]+% \| [\d.]+ s \| ETA \d+:\d\d$"
)


def run_cli(tmp_path: Path, *flags: str) -> str:
    """`layerlab run` in a real process whose output goes into a pipe, as in a log or `| tee`."""
    (tmp_path / "progress.toml").write_text(EXPERIMENT)
    env = os.environ | {"PYTHONPATH": str(Path(layerlab.__file__).parent.parent)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "layerlab",
            "run",
            str(tmp_path / "progress.toml"),
            "--out",
            str(tmp_path / "out"),
            "--engine",
            "numpy",
            *flags,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def epochs_by_run(output: str) -> dict[str, list[int]]:
    runs: dict[str, list[int]] = {}
    for line in output.splitlines():
        if match := EPOCH_LINE.match(line):
            runs.setdefault(match["run"], []).append(int(match["epoch"]))
    return runs


def test_a_pipe_gets_one_plain_line_per_epoch(tmp_path):
    output = run_cli(tmp_path)
    assert "\x1b" not in output and "\r" not in output  # no terminal control characters in a log
    assert epochs_by_run(output) == {
        "small": [1, 2, 3],
        "wide": [1, 2, 3],
        "vote member 1/2": [1, 2, 3],
        "vote member 2/2": [1, 2, 3],
    }
    assert re.search(r"^small: test accuracy [\d.]+% at epoch \d", output, re.M)  # each run's last line
    assert output.index("[1/3] small") < output.index("small: epoch 1/3") < output.index("[2/3] wide")


def test_jobs_workers_report_every_epoch_to_the_parent(tmp_path):
    output = run_cli(tmp_path, "--jobs", "2")
    assert "\x1b" not in output
    assert epochs_by_run(output) == {
        "small": [1, 2, 3],
        "wide": [1, 2, 3],
        "vote member 1/2": [1, 2, 3],
        "vote member 2/2": [1, 2, 3],
    }
    results = re.findall(r"^([\w -/]+): test accuracy [\d.]+% at epoch \d", output, re.M)
    assert sorted(results) == ["small", "vote member 1/2", "vote member 2/2", "wide"]  # each once, not twice


def test_quiet_shows_no_epochs(tmp_path):
    assert epochs_by_run(run_cli(tmp_path, "--quiet")) == {}


def test_a_terminal_gets_one_live_line_per_run_redrawn_in_place():
    screen = io.StringIO()
    display = Display(log=lambda line: screen.write(line + "\n"), live=True, stream=screen, interval=0)
    hook = RunProgress("toy", display.event, interval=0)
    layerlab.fit(
        model="dense(4) tanh dense(2)",
        data="xor",
        data_options={"n": 100},
        val=0.2,
        epochs=2,
        batch_size=10,
        engine="numpy",
        quiet=True,
        hooks=[hook],
    )
    display.close()
    text = screen.getvalue()
    live = re.findall(r"\x1b\[2K(toy: epoch \d/2 step \d+/\d+[^\n]*)\n", text)
    assert live[0] == "toy: epoch 1/2 step 0/4"  # 40 training points in batches of 10
    assert any(re.search(r"^toy: epoch 2/2 step \d/4 \| val acc [\d.]+%", line) for line in live)  # epoch 1's
    assert any(re.search(r"step \d/4 loss \d\.\d{4} \| val acc [\d.]+% \| ETA \d+:\d\d$", line) for line in live)
    assert "\x1b[1F" in text  # moved up to redraw the line in place
    assert "\x1b[2Ktoy: epoch 2/2: train loss" in text  # the epoch's line replaces the step line
    assert re.search(r"\x1b\[1F\x1b\[Jtoy: test accuracy [^\n]+\[completed\]\n$", text)  # the end replaces the line


def test_compile_says_it_is_compiling_before_it_does():
    events = []
    hook = RunProgress("c", lambda run, kind, text: events.append((kind, text)))

    class LoopState:  # only what the hook reads at the start of a run
        history: list = []

        class config:  # noqa: N801
            compile = "default"

    hook.on_fit_start(LoopState())
    assert events == [("note", "c: compiling the model (--compile default): the first steps take 20 s or more")]


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (75.4, "1:15"), (3725, "1:02:05")])
def test_duration(seconds, text):
    assert duration(seconds) == text
