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
