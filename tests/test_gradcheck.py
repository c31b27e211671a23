"""Gradient checks of dropout in both modes, and `layerlab gradcheck` on models with dropout (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from layerlab import api, parse
from layerlab.cli import main
from layerlab.numpy import build
from layerlab.numpy.dropout import Dropout
from layerlab.numpy.gradcheck import check_layer, check_model


@pytest.mark.parametrize("scale", ["train", "test"])
def test_dropout_backward_in_eval_mode_matches_finite_differences(scale):
    """scale=test at test time is y = (1-p) x, so dL/dx = (1-p) dL/dy (it used to return dy unscaled)."""
    layer = Dropout(0.4, np.random.default_rng(0), scale=scale)
    x = np.random.default_rng(1).standard_normal((3, 5))
    errors = check_layer(layer, x, training=False)
    assert errors["x"] < 1e-8, errors
    dy = np.ones((3, 5))
    layer.forward(x, training=False)
    np.testing.assert_allclose(layer.backward(dy), dy * (0.6 if scale == "test" else 1.0))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("dropout", ["dropout(0.5)", "dropout(0.3, scale=test)"])
def test_check_model_on_a_model_with_dropout(dropout, training):
    """Every parameter before and after the dropout agrees: a fixed mask in training, the test-time scale in eval."""
    model = build(parse(f"input(6) dense(8) tanh {dropout} dense(4) sigmoid dense(3)"), seed=2, dtype=np.float64)
    x, y = np.random.default_rng(3).standard_normal((5, 6)), np.array([0, 2, 1, 1, 0])
    errors = check_model(model, x, y, entries=10, training=training)
    assert set(errors) == set(model.params)
    assert max(errors.values()) < 1e-7, errors


def test_gradcheck_with_dropout_agrees_and_says_the_mask_was_fixed(capsys):
    code = main(["gradcheck", "--model", "input(8) dense(6) relu dropout(0.5) dense(3)"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "all gradients agree" in out and "MISMATCH" not in out
    assert "dropout: one fixed random mask for the whole check" in out


def test_gradcheck_eval_mode_covers_the_test_time_dropout_scale(capsys):
    code = main(["gradcheck", "--model", "input(8) dense(6) relu dropout(0.5, scale=test) dense(3)", "--eval"])
    out = capsys.readouterr().out
    assert code == 0 and "test mode" in out and "all gradients agree" in out


def test_api_gradcheck_reports_a_mismatch_as_not_ok():
    check = api.gradcheck("input(3) dense(2)", batch=2, tolerance=1e-6)
    assert check.ok and set(check.errors) == {"0.weight", "0.bias"} and check.worst < 1e-8
    strict = api.gradcheck("input(3) dense(2)", batch=2, tolerance=1e-30)  # central differences are not exact
    assert not strict.ok and "gradients DISAGREE" in strict.report()
