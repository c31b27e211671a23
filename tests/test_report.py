"""Reports: the table's numbers, Markdown and terminal tables, plots, the self-contained HTML file.

The experiment directories are fakes in the runner's layout (layerlab/experiments/execute.py): three
exercises with a failed, a pending, an ensemble, a conv and a Playground run.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerlab.errors import LayerlabError
from layerlab.report import (
    QUICK_NOTE,
    ReportError,
    compare,
    make_plots,
    markdown_table,
    print_summary,
    table,
    terminal_table,
    write_report,
)
from layerlab.report.verdicts import conclusion
from layerlab.rundir import RunDir

DIGITS = [str(d) for d in range(10)]
MLP = "dense(100) sigmoid dense(10)"
CNN = "conv(6, 5) relu maxpool(2) conv(8, 3) relu flatten dense(10)"
LONG_SPEC = "conv(32, 3) relu conv(32, 3) relu maxpool(2) conv(64, 3) relu conv(64, 3) relu maxpool(2)"
ERROR = "the loss became nan at epoch 2 | try a smaller --lr"

# The PNGs of the fixture: curves and gradients per exercise, boundaries for the Playground one, and
# for each exercise's best run (ex1-mlp, ex2-cnn, pg-circle) what its files allow.
EXPECTED_PLOTS = {
    "curves-exercise-1-mlp-vs-linear",
    "gradients-exercise-1-mlp-vs-linear",
    "confusion-ex1-mlp",
    "misclassified-ex1-mlp",
    "curves-exercise-2-cnn",
    "gradients-exercise-2-cnn",
    "confusion-ex2-cnn",
    "misclassified-ex2-cnn",
    "filters-ex2-cnn",
    "curves-playground-circle",
    "gradients-playground-circle",
    "boundaries-playground-circle",
    "confusion-pg-circle",
}


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value))


def write_run(
    directory: Path,
    best_val: float,
    test: float,
    final_test: float,
    *,
    epochs: int = 3,
    seconds: float = 2.0,
    classes=DIGITS,
    task: str = "classification",
    weights=None,
    settings=None,
    gradients=("0.weight", "2.weight", "4.weight"),
    result=None,
    val_accuracies=None,
    input_shape=(1, 8, 8),
) -> None:
    """A finished run directory: config, metrics (validation best at the last epoch), result, weights."""
    run = RunDir(directory).claim()
    dataset = {"name": "fake", "input_shape": list(input_shape), "classes": list(classes), "task": task}
    run.write_config({"model": MLP, "data": "fake", "epochs": epochs} | (settings or {}), dataset)
    history = [
        {
            "epoch": e,
            "lr": 0.1,
            "train_loss": 1.0 / e,
            "train_accuracy": best_val - 0.02 * (epochs - e),
            "val_loss": 1.1 / e,
            "val_accuracy": best_val - 0.03 * (epochs - e),
            "test_loss": 1.2 / e,
            "test_accuracy": test,
            "seconds": seconds * e / epochs,
            "grad_norms": {name: 10.0**i / 100 / e for i, name in enumerate(gradients)},
        }
        for e in range(1, epochs + 1)
    ]
    for epoch, accuracy in zip(history, val_accuracies or [], strict=False):
        epoch["val_accuracy"] = float(accuracy)
    run.write_metrics(history)
    result = {
        "status": "completed",
        "epochs": epochs,
        "best_epoch": epochs,
        "best_val_accuracy": best_val,
        "test_accuracy": test,
        "final_val_accuracy": best_val,
        "final_test_accuracy": final_test,
        "seconds": seconds,
        "dataset": "fake",
        "engine": "numpy",
        "message": "",
    } | (result or {})
    run.write_result(result)
    rng = np.random.default_rng(0)
    weights = weights or {"0.weight": rng.normal(size=(100, 64)), "2.weight": rng.normal(size=(10, 100))}
    run.save_weights("best", {k: np.asarray(v, np.float32) for k, v in weights.items()}, {"spec": MLP})
    run.release()


def write_predictions(directory: Path, classes: int, wrong: int, images: bool = True, n: int = 60) -> None:
    """Test labels with the first ``wrong`` predictions off by one class, and the misclassified inputs."""
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, classes, n)
    y_pred = y_true.copy()
    y_pred[:wrong] = (y_true[:wrong] + 1) % classes
    x = rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8) if images else rng.normal(size=(n, 2))
    kept = np.flatnonzero(y_pred != y_true)[:36]
    RunDir(directory).write_arrays(
        RunDir.PREDICTIONS,
        y_true=y_true,
        y_pred=y_pred,
        proba=np.eye(classes)[y_pred],
        mis_x=x[kept],
        mis_true=y_true[kept],
        mis_pred=y_pred[kept],
    )


def write_boundary(directory: Path, regression: bool = False) -> None:
    rng = np.random.default_rng(2)
    xx, yy = np.meshgrid(np.linspace(-6, 6, 40), np.linspace(-6, 6, 40))
    p = np.tanh(xx / 6) if regression else 1 / (1 + np.exp(xx**2 + yy**2 - 9))
    points = rng.uniform(-5, 5, (80, 2))
    if regression:
        y = (np.tanh(points[:, :1] / 6)).astype(np.float32)
    else:
        y = (np.hypot(*points.T) < 3).astype(np.int64)
    RunDir(directory).write_arrays(
        RunDir.BOUNDARY,
        xx=xx,
        yy=yy,
        p=p,
        train_points=points[:50],
        train_y=y[:50],
        test_points=points[50:],
        test_y=y[50:],
    )


def entry(name: str, exercise: str, changed: dict, status: str = "done", **extra) -> dict:
    run = {"name": name, "exercise": exercise, "changed": changed, "directory": f"runs/{name}"}
    return run | {"status": status, "ensemble": False, **extra}


def build_experiment(root: Path) -> Path:
    """Three exercises: MLP vs linear (with a failed run and an ensemble), CNN, and a Playground task."""
    runs = root / "runs"
    ex1, ex2, pg = "Exercise 1: MLP vs linear", "Exercise 2: CNN", "Playground: circle"
    entries = [
        entry("ex1-linear", ex1, {"model": "dense(10)"}, reference=0.92),
        entry("ex1-mlp", ex1, {"model": MLP, "lr": 0.02}, reference=0.978, note="Nielsen's network"),
        entry("ex1-broken", ex1, {"lr": 50}, status="failed", error=ERROR),
        entry("ex1-vote", ex1, {"model": MLP}, ensemble=True),
        entry("ex2-cnn", ex2, {"model": CNN}),
        entry("ex2-wide", ex2, {"model": LONG_SPEC}, status="pending"),
        entry("pg-circle", pg, {"data": "circle"}),
    ]
    # Linear: the higher test accuracy, but the lower validation accuracy: MLP is the best run.
    write_run(runs / "ex1-linear", best_val=0.90, test=0.96, final_test=0.955)
    write_run(runs / "ex1-mlp", best_val=0.95, test=0.945, final_test=0.94, seconds=12.5)
    write_predictions(runs / "ex1-mlp", classes=10, wrong=7)
    for i, (val, test) in enumerate([(0.99, 0.95), (0.98, 0.96), (0.97, 0.97)], 1):
        write_run(runs / "ex1-vote" / f"member-{i}", val, test, final_test=test, epochs=4, seconds=i)
    vote = {"member_accuracies": [0.95, 0.96, 0.97], "vote_accuracy": 0.975, "mean_accuracy": 0.972}
    RunDir(runs / "ex1-vote").write_ensemble(vote)
    write_predictions(runs / "ex1-vote", classes=10, wrong=2)
    rng = np.random.default_rng(3)
    conv = {
        "0.weight": rng.normal(size=(6, 1, 5, 5)),
        "0.bias": np.zeros(6),
        "3.weight": rng.normal(size=(8, 6, 3, 3)),
        "7.weight": rng.normal(size=(10, 32)),
    }
    write_run(runs / "ex2-cnn", best_val=0.97, test=0.965, final_test=0.96, weights=conv)
    write_predictions(runs / "ex2-cnn", classes=10, wrong=40)
    write_run(runs / "pg-circle", best_val=0.99, test=0.98, final_test=0.98, classes=["negative", "positive"])
    write_predictions(runs / "pg-circle", classes=2, wrong=1, images=False)
    write_boundary(runs / "pg-circle")
    experiment = {
        "name": "fake-lab",
        "title": "A fake lab",
        "description": "Runs made up for the tests.",
        "quick": True,
        "notes": ["numbers are made up"],
        "runs": entries,
    }
    write_json(root / "experiment.json", experiment)
    return root


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> Path:
    """The fixture experiment with its report written (once for the module: plotting takes seconds)."""
    directory = build_experiment(tmp_path_factory.mktemp("experiment"))
    write_report(directory)
    return directory


def rows_by_run(directory: Path) -> dict[str, dict]:
    return {row.run: row for row in table(directory)}


def png_names(directory: Path) -> set[str]:
    return {path.stem for path in (directory / "report").glob("*.png")}


# ---------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------


def test_table_has_one_row_per_run_in_order_with_the_result_numbers(reported):
    rows = table(reported)
    assert [row.run for row in rows] == [
        "ex1-linear",
        "ex1-mlp",
        "ex1-broken",
        "ex1-vote",
        "ex2-cnn",
        "ex2-wide",
        "pg-circle",
    ]
    mlp = rows[1]
    assert mlp.exercise == "Exercise 1: MLP vs linear"
    assert mlp.changed == f"model={MLP}, lr=0.02"
    assert (mlp.best_val_accuracy, mlp.test_accuracy, mlp.final_test_accuracy) == (0.95, 0.945, 0.94)
    assert (mlp.epochs, mlp.seconds, mlp.status) == (3, 12.5, "done")
    assert mlp.notes == "Nielsen's network"


def test_best_run_per_exercise_is_chosen_by_validation_accuracy_not_test(reported):
    rows = rows_by_run(reported)
    # ex2-cnn and pg-circle are the only finished runs of their exercises: compared with nothing, no star
    # (their plots are still theirs: chosen)
    assert {name for name, row in rows.items() if row.best} == set()
    assert {"ex2-cnn", "pg-circle", "ex1-mlp"} == {name for name, row in rows.items() if row.chosen}
    # ex1-mlp has the best validation accuracy, and nothing says its lead over ex1-linear (which saved no test
    # predictions) is real, but the vote beats it clearly on the test set: validation and test disagree, so
    # no run is marked, neither star nor tie, and the conclusion says why.
    assert {name for name, row in rows.items() if row.tied} == set()
    assert rows["ex1-linear"].test_accuracy > rows["ex1-mlp"].test_accuracy
    exercise = [row for row in rows.values() if row.exercise == "Exercise 1: MLP vs linear"]
    assert conclusion(exercise) == (
        "No run is clearly best: ex1-mlp has the best validation accuracy, but ex1-vote beats it on the test set "
        "by 8.3 points, 95% interval +0.3 to +18.2; paired on 60 test images, McNemar's p = 0.031."
    )
    # the ensemble's members have higher validation accuracies but the ensemble itself has none: not ranked
    assert rows["ex1-vote"].best_val_accuracy is None


def test_reference_difference_is_ours_minus_the_slides_in_percentage_points(reported):
    rows = rows_by_run(reported)
    assert rows["ex1-mlp"].slide_reference == 0.978
    assert rows["ex1-mlp"].difference_pp == pytest.approx(-3.3)
    assert rows["ex1-linear"].difference_pp == pytest.approx(4.0)
    assert rows["ex2-cnn"].slide_reference is None and rows["ex2-cnn"].difference_pp is None


def test_failed_and_pending_runs_have_no_numbers_and_say_why(reported):
    rows = rows_by_run(reported)
    broken, pending = rows["ex1-broken"], rows["ex2-wide"]
    assert broken.status == "failed" and broken.notes == f"failed: {ERROR}"
    assert pending.status == "pending" and pending.changed == f"model={LONG_SPEC}"
    for row in (broken, pending):
        assert row.test_accuracy is None and row.epochs is None and not row.best


def test_ensemble_row_reports_the_vote_member_epochs_and_summed_seconds(reported):
    vote = rows_by_run(reported)["ex1-vote"]
    assert vote.test_accuracy == 0.975
    assert vote.final_test_accuracy is None
    assert vote.epochs == 4  # per member
    assert vote.seconds == pytest.approx(1 + 2 + 3)
    members = "members 96.00% on average, best 97.00%"
    assert vote.notes == f"majority vote of 3: {members}; mean probability 97.20%"


def test_markdown_table_has_every_run_and_well_formed_rows(reported):
    rows = table(reported)
    text = markdown_table(rows)
    lines = text.strip().splitlines()
    assert len(lines) == 2 + len(rows)
    assert lines[0].startswith("| exercise | run | changed | best val | test | 95% interval | final | slide | Δ pp |")
    assert lines[0].endswith("| status | vs first run | directory | notes |")
    cells = [re.split(r"(?<!\\)\|", line)[1:-1] for line in lines]  # an escaped \| is not a separator
    assert {len(line) for line in cells} == {15}
    mlp = [cell.strip() for cell in cells[3]]
    # tied with ex1-linear (which saved no test predictions: nothing says the lead is real), so no star
    assert mlp[:3] == ["Exercise 1: MLP vs linear", "ex1-mlp", f"model={MLP}, lr=0.02"]
    assert mlp[3:9] == ["95.00%", "94.50%", "86.3–98.3", "94.00%", "97.80%", "-3.30"]  # Wilson on 60 images
    assert mlp[9:12] == ["3", "12.5", "done"]
    assert mlp[12] == "no clear difference: -1.5 points (-13.3 to +10.3)"  # against ex1-linear
    assert mlp[13:] == ["runs/ex1-mlp", "Nielsen's network"]  # for `layerlab eval`
    assert "failed: the loss became nan at epoch 2 \\| try a smaller --lr" in lines[4]
    assert "| ex2-wide | model=conv(32, 3)" in text and "★" not in lines[2]


def test_terminal_table_fits_100_columns_and_wraps_long_specs(reported):
    rows = table(reported)
    text = terminal_table(rows)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 100
    assert "Exercise 2: CNN" in lines and "Playground: circle" in lines
    at = next(i for i, line in enumerate(lines) if "ex2-wide" in line)
    assert "model=conv(32, 3)" in lines[at] and lines[at].endswith("pending")
    # what the run changed wraps onto the lines below it, in its column, never cut: it is what differs
    column = lines[at].index("model=")
    below = list(itertools.takewhile(lambda line: line.startswith(" " * column), lines[at + 1 :]))
    assert below and all(line[column] != " " for line in below)
    block = " ".join(line.strip() for line in [lines[at], *below])
    assert "…" not in block and all(token in block.split() for token in f"model={LONG_SPEC}".split())
    best = [line.split()[1] for line in lines if line.startswith("* ")]
    assert best == ["best"]  # the line explaining the mark: no run beats all the others of its exercise here
    tied = [line.split()[1] for line in lines if line.startswith("= ")]
    assert tied == []  # no ties here, and no legend line for them
    at = lines.index("Exercise 1: MLP vs linear")
    said = "  → No run is clearly best: ex1-mlp has the best validation accuracy, but ex1-vote"
    assert lines[at + 1].startswith(said)
    mlp = next(line for line in lines if line.startswith("  ex1-mlp "))
    assert re.search(r"95\.00%\s+94\.50%\s+86\.3–98\.3\s+94\.00%\s+97\.80%\s+-3\.30\s+3\s+12\.5\s+done$", mlp)
    assert "    vs ex1-linear: no clear difference: -1.5 points (-13.3 to +10.3)" in lines
    assert "    failed: the loss became nan" in text


def test_terminal_table_keeps_long_grid_names_distinct():
    from layerlab.report.row import Row

    names = [f"task5-restarts-seed={seed}" for seed in range(1, 5)]  # cut at the end: four "task5-restarts-…"
    rows = [Row(run=name, exercise="Task 5", changed=f"seed={i}", status="done") for i, name in enumerate(names)]
    shown = [line.split()[0] for line in terminal_table(rows).splitlines()[2:6]]
    assert shown == [f"task5…rts-seed={seed}" for seed in range(1, 5)]
    names = ["task8-spiral-8-8-tanh", "task8-spiral-8-8-8-tanh"]  # the same last 10 characters and first 5
    rows = [Row(run=name, exercise="Task 8", changed="model=dense(8)", status="done") for name in names]
    lines = terminal_table(rows).splitlines()
    assert len({line.split()[0] for line in lines[2:4]}) == 2 and max(map(len, lines)) <= 100


def test_reference_columns_only_when_a_run_has_a_reference(reported):
    rows = [row for row in table(reported) if row.slide_reference is None]
    assert "slide" not in terminal_table(rows) and "Δ pp" not in markdown_table(rows)
    assert "slide" in terminal_table(table(reported))


def test_print_summary_shows_counts_the_quick_note_and_the_table(reported):
    out = io.StringIO()
    print_summary(reported, file=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "A fake lab: 7 runs, 5 done, 1 failed, 1 pending"
    assert lines[1] == QUICK_NOTE
    assert lines[2:] == terminal_table(table(reported), quick=True).splitlines()
    assert "slide" in lines[2] and "Δ pp" not in lines[2]  # a quick run's accuracies: not against the book's


# ---------------------------------------------------------------------------------------------------
# Plots and report files
# ---------------------------------------------------------------------------------------------------


def test_report_writes_each_expected_plot_as_a_valid_png(reported):
    assert png_names(reported) == EXPECTED_PLOTS
    for name in EXPECTED_PLOTS:
        path = reported / "report" / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 2000, name
        with Image.open(path) as image:
            assert image.width >= 200 and image.height >= 100, name


def test_html_report_is_self_contained_with_every_plot_embedded(reported):
    text = (reported / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert text.count('src="data:image/png;base64,') == len(EXPECTED_PLOTS)
    assert 'src="http' not in text and "<link" not in text and "<script" not in text
    assert f'<p class="quick">{QUICK_NOTE}</p>' in text
    assert "<tr><td>Exercise 1: MLP vs linear</td><td>ex1-mlp</td>" in text  # beaten by the vote: no mark
    assert "<tr><td>Exercise 2: CNN</td><td>ex2-cnn</td>" in text  # alone in its exercise: compared with nothing
    assert "&quot;" not in text.split("<style>")[0]  # the title is plain text here
    assert text.count('<tr class="best">') == 0
    assert "<h2>Conclusions</h2>" in text and "No run is clearly best: ex1-mlp has the best validation accuracy" in text


def test_markdown_report_has_the_quick_note_the_table_and_links_to_existing_pngs(reported):
    text = (reported / "report.md").read_text()
    assert text.startswith("# A fake lab\n\n> **quick run: smaller settings than the full run (the notes say which);")
    assert markdown_table(table(reported), quick=True) in text
    assert "| slide | epochs |" in text and "Δ pp" not in text  # under the note: not comparable
    assert "| slide | Δ pp |" in markdown_table(table(reported))  # a full run's table has it
    links = re.findall(r"!\[[^\]]*\]\((report/[^)]+\.png)\)", text)
    assert {Path(link).stem for link in links} == EXPECTED_PLOTS
    assert text.index("## Exercise 1: MLP vs linear") < text.index("## Exercise 2: CNN")


def test_plot_captions_count_filters_and_misclassified_images(reported):
    captions = {plot.path.stem: plot.caption for plot in make_plots(reported)}
    # The first conv layer (0.weight, 6 filters of 5x5), not the later one (3.weight, 8 of 3x3).
    assert captions["filters-ex2-cnn"].startswith("The 6 first-layer filters (5x5) of ex2-cnn")
    assert captions["misclassified-ex2-cnn"].startswith("36 of the 40 misclassified test images")
    assert captions["misclassified-ex1-mlp"].startswith("7 of the 7 misclassified")
    chosen = "the run of best validation accuracy"
    assert captions["confusion-pg-circle"] == f"Confusion matrix of pg-circle, {chosen}: 60 test examples"


def test_missing_predictions_skip_only_the_plots_that_need_them(tmp_path):
    directory = build_experiment(tmp_path)
    (directory / "runs" / "ex2-cnn" / "predictions.npz").unlink()
    write_report(directory)
    assert png_names(directory) == EXPECTED_PLOTS - {"confusion-ex2-cnn", "misclassified-ex2-cnn"}
    html = (directory / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(EXPECTED_PLOTS) - 2


def test_regression_playground_run_gets_a_boundary_but_no_confusion_matrix(tmp_path):
    run = tmp_path / "runs" / "plane"
    nan = float("nan")
    write_run(run, best_val=nan, test=nan, final_test=nan, classes=[], task="regression")
    write_boundary(run, regression=True)
    RunDir(run).write_arrays(RunDir.PREDICTIONS, y_true=np.zeros((5, 1)), y_pred=np.zeros((5, 1)))
    runs = [entry("plane", "Task 9: plane", {"data": "plane"})]
    write_json(tmp_path / "experiment.json", {"name": "pg", "quick": False, "runs": runs})
    write_report(tmp_path)
    assert png_names(tmp_path) == {"curves-task-9-plane", "gradients-task-9-plane", "boundaries-task-9-plane"}
    row = table(tmp_path)[0]
    assert row.best_val_accuracy is None and row.test_accuracy is None  # regression: accuracies mean nothing
    assert row.chosen and row.best_val_loss == pytest.approx(1.1 / 3)  # ranked by the lowest validation loss
    assert row.test_loss == row.final_test_loss == pytest.approx(1.2 / 3)  # its best epoch is the last here
    lines = terminal_table([row]).splitlines()
    assert lines[0].split() == ["run", "changed", "vloss", "tloss", "ep", "sec", "status"]
    assert lines[2] == "  → plane: test loss 0.4."  # one run: its figure (no interval without real errors)
    assert lines[3].split() == ["plane", "data=plane", "0.3667", "0.4", "3", "2.0", "done"]  # alone: no star
    assert lines[-1].startswith("* regression: best by vloss (lowest validation loss)")
    html = (tmp_path / "report.html").read_text()
    assert "<th>val loss</th>" in html and "<th>best val</th>" not in html and "lowest validation loss" in html
    assert QUICK_NOTE not in html


def test_a_loss_target_shows_the_test_loss_and_whether_each_run_got_under_it(tmp_path):
    # Playground's task 5: the smallest network with a test loss under the target; final test loss 1.2 / epochs
    for name, epochs in (("small", 2), ("large", 3)):
        write_run(tmp_path / "runs" / name, best_val=0.9, test=0.9, final_test=0.9, epochs=epochs)
    runs = [entry(name, "Task 5", {}, loss_target=0.5) for name in ("small", "large")]
    runs.append(entry("no-target", "Task 6", {}, directory="runs/large"))
    write_json(tmp_path / "experiment.json", {"name": "pg", "runs": runs})
    rows = table(tmp_path)
    assert [row.reached_target for row in rows] == [False, True, None]  # 0.6 and 0.4 against 0.5
    assert [row.loss_target for row in rows] == [0.5, 0.5, None]
    lines = terminal_table(rows[:2]).splitlines()
    header = lines[0]
    small, large = (next(line for line in lines if line[2:].startswith(name + " ")) for name in ("small", "large"))
    assert header.split()[-6:-3] == ["tloss", "target", "reached"]
    assert small.split()[-6:-3] == ["0.6", "0.5", "no"] and large.split()[-6:-3] == ["0.4", "0.5", "yes"]
    assert "reached" not in terminal_table(rows[2:])  # no run with a target: no such columns
    write_report(tmp_path)
    assert "the test loss the task aims to get under" in (tmp_path / "report.md").read_text()


def test_the_loss_target_is_checked_at_the_best_epoch_as_the_test_column_and_the_pictures(tmp_path):
    # Playground's task5-restarts-seed=1: the last epoch's test loss 0.4 is under the target, but the
    # best validation epoch (1, whose weights the test column and the boundary show) had 1.2
    write_run(
        tmp_path / "runs" / "late", best_val=0.9, test=0.9, final_test=0.9, result={"best_epoch": 1, "test_loss": 1.2}
    )
    write_json(tmp_path / "experiment.json", {"name": "pg", "runs": [entry("late", "Task 5", {}, loss_target=0.5)]})
    (row,) = table(tmp_path)
    assert row.test_loss == 1.2 and row.final_test_loss == pytest.approx(0.4) and row.reached_target is False
    lines = terminal_table([row]).splitlines()
    header, line = lines[0], next(line for line in lines if line[2:].startswith(row.run + " "))
    assert header.split()[-6:-3] == ["tloss", "target", "reached"] and line.split()[-6:-3] == ["1.2", "0.5", "no"]
    assert "loss" not in header.split()  # the last epoch's test loss would contradict the pictures


def test_colour_images_and_filters_are_drawn_in_rgb(tmp_path):
    rng = np.random.default_rng(4)
    run = tmp_path / "runs" / "cifar"
    kernels = {"0.weight": rng.normal(size=(4, 3, 3, 3))}
    write_run(run, 0.6, 0.55, 0.5, classes=["cat", "dog", "ship"], weights=kernels)
    n = 20
    y_true = rng.integers(0, 3, n)
    y_pred = (y_true + 1) % 3
    images = rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8)
    RunDir(run).write_arrays(
        RunDir.PREDICTIONS,
        y_true=y_true,
        y_pred=y_pred,
        proba=np.eye(3)[y_pred],
        mis_x=images,
        mis_true=y_true,
        mis_pred=y_pred,
    )
    write_json(tmp_path / "experiment.json", {"name": "c", "runs": [entry("cifar", "CNN", {})]})
    captions = {plot.path.stem: plot.caption for plot in make_plots(tmp_path)}
    assert captions["filters-cifar"].endswith("the run of best validation accuracy (in colour, each on its own scale)")
    assert captions["misclassified-cifar"].startswith("20 of the 20 misclassified")
    for name in ("filters-cifar", "misclassified-cifar"):
        with Image.open(tmp_path / "report" / f"{name}.png") as image:
            red, green, _ = np.asarray(image.convert("RGB"), dtype=int).transpose(2, 0, 1)
        assert np.mean(red != green) > 0.1, f"{name} is grey"  # grey images have red == green everywhere


# ---------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------


def test_an_experiment_without_runs_still_gets_a_report(tmp_path):
    write_json(tmp_path / "experiment.json", {"name": "empty", "title": "Nothing yet", "runs": []})
    html = write_report(tmp_path).read_text()
    assert "<h1>Nothing yet</h1>" in html and "data:image" not in html
    out = io.StringIO()
    print_summary(tmp_path, file=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Nothing yet: 0 runs, 0 done, 0 failed, 0 pending"
    assert lines[1].split() == ["run", "changed", "val", "test", "final", "ep", "sec", "status"]


def test_a_directory_without_experiment_json_is_refused(tmp_path):
    with pytest.raises(ReportError, match="not an experiment directory.*layerlab run"):
        table(tmp_path)


def test_a_reference_in_percent_is_refused_with_the_fix(tmp_path):
    write_json(tmp_path / "experiment.json", {"name": "x", "runs": [entry("a", "e", {}, reference=97.8)]})
    with pytest.raises(ReportError, match=r"reference 97.8.*fraction, e.g. 0.978"):
        table(tmp_path)


def test_corrupt_metrics_name_the_file(tmp_path):
    directory = build_experiment(tmp_path)
    (directory / "runs" / "ex1-linear" / "metrics.jsonl").write_text('{"epoch": 1,\n')  # a damaged file
    with pytest.raises(LayerlabError, match=r"ex1-linear/metrics.jsonl is damaged"):
        make_plots(directory)


# ---------------------------------------------------------------------------------------------------
# Run directories side by side
# ---------------------------------------------------------------------------------------------------


def test_run_directories_are_compared_with_the_tables_and_plots_of_an_experiment(tmp_path):
    runs = build_experiment(tmp_path / "lab") / "runs"
    write_run(tmp_path / "slow", best_val=0.96, test=0.95, final_test=0.95, settings={"lr": 0.01})
    out = io.StringIO()
    page = compare([runs / "ex1-linear", runs / "ex1-vote", tmp_path / "slow"], tmp_path / "side", file=out)
    printed = out.getvalue().splitlines()
    assert printed[0] == "3 runs compared: ex1-linear, ex1-vote, slow: 3 runs, 3 done, 0 failed, 0 pending"
    rows = {
        row.run: row
        for row in read_table(tmp_path / "side", [runs / "ex1-linear", runs / "ex1-vote", tmp_path / "slow"])
    }
    # slow has 96% validation against ex1-linear's 90% (the vote has none), but neither saved test predictions,
    # so nothing says slow's lead is real: the two are tied for best
    assert rows["slow"].chosen and rows["slow"].tied and rows["ex1-linear"].tied and not rows["slow"].best
    assert rows["ex1-vote"].test_accuracy == 0.975 and rows["ex1-vote"].notes.startswith("majority vote of 3")
    # what differs: the epochs (3, 4 per member, 3), the learning rate (only slow has one; the others use
    # SGD's own, and the table says which number that is) and the networks voting (3 in the ensemble)
    assert rows["slow"].changed == "epochs=3, lr=0.01, members=1"
    assert rows["ex1-vote"].changed == "epochs=4, lr=0.1 (default), members=3"
    assert page == tmp_path / "side" / "report.html"
    assert png_names(tmp_path / "side") == {"curves-runs", "gradients-runs"}  # slow, the best, has no predictions
    markdown = (tmp_path / "side" / "report.md").read_text()
    assert "## Base settings" in markdown and f'model = "{MLP}"' in markdown
    places = [row.directory for row in rows.values()]  # from the report's folder, for `layerlab eval`
    assert places == ["../lab/runs/ex1-linear", "../lab/runs/ex1-vote", "../slow"]
    assert all((tmp_path / "side" / place).resolve().is_dir() for place in places)
    assert "<td>../lab/runs/ex1-vote</td>" in (tmp_path / "side" / "report.html").read_text()


def test_runs_on_a_2d_set_are_paired_on_test_points_not_images(tmp_path):
    # xor's quick report said "paired on 100 test images" of its (x1, x2) points
    for name, wrong in (("tanh", 1), ("linear", 25)):
        write_run(tmp_path / name, 0.9, 1 - wrong / 60, 0.9, classes=["negative", "positive"], input_shape=(2,))
        write_predictions(tmp_path / name, classes=2, wrong=wrong, images=False)
    sentence = conclusion(read_table(tmp_path / "out", [tmp_path / "linear", tmp_path / "tanh"]))
    assert sentence.startswith("tanh beats linear by 40.0 points") and "paired on 60 test points, McNemar's" in sentence


def read_table(out: Path, run_dirs: list[Path]):
    from layerlab.report.reading import read_runs
    from layerlab.report.table import rows

    return rows(read_runs(run_dirs, out).runs)


def test_an_ensembles_curves_show_every_member(tmp_path):
    from layerlab.report.plots import drawings
    from layerlab.report.reading import read_runs
    from layerlab.report.table import rows

    runs = build_experiment(tmp_path) / "runs"
    experiment = read_runs([runs / "ex1-mlp", runs / "ex1-vote"], tmp_path / "out")
    curves = next(d for d in drawings(experiment, rows(experiment.runs)) if d.name.startswith("curves"))
    accuracy = curves.figure.axes[0]
    assert len(accuracy.lines) == 2 + 3 * 2  # training and validation: the run's, and each of 3 members'
    legend = [text.get_text() for text in curves.figure.legends[0].get_texts()]
    assert legend[:2] == ["ex1-mlp", "ex1-vote (3 members)"]


def test_a_single_runs_report_goes_into_its_directory_with_its_settings(tmp_path):
    write_run(tmp_path / "mlp", 0.9, 0.9, 0.9, settings={"model": "flatten dense(100) sigmoid dense(10)"})
    page = compare([tmp_path / "mlp"], quiet=True)
    assert page == tmp_path / "mlp" / "report.html"
    markdown = (tmp_path / "mlp" / "report.md").read_text()
    settings = '## Settings\n\n```toml\nmodel = "flatten dense(100) sigmoid dense(10)"\ndata = "fake"\nepochs = 3\n'
    assert settings in markdown
    assert "2  dense(100)  100            6,500" in markdown  # layerlab summary's table of the model on 1x8x8


def test_what_is_not_a_run_directory_is_refused_and_a_users_report_kept(tmp_path):
    runs = build_experiment(tmp_path / "lab") / "runs"
    (tmp_path / "notes").mkdir()
    with pytest.raises(ReportError, match="nowhere does not exist"):
        compare([runs / "ex1-mlp", tmp_path / "nowhere"], quiet=True)
    with pytest.raises(ReportError, match="notes is not a run directory.*layerlab train --out"):
        compare([runs / "ex1-mlp", tmp_path / "notes"], quiet=True)
    with pytest.raises(ReportError, match="is an experiment directory: report it on its own"):
        compare([runs / "ex1-mlp", tmp_path / "lab"], quiet=True)
    (tmp_path / "notes" / "report.md").write_text("my own notes")
    with pytest.raises(ReportError, match="report.md was not written by layerlab; give another out"):
        compare([runs / "ex1-mlp", runs / "ex1-linear"], tmp_path / "notes", quiet=True)
    assert (tmp_path / "notes" / "report.md").read_text() == "my own notes"
    compare([runs / "ex1-mlp", runs / "ex1-linear"], tmp_path / "fresh", quiet=True)
    compare([runs / "ex1-mlp", runs / "ex1-linear"], tmp_path / "fresh", quiet=True)  # ours: rewritten


def test_a_grid_of_learning_rates_gets_accuracy_against_lr_on_a_log_axis(tmp_path):
    from layerlab.report.plots import drawings
    from layerlab.report.reading import read_experiment
    from layerlab.report.table import rows

    rates = {0.001: 0.80, 0.01: 0.90, 0.1: 0.85}
    for lr, val in rates.items():
        write_run(tmp_path / "runs" / f"lr={lr}", val, val - 0.01, val - 0.02, settings={"lr": lr})
    entries = [entry(f"sgd-lr={lr}", "Rates", {"lr": lr}, directory=f"runs/lr={lr}") for lr in rates]
    entries.append(entry("adam", "Rates", {}, directory="runs/lr=0.01"))  # not of the grid: left out
    write_json(tmp_path / "experiment.json", {"name": "rates", "runs": entries})
    experiment = read_experiment(tmp_path)
    sweep = next(d for d in drawings(experiment, rows(experiment.runs)) if d.name.startswith("sweep"))
    assert sweep.name == "sweep-rates-lr"
    assert sweep.caption == "Accuracy and test loss against lr (log scale): 3 runs that differ only in it"
    accuracy = sweep.figure.axes[0]
    assert accuracy.get_xscale() == "log" and accuracy.get_xlabel() == "lr"
    validation = accuracy.lines[0]
    assert list(validation.get_xdata()) == [0.001, 0.01, 0.1]
    assert list(validation.get_ydata()) == pytest.approx([0.80, 0.90, 0.85])


def test_gradient_panels_name_layers_as_summary_numbers_them_on_one_scale(tmp_path):
    from layerlab.report.plots import drawings
    from layerlab.report.reading import read_runs
    from layerlab.report.table import rows

    model = "flatten dense(100) sigmoid dense(10, init=normal(0.1))"
    for name in ("a", "b"):
        write_run(tmp_path / name, 0.9, 0.9, 0.9, settings={"model": model}, gradients=("1.weight", "3.weight"))
    experiment = read_runs([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    gradients = next(d for d in drawings(experiment, rows(experiment.runs)) if d.name.startswith("gradients"))
    first, second = gradients.figure.axes
    labels = [text.get_text() for text in first.get_legend().get_texts()]
    assert labels == ["layer 2 dense(100)", "layer 4 dense(10)"]  # as `layerlab summary` numbers them
    assert first.get_shared_y_axes().joined(first, second)


def test_an_experiments_run_directory_is_named_as_the_experiment_names_it(tmp_path):
    run = tmp_path / "runs" / "3f2a9c01be"  # the runner's directory: a key of the settings
    write_run(run, 0.9, 0.9, 0.9)
    runs = [entry("wide", "E", {}, directory="runs/3f2a9c01be")]
    write_json(tmp_path / "experiment.json", {"name": "x", "runs": runs})
    write_run(tmp_path / "mine", 0.8, 0.8, 0.8)
    assert [row.run for row in read_table(tmp_path / "out", [run, tmp_path / "mine"])] == ["wide", "mine"]


def test_many_noisy_curves_are_smoothed_with_every_epoch_faint_underneath(tmp_path):
    # Playground's task 8: four runs of 100 epochs whose accuracies jump by 10 points from epoch to epoch
    from layerlab.report.plots.curves import learning_curves
    from layerlab.report.reading import read_experiment

    rng = np.random.default_rng(0)
    for i in range(4):
        noisy = list(0.6 + 0.1 * rng.random(100))
        write_run(tmp_path / "runs" / f"r{i}", best_val=0.9, test=0.9, final_test=0.9, epochs=100, val_accuracies=noisy)
    write_json(tmp_path / "experiment.json", {"name": "pg", "runs": [entry(f"r{i}", "T8", {}) for i in range(4)]})
    figure, caption = learning_curves(read_experiment(tmp_path).runs)
    accuracy = figure.axes[0]
    faint = [line for line in accuracy.get_lines() if line.get_alpha() == 0.25]
    bold = [line for line in accuracy.get_lines() if line.get_alpha() != 0.25]
    assert len(faint) == len(bold) == 8  # training and validation of each run
    jumps = [np.nanstd(np.diff(line.get_ydata())) for line in (faint[1], bold[1])]  # run 1's validation
    assert jumps[1] < jumps[0] / 3 and "the average over 5 epochs" in caption
    two, _ = learning_curves(read_experiment(tmp_path).runs[:2])
    assert all(line.get_alpha() != 0.25 for line in two.axes[0].get_lines())  # two runs stay as they are


def test_the_settings_block_is_toml_a_settings_file_takes(tmp_path):
    # Playground's: data_options = {'n': 500, ...} was a Python dict under a toml fence
    import tomllib

    options = {"n": 500, "noise": 0, "train_ratio": 0.5, "features": ["x1", "x1*x2"]}
    settings = {"data_options": options, "lr": None, "model": 'dense(2) "quoted"'}
    write_run(tmp_path / "pg", 0.9, 0.9, 0.9, settings=settings)
    compare([tmp_path / "pg"], quiet=True)
    markdown = (tmp_path / "pg" / "report.md").read_text()
    block = markdown.split("```toml\n")[1].split("```")[0]
    assert tomllib.loads(block) == {"model": 'dense(2) "quoted"', "data": "fake", "epochs": 3, "data_options": options}
    assert "data_options = { n = 500, noise = 0, train_ratio = 0.5, features = [" in block
    assert "# lr: not set (its default)" in block


def test_layer_figures_number_layers_as_summary_does_and_have_titles(tmp_path):
    from layerlab.report.plots import drawings
    from layerlab.report.reading import read_runs
    from layerlab.report.table import rows

    model = "flatten dense(8) tanh dense(8) tanh dense(8) tanh dense(8) tanh dense(10)"
    weights = tuple(f"{i}.weight" for i in (1, 3, 5, 7, 9))
    for name in ("a", "b"):
        write_run(tmp_path / name, 0.9, 0.9, 0.9, settings={"model": model}, gradients=weights)
    experiment = read_runs([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    drawn = {d.name.split("-runs")[0]: d.figure for d in drawings(experiment, rows(experiment.runs))}
    (by_layer,) = drawn["layer-gradients"].axes
    ticks = [label.get_text().replace("\n", " ") for label in by_layer.get_xticklabels()]
    expected = [f"layer {i} dense({width})" for i, width in ((2, 8), (4, 8), (6, 8), (8, 8), (10, 10))]
    assert ticks == expected  # "layer 2 dense(8)" as in the gradients legend
    assert drawn["gradients"].get_suptitle() == "Gradient norm of each layer's weights per epoch"


def test_a_log_axis_of_few_decades_labels_its_minor_ticks():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from layerlab.report.plots.figures import log_scale

    labelled = []
    for low, high in ((0.06, 0.3), (0.002, 0.5)):  # within one decade; two and a half
        figure = Figure(figsize=(4, 3))
        ax = figure.subplots()
        ax.plot([1, 2], [low, high])
        log_scale(ax)
        FigureCanvasAgg(figure).draw()
        bottom, top = ax.get_ylim()
        ticks = [*ax.yaxis.get_major_ticks(), *ax.yaxis.get_minor_ticks()]
        labelled.append(sum(bool(t.label1.get_text()) and bottom <= t.get_loc() <= top for t in ticks))
    assert labelled[0] >= 4 and labelled[1] >= 5  # matplotlib alone: 10^-1; 10^-2 and 10^-1


def test_the_activation_gallery_has_as_many_columns_as_panels():
    from layerlab.report.plots.figures import grid_shape
    from layerlab.report.plots.teaching import activation_gallery

    figure = activation_gallery(("sigmoid", "tanh"))
    assert len(figure.axes) == 2 and all(ax.get_visible() for ax in figure.axes)  # no blank half
    assert [grid_shape(n, 4) for n in (2, 4, 5, 7, 8)] == [(1, 2), (1, 4), (2, 3), (2, 4), (2, 4)]
    assert grid_shape(4, 3) == (2, 2)  # four gradient panels: 2 by 2, not 3 and 1


def test_a_ten_class_confusion_matrix_has_a_title_as_large_as_its_labels(tmp_path):
    from layerlab.report.plots.images import confusion_matrix
    from layerlab.report.reading import read_runs

    write_run(tmp_path / "mlp", 0.9, 0.9, 0.9)
    write_predictions(tmp_path / "mlp", classes=10, wrong=7)
    (run,) = read_runs([tmp_path / "mlp"], tmp_path / "mlp").runs
    figure, _ = confusion_matrix(run, run.predictions())
    (ax,) = figure.axes
    assert ax.title.get_fontsize() >= ax.xaxis.label.get_fontsize() >= 10  # was 9 on a 7-inch figure


def test_a_repeated_runs_curves_are_the_mean_over_its_seeds_with_a_band(tmp_path):
    from layerlab.report.plots import drawings
    from layerlab.report.reading import read_experiment

    for i, (val, test) in enumerate(((0.90, 0.91), (0.92, 0.93), (0.94, 0.95)), 1):
        write_run(tmp_path / "runs" / f"mlp#{i}", best_val=val, test=test, final_test=test)
    runs = [entry(f"mlp#{i}", "Repeats", {}, repeat_of="mlp") for i in (1, 2, 3)]
    write_json(tmp_path / "experiment.json", {"name": "rep", "runs": runs})
    (row,) = table(tmp_path)
    assert row.run == "mlp" and row.repeats == 3 and row.comparison is None
    assert row.low < row.test_mean < row.high  # the t interval over the three seeds
    row.notes = "a long note of the kind a run can have, " * 3 + row.notes  # the mean and spread come last
    text = terminal_table([row])
    assert "mean 93.00% (sd 2.00%)" in " ".join(text.split()) and "…" not in text  # wrapped, not cut
    from layerlab.report.terminal import summary

    out = io.StringIO()
    summary("Repeats", False, [row], out)
    assert out.getvalue().startswith("Repeats: 1 run (3 with their repeats), 1 done, 0 failed, 0 pending")
    curves = next(d for d in drawings(read_experiment(tmp_path), [row]) if d.name.startswith("curves-"))
    accuracy = curves.figure.axes[0]
    assert len(accuracy.collections) == 2  # a band (lowest to highest) for training and one for validation
    assert len(accuracy.get_lines()) == 2 and "mean of 3 seeds" in " ".join(
        t.get_text() for t in curves.figure.legends[0].get_texts()
    )


def test_every_report_page_has_one_markdown_form_and_one_html_style(tmp_path):
    """An experiment's report, a search's and tune's notes are pages of the same blocks, drawn by the same two
    writers: each block's Markdown and HTML, cells escaped, the best row marked, figures linked or embedded."""
    from layerlab.report.blocks import Bullets, Code, Figure, Heading, Item, Page, Paragraph, Table
    from layerlab.report.columns import MARK
    from layerlab.report.html_page import STYLESHEET, html_document
    from layerlab.report.markdown import markdown_page

    png = tmp_path / "report" / "a.png"
    png.parent.mkdir()
    Image.new("RGB", (2, 2)).save(png)
    blocks = [
        Paragraph("quick run", "quick"),
        Paragraph(""),
        Bullets([Item("wins", lead="ex 1."), Item("tanh > sigmoid", status="agrees"), Item("again: ", code="ll x")]),
        Heading("Trials"),
        Table(["run", "acc"], [["a|b", "9%"], ["c", "8%"]], numeric=[False, True], marks=["best", ""], marked_column=0),
        Code("lr = 0.1", "toml"),
        Figure("a <figure>", png),
    ]
    markdown = markdown_page(Page("T", blocks), tmp_path)
    assert markdown == (
        "# T\n\n> **quick run**\n\n\n\n- **ex 1.** wins\n- *agrees*: tanh > sigmoid\n- again: `ll x`\n\n## Trials\n\n"
        "| run | acc |\n|---|---:|\n| ★ **a\\|b** | 9% |\n| c | 8% |\n\n```toml\nlr = 0.1\n```\n\n"
        "![a <figure>](report/a.png)\n\n*a <figure>*\n\n" + MARK + "\n"
    )
    assert not markdown_page(Page("T", blocks, marked=False), tmp_path).endswith(MARK + "\n")
    page = html_document(Page("T", blocks))
    assert f"<style>{STYLESHEET}</style>" in page and page.endswith(f"{MARK}\n</body>\n</html>\n")
    assert "<p></p>" not in page  # an empty paragraph (a search without a description) is left out
    assert '<p class="quick">quick run</p>' in page
    assert '<li><b>ex 1.</b> wins</li><li><span class="agrees">agrees</span>: tanh &gt; sigmoid</li>' in page
    assert '<tr class="best"><td>★ <b>a|b</b></td><td class="number">9%</td></tr>\n<tr><td>c</td>' in page
    assert "<pre>lr = 0.1</pre>" in page and "<li>again: <code>ll x</code></li>" in page
    assert '<figure><img src="data:image/png;base64,' in page and "<figcaption>a &lt;figure&gt;</figcaption>" in page


def test_settings_wrap_between_layers_not_inside_their_parentheses():
    from layerlab.report.row import Row
    from layerlab.report.terminal import _keep_together

    row = Row(run="net", exercise="E", changed="model=dense(8) dense(1, init=zeros)", status="done")
    lines = terminal_table([row], width=66).splitlines()  # a column of 23: "model=dense(8) dense(1," would fit
    assert lines[2].split()[:2] == ["net", "model=dense(8)"] and lines[3].strip() == "dense(1, init=zeros)"
    wide = Row(run="net", exercise="E", changed="model=dense(64, init=normal(0.1)) tanh", status="done")
    narrow = terminal_table([wide], width=60).splitlines()  # a layer wider than the column: broken at spaces
    assert narrow[2].split()[1] == "model=dense(64," and narrow[3].strip().startswith("init=normal(0.1))")
    assert _keep_together("a(b c) d") == "a(b\u00a0c) d"
    # a setting wider than the column even at its spaces (a Playground task's long run names leave 12
    # characters): all the settings go below the row, whole, instead of "data=xor, mo" / "del=dense(2)"
    long = "task10-8-8-8-8-8-8-relu-features"
    row = Row(run=long, exercise="E", changed="data=spiral, data_options={'features': ['x1', 'x2']}", status="done")
    lines = terminal_table([row, Row(run=long + "2", exercise="E", changed="", status="done")], width=60).splitlines()
    assert lines[2].split()[1] == "(below)"
    assert lines[3].strip() == "data=spiral, data_options={'features': ['x1', 'x2']}"


def test_a_sweep_of_repeated_runs_plots_their_mean_test_accuracy_with_its_interval():
    """lab4a's learning-rate sweep showed each rate's best of 3 repeats, no mean, no interval."""
    from types import SimpleNamespace

    from layerlab.report.plots.sweep import Sweep, sweep_plot
    from layerlab.report.row import Row

    rows = {}
    for name, (val, best, mean, low, high) in {
        "a": (0.88, 0.91, 0.905, 0.89, 0.92),
        "b": (0.94, 0.95, 0.945, 0.93, 0.96),
    }.items():
        rows[name] = Row(run=name, exercise="E", changed="", status="done", best_val_accuracy=val, test_accuracy=best)
        rows[name].repeats, rows[name].test_mean, rows[name].low, rows[name].high = 3, mean, low, high
    sweep = Sweep("lr", [SimpleNamespace(name="a"), SimpleNamespace(name="b")], [0.002, 0.02])
    figure, caption = sweep_plot(sweep, rows)
    accuracy = figure.axes[0]
    test = [line for line in accuracy.get_lines() if line.get_linestyle() == "--"][0]
    assert list(test.get_ydata()) == [0.905, 0.945]  # the means, not the best repeats (0.91, 0.95)
    assert len(accuracy.containers) == 1  # the error bars: each mean's 95% interval over its seeds
    assert "mean test accuracy over the seeds" in caption
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "test: mean of 3 seeds, 95% interval" in labels


def test_a_pictures_caption_says_which_run_and_which_seed_it_shows():
    """A repeated run's row (and its pictures) is one of its seeds (that of best validation score); the caption
    says so rather than calling that seed the run of best validation accuracy."""
    from types import SimpleNamespace

    from layerlab.report.plots.images import _which

    repeat = SimpleNamespace(name="mlp#2", repeat_of="mlp", result={"best_val_accuracy": 0.94})
    assert _which(repeat) == "mlp#2, the seed of mlp its row shows (the run of best validation accuracy)"
    single = SimpleNamespace(name="cnn", repeat_of=None, result={"best_val_accuracy": 0.97})
    assert _which(single) == "cnn, the run of best validation accuracy"
    playground = SimpleNamespace(name="xor", repeat_of=None, result={"best_val_accuracy": float("nan")})
    assert _which(playground) == "xor"  # no validation set: nothing chose it
