"""The words people read: counts and the settings a run changed."""

from __future__ import annotations

from layerlab.phrases import count, describe_changes


def test_count_says_one_epoch_and_thousands_of_images():
    assert count(1, "epoch") == "1 epoch" and count(3, "epoch") == "3 epochs"
    assert count(50_000, "image") == "50,000 images" and count(2, "class", "classes") == "2 classes"


def test_changes_read_as_settings_not_python_values():
    changed = {"lr": None, "l2": 5.0, "optimizer": "adam", "data_options": {"degree": 1, "features": ["x1", "x2"]}}
    assert (
        describe_changes(changed, {"lr": 0.001})
        == "lr=0.001 (default), l2=5, optimizer=adam, degree=1, features=[x1, x2]"
    )
    assert describe_changes({"lr": None, "momentum": None}) == "lr=default, momentum=default"  # nothing known
    assert describe_changes({"data_options": {}}) == "data_options=default"
    assert describe_changes({}) == "shared settings"
