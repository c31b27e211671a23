"""TensorFlow Playground datasets: sizes, the geometry of each generator, features, seeding, errors."""

import re

import numpy as np
import pytest

from layerlab.data.playground import FEATURES, PLAYGROUND, PlaygroundError, features_of, grid, make
from layerlab.errors import LayerlabError

CLASSIFICATION = ("circle", "xor", "gauss", "spiral")


def all_points(data):
    """Raw points and labels of every split, train then val then test."""
    points = np.concatenate([data.info["points"][part] for part in ("train", "val", "test")])
    labels = np.concatenate([data.train.y, data.val.y, data.test.y])
    return points.astype(np.float64), labels


@pytest.mark.parametrize("name", list(PLAYGROUND))
@pytest.mark.parametrize(
    ("n", "train_ratio", "val", "sizes"),
    [(500, 0.5, 0.0, (250, 0, 250)), (101, 0.3, 0.2, (24, 6, 71)), (200, 0.9, 0.1, (162, 18, 20))],
)
def test_sizes_shapes_and_dtypes(name, n, train_ratio, val, sizes):
    data = make(name, n=n, train_ratio=train_ratio, val=val, features=("x1", "x2", "sin(x1)"))
    assert (len(data.train), len(data.val), len(data.test)) == sizes
    regression = name in ("plane", "multigauss")
    for part, size in zip(("train", "val", "test"), sizes, strict=True):
        split = getattr(data, part)
        assert split.x.shape == (size, 3) and split.x.dtype == np.float32
        assert split.y.shape == ((size, 1) if regression else (size,))
        assert split.y.dtype == (np.float32 if regression else np.int64)
        assert data.info["points"][part].shape == (size, 2)
    assert data.task == ("regression" if regression else "classification")
    assert data.classes == (() if regression else ("negative", "positive"))
    assert data.input_shape == (3,)


def test_validation_comes_out_of_train_and_leaves_test_alone():
    plain, held = make("spiral", noise=20, seed=3), make("spiral", noise=20, seed=3, val=0.2)
    assert (len(held.train), len(held.val)) == (200, 50)
    np.testing.assert_array_equal(held.test.x, plain.test.x)
    np.testing.assert_array_equal(np.concatenate([held.train.x, held.val.x]), plain.train.x)
    np.testing.assert_array_equal(np.concatenate([held.train.y, held.val.y]), plain.train.y)


@pytest.mark.parametrize("name", ["circle", "gauss", "spiral"])
@pytest.mark.parametrize("n", [500, 7])
def test_half_of_the_points_are_positive(name, n):
    _, labels = all_points(make(name, n=n, train_ratio=0.6))
    assert len(labels) == n
    assert labels.sum() == n - n // 2  # an odd point goes to the positives


def test_xor_is_balanced_up_to_sampling():
    _, labels = all_points(make("xor", n=2000))
    assert abs(labels.mean() - 0.5) < 0.05  # sampling spread of the mean is about 0.011


def test_circle_positives_are_inside_radius_2_5_and_negatives_on_the_ring():
    points, labels = all_points(make("circle", n=1000))
    radius = np.hypot(*points.T)
    np.testing.assert_array_equal(labels, radius < 2.5)
    assert radius[labels == 1].max() <= 2.5
    assert 3.5 - 1e-6 <= radius[labels == 0].min() and radius[labels == 0].max() <= 5 + 1e-6


def test_noise_flips_circle_labels_more_as_it_grows():
    """Playground labels the jittered point but keeps the clean one: noise shows up as wrong labels."""
    flipped = []
    for noise in (10, 30, 50):
        points, labels = all_points(make("circle", n=2000, noise=noise))
        flipped.append(np.mean(labels != (np.hypot(*points.T) < 2.5)))
    assert 0 < flipped[0] < flipped[1] < flipped[2] < 0.5


def test_xor_labels_are_the_sign_of_x1_x2_and_points_keep_off_the_axes():
    points, labels = all_points(make("xor", n=1000))
    np.testing.assert_array_equal(labels, points[:, 0] * points[:, 1] >= 0)
    assert np.abs(points).min() >= 0.3 - 1e-6 and np.abs(points).max() <= 5.3 + 1e-6


@pytest.mark.parametrize(("noise", "variance"), [(0, 0.5), (50, 4.0)])
def test_gauss_clusters_sit_at_plus_minus_2_with_playgrounds_variance(noise, variance):
    points, labels = all_points(make("gauss", n=4000, noise=noise))
    np.testing.assert_allclose(points[labels == 1].mean(axis=0), [2, 2], atol=0.15)
    np.testing.assert_allclose(points[labels == 0].mean(axis=0), [-2, -2], atol=0.15)
    np.testing.assert_allclose(points[labels == 1].var(axis=0), [variance, variance], rtol=0.1)


def test_spiral_points_lie_on_their_arms_without_noise():
    points, labels = all_points(make("spiral", n=400))
    radius = np.hypot(*points.T)
    assert radius.max() < 5
    angle = 1.75 * 2 * np.pi * radius / 5  # the positive arm; the negative one is turned by pi
    arm = radius[:, None] * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    np.testing.assert_allclose(points, np.where(labels[:, None] == 1, arm, -arm), atol=1e-5)


def test_spiral_noise_moves_points_at_most_noise_off_the_arm():
    clean, _ = all_points(make("spiral", n=400, seed=5))
    noisy, _ = all_points(make("spiral", n=400, seed=5, noise=40))
    offset = np.abs(noisy - clean)  # same seed, same draws and shuffle: row i is the same arm point
    assert 0.35 < offset.max() <= 0.4 + 1e-6  # Playground jitters by noise * uniform(-1, 1)


def test_plane_targets_are_x1_plus_x2_over_10():
    data = make("plane", n=300)
    points = data.info["points"]["train"]
    np.testing.assert_allclose(data.train.y[:, 0], points.sum(axis=1) / 10, atol=1e-6)
    assert np.abs(points).max() <= 6


def test_plane_noise_spreads_targets_as_playground_does():
    points, targets = all_points(make("plane", n=4000, noise=30))
    residual = targets[:, 0] - points.sum(axis=1) / 10
    # two jitters of 0.3 * uniform(-6, 6), each with standard deviation 0.3 * 12 / sqrt(12), divided by 10
    np.testing.assert_allclose(residual.std(), np.sqrt(2) * 0.3 * 12 / np.sqrt(12) / 10, rtol=0.05)


def test_multigauss_target_is_the_largest_bump():
    bumps = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]
    points, targets = all_points(make("multigauss", n=500))
    for (x1, x2), target in zip(points, targets[:, 0], strict=True):
        label = 0.0
        for cx, cy, sign in bumps:  # Playground's getLabel, one point at a time
            height = sign * min(1.0, max(0.0, 1 - np.hypot(x1 - cx, x2 - cy) / 2))
            label = height if abs(height) > abs(label) else label
        assert target == pytest.approx(label, abs=1e-6)
    assert targets.max() > 0.8 and targets.min() < -0.8 and np.mean(targets == 0) > 0.3


def test_every_feature_is_computed_from_the_points():
    data = make("xor", n=200, features=FEATURES)
    p = data.info["points"]["train"].astype(np.float64)
    x1, x2 = p[:, 0], p[:, 1]
    expected = np.stack([x1, x2, x1**2, x2**2, x1 * x2, np.sin(x1), np.sin(x2)], axis=1)
    np.testing.assert_allclose(data.train.x, expected, rtol=1e-6, atol=1e-6)
    assert FEATURES == ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")


def test_features_come_in_the_order_asked_and_accept_aliases():
    data = make("circle", n=100, features=("x1*x2", "x2sq", "x1sq"))
    p = data.info["points"]["test"].astype(np.float64)
    expected = np.stack([p[:, 0] * p[:, 1], p[:, 1] ** 2, p[:, 0] ** 2], axis=1)
    np.testing.assert_allclose(data.test.x, expected, rtol=1e-6)
    assert data.info["features"] == ("x1*x2", "x2^2", "x1^2")


def test_grid_evaluates_the_same_features_over_the_plane():
    xx, yy, x = grid(("x1", "x2", "x1*x2"), resolution=5, extent=6.0)
    assert xx.shape == yy.shape == (5, 5) and x.shape == (25, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(xx[0], [-6, -3, 0, 3, 6])
    np.testing.assert_array_equal(yy[:, 0], [-6, -3, 0, 3, 6])
    np.testing.assert_array_equal(x[:, 0].reshape(xx.shape), xx)
    np.testing.assert_array_equal(x[:, 1].reshape(yy.shape), yy)
    np.testing.assert_array_equal(x[:, 2], (xx * yy).ravel())
    points = np.array([[1.5, -2.0]])
    np.testing.assert_allclose(features_of(points, ("sin(x2)", "x1^2")), [[np.sin(-2.0), 2.25]], rtol=1e-6)


@pytest.mark.parametrize("name", list(PLAYGROUND))
def test_same_seed_same_arrays_other_seed_other_arrays(name):
    a, b, c = make(name, noise=20, seed=7, val=0.1), make(name, noise=20, seed=7, val=0.1), make(name, seed=8)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, part).x, getattr(b, part).x)
        np.testing.assert_array_equal(getattr(a, part).y, getattr(b, part).y)
    assert not np.array_equal(a.test.x, c.test.x)


def test_features_do_not_change_the_points():
    a, b = make("spiral", seed=2), make("spiral", seed=2, features=("sin(x1)", "x1"))
    np.testing.assert_array_equal(a.info["points"]["train"], b.info["points"]["train"])
    np.testing.assert_array_equal(a.train.x[:, 0], b.train.x[:, 1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "moons"}, "circle, xor, gauss, spiral, plane, multigauss"),
        ({"features": ("x1", "cos(x1)")}, "'cos(x1)'; known: x1, x2, x1^2, x2^2, x1*x2, sin(x1), sin(x2)"),
        ({"features": "x1"}, "sequence of names"),
        ({"features": ("x1", "x1sq", "x1^2")}, "each feature once"),
        ({"features": ()}, "at least one"),
        ({"noise": 60}, "0 to 50"),
        ({"noise": -1}, "0 to 50"),
        ({"train_ratio": 50}, "0.5 for Playground's 50%"),
        ({"val": 1.0}, "0 <= val < 1"),
        ({"n": 1}, "at least 2"),
        ({"n": 100.0}, "whole number"),
        ({"n": 3, "train_ratio": 0.2}, "leaves a split empty"),
    ],
)
def test_bad_settings_say_what_to_do(kwargs, message):
    kwargs = {"name": "circle", **kwargs}
    with pytest.raises(PlaygroundError, match=re.escape(message)) as error:
        make(**kwargs)
    assert isinstance(error.value, ValueError) and isinstance(error.value, LayerlabError)


def test_grid_needs_two_points_per_side():
    with pytest.raises(PlaygroundError, match="at least 2"):
        grid(resolution=1)
