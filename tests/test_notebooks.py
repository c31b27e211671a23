"""The notebooks that ship with layerlab, run as a user runs them: every cell executed top to bottom in a real
IPython kernel (nbclient + ipykernel), none raises, and each shows what it is about (a results table,
figures, its verdict lines); none is stored with outputs. ``layerlab.playground()`` inside a kernel serves
the page and its WebSocket.

The notebooks take their output folder from LAYERLAB_NOTEBOOK_OUT: here the session's ``quick_runs``,
where test_builtin_experiments.py trained the built-in experiments' quick runs, so that the notebooks reuse
them (as a student who ran ``layerlab run lab4a --quick`` first would) and the suite trains them once.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest

from layerlab.commands import NOTEBOOKS, notebook_path

nbformat = pytest.importorskip("nbformat", reason="the notebook extra: pip install -e '.[notebook]'")
nbclient = pytest.importorskip("nbclient", reason="the notebook extra: pip install -e '.[notebook]'")

ROOT = Path(__file__).resolve().parent.parent
REPORT = '<div class="layerlab-report">'
PNG = "image/png"

#: What each notebook must show, as (output kind, text it contains, at least how many outputs have it).
#: Kinds: "html" (text/html), "text" (printed lines and text/plain), "png" (an inline figure; text ignored).
SHOWN: dict[str, list[tuple[str, str, int]]] = {
    "lab4a": [
        ("html", REPORT, 1),
        ("html", "<td>ex1-linear</td>", 1),  # the results table
        ("html", "<td>784</td>", 1),  # the model summary: flatten gives 784 features
        ("text", "verdict: Exercise 1: MLP vs. linear model: ex1-mlp beats ex1-linear by ", 1),
        ("text", "verdict: Exercise 4: learning rate 0.002 vs. 0.02: ex4-lr=0.02 beats ex4-lr=0.002 by ", 1),
        ("text", "agrees: ex1-mlp is better than ex1-linear, as the slides say", 1),
        ("png", "", 2),  # the learning curves, the confusion matrix
        ("html", "<b>model</b>: <code>flatten dense(100) relu dense(100) relu dense(10)</code>", 1),  # a Run
    ],
    "lab4b": [("html", REPORT, 1), ("text", "verdict: Exercise 2: ", 1), ("png", "", 2)],
    "nielsen": [("html", REPORT, 1), ("text", "verdict: ", 1), ("text", "5-expanded", 1), ("png", "", 1)],
    "backprop": [
        ("text", "w5 after the update: 0.35891648", 1),
        ("html", "<td><code>w5+</code></td>", 1),
        ("html", "FAILED: forward is not written yet", 1),  # the starter as it is
        ("html", "every case passed", 1),  # the solution
        ("text", "verdict: every case passed", 1),
    ],
    "activations": [
        ("png", "", 1),  # the activation functions
        ("html", REPORT, 1),
        ("text", "verdict: ", 1),
        ("html", '<iframe src="http://127.0.0.1:', 1),
        ("text", "(stopped; .stop() stops it)", 1),
    ],
    "hyperparameters": [
        ("text", "suggested learning rate: ", 1),
        ("text", "tune recommends: ", 1),
        ("html", REPORT, 1),  # the search's report
        ("text", "verdict: best trial: validation accuracy ", 1),
    ],
    "capacity": [
        ("html", REPORT, 2),
        ("text", "verdict: ", 2),
        ("png", "", 2),  # the capacity figure, the gradients by layer
    ],
}


def outputs(notebook) -> list[tuple[str, str]]:
    """(kind, text) of every output of the executed notebook."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if output["output_type"] == "stream":
                found.append(("text", output["text"]))
            if "text/plain" in data:
                found.append(("text", data["text/plain"]))
            if "text/html" in data:
                found.append(("html", data["text/html"]))
            if PNG in data:
                found.append(("png", ""))
    return found


@pytest.fixture
def kernel_env(monkeypatch, quick_runs):
    """The kernel imports this checkout's layerlab and writes its runs into ``quick_runs``."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("LAYERLAB_NOTEBOOK_OUT", str(quick_runs))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return quick_runs


def execute(name: str, cwd: Path):
    notebook = nbformat.read(notebook_path(name), as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    started = time.monotonic()
    client.execute()  # a cell that raises fails here, with its traceback
    return notebook, time.monotonic() - started


def test_every_notebook_is_checked():
    assert set(SHOWN) == set(NOTEBOOKS)
    assert sorted(p.stem for p in notebook_path("lab4a").parent.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_runs_top_to_bottom_and_shows_its_results(name, kernel_env, tmp_path):
    notebook, seconds = execute(name, tmp_path)
    shown = outputs(notebook)
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o["output_type"] == "error"]
    assert not errors
    for kind, text, at_least in SHOWN[name]:
        having = [t for k, t in shown if k == kind and text in t]
        assert len(having) >= at_least, (kind, text, at_least, len(having))
    print(f"{name}: {seconds:.1f} s")


def test_the_notebooks_are_stored_without_outputs():
    for name in NOTEBOOKS:
        notebook = json.loads(notebook_path(name).read_text())
        for cell in notebook["cells"]:
            assert cell.get("outputs", []) == [], (name, cell["source"])
            assert cell.get("execution_count") is None, name
        assert "widgets" not in notebook["metadata"], name  # no saved widget state either
        nbformat.validate(nbformat.reads(json.dumps(notebook), as_version=4))


def test_each_notebook_installs_layerlab_when_missing_and_has_a_quick_flag():
    for name in NOTEBOOKS:
        notebook = json.loads(notebook_path(name).read_text())
        first = "".join(notebook["cells"][1]["source"])
        assert 'if importlib.util.find_spec("layerlab") is None:' in first and "%pip install" in first, name
        flags = [cell for cell in notebook["cells"] if "parameters" in cell["metadata"].get("tags", [])]
        assert len(flags) == 1 and "QUICK = True" in "".join(flags[0]["source"]), name


def test_playground_in_a_kernel_serves_the_page_and_its_frames(kernel_env):
    from jupyter_client.manager import start_new_kernel
    from websockets.sync.client import connect

    from layerlab.playground.protocol import unpack_frame

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        printed: list[str] = []
        reply = client.execute_interactive(
            "import layerlab\npg = layerlab.playground()\nprint(pg.url)",
            timeout=120,
            output_hook=lambda msg: printed.append(msg["content"].get("text", "")),
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        (url,) = re.findall(r"http://127\.0\.0\.1:\d+/", "".join(printed))
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200 and b"<canvas" in response.read()
        with connect(url.replace("http", "ws") + "ws", open_timeout=10) as socket:
            socket.send(json.dumps({"type": "play"}))
            frames = []
            while len(frames) < 3:
                data = socket.recv(timeout=30)
                message = unpack_frame(data) if isinstance(data, bytes) else json.loads(data)
                if message["type"] == "frame":
                    frames.append(message)
                    socket.send('{"type": "ack"}')
            assert frames[-1]["epoch"] >= 1 and frames[-1]["playing"]
    finally:
        manager.shutdown_kernel(now=True)
        client.stop_channels()
    with pytest.raises(OSError):  # the server went with the kernel
        urllib.request.urlopen(url, timeout=5)
