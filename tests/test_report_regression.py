"""A regression run (the noisy curve, mean squared error) is judged by its losses: its best epoch is the one
of lowest validation loss, and the report shows validation and test loss, not the meaningless accuracies."""

from __future__ import annotations

import numpy as np
import pytest

import layerlab
from layerlab.report import compare, markdown_table, terminal_table
from layerlab.report.reading import read_runs
from layerlab.report.table import rows

CURVE = dict(data="curve", loss="mse", optimizer="adam", lr=0.05, batch_size=20, dtype="float64", engine="numpy")


@pytest.fixture(scope="module")
def curve_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("curve")
    line = layerlab.fit(model="dense(1)", epochs=40, out=root / "line", quiet=True, **CURVE)
    net = layerlab.fit(model="dense(8) tanh dense(1)", epochs=60, out=root / "net", quiet=True, **CURVE)
    return root, line.result, net.result


def test_the_best_epoch_of_a_regression_run_has_the_lowest_validation_loss(curve_runs):
    _, _, net = curve_runs
    val_loss = [row["val_loss"] for row in net.history]
    accuracy = [row["val_accuracy"] for row in net.history]
    assert net.best_epoch == int(np.argmin(val_loss)) + 1 == 29
    assert int(np.nanargmax(accuracy)) + 1 == 5  # what the accuracy (meaningless here) would have picked
    assert min(val_loss) == pytest.approx(0.2166, abs=1e-3) and val_loss[4] == pytest.approx(0.2380, abs=1e-3)
    assert net.task == "regression" and net.best_val_loss == min(val_loss)
    assert net.test_loss == net.history[28]["test_loss"]
    assert net.summary().startswith(f"test loss {net.test_loss:.4g} at epoch 29 (lowest validation loss 0.2166)")


def test_the_report_shows_regression_losses_and_ranks_by_validation_loss(curve_runs):
    root, line, net = curve_runs
    table = rows(read_runs([root / "line", root / "net"], root / "report").runs)
    by_run = {row.run: row for row in table}
    for row, result in ((by_run["line"], line), (by_run["net"], net)):
        best = result.history[result.best_epoch - 1]
        assert row.task == "regression"
        assert row.best_val_loss == best["val_loss"] and row.test_loss == best["test_loss"]
        assert row.best_val_accuracy is row.test_accuracy is row.final_test_accuracy is None
    assert by_run["net"].best_val_loss < by_run["line"].best_val_loss
    assert [row.run for row in table if row.best] == ["net"]  # the lower validation loss
    markdown = markdown_table(table)
    header = markdown.splitlines()[0]
    assert "val loss" in header and "test loss at best" in header
    assert "best val" not in header and "| test |" not in header and "final" not in header
    net_line = next(line for line in markdown.splitlines() if "net" in line and "★" in line)
    assert f"{by_run['net'].best_val_loss:.4g}" in net_line and f"{by_run['net'].test_loss:.4g}" in net_line
    assert "vloss" in terminal_table(table).splitlines()[0]
    html = compare([root / "line", root / "net"], root / "report", quiet=True)
    assert "lowest validation loss" in html.with_suffix(".md").read_text()


def test_regression_learning_curves_show_the_cost_only(curve_runs):
    from layerlab.report.plots.curves import learning_curves

    root, _, _ = curve_runs
    figure, caption = learning_curves(read_runs([root / "line", root / "net"], root / "report").runs)
    (cost,) = [ax for ax in figure.axes if ax.get_title()]
    assert cost.get_title() == "cost (loss)" and len(cost.get_lines()) == 4  # training and validation of both
    assert "regression: the cost (mean squared error) only" in caption


def test_a_regression_sweep_plots_its_losses_not_blank_accuracies(tmp_path):
    from layerlab.report.plots.sweep import sweep_plot, sweeps

    for lr in (0.01, 0.05, 0.2):
        layerlab.fit(
            model="dense(8) tanh dense(1)", epochs=20, out=tmp_path / f"lr={lr}", quiet=True, **CURVE | {"lr": lr}
        )
    runs = read_runs([tmp_path / f"lr={lr}" for lr in (0.01, 0.05, 0.2)], tmp_path / "report").runs
    (sweep,) = sweeps(runs)
    table = {row.run: row for row in rows(runs)}
    figure, caption = sweep_plot(sweep, table)
    (ax,) = [ax for ax in figure.axes if ax.get_title()]
    assert ax.get_title() == "loss against lr" and caption.startswith("Validation and test loss against lr")
    drawn = {tuple(np.round(line.get_ydata(), 6)) for line in ax.get_lines() if len(line.get_ydata()) == 3}
    ordered = [table[run.name] for run in sweep.runs]
    assert tuple(np.round([row.best_val_loss for row in ordered], 6)) in drawn
    assert tuple(np.round([row.test_loss for row in ordered], 6)) in drawn


def test_losses_that_span_decades_are_drawn_on_a_log_scale_and_an_exact_fits_gradients_not_at_all():
    """capacity --quick: degree-15's validation loss of 1e5 flattened every other run's onto zero, and the
    least-squares fits' gradient norms (1e-15: rounding at the solution) filled a plot with nothing."""
    from types import SimpleNamespace

    from matplotlib.figure import Figure

    from layerlab.report.plots.curves import _log_scale_wanted, _trained_by_gradients

    ax = Figure().subplots()
    ax.plot([1, 2], [0.1, 0.05])
    assert not _log_scale_wanted(ax)
    ax.plot([1, 2], [9.7e4, 9.6e4])
    assert _log_scale_wanted(ax)
    exact = SimpleNamespace(metrics=[{"grad_norms": {"1.weight": 7e-16}}, {"grad_norms": {"1.weight": 5e-12}}])
    trained = SimpleNamespace(metrics=[{"grad_norms": {"1.weight": 0.3}}, {"grad_norms": {"1.weight": 1e-12}}])
    assert not _trained_by_gradients(exact) and _trained_by_gradients(trained)
