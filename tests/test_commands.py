"""The command line from Python (``layerlab.run``, ``report``, ``explain``, ``exercise``, ``check``, ``lr_find``,
``tune``, ``plot``, ``notebook``, ``playground``): the same checks and one-line errors as the commands, and
results that show themselves in a notebook (``_repr_html_``, a readable ``__repr__``, matplotlib figures).

The experiments here are tiny (TensorFlow Playground's XOR, two epochs); the notebooks themselves are
executed in test_notebooks.py.
"""

from __future__ import annotations

import html
import io
import json
import textwrap
import urllib.error
import urllib.request
from functools import partial

import pytest
from matplotlib.figure import Figure

import layerlab
from layerlab.cli import main
from layerlab.errors import LayerlabError
from layerlab.report.columns import explanation
from layerlab.report.html_page import html_table

TINY = textwrap.dedent(
    """
    name = "tiny"
    title = "Tiny: XOR with 4 or 8 tanh units"
    description = "Two runs on TensorFlow Playground's XOR."
    [settings]
    data = "xor"
    engine = "numpy"
    model = "dense(4) tanh dense(2)"
    epochs = 2
    batch_size = 10
    lr = 0.03
    [[runs]]
    name = "four"
    exercise = "Units"
    [[runs]]
    name = "eight"
    exercise = "Units"
    model = "dense(8) tanh dense(2)"
    """
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny experiment, run once through ``layerlab.run`` (its progress lines collected)."""
    folder = tmp_path_factory.mktemp("tiny")
    path = folder / "tiny.toml"
    path.write_text(TINY)
    lines: list[str] = []
    return layerlab.run(path, out=folder / "out", log=lines.append, progress=False), lines


def test_run_returns_the_experiment_with_its_runs_table_and_report(tiny):
    experiment, lines = tiny
    assert isinstance(experiment, layerlab.Experiment)
    assert lines[0].startswith("Tiny: XOR with 4 or 8 tanh units: 2 runs, 0 already finished")
    assert experiment.page == experiment.directory / "report.html" and experiment.page.is_file()
    assert [row.run for row in experiment.rows] == ["four", "eight"]
    assert all(row.status == "done" and 0.3 < row.test_accuracy <= 1 for row in experiment.rows)
    assert experiment.failed == []
    run = experiment.runs["eight"]
    assert isinstance(run, layerlab.Run) and run.config.model == "dense(8) tanh dense(2)"
    assert run.result.epochs == 2


def test_a_repeated_run_shows_the_figures_of_its_row_and_says_whose_weights_it_holds(tmp_path):
    """Lab 4A's quick ex1-mlp showed 93.4%-96.1%, one seed's Wilson interval, beside its row's 93.0-95.9 (the
    mean over 3 seeds)."""
    path = tmp_path / "repeated.toml"
    path.write_text(TINY.replace('name = "four"\n', 'name = "four"\nrepeats = 3\n'))
    experiment = layerlab.run(path, out=tmp_path / "out", log=lambda line: None, progress=False)
    row = next(row for row in experiment.rows if row.run == "four")
    assert row.repeats == 3 and row.low < row.test_mean < row.high
    run = experiment.runs["four"]
    assert run.repeated.shown == row.best_repeat and run.directory == experiment.runs[row.best_repeat].directory
    lines = repr(run).splitlines()
    mean, low, high = (f"{100 * value:.2f}%" for value in (row.test_mean, row.low, row.high))
    assert lines[1] == (
        f"four: mean test accuracy {mean} over 3 seeds (95% interval {low} to {high}); the weights and the result "
        f"below are one seed's, {row.best_repeat}'s"
    )
    assert row.interval == f"{100 * row.low:.1f}–{100 * row.high:.1f}"  # the row's figures, to fewer digits
    assert lines[2].startswith(f"test accuracy {100 * row.test_accuracy:.2f}% at epoch")  # that seed's own
    assert f"<b>{html.escape(lines[1])}</b>" in run._repr_html_()
    assert "seeds" not in repr(experiment.runs["four#2"])  # a repeat by its own name: that seed alone


def test_the_experiment_shows_the_reports_own_table_and_figures_inline(tiny):
    experiment, _ = tiny
    shown = experiment._repr_html_()
    rows = experiment.rows
    # the report's table model through its one HTML renderer: new columns and sentences appear here too
    assert html_table(rows, False) in shown
    assert html.escape(explanation(rows, False)) in shown
    assert shown.count('src="data:image/png;base64,') >= 2  # learning curves, decision boundaries...
    assert shown.startswith('<div class="layerlab-report">') and "<body" not in shown and "<html" not in shown
    assert "\nbody {" not in shown and ".layerlab-report table {" in shown  # the page's stylesheet, scoped
    text = repr(experiment)
    assert text.startswith("Tiny: XOR with 4 or 8 tanh units: 2 runs, 2 done, 0 failed, 0 pending")
    assert "four" in text and "eight" in text and text.endswith(f"report: {experiment.page}")


def test_the_experiments_figures_are_matplotlib_figures(tiny):
    experiment, _ = tiny
    curves = experiment.figure("curves")
    assert isinstance(curves, Figure) and len(curves.axes) == 2
    assert experiment.figure_names[0] == "curves-units"
    assert "boundaries-units" in experiment.figure_names
    assert all(isinstance(figure, Figure) for figure in experiment.figures)
    assert len(experiment.figures) == len(experiment.figure_names) >= 3
    with pytest.raises(LayerlabError, match="no figure 'nothing'; it has: curves-units, "):
        experiment.figure("nothing")


def test_run_again_reuses_the_finished_runs(tiny):
    experiment, _ = tiny
    lines: list[str] = []
    again = layerlab.run(experiment.directory.parent / "tiny.toml", out=experiment.directory, log=lines.append)
    assert lines[0].endswith("2 runs, 2 already finished")
    assert [row.test_accuracy for row in again.rows] == [row.test_accuracy for row in experiment.rows]


def test_run_refuses_what_the_command_refuses_with_its_line(cli_error, tmp_path):
    with pytest.raises(LayerlabError, match="--jobs is the number of processes training side by side, at least 1"):
        layerlab.run("lab4a", quick=True, jobs=0, out=tmp_path / "never")
    line = cli_error("run", "lab4a", "--quick", "--jobs", "0", "--out", str(tmp_path / "never"))
    assert "--jobs is the number of processes training side by side, at least 1, got 0" in line
    assert not (tmp_path / "never").exists()  # refused before anything was written or trained
    with pytest.raises(LayerlabError) as raised:
        layerlab.run("lab4z", quick=True)
    assert str(raised.value) in cli_error("run", "lab4z", "--quick")


def test_report_of_run_directories_side_by_side(tiny, tmp_path):
    experiment, _ = tiny
    runs = [experiment.directory / row.directory for row in experiment.rows]
    compared = layerlab.report(*runs, out=tmp_path / "both")
    assert compared.page == tmp_path / "both" / "report.html"
    assert len(compared.rows) == 2 and "<table>" in compared._repr_html_()
    assert layerlab.report(experiment.directory).page == experiment.page
    with pytest.raises(LayerlabError, match="give an experiment directory, or run directories to compare"):
        layerlab.report()
    with pytest.raises(LayerlabError, match="an experiment's report goes into its own directory"):
        layerlab.report(experiment.directory, out=tmp_path / "elsewhere")


def test_a_run_plots_its_curves_and_shows_itself():
    run = layerlab.fit(model="dense(4) tanh dense(2)", data="xor", engine="numpy", epochs=3, quiet=True)
    curves = run.plot("curves")
    assert isinstance(curves, Figure) and [len(ax.lines) > 0 for ax in curves.axes] == [True, True]
    assert repr(run).startswith("Run: dense(4) tanh dense(2) on xor\ntest accuracy ")
    shown = run._repr_html_()
    assert "<code>dense(4) tanh dense(2)</code>" in shown and 'src="data:image/png;base64,' in shown
    with pytest.raises(LayerlabError, match="no 'confusion' figure .*trained without out=.*: curves, gradients"):
        run.plot("confusion")


def test_a_model_spec_shows_its_summary_table():
    spec = layerlab.parse("input(1, 28, 28) conv(20, 5) relu maxpool(2) flatten dense(10)")
    assert repr(spec) == f"model: {spec}\n{spec.summary()}"
    shown = spec._repr_html_()
    assert "<td>20 x 24 x 24</td>" in shown and "28,810" in shown and "trainable parameters: 29,330" in shown
    assert "no input shape" in repr(layerlab.parse("dense(10)"))


def test_explain_is_the_commands_trace_with_numbers_text_and_markdown(capsys):
    trace = layerlab.explain()
    assert trace.value("w5+") == pytest.approx(0.35891648, abs=1e-8)  # Mazur's updated w5
    assert trace.values["out_h1"] == pytest.approx(0.593269992, abs=1e-9)
    assert main(["explain", "--format", "markdown"]) == 0
    assert capsys.readouterr().out == trace.markdown + "\n" == trace._repr_markdown_() + "\n"
    assert main(["explain"]) == 0
    assert capsys.readouterr().out == trace.text + "\n" == repr(trace) + "\n"
    shown = trace._repr_html_()
    assert shown.count("<table>") == len({step.section for step in trace.steps})
    assert "<td><code>w5+</code></td>" in shown
    with pytest.raises(LayerlabError, match="--lr -1: the learning rate must be a number > 0"):
        layerlab.explain(lr=-1)


SOLUTION = textwrap.dedent(
    """
    import numpy as np


    class MyDense:
        kind = "dense"

        def __init__(self, name, weight, bias=None):
            self.name, self.params, self.buffers = name, {"weight": weight}, {}
            if bias is not None:
                self.params["bias"] = bias

        def forward(self, x, args=None):
            self.x = x
            return x @ self.params["weight"].T + self.params.get("bias", 0.0)

        def backward(self, dy, args=None):
            grads = {"weight": dy.T @ self.x}
            if "bias" in self.params:
                grads["bias"] = dy.sum(axis=0)
            return dy @ self.params["weight"], grads


    class MyReLU:
        kind = "relu"

        def __init__(self, name):
            self.name, self.params, self.buffers = name, {}, {}

        def forward(self, x, args=None):
            self.x = x
            return np.maximum(x, 0)

        def backward(self, dy, args=None):
            return dy * (self.x > 0.5)  # wrong: the threshold is 0
    """
)


def test_exercise_then_check_grades_each_layer_and_case(tmp_path, cli_error):
    starter = layerlab.exercise("dense", "relu", out=tmp_path / "my_layers.py")
    assert starter == tmp_path / "my_layers.py" and "class MyDense" in starter.read_text()
    with pytest.raises(LayerlabError, match="exists: layerlab never replaces your file"):
        layerlab.exercise("relu", out=starter)
    grade = layerlab.check(starter)
    assert not grade.ok and [layer.name for layer in grade.layers] == ["MyDense", "MyReLU"]
    first = grade.cases()[0]
    assert first[:2] == ("MyDense", "dense") and first[3].startswith("FAILED: forward is not written yet")

    mine = tmp_path / "mine.py"
    mine.write_text(SOLUTION)
    grade = layerlab.check(mine)
    assert grade.layer("MyDense").failure == "" and grade.layer("MyReLU").failure != ""
    results = {(name, result.split(":")[0]) for name, _, _, result in grade.cases()}
    assert ("MyDense", "passed") in results and ("MyReLU", "FAILED") in results
    shown = grade._repr_html_()
    assert "some cases failed" in shown and shown.count("passed</td>") == len(grade.layer("MyDense").passed)
    assert repr(grade).startswith("MyDense (dense): passed all")
    with pytest.raises(LayerlabError, match="--epochs must be a whole number, at least 1, got 0"):
        layerlab.check(mine, epochs=0)


def test_lr_find_and_tune_refuse_as_the_commands_do(cli_error):
    with pytest.raises(LayerlabError) as raised:
        layerlab.lr_find(steps=5)
    assert str(raised.value) == "--steps must be a whole number >= 10, got 5"
    assert cli_error("lr-find", "--steps", "5").strip() == f"layerlab lr-find: error: {raised.value}"
    # tune checked its settings only as it trained them: epochs 0 ran step 1 first, an unknown optimiser
    # ended in a KeyError's traceback
    with pytest.raises(LayerlabError) as raised:
        layerlab.tune(epochs=0)
    assert cli_error("tune", "--epochs", "0").strip() == f"layerlab tune: error: {raised.value}"
    assert "epochs" in str(raised.value)
    with pytest.raises(LayerlabError) as raised:
        layerlab.tune(quick=True, optimizer="nope")
    assert "optimizer" in str(raised.value) and "sgd" in str(raised.value)


def test_plot_draws_the_teaching_figure_and_refuses_others():
    figure = layerlab.plot("activations")
    assert isinstance(figure, Figure) and len(figure.axes) >= 8
    with pytest.raises(LayerlabError, match="no figure 'weights'; choose activations"):
        layerlab.plot("weights")


def test_notebook_copies_one_out_and_never_over_a_file(tmp_path, capsys, cli_error):
    from layerlab.commands import NOTEBOOKS, notebook_path

    copy = layerlab.notebook("lab4a", tmp_path)
    assert copy == tmp_path / "lab4a.ipynb" and copy.read_bytes() == notebook_path("lab4a").read_bytes()
    assert "".join(json.loads(copy.read_text())["cells"][0]["source"]).startswith("# Lab 4A")
    with pytest.raises(LayerlabError, match="lab4a.ipynb exists: layerlab never replaces your file"):
        layerlab.notebook("lab4a", tmp_path)
    copy.write_text("my own work")
    assert "never replaces your file" in cli_error("notebook", "lab4a", "--out", str(tmp_path))
    assert copy.read_text() == "my own work"
    assert main(["notebook", "backprop", "--out", str(tmp_path / "mine.ipynb")]) == 0
    assert f"wrote {tmp_path / 'mine.ipynb'}" in capsys.readouterr().out
    line = cli_error("notebook", "lab5")
    assert "no notebook 'lab5'; choose one of lab4a, lab4b, nielsen, backprop" in line
    assert "does not exist" in cli_error("notebook", "lab4a", "--out", str(tmp_path / "no" / "such"))
    assert main(["notebook"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in NOTEBOOKS)


def test_playground_serves_in_the_background_and_stops():
    playground = layerlab.playground()
    try:
        with urllib.request.urlopen(playground.url, timeout=10) as response:
            assert response.status == 200
            policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self' http://127.0.0.1:* http://localhost:*" in policy  # a notebook may frame it
        assert f'<iframe src="{playground.url}"' in playground._repr_html_()
        assert repr(playground) == f"layerlab playground: {playground.url} (serving; .stop() stops it)"
    finally:
        playground.stop()
    assert not playground.running
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(playground.url, timeout=5)
    with pytest.raises(LayerlabError, match="port must be from 1 to 65535"):
        layerlab.playground(port=70000)


def test_the_command_lines_playground_still_refuses_frames():
    from starlette.testclient import TestClient

    from layerlab.playground import create_app

    app = create_app(hosts=frozenset({"testserver"}))  # the test client's Host name
    policy = TestClient(app).get("/").headers["Content-Security-Policy"]
    assert policy.endswith("frame-ancestors 'none'")


def test_notebook_progress_draws_a_bar_per_run_and_prints_the_lasting_lines():
    """A real run's progress events (``RunProgress``) into ``NotebookProgress`` with text-mode tqdm bars."""
    from tqdm.std import tqdm

    from layerlab.live import NotebookProgress
    from layerlab.progress import RunProgress

    lines: list[str] = []
    bars = []

    def bar(**options):
        bars.append(tqdm(file=io.StringIO(), **options))
        return bars[-1]

    display = NotebookProgress(lines.append, bar=bar)
    for name in ("a", "b"):
        layerlab.fit(
            model="dense(4) tanh dense(2)",
            data="xor",
            engine="numpy",
            epochs=3,
            batch_size=50,
            quiet=True,
            hooks=[RunProgress(name, display.event, interval=0.0)],
        )
    assert [b.desc for b in bars] == ["a", "b"]
    steps = 5  # 250 training points of XOR in batches of 50
    assert [(b.total, b.n) for b in bars] == [(3 * steps, 3 * steps)] * 2
    assert all(b.disable for b in bars)  # closed
    assert bars[0].postfix == "finished"
    assert [line.split(":")[0] for line in lines] == ["a", "b"] and "test accuracy" in lines[0]
    assert display.bars == {}


def test_notebook_progress_shows_the_parallel_runs_of_an_experiment(tmp_path):
    from tqdm.std import tqdm

    from layerlab.experiments import load_experiment, run_experiment
    from layerlab.live import NotebookProgress

    path = tmp_path / "tiny.toml"
    path.write_text(TINY.replace("epochs = 2", "epochs = 3"))
    bars = []

    def bar(**options):
        bars.append(tqdm(file=io.StringIO(), **options))
        return bars[-1]

    display = NotebookProgress(lambda line: None, bar=bar)
    run_experiment(load_experiment(str(path)), tmp_path / "out", jobs=2, log=lambda line: None, display=display)
    assert sorted(b.desc for b in bars) == ["eight", "four"]
    assert all(b.n == b.total == 3 * 25 for b in bars)  # 250 points, batches of 10, 3 epochs


def test_live_curve_redraws_after_every_epoch():
    from layerlab.live import LiveCurve

    shown: list[bytes] = []
    live = LiveCurve(show=shown.append)
    settings = {"model": "dense(4) tanh dense(2)", "data": "xor", "val": 0.2, "engine": "numpy", "quiet": True}
    layerlab.fit(epochs=3, hooks=[live], **settings)
    assert len(shown) == 3 and all(png.startswith(b"\x89PNG") for png in shown)
    loss, accuracy = live.figure.axes
    assert [len(line.get_xdata()) for line in loss.lines] == [3, 3]  # training and validation, 3 epochs each
    assert accuracy.get_ylabel() == "accuracy"
    every_two = LiveCurve(every=2, show=shown.append)
    layerlab.fit(epochs=3, hooks=[every_two], **settings)
    assert every_two.drawn == 2  # epochs 2 and 3 (the last)
    with pytest.raises(LayerlabError, match="counts epochs: a whole number from 1, got 0"):
        partial(LiveCurve, every=0)()
