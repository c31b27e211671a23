"""layerlab playground without a server: message checks, CSV files, the session's numbers, the export."""

import json
import subprocess
import sys

import numpy as np
import pytest

import layerlab
from layerlab.cli import main
from layerlab.playground import LIMITS, ProtocolError, Session, tasks
from layerlab.playground.protocol import pack_frame, parse_csv, parse_message, settings_from, unpack_frame


def session(**settings):
    return Session(settings_from(settings))


# -- CSV files -------------------------------------------------------------------------------------------


def csv(rows):
    return "\n".join(",".join(map(str, row)) for row in rows)


def test_csv_with_header_and_plus_minus_one_labels_is_two_classes():
    upload = parse_csv("x,y,label\n" + csv([(i, -i, 1 if i % 2 else -1) for i in range(12)]))
    assert upload.problem == "classification" and upload.classes == ("-1", "1")
    assert upload.labels.tolist() == [i % 2 for i in range(12)] and upload.points.shape == (12, 2)


def test_csv_with_fractional_targets_is_a_regression():
    upload = parse_csv(csv([(i, i, i / 10) for i in range(20)]))
    assert upload.problem == "regression" and upload.labels[3] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x,y,label\n1,2,0\n1,2\n", "CSV row 3: expected 3 values (x, y, label), got 2"),
        ("1,2,0\n1,two,1\n", "CSV row 2: 'two' is not a number"),
        ("1,2,0\n1,nan,1\n", "CSV row 2: values must be finite"),
        ("1,2,0\n1,1e9,1\n", "CSV row 2: coordinates must lie within"),
        (csv([(i, i, 0) for i in range(5)]), "has 5 points; the playground needs at least 10"),
        (csv([(i, i, 3) for i in range(12)]), "every label in the CSV file is 3"),
        (csv([(i, i, i % 2) for i in range(LIMITS["points"] + 1)]), f"row {LIMITS['points'] + 1}: more than 5,000"),
    ],
)
def test_bad_csv_files_are_refused_naming_the_row(text, message):
    with pytest.raises(ProtocolError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_csv(text)


def test_a_first_row_with_a_typo_is_refused_as_data_not_dropped_as_a_header():
    rows = csv([(i, -i, i % 2) for i in range(12)])
    with pytest.raises(ProtocolError, match=r"CSV row 1: 'O.3' is not a number .*data, not a header"):
        parse_csv("0.5,O.3,1\n" + rows)
    with pytest.raises(ProtocolError, match=r"CSV row 3: 'O.3' is not a number \(x, y, label\); correct it"):
        parse_csv("# my points\nx,y,label\n0.5,O.3,1\n" + rows)
    header = parse_csv("# my points\nx,y,label\n" + rows)
    assert len(header.points) == 12 and header.note == (
        "12 points (classification, 2 classes); row 2 'x,y,label' read as a header"
    )
    plain = parse_csv("0.5,0.3,1\n" + rows)
    assert len(plain.points) == 13 and plain.points[0].tolist() == pytest.approx([0.5, 0.3])
    assert plain.note.endswith("no header: the first row read as data")
    # the page is told which was chosen
    s = Session()
    s.set_upload(header)
    assert s.data_message()["note"].endswith("row 2 'x,y,label' read as a header")


def test_every_hidden_neurons_map_travels_in_one_byte_string_and_is_that_neurons_output():
    s = session(hidden=[3, 2], features=["x1", "x2", "x1^2"], data="xor")
    s.advance(2)
    frame = s.frame()
    maps = np.frombuffer(frame["neurons"], np.uint8).reshape(5, 25, 25)
    from layerlab.data.playground import grid

    xx, yy, features = grid(["x1", "x2", "x1^2"], 50)
    w1, b1 = (s.model.layers[0].params[k] for k in ("weight", "bias"))
    w2, b2 = (s.model.layers[2].params[k] for k in ("weight", "bias"))
    h1 = np.tanh(features @ w1.T + b1)
    h2 = np.tanh(h1 @ w2.T + b2)
    for k, values in enumerate([*h1.T, *h2.T]):
        image = values.reshape(50, 50)[::-1][::2, ::2]  # the top row first, every second point
        expected = np.rint((np.clip(image, -1, 1) + 1) * 127.5)
        assert np.abs(maps[k].astype(int) - expected).max() <= 1, k
    assert maps[0].std() > 5  # a real picture, not a constant


def test_an_edited_weight_is_the_one_the_next_forward_pass_uses():
    from layerlab.playground.protocol import Edit

    s = session(hidden=[2])
    s.edit(Edit("weight", 1, 1, 0, 3.0))
    s.edit(Edit("bias", 2, 0, None, -0.25))
    assert s.model.layers[0].params["weight"][1, 0] == 3.0 and s.model.layers[2].params["bias"][0] == -0.25
    frame = s.frame()
    assert frame["weights"][0][1][0] == 3.0 and frame["biases"][1] == [-0.25]


# -- settings and messages -------------------------------------------------------------------------------


def test_settings_merge_onto_the_current_ones_and_keep_playgrounds_order():
    base = settings_from({"hidden": [3], "lr": 0.1})
    merged = settings_from({"features": ["sin(x2)", "x1"]}, base)
    assert (merged.hidden, merged.lr, merged.features) == ((3,), 0.1, ("x1", "sin(x2)"))
    with pytest.raises(ProtocolError, match="spiral is a classification data set"):
        settings_from({"data": "spiral", "problem": "regression"})
    with pytest.raises(ProtocolError, match="show_test must be true or false"):
        settings_from({"show_test": "yes"})


def test_message_size_limit():
    with pytest.raises(ProtocolError, match="over the limit"):
        parse_message(" " * (LIMITS["message_bytes"] + 1))


# -- the session's numbers -------------------------------------------------------------------------------


def test_playground_loss_is_twice_our_mse_for_classes_and_half_for_regression():
    classes = session(**tasks.preset(5))
    losses = classes.losses()
    p = classes.model.forward(classes.x_test)[:, 0]
    t = classes.data.test_labels
    assert losses["test_loss"] == pytest.approx(np.mean((p - t) ** 2), rel=1e-5)
    # Playground: tanh output o = 2p - 1 on labels -1/+1, loss 1/2 (o - y)^2 averaged
    assert losses["test_playground"] == pytest.approx(np.mean(0.5 * ((2 * p - 1) - (2 * t - 1)) ** 2), rel=1e-5)
    regression = session(data="plane", problem="regression")
    assert str(regression.spec).endswith("dense(1) linear")
    out = regression.model.forward(regression.x_test)
    r = regression.losses()
    assert r["test_playground"] == pytest.approx(np.mean(0.5 * (out - regression.data.test_labels) ** 2), rel=1e-5)


def test_task5_preset_reaches_its_target():
    s = session(**tasks.preset(5))
    for _ in range(40):
        s.advance(10)
        if s.frame()["target"]["met"]:
            break
    assert s.frame()["target"]["met"] and s.losses()["test_playground"] < 0.02 and 0 < s.epoch <= 400


def test_a_frames_budget_stops_inside_an_epoch_and_the_epoch_counter_counts_whole_ones():
    s = session(points=5000, batch=1, hidden=[32, 32])
    assert s.advance(1, budget=0.0)  # one step, then the budget is spent
    assert s.epoch == 0 and s.position == 1


def test_l2_penalty_adds_rate_times_weight_to_the_explained_update():
    plain, l2 = session(hidden=[3], batch=5), session(hidden=[3], batch=5, regularization="l2", rate=0.1)
    w = plain.model.layers[2].params["weight"][0]
    np.testing.assert_array_equal(w, l2.model.layers[2].params["weight"][0])  # the same initial weights
    difference = np.array(l2.explain(2, 0)["delta_w"]) - np.array(plain.explain(2, 0)["delta_w"])
    np.testing.assert_allclose(difference, -0.03 * 0.1 * w, rtol=1e-3, atol=1e-9)


def test_an_explained_neuron_that_a_smaller_network_drops_is_forgotten():
    s = session(hidden=[4, 2])
    s.select((2, 1))
    assert s.frame()["explain"]["unit"] == 1
    s.configure(settings_from({"hidden": [4]}, s.settings))
    assert "explain" not in s.frame() and s.explain_neuron is None
    s.select((1, 3))
    s.configure(settings_from({"hidden": [5]}, s.settings))
    assert s.frame()["explain"]["layer"] == 1


def test_a_diverging_learning_rate_stops_with_a_message_and_a_valid_frame():
    s = session(data="plane", problem="regression", lr=10, hidden=[8, 8], activation="relu")
    assert not s.advance(20)
    frame = s.frame()
    assert "learning rate 10 is too large" in frame["message"]
    unpack_frame(pack_frame(frame))  # still a frame the page can read (valid JSON: no NaN, no infinity)


def test_three_classes_get_a_softmax_output_layer():
    rows = [(i % 7, i // 7, i % 3) for i in range(60)]
    s = Session()
    s.set_upload(parse_csv(csv(rows)))
    assert str(s.spec) == "input(2) dense(4) tanh dense(2) tanh dense(3) softmax" and s.loss_name == "nll"
    frame = s.frame()
    assert frame["test_playground"] is None and 0 <= frame["test_accuracy"] <= 1


# -- export ----------------------------------------------------------------------------------------------


def test_exported_snippet_and_config_both_continue_the_weights(tmp_path, monkeypatch):
    s = session(**{**tasks.preset(6), "regularization": "l1", "rate": 0.001})
    s.advance(5)
    export = s.export()
    weights = tmp_path / f"{export['name']}.safetensors"
    weights.write_bytes(__import__("base64").b64decode(export["weights"]))
    script = export["python"].replace("start + 101", "start + 3")
    (tmp_path / "go.py").write_text(script)
    run = subprocess.run([sys.executable, "go.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("epoch 7: test loss") and "(mse)" in run.stdout
    config = tmp_path / "set-up.toml"
    config.write_text(export["config"])
    assert "l1 = 0.25" in export["config"]  # Playground's rate x 250 training points
    assert f'init_weights = "{weights.name}"' in export["config"]
    # Started from another folder, the config finds the weights beside it. With a rate of 1e-12 the epoch
    # leaves them as they were: its test loss is the loss of the playground's weights at the export.
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert (
        main(["train", "--config", "../set-up.toml", "--epochs", "1", "--lr", "1e-12", "--quiet", "--out", "run"]) == 0
    )
    first = json.loads((tmp_path / "elsewhere/run/metrics.jsonl").read_text().splitlines()[0])
    assert first["test_loss"] == pytest.approx(s.losses()["test_loss"], rel=1e-6)
    assert first["test_accuracy"] == s.losses()["test_accuracy"]
    assert layerlab.load("run").config.init_weights == str(weights)
    fresh = layerlab.fit(**{**layerlab.load("run").config.to_dict(), "init_weights": None}, quiet=True)
    assert abs(fresh.result.history[0]["test_loss"] - first["test_loss"]) > 0.01  # the seed's weights are others


def test_playground_command_refuses_a_bad_port(capsys):
    assert main(["playground", "--port", "70000", "--no-browser"]) == 2
    assert "--port must be from 1 to 65535" in capsys.readouterr().err


def test_playground_command_refuses_a_port_in_use(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["playground", "--port", str(port), "--no-browser"]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_a_frames_weights_and_biases_rounded_in_one_pass_equal_each_layers_own_rounding():
    from layerlab.playground.session import _round, _round_each

    s = session(hidden=[3, 2], features=["x1", "x2", "x1^2"], data="xor")
    s.advance(1)
    dense = s.model.layers[::2]
    dense[1].params["weight"][0] = [np.nan, np.inf, -np.inf]  # a diverged network's values
    frame = s.frame()
    assert frame["weights"] == [_round(layer.params["weight"], 4) for layer in dense]
    assert frame["biases"] == [_round(layer.params["bias"], 4) for layer in dense]
    assert frame["weights"][1][0] == [0.0, 1e9, -1e9]
    arrays = [np.array([[0.123456789, -2.5]], np.float32), np.zeros((0, 3)), np.array([1 / 3])]
    assert _round_each(arrays, 3) == [[[0.123, -2.5]], [], [0.333]]
