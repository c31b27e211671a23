"""The playground's Images mode: its session (torch engine, mnist-small), its checks, and its WebSocket.

The session is trained for a few hundred mini-batches (a few seconds); the WebSocket tests go through
Starlette's test client, as the 2-D mode's server tests do.
"""

import base64
import json
import tomllib

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from layerlab.experiments import load_experiment  # noqa: E402
from layerlab.playground import server  # noqa: E402
from layerlab.playground.image_protocol import (  # noqa: E402
    ImageSettings,
    image_settings_from,
    model_text,
    parse_image_message,
    presets,
)
from layerlab.playground.images import ImageSession  # noqa: E402
from layerlab.playground.protocol import ProtocolError  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    """The Lab 4A MLP preset after 300 mini-batches of 64 (2.4 epochs of mnist-small's 8,000 digits)."""
    session = ImageSession(image_settings_from({"preset": "lab4a-mlp"}))
    first = session.frame()
    assert session.train(300)
    return session, first


def test_lab4a_mlp_accuracy_rises_and_every_view_changes(trained):
    session, first = trained
    frame = session.frame()
    assert first["val_accuracy"] < 0.3  # untrained: near chance (10 classes)
    assert frame["val_accuracy"] > 0.85 and frame["test_accuracy"] > 0.85
    assert frame["step"] == 300 and frame["epoch"] == pytest.approx(300 * 64 / 8000)
    # the curve: only the new point travels, with the training figures since the last one
    assert len(first["curve"]) == 1 and len(frame["curve"]) == 1
    point = frame["curve"][0]
    assert point["train_loss"] < first["curve"][0]["val_loss"] and point["train_accuracy"] > 0.7
    same = session.frame()
    assert same["curve"] == [] and "filters" not in same and "confusion" not in same  # nothing new: nothing sent
    # confusion matrix of the 1,000 test digits: rows are the true classes
    confusion = np.array(frame["confusion"])
    assert confusion.sum() == 1000 and np.trace(confusion) / 1000 == pytest.approx(frame["test_accuracy"])
    assert np.trace(confusion) > np.trace(np.array(first["confusion"])) + 500
    # misclassified digits, each pixel image sent once per session
    wrong = frame["misclassified"]
    assert 0 < len(wrong) <= 24 and all(m["label"] != m["predicted"] for m in wrong)
    assert all(len(base64.b64decode(frame["digits"].get(str(m["index"]), "")) or b"x" * 784) == 784 for m in wrong)
    assert not set(frame["digits"]) & set(first["digits"])
    # activation maps of the test image: dense layers' outputs change as the network learns
    assert [a["layer"] for a in frame["activations"]] == ["relu", "relu", "dense(10)"]
    assert [a["units"] for a in frame["activations"]] == [100, 100, 10]
    assert frame["activations"][0]["pixels"] != first["activations"][0]["pixels"]
    assert frame["top3"][0]["class"] == str(frame["label"])  # test digit 0 is a 7, recognised
    assert frame["filters"]["count"] == 16 and frame["filters"]["pixels"] != first["filters"]["pixels"]
    norms = frame["grad_norms"]
    assert [n["layer"] for n in norms] == ["dense(100)", "dense(100)", "dense(10)"] and all(
        n["norm"] > 0 for n in norms
    )


def test_presets_are_the_built_in_experiments_runs():
    nielsen = {run.repeat_of or run.name: run.config for run in load_experiment("nielsen").runs}
    lab4a = {run.name: run.config for run in load_experiment("lab4a").runs}
    found = presets()
    assert list(found) == [
        "lab4a-mlp",
        "lab4a-linear",
        *(f"nielsen-{n}" for n in range(1, 6)),
        "small-cnn",
    ]
    assert found["lab4a-linear"]["settings"]["model"] == lab4a["ex1-linear"].model == "flatten dense(10)"
    row4 = found["nielsen-4"]["settings"]
    assert (row4["model"], row4["lr"], row4["l2"], row4["batch"]) == (nielsen["4-relu"].model, 0.03, 1.0, 10)
    assert found["nielsen-5"]["settings"]["augment"] == "shift"  # row 5's expansion, as random shifts
    for key in found:
        settings = image_settings_from({"preset": key})
        assert settings.preset == key and model_text(settings)


def test_activation_and_dropout_rewrite_the_hidden_layers_only():
    settings = image_settings_from({"preset": "nielsen-1", "activation": "relu", "dropout": 0.5})
    assert model_text(settings) == (
        "flatten dense(100, init=normal(0.1), bias_init=normal(1.0)) relu dropout(0.5) dense(10, init=normal(0.0))"
    )
    cnn = image_settings_from({"preset": "nielsen-3", "activation": "tanh", "dropout": 0.2})
    assert model_text(cnn).count("tanh") == 3 and model_text(cnn).count("dropout(0.2)") == 1


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"model": "flatten dense(7)"}, "need 10 values"),
        ({"model": "dense(10) nonsense(3)"}, "model:"),
        ({"model": "conv(600, 3) globalavgpool dense(10)"}, "values across its layers"),
        ({"model": "flatten dense(3000) relu dense(10)"}, "parameters is over"),
        ({"model": "flatten dense(10) softmax"}, "leave the softmax out"),
        ({"model": 5}, "model must be a model spec"),
        ({"lr": 0}, "lr (learning rate) must be above 0"),
        ({"lr": True}, "must be a number"),
        ({"batch": 0}, "batch must be from 1 to 1000"),
        ({"dropout": 1.0}, "at most 0.9"),
        ({"optimizer": "lbfgs"}, "optimizer must be one of"),
        ({"preset": "nielsen-9"}, "preset must be one of"),
        ({"data": "/etc/passwd"}, "data must be one of"),
        ({"secret": 1}, "unknown setting(s) secret"),
    ],
)
def test_bad_settings_are_refused_with_their_reason(settings, expected):
    with pytest.raises(ProtocolError, match=None) as error:
        image_settings_from(settings)
    assert expected in str(error.value)


def test_a_drawn_digit_is_prepared_as_layerlab_predict_prepares_an_image(trained):
    session, _ = trained
    test = session.dataset.test
    for index in np.flatnonzero(test.y == 3)[:3]:
        # a 3 of the test set drawn large, dark on light and off centre, as a person draws on a canvas
        canvas = np.full((280, 280), 255, np.uint8)
        big = 255 - np.kron(test.x[index, 0], np.ones((8, 8), np.uint8))
        canvas[20:244, 40:264] = big
        answer = session.draw(canvas[:, :, None])
        assert answer["type"] == "classified" and answer["source"] == "drawing"
        assert answer["top3"][0]["class"] == "3", answer["top3"]
        probabilities = [t["probability"] for t in answer["top3"]]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0001
        assert any("inverted" in note for note in answer["notes"]) and any("centred" in n for n in answer["notes"])
        drawn = np.frombuffer(base64.b64decode(answer["input"]), np.uint8).reshape(28, 28)
        rows, cols = np.nonzero(drawn > 50)
        assert max(np.ptp(rows), np.ptp(cols)) <= 20  # scaled into MNIST's 20x20 box
        assert session.frame()["source"] == "drawing"  # the maps follow the drawing until a test image is picked
    session.pick(5)
    assert session.frame()["source"] == "test"


def test_export_then_import_gives_the_same_predictions(trained, tmp_path):
    session, _ = trained
    export = session.export()
    blob = base64.b64decode(export["weights"])
    fresh = ImageSession(image_settings_from({"preset": "small-cnn"}))
    fresh.import_weights(blob)
    assert fresh.settings == session.settings and fresh.steps == session.steps
    x = session.dataset.test.x[:200]
    assert np.array_equal(fresh.trainable.predict_proba(x), session.trainable.predict_proba(x))
    # the config trains on with `layerlab train` from the exported weights
    (tmp_path / f"{export['name']}.safetensors").write_bytes(blob)
    config = tomllib.loads(export["config"])
    assert config["model"] == session.spec_text and config["init_weights"] == f"{export['name']}.safetensors"
    import layerlab

    config["init_weights"] = str(tmp_path / config["init_weights"])
    run = layerlab.fit(**{**config, "epochs": 1, "limit": 256, "lr": 1e-6}, quiet=True, progress=False)
    assert run.result.test_accuracy > 0.85  # the exported weights, not fresh ones (those score ~10%)
    compile(export["python"], "cell", "exec")
    assert "layerlab.fit(" in export["python"] and export["name"] in export["python"]


def test_imports_that_are_not_image_exports_are_refused(trained):
    session, _ = trained
    from layerlab.weights import weights_to_bytes

    for blob, expected in [
        (b"\x00" * 4, "not a readable .safetensors"),
        (b"\xff" * 20, "not a readable .safetensors"),
        (weights_to_bytes({"w": np.zeros(3, np.float32)}, {"spec": "dense(10)"}), "no Images settings"),
    ]:
        with pytest.raises(ProtocolError, match="import") as error:
            session.import_weights(blob)
        assert expected in str(error.value)
    before = session.trainable.predict_proba(session.dataset.test.x[:100])
    settings = json.dumps(session.settings.to_json())
    wrong = weights_to_bytes(
        {"1.weight": np.zeros(3, np.float32)}, {"spec": session.spec_text, "playground_images": settings}
    )
    with pytest.raises(ProtocolError, match="import"):
        session.import_weights(wrong)
    other = json.dumps({**session.settings.to_json(), "model": "flatten dense(10)"})
    with pytest.raises(ProtocolError, match="the weights are for"):
        session.import_weights(weights_to_bytes({}, {"spec": session.spec_text, "playground_images": other}))
    # the trained network is kept, weights and all
    assert np.array_equal(session.trainable.predict_proba(session.dataset.test.x[:100]), before)


# -- the WebSocket ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    with TestClient(server.create_app(hosts=frozenset({"testserver"}))) as c:
        yield c


def receive(ws, kind):
    for _ in range(500):
        message = ws.receive_json()
        if message["type"] == "frame":
            ws.send_text('{"type": "ack"}')
        if message["type"] == "error" and kind != "error":
            raise AssertionError(message["message"])
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def pixels(width, height, fill=0):
    return base64.b64encode(bytes([fill]) * (width * height)).decode()


HOSTILE = [
    ("not json", "not valid JSON"),
    ('{"type": "explain"}', "unknown message type"),
    ('{"type": "config", "settings": {"model": "flatten dense(3)"}}', "need 10 values"),
    ('{"type": "config", "settings": {"batch": 100000}}', "batch must be from 1 to 1000"),
    ('{"type": "pick", "index": 5000}', "there are 1,000 test images"),
    ('{"type": "pick", "index": -1}', "pick's index"),
    ('{"type": "draw", "width": 10, "height": 10, "pixels": "AAAA"}', "3 pixels sent for a 10x10 drawing"),
    ('{"type": "draw", "width": 100000, "height": 10, "pixels": ""}', "draw's width must be from 8 to 560"),
    ('{"type": "draw", "width": 10, "height": 10, "pixels": "!!"}', "not valid base64"),
    ('{"type": "import", "weights": "AAAA"}', "not a readable .safetensors"),
    ('{"type": "step", "extra": 1}', "a step message takes no fields"),
]


def test_hostile_messages_get_error_frames_and_the_session_survives(client):
    with client.websocket_connect("/ws/images") as ws:
        data = receive(ws, "data")
        assert data["sizes"] == {"train": 8000, "val": 1000, "test": 1000} and data["settings"]["preset"] == "lab4a-mlp"
        receive(ws, "frame")
        for text, expected in HOSTILE:
            ws.send_text(text)
            error = receive(ws, "error")
            assert expected in error["message"], (text, error["message"])
            assert error["settings"]["model"] == ImageSettings().model  # the settings in force, unchanged
        ws.send_json({"type": "step"})
        assert receive(ws, "frame")["step"] == 1
        ws.send_json({"type": "draw", "width": 56, "height": 56, "pixels": pixels(56, 56)})
        blank = receive(ws, "classified")
        assert "no digit found" in blank["notes"][0]


def test_play_streams_frames_and_a_preset_rebuilds_the_network(client):
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "data")
        receive(ws, "frame")
        ws.send_json({"type": "config", "settings": {"preset": "small-cnn"}, "rev": 3})
        data = receive(ws, "data")
        assert data["spec"].startswith("conv(8, 5) relu maxpool(2)") and data["settings"]["optimizer"] == "adam"
        frame = receive(ws, "frame")
        assert frame["rev"] == 3 and frame["filters"]["count"] == 8 and frame["filters"]["height"] == 5
        conv = frame["activations"][0]
        assert (conv["maps"], conv["height"], conv["width"]) == (8, 24, 24)
        ws.send_json({"type": "play"})
        steps = [receive(ws, "frame")["step"] for _ in range(5)]
        ws.send_json({"type": "pause"})
        assert steps == sorted(steps) and steps[-1] > steps[0]


def test_the_images_page_and_its_presets_are_served(client):
    page = client.get("/images")
    assert page.status_code == 200 and "layerlab playground: images" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    body = client.get("/api/images").json()
    assert "lab4a-mlp" in body["presets"] and body["datasets"][0] == "mnist-small"
    assert client.get("/static/images.js").status_code == 200


def test_cross_site_pages_cannot_open_an_images_session(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws/images", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()


def test_message_checks_directly():
    assert parse_image_message('{"type": "pick", "index": 3}').index == 3
    drawing = parse_image_message(json.dumps({"type": "draw", "width": 8, "height": 9, "pixels": pixels(8, 9, 7)}))
    assert drawing.drawing.shape == (9, 8, 1) and int(drawing.drawing.max()) == 7
    with pytest.raises(ProtocolError, match="binary messages"):
        parse_image_message(b"\x00")


def test_random_messages_never_break_an_images_session(client):
    """Seeded junk in every field of every message type: each gets an answer, never an internal error."""
    rng = np.random.default_rng(27)
    values = [None, True, 0, -1, 3, 2**70, 0.5, 1e308, "", "relu", "adam", "mnist", "shift", "flatten dense(10)"]
    values += [[], [3], {}, {"a": 1}, "AAAA"]
    keys = [*ImageSettings().to_json(), "bogus"]
    kinds = ["config", "step", "reset", "pick", "draw", "import", "export", "pause", "ack", "nope", 3]
    fields = ["settings", "index", "width", "height", "pixels", "weights", "rev"]
    sentinel = '{"type": "pick", "index": 99999}'
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "data")
        receive(ws, "frame")
        for _ in range(60):
            kind = kinds[rng.integers(len(kinds))]
            message = {"type": kind}
            if kind == "config":
                chosen = rng.choice(keys, size=rng.integers(1, 3), replace=False)
                message["settings"] = {str(k): values[rng.integers(len(values))] for k in chosen}
            for name in rng.choice(fields, size=rng.integers(0, 3), replace=False):
                message[str(name)] = values[rng.integers(len(values))]
            ws.send_text(json.dumps(message))
            ws.send_text(sentinel)
            while True:
                answer = ws.receive_json()
                assert answer["type"] in ("error", "frame", "data", "export", "classified"), answer
                assert "internal error" not in answer.get("message", ""), (message, answer)
                if answer["type"] == "frame":
                    ws.send_text('{"type": "ack"}')
                if answer["type"] == "error" and "there are 1,000 test images" in answer["message"]:
                    break
        ws.send_json({"type": "config", "settings": {"preset": "lab4a-linear"}, "rev": 99})
        assert receive(ws, "frame")["rev"] == 99


def test_reset_draws_new_weights_and_missing_data_sets_are_explained(client):
    with client.websocket_connect("/ws/images") as ws:
        receive(ws, "data")
        first = receive(ws, "frame")
        ws.send_json({"type": "step"})
        assert receive(ws, "frame")["step"] == 1
        ws.send_json({"type": "reset"})
        assert receive(ws, "data")["settings"]["seed"] == 1
        again = receive(ws, "frame")
        assert again["step"] == 0 and again["filters"]["pixels"] != first["filters"]["pixels"]
        ws.send_json({"type": "config", "settings": {"data": "fashion-mnist"}})
        error = receive(ws, "error")
        assert "--data-dir" in error["message"] and error["settings"]["data"] == "mnist-small"
        ws.send_json({"type": "step"})
        assert receive(ws, "frame")["step"] == 1  # the session goes on with mnist-small


def test_images_sessions_count_against_the_cap(client, monkeypatch):
    monkeypatch.setitem(server.LIMITS, "sessions", 1)
    with client.websocket_connect("/ws/images") as first:
        receive(first, "data")
        with client.websocket_connect("/ws") as second:
            assert "its limit; close another tab first" in second.receive_json()["message"]
        with client.websocket_connect("/ws/images") as third:
            assert "its limit; close another tab first" in third.receive_json()["message"]
