"""The teaching pieces around the experiments: the 1-D curve dataset, the activation gallery, the list."""

from __future__ import annotations

import numpy as np
import pytest

from layerlab.cli import main
from layerlab.data import curve
from layerlab.data.catalog import load
from layerlab.errors import DataError
from layerlab.report.plots.teaching import GALLERY, activation_curve


def test_the_curve_dataset_has_polynomial_features_and_fixed_splits():
    data = load("curve", options={"degree": 3, "n": 12}, seed=1)
    assert data.task == "regression" and data.input_shape == (3,)
    assert (len(data.train), len(data.val), len(data.test)) == (12, 12, 200)
    x = data.info["curve"]["train"]
    np.testing.assert_allclose(data.train.x, np.stack([x, x**2, x**3], axis=1), rtol=1e-6)
    residual = data.test.y[:, 0] - curve.truth(data.info["curve"]["test"])
    assert 0.2 < residual.std() < 0.3  # noise 0.25 by default
    again = load("curve", options={"degree": 1, "n": 12}, seed=1)
    np.testing.assert_array_equal(again.train.y, data.train.y)  # the degree changes the features only
    with pytest.raises(DataError, match="curve has no option width"):
        load("curve", options={"width": 3})
    with pytest.raises(DataError, match="degree must be a whole number >= 1"):
        load("curve", options={"degree": 0})


@pytest.mark.parametrize("kind", GALLERY)
def test_the_gallery_draws_the_engines_functions_and_derivatives(kind):
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    y, dy, title = activation_curve(kind, x)
    expected = {
        "step": ((x > 0) * 1.0, 0 * x),
        "linear": (x, 1 + 0 * x),
        "sigmoid": (1 / (1 + np.exp(-x)), np.exp(-x) / (1 + np.exp(-x)) ** 2),
        "tanh": (np.tanh(x), 1 - np.tanh(x) ** 2),
        "relu": (np.maximum(x, 0), (x > 0) * 1.0),
        "leakyrelu": (np.where(x > 0, x, 0.1 * x), np.where(x > 0, 1, 0.1)),
        "elu": (np.where(x > 0, x, np.exp(x) - 1), np.where(x > 0, 1, np.exp(x))),
        "maxout": (np.maximum(x, -x / 2 + 0.5), np.where(x > 1 / 3, 1, -0.5)),
    }[kind]
    np.testing.assert_allclose(y, expected[0], atol=1e-12)
    np.testing.assert_allclose(dy, expected[1], atol=1e-12)
    assert title


def test_plot_activations_writes_a_png_and_never_replaces_a_file(tmp_path, capsys):
    out = tmp_path / "gallery.png"
    assert main(["plot", "activations", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 30_000
    out.write_text("mine")
    assert main(["plot", "activations", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == "mine"


def test_the_teaching_experiments_are_listed(capsys):
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    for name in ("capacity", "vanishing", "hyperparameters"):
        assert f"\n  {name} " in listed


def test_capacity_fits_the_polynomials_by_least_squares_training_error_falls_test_error_rises(tmp_path):
    """`capacity --quick` trained the polynomials 150 epochs by Adam: degree 9 and 15 had a higher training error
    than degree 5 (not converged) under a title that calls it overfitting. Least squares is the converged fit."""
    import layerlab
    from layerlab.experiments import load_experiment
    from layerlab.experiments.least_squares import LeastSquares

    plan = {run.name: run for run in load_experiment("capacity", quick=True).runs}
    assert all(plan[f"degree-{d}"].fit == "least-squares" for d in (1, 3, 5, 9, 15))
    assert plan["gd-degree-15"].fit == "gradient-descent" and plan["degree-15"].key != plan["gd-degree-15"].key
    train, test = {}, {}
    for d in (1, 3, 5, 9, 15):
        run = layerlab.fit(
            **plan[f"degree-{d}"].config.to_dict() | {"quiet": True}, out=tmp_path / str(d), hooks=[LeastSquares()]
        )
        row = run.result.history[-1]
        train[d], test[d] = row["train_loss"], row["test_loss"]
        data = curve.make(degree=1, seed=0)
        coefficients = np.polyfit(data.info["curve"]["train"].astype(np.float64), data.train.y[:, 0], d)
        fitted = np.polyval(coefficients, data.info["curve"]["train"].astype(np.float64))
        assert train[d] == pytest.approx(np.mean((fitted - data.train.y[:, 0]) ** 2), rel=1e-4)
    assert train[1] > train[3] > train[5] > train[9] > train[15]  # training error falls with the degree
    assert train[1] > 0.2 and train[15] < 0.02  # 0.209 ... 0.011
    assert test[3] < test[1] - 0.1 and test[9] > 10 * test[3] and test[15] > 100 * test[9]  # 0.318, 0.104, 10.6, 4.8e6


def test_a_regression_report_banner_speaks_of_losses_not_accuracies():
    from layerlab.report.columns import QUICK_NOTE, quick_note
    from layerlab.report.table import Row

    regression = [Row(run="degree-1", exercise="e", changed="", status="done", task="regression")]
    assert "accuracies" not in quick_note(regression) and "losses" in quick_note(regression)
    classification = [Row(run="a", exercise="e", changed="", status="done")]
    assert quick_note(classification) == QUICK_NOTE


def test_vanishing_quick_shows_relu_learning_and_the_deep_sigmoid_network_not(capsys):
    """`vanishing --quick` (2 epochs of 1,000 images) left the ReLU network at about 25%: two poor numbers.
    Its quick settings now show learning: ReLU 75-79% over seeds 0-2, the sigmoid network at chance (9-11%)."""
    import layerlab
    from layerlab.experiments import load_experiment

    plan = {run.name: run for run in load_experiment("vanishing", quick=True).runs}
    for seed in (0, 1, 2):
        accuracy = {
            name: layerlab.fit(**plan[name].config.to_dict() | {"quiet": True, "seed": seed}).result.test_accuracy
            for name in ("relu", "sigmoid")
        }
        assert accuracy["relu"] > 0.6 and accuracy["sigmoid"] < 0.2, (seed, accuracy)
