"""layerlab playground's server: the HTTP routes and the WebSocket protocol, through Starlette's test client.

Every malformed or hostile message must get an error frame and leave the session working.
"""

import base64
import contextlib
import json
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from layerlab.playground import server, tasks  # noqa: E402
from layerlab.playground.protocol import pack_frame, settings_from, unpack_frame  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with TestClient(server.create_app(hosts=frozenset({"testserver"}))) as c:  # the test client's Host
        yield c


def decoded(raw: str | bytes) -> dict:
    """A message as the page reads it: JSON text, or a frame in one binary message (``pack_frame``)."""
    return unpack_frame(raw) if isinstance(raw, bytes) else json.loads(raw)


def read(ws) -> dict:
    """The next message from the test client's WebSocket, text or binary."""
    raw = ws.receive()
    return decoded(raw["bytes"] if raw.get("bytes") is not None else raw["text"])


def receive(ws, kind):
    """The next message of type ``kind``, acknowledging frames on the way (as the page does)."""
    for _ in range(200):
        message = read(ws)
        if message["type"] == "frame":
            ws.send_text('{"type": "ack"}')
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def opened(ws):
    """A new session's first messages: the default data, then a frame."""
    assert receive(ws, "data")["problem"] == "classification"
    receive(ws, "frame")
    return ws


def test_page_static_files_and_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and "<title>layerlab playground</title>" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")  # nothing from a CDN
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/../protocol.py").status_code == 404


def test_task_presets_are_all_valid_settings(client):
    body = client.get("/api/tasks").json()
    assert sorted(map(int, body["tasks"])) == list(range(1, 11))
    for number, task in body["tasks"].items():
        settings = settings_from(task["settings"])
        assert settings.task == int(number) and task["questions"]
    assert (
        body["tasks"]["10"]["settings"]["hidden"] == [8] * 6 and len(body["tasks"]["10"]["settings"]["features"]) == 7
    )
    assert [n for n, t in tasks.TASKS.items() if "target" in t] == [5, 6, 8, 10]


def test_a_frame_is_one_binary_message_its_maps_raw_bytes_after_a_json_header(client):
    """Task 10's frame: 48 neuron maps of 25 x 25 and the 50 x 50 output as bytes (base64 text was 4/3 of it),
    the losses and weights in the JSON header before them."""
    with client.websocket_connect("/ws") as s:
        opened(s)
        s.send_json({"type": "config", "settings": tasks.preset(10), "rev": 1})
        receive(s, "data")
        raw = s.receive()  # the frame that follows the data
        assert raw.get("text") is None and isinstance(raw["bytes"], bytes)
        frame = unpack_frame(raw["bytes"])
        assert frame["type"] == "frame" and frame["rev"] == 1
        maps = 48 * 25 * 25 + 50 * 50
        assert (len(frame["neurons"]), len(frame["output"])) == (48 * 25 * 25, 50 * 50)
        header = int.from_bytes(raw["bytes"][:4], "little")
        assert len(raw["bytes"]) == 4 + header + maps and header < 8000  # the weights: 433 numbers
        assert np.frombuffer(frame["neurons"], np.uint8).std() > 5  # pictures, not a constant
    message = {"type": "frame", "epoch": 3, "a": b"\x00\xff", "loss": 0.5, "b": b"", "c": bytes(range(7))}
    assert unpack_frame(pack_frame(message)) == message


def test_config_rebuilds_and_frames_carry_the_network(client):
    with client.websocket_connect("/ws") as s:
        opened(s)
        s.send_json({"type": "config", "settings": tasks.preset(5), "rev": 7})
        data = receive(s, "data")
        assert data["settings"]["data"] == "xor" and len(data["train"]) == 250 and len(data["test"]) == 250
        frame = receive(s, "frame")
        assert frame["rev"] == 7 and frame["epoch"] == 0
        assert len(frame["output"]) == 50 * 50
        assert len(frame["neurons"]) == (4 + 2) * 25 * 25  # every hidden neuron's map, in one
        assert [np.shape(w) for w in frame["weights"]] == [(4, 2), (2, 4), (1, 2)]
        assert frame["test_playground"] == pytest.approx(2 * frame["test_loss"])
        assert frame["target"] == {"value": 0.02, "met": False}
        # a learning-rate change keeps the weights (no rebuild), a new activation rebuilds them
        s.send_json({"type": "config", "settings": {"lr": 0.1}, "rev": 8})
        same = receive(s, "frame")
        assert same["rev"] == 8 and same["weights"] == frame["weights"]
        s.send_json({"type": "step"})
        stepped = receive(s, "frame")
        assert stepped["epoch"] == 1 and stepped["weights"] != frame["weights"]


def test_play_streams_frames_and_pause_stops(client):
    with client.websocket_connect("/ws") as s:
        opened(s)
        s.send_json({"type": "play"})
        epochs = [receive(s, "frame")["epoch"] for _ in range(5)]
        assert epochs == sorted(epochs) and epochs[-1] >= 5 and all(e >= 1 for e in epochs)
        s.send_json({"type": "pause"})
        for _ in range(20):
            frame = receive(s, "frame")
            if not frame["playing"]:
                break
        assert not frame["playing"]


def test_closing_the_socket_ends_its_session(client):
    before = len(server.CONNECTIONS)
    with client.websocket_connect("/ws") as s:
        opened(s)
        s.send_json({"type": "play"})
        receive(s, "frame")
        assert len(server.CONNECTIONS) == before + 1
        connection = next(iter(server.CONNECTIONS))
    for _ in range(100):  # the server notices the close at its next receive
        if len(server.CONNECTIONS) == before:
            break
        client.portal.call(__import__("anyio").sleep, 0.02)
    assert len(server.CONNECTIONS) == before and not connection.playing and connection.trainer.done()


HOSTILE = [
    ("not json at all", "not valid JSON"),
    ("[1, 2, 3]", "unknown message type"),
    ('{"type": "rm -rf"}', "unknown message type"),
    ('{"type": "config"}', "needs settings"),
    ('{"type": "config", "settings": {"lr": "fast"}}', "lr (learning rate) must be a number"),
    ('{"type": "config", "settings": {"lr": -1}}', "lr (learning rate) must be above 0"),
    ('{"type": "config", "settings": {"lr": 1e999}}', "must be a number"),
    ('{"type": "config", "settings": {"hidden": [4, 1000]}}', "from 1 to 32"),
    ('{"type": "config", "settings": {"hidden": [1,1,1,1,1,1,1,1,1,1,1]}}', "at most 10 layer widths"),
    ('{"type": "config", "settings": {"features": ["x3"]}}', "features must name each of"),
    ('{"type": "config", "settings": {"features": []}}', "non-empty list"),
    ('{"type": "config", "settings": {"batch": 2.5}}', "batch must be a whole number"),
    ('{"type": "config", "settings": {"seed": NaN}}', "seed must be a whole number"),
    ('{"type": "config", "settings": {"points": Infinity}}', "points must be a whole number"),
    ('{"type": "config", "settings": {"seed": 1e300}}', "seed must be from 0 to"),
    (
        '{"type": "config", "settings": {"points": 5000, "hidden": [32, 32, 32, 32, 32, 32, 32, 32, 32, 32]}}',
        "more work",
    ),
    ('{"type": "config", "settings": {"data": "../../etc/passwd"}}', "data must be one of"),
    ('{"type": "config", "settings": {"data": "plane"}}', "regression data set"),
    ('{"type": "config", "settings": {"data": "upload"}}', "no CSV file was uploaded"),
    ('{"type": "config", "settings": {"__class__": 1}}', "unknown setting"),
    ('{"type": "config", "settings": {}, "rev": -3}', "rev must be from 0"),
    ('{"type": "play", "extra": 1}', "a play message takes no fields"),
    ('{"type": "explain", "neuron": [9, 0]}', "there is no neuron 0 in layer 9"),
    ('{"type": "explain", "neuron": "all"}', "explain's neuron must be"),
    ('{"type": "upload", "csv": 42}', "needs csv"),
    ('{"type": "upload", "csv": "1,2,0\\n3,4"}', "CSV row 2: expected 3 values"),
    ('{"type": "import", "weights": "%%%"}', "not valid base64"),
    ('{"type": "import", "weights": "aGVsbG8gd29ybGQ="}', "not a readable .safetensors file"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ('{"type": "upload", "csv": "' + "1,2,0\\n" * 200_000 + '"}', "over 1,000 kB"),
]


def test_hostile_messages_get_error_frames_and_the_session_survives(client):
    with client.websocket_connect("/ws") as s:
        opened(s)
        for text, expected in HOSTILE:
            s.send_text(text)
            error = receive(s, "error")
            assert expected in error["message"], (text[:60], error["message"])
            assert error["settings"]["data"] == "circle"  # the settings in force, unchanged
        s.send_bytes(b"\x00\x01binary")
        assert "binary messages are not accepted" in receive(s, "error")["message"]
        s.send_json({"type": "step"})
        assert receive(s, "frame")["epoch"] == 1


def test_explain_reports_the_step_sgd_then_takes(client):
    with client.websocket_connect("/ws") as s:
        opened(s)
        s.send_json({"type": "config", "settings": {"hidden": [3], "batch": 5, "lr": 0.5}, "rev": 1})
        receive(s, "frame")
        s.send_json({"type": "explain", "neuron": [1, 2]})
        frame = receive(s, "frame")
        x = frame["explain"]
        assert (x["layer"], x["unit"], x["batch_size"], x["activation"]) == (1, 2, 5, "tanh")
        assert x["inputs"] == ["x1", "x2"] and len(x["e"]) == 5
        # e = w . x + b and y = tanh(e) on every row of the batch
        e = np.array(x["x"]) @ np.array(x["weights"]) + x["bias"]
        np.testing.assert_allclose(x["e"], e, atol=1e-3)
        np.testing.assert_allclose(x["y"], np.tanh(x["e"]), atol=1e-4)
        before = np.array(frame["weights"][0][2])
        s.send_json({"type": "config", "settings": {"speed": 1}, "rev": 2})  # no change: frame again
        receive(s, "frame")
    # the explanation predicts the first step's change exactly (checked in-process on the same session)
    from layerlab.playground.session import Session

    session = Session(settings_from({"hidden": [3], "batch": 5, "lr": 0.5}))
    predicted = session.explain(1, 2)
    w0 = session.model.layers[0].params["weight"][2].copy()
    b0 = float(session.model.layers[0].params["bias"][2])
    assert session.step()
    np.testing.assert_allclose(session.model.layers[0].params["weight"][2] - w0, predicted["delta_w"], rtol=1e-3)
    assert float(session.model.layers[0].params["bias"][2]) - b0 == pytest.approx(predicted["delta_b"], rel=1e-3)
    np.testing.assert_allclose(w0, before, atol=1e-4)


def test_three_class_csv_upload_gets_a_softmax_output(client):
    rng = np.random.default_rng(0)
    centres = {"a": (-3, -3), "b": (3, -3), "c": (0, 3)}
    rows = ["x,y,label"] + [
        f"{cx + rng.normal():.3f},{cy + rng.normal():.3f},{i}"
        for i, (cx, cy) in enumerate(centres.values())
        for _ in range(40)
    ]
    with client.websocket_connect("/ws") as s:
        opened(s)
        s.send_json({"type": "upload", "csv": "\n".join(rows)})
        data = receive(s, "data")
        assert data["classes"] == ["0", "1", "2"] and data["settings"]["data"] == "upload"
        assert len(data["train"]) + len(data["test"]) == 120
        frame = receive(s, "frame")
        assert frame["weights"][-1] and np.shape(frame["weights"][-1])[0] == 3
        assert "confidence" in frame and frame["test_playground"] is None
        s.send_json({"type": "config", "settings": {"lr": 0.3}, "rev": 3})
        receive(s, "frame")
        for _ in range(15):
            s.send_json({"type": "step"})
            frame = receive(s, "frame")
        assert frame["train_accuracy"] > 0.9  # three well-separated blobs


def test_export_then_import_restores_settings_and_weights(client):
    with client.websocket_connect("/ws") as s:
        opened(s)
        s.send_json(
            {"type": "config", "settings": {**tasks.preset(6), "regularization": "l2", "rate": 0.001}, "rev": 1}
        )
        receive(s, "frame")
        for _ in range(3):
            s.send_json({"type": "step"})
            trained = receive(s, "frame")
        s.send_json({"type": "export"})
        export = receive(s, "export")
    assert export["spec"] == "input(3) dense(1) tanh dense(1) sigmoid"
    assert 'data = "xor"' in export["config"] and "l2 = 0.25" in export["config"]
    assert export["command"].startswith("layerlab train --config playground-xor-epoch3.toml")
    with client.websocket_connect("/ws") as s:
        opened(s)
        s.send_json({"type": "import", "weights": export["weights"]})
        data = receive(s, "data")
        assert data["settings"]["features"] == ["x1", "x2", "x1*x2"] and data["settings"]["rate"] == 0.001
        frame = receive(s, "frame")
        assert frame["weights"] == trained["weights"] and frame["epoch"] == 3
        assert frame["test_loss"] == pytest.approx(trained["test_loss"])
        # the same file with its settings tampered: refused, session unchanged
        blob = base64.b64decode(export["weights"])
        size = int.from_bytes(blob[:8], "little")
        header = json.loads(blob[8 : 8 + size])
        header["__metadata__"]["playground"] = json.dumps({"hidden": [64]})
        text = json.dumps(header).encode()
        forged = len(text).to_bytes(8, "little") + text + blob[8 + size :]
        s.send_json({"type": "import", "weights": base64.b64encode(forged).decode()})
        assert "from 1 to 32" in receive(s, "error")["message"]
        s.send_json({"type": "step"})
        assert receive(s, "frame")["epoch"] == 4


def test_cross_site_pages_cannot_open_a_session(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()


def test_sessions_are_capped(client, monkeypatch):
    monkeypatch.setitem(server.LIMITS, "sessions", 1)
    with client.websocket_connect("/ws") as first:
        opened(first)
        with client.websocket_connect("/ws") as second:
            assert "its limit; close another tab first" in second.receive_json()["message"]
        first.send_json({"type": "step"})
        assert receive(first, "frame")["epoch"] == 1


def test_random_messages_never_break_the_session(client):
    """Seeded junk in every field of every message type: each gets an answer, the session goes on."""
    rng = np.random.default_rng(15)
    values = [
        None,
        True,
        0,
        -1,
        7,
        2**70,
        0.5,
        -1e-9,
        1e308,
        "",
        "x1",
        "tanh",
        "upload",
        [],
        [3],
        [1, "a"],
        {},
        {"a": 1},
    ]
    keys = [*settings_from({}).to_json(), "bogus"]
    kinds = ["config", "step", "explain", "upload", "import", "export", "pause", "ack", "nope", 3]
    sentinel = '{"type": "explain", "neuron": [99, 0]}'
    with client.websocket_connect("/ws") as s:
        opened(s)
        for _ in range(150):
            kind = kinds[rng.integers(len(kinds))]
            message = {"type": kind}
            if kind == "config":
                chosen = rng.choice(keys, size=rng.integers(1, 4), replace=False)
                message["settings"] = {str(k): values[rng.integers(len(values))] for k in chosen}
            elif rng.random() < 0.5:
                message[str(rng.choice(["neuron", "csv", "weights", "settings"]))] = values[rng.integers(len(values))]
            s.send_text(json.dumps(message))
            s.send_text(sentinel)
            while True:
                answer = read(s)
                assert answer["type"] in ("error", "frame", "data", "export"), answer
                assert "internal error" not in answer.get("message", ""), (message, answer)
                if answer["type"] == "frame":
                    s.send_text('{"type": "ack"}')
                if answer["type"] == "error" and "explain's layer must be from 1 to 11" in answer["message"]:
                    break
        s.send_json({"type": "config", "settings": tasks.preset(1), "rev": 99})
        assert receive(s, "frame")["rev"] == 99


# -- the real server (uvicorn, as `layerlab playground` runs it) -------------------------------------------


@pytest.fixture(scope="module")
def live():
    """``layerlab playground``'s own uvicorn server on a free loopback port: yields the port."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = uvicorn.Server(server.uvicorn_config("127.0.0.1", port))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(200):
        if running.started:
            break
        time.sleep(0.05)
    assert running.started
    yield port
    running.should_exit = True
    thread.join(timeout=10)


def handshake_request(host: str) -> str:
    return (
        f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )


def handshake(port: int, host: str) -> str:
    """The status line of a real WebSocket handshake on /ws sent with this Host header."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(handshake_request(host).encode())
        return s.recv(4096).decode("latin-1").split("\r\n")[0]


def test_dns_rebinding_another_host_name_is_refused(live):
    """A page of rebind.example whose name now resolves to 127.0.0.1 sends Host: rebind.example."""
    import http.client

    assert " 403 " in handshake(live, "rebind.example") + " "
    assert " 403 " in handshake(live, f"rebind.example:{live}") + " "
    assert " 101 " in handshake(live, f"127.0.0.1:{live}")  # the URL the server printed
    assert " 101 " in handshake(live, f"localhost:{live}")
    for host, status in (("rebind.example", 400), (f"127.0.0.1:{live}", 200)):
        connection = http.client.HTTPConnection("127.0.0.1", live, timeout=10)
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        body = response.read().decode()
        assert response.status == status, (host, response.status)
        if status == 400:
            assert "not 'rebind.example'" in body and "127.0.0.1" in body
        connection.close()


def test_host_names_of_a_server_name_ipv6_and_wildcards():
    assert server._host_name("[::1]:8765") == "::1" and server._host_name("LocalHost:80") == "localhost"
    assert server._host_name("::1") == "::1" and server._host_name("example.org") == "example.org"
    assert "rebind.example" not in server.host_names("127.0.0.1")
    assert "box.lan" in server.host_names("box.lan") and "127.0.0.1" in server.host_names("box.lan")


def test_an_oversized_import_gets_a_message_and_the_session_goes_on(live):
    """3.5 MB, base64 4.7 MB: over the old 4 MB message limit, which closed the connection."""
    from websockets.sync.client import connect

    blob = base64.b64encode(np.random.default_rng(0).bytes(3_500_000)).decode()
    with connect(f"ws://127.0.0.1:{live}/ws", max_size=None, open_timeout=30) as ws:

        def next_of(kind):
            for _ in range(50):
                message = decoded(ws.recv(timeout=30))
                if message["type"] == kind:
                    return message
            raise AssertionError(kind)

        next_of("frame")
        ws.send(json.dumps({"type": "import", "weights": blob}))
        error = next_of("error")["message"]
        assert "import: the file is 3,500 kB, over the limit of 2,000 kB" in error
        ws.send('{"type": "step"}')
        assert next_of("frame")["epoch"] == 1  # the session lives on


def test_clicking_a_link_or_a_neuron_sets_that_weight_or_bias(client):
    with client.websocket_connect("/ws") as s:
        opened(s)
        s.send_json({"type": "edit", "param": "weight", "layer": 2, "unit": 1, "input": 3, "value": -2.5})
        frame = receive(s, "frame")
        assert frame["weights"][1][1][3] == -2.5
        s.send_json({"type": "edit", "param": "bias", "layer": 3, "unit": 0, "value": 0.75})
        after = receive(s, "frame")
        assert after["biases"][2] == [0.75] and after["weights"][1][1][3] == -2.5
        assert after["test_loss"] != frame["test_loss"]  # the output moved with the bias
        for message, expected in (
            ({"layer": 4, "unit": 0, "param": "bias", "value": 1}, "no neuron 0 in layer 4; the layers have [4, 2, 1]"),
            ({"layer": 2, "unit": 2, "param": "bias", "value": 1}, "no neuron 2 in layer 2"),
            ({"layer": 1, "unit": 0, "input": 2, "param": "weight", "value": 1}, "2 inputs (features), no input 2"),
            ({"layer": 2, "unit": 0, "input": 4, "param": "weight", "value": 1}, "(neurons in layer 1), no input 4"),
            ({"layer": 1, "unit": 0, "input": 0, "param": "weight", "value": 1e9}, "at most 1000"),
            ({"layer": 1, "unit": 0, "input": 0, "param": "weight", "value": "2"}, "the weight must be a number"),
            ({"layer": 1, "unit": 0, "input": 0, "param": "bias", "value": 1}, "a bias has no input"),
            ({"layer": 1, "unit": 0, "param": "weight", "value": 1}, "edit's input must be a whole number"),
            ({"layer": 1, "unit": 0, "param": "gain", "value": 1}, "param must be weight or bias"),
        ):
            s.send_json({"type": "edit", **message})
            assert expected in receive(s, "error")["message"], message
        s.send_json({"type": "step"})
        assert receive(s, "frame")["epoch"] == 1


def test_restarting_right_after_ctrl_c_with_a_tab_open_works(tmp_path):
    """Ctrl-C closes the open tab's connection from the server's side: the port's connections linger in
    TIME_WAIT for up to a minute, which a pre-check binding without SO_REUSEADDR took for 'in use'."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    from websockets.sync.client import connect

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "layerlab", "playground", "--no-browser", "--port", str(port)]

    def start() -> subprocess.Popen:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return process
            except OSError:
                time.sleep(0.05)
        process.kill()
        raise AssertionError(process.communicate())

    first = start()
    try:  # a tab: the handshake, the first frames; it closes its end only after the server has gone
        tab = socket.create_connection(("127.0.0.1", port), timeout=30)
        tab.sendall(handshake_request(f"127.0.0.1:{port}").encode())
        assert tab.recv(65536).startswith(b"HTTP/1.1 101")
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=30) == 130
        while tab.recv(65536):  # the server's close frame, then the end of the stream
            pass
        tab.close()  # the server's side of this connection is now in TIME_WAIT
    finally:
        first.kill()
    second = start()  # at once: the first server's connection is still in TIME_WAIT
    try:
        with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as tab:
            assert json.loads(tab.recv(timeout=30))["type"] == "data"
    finally:
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=30) == 130
        assert "cannot listen" not in second.stderr.read()


def _default_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a shell running the tests in the background ignores it


@contextlib.contextmanager
def playing_a_small_network(port: int):
    """A socket to the server on ``port`` whose page has a 4-unit network (frames in ms), its first frame
    drawn, and play pressed; yields it and a function that reads its next message (decoded)."""
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:

        def message(timeout: float = 10) -> dict:
            return decoded(ws.recv(timeout=timeout))

        while message()["type"] != "frame":
            pass
        ws.send('{"type": "config", "settings": {"hidden": [4]}, "rev": 1}')
        while (first := message())["type"] != "frame" or first["rev"] < 1:
            pass
        ws.send('{"type": "ack"}')
        ws.send('{"type": "play"}')
        yield ws, message


def test_playing_sends_the_next_frame_only_once_the_page_has_drawn_the_one_before(live):
    """A frame is made while the page draws the one before and sent on its ack (one per screen refresh),
    never a frame that the page would skip; one made before a control change's answer is sent before it."""
    with playing_a_small_network(live) as (ws, message):
        assert message()["type"] == "frame"  # the first frame of play, then nothing until it is drawn
        with pytest.raises(TimeoutError):
            message(timeout=0.4)
        epochs = []
        for _ in range(5):
            ws.send('{"type": "ack"}')
            epochs.append(message()["epoch"])  # ready before the ack, sent on it
            with pytest.raises(TimeoutError):
                message(timeout=0.1)
        assert epochs == sorted(set(epochs))
        for rev in range(2, 8):  # a frame trained before a change's answer never follows that answer
            ws.send(json.dumps({"type": "config", "settings": {"lr": (0.01, 0.03)[rev % 2]}, "rev": rev}))
            ws.send('{"type": "ack"}')
            revs = []
            while not revs or revs[-1] < rev:
                revs.append(message()["rev"])
                ws.send('{"type": "ack"}')
            for _ in range(3):
                revs.append(message()["rev"])
                ws.send('{"type": "ack"}')
            assert revs[revs.index(rev) :] == [rev] * (len(revs) - revs.index(rev)), revs
        ws.send('{"type": "pause"}')


def test_a_frame_made_while_a_control_change_arrives_is_sent_before_its_answer_not_dropped(live):
    """Frames carry what changed since the one before (the Images page's measurements and curve points, a
    one-time message): the training frame made while the page drew the last one, when a change arrives
    before the page's ack, goes out first. Dropping it lost the Images page's last validation accuracy."""
    with playing_a_small_network(live) as (ws, message):
        played = message()
        time.sleep(0.3)  # the next frame is made and waits for the ack (at most a second)
        ws.send('{"type": "config", "settings": {"lr": 0.01}, "rev": 2}')
        held, answer = message(), message()
        assert (played["rev"], held["rev"], answer["rev"]) == (1, 1, 2)
        assert played["epoch"] < held["epoch"] <= answer["epoch"]
        ws.send('{"type": "pause"}')
