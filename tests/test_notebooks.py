"""The notebooks that ship with layerlab, run as a user runs them: every cell executed top to bottom in a real
IPython kernel (nbclient + ipykernel), none raises, and each shows what it is about (a results table,
figures, its verdict lines); none is stored with outputs. ``layerlab.playground()`` inside a kernel serves
the page and its WebSocket.

The notebooks take their output folder from LAYERLAB_NOTEBOOK_OUT: here a folder of the test's, holding a copy
of the built-in experiments' quick runs the notebook runs (the session's, ``quick`` in conftest.py: trained once
for test_builtin_experiments.py and these tests, by whichever comes first), so that the notebook reuses them
(as a student who ran ``layerlab run lab4a --quick`` first would): the test checks that it trains none again.
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
from layerlab.report.reading import read_experiment
from layerlab.report.table import rows

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
    "lab4b": [
        ("html", REPORT, 1),
        ("text", "verdict: Exercise 2: ", 1),
        ("png", "", 2),  # the filters of the run of best validation accuracy, the curves of exercise 2
        ("html", "<code>input(3, 32, 32) conv(32, 3, padding=same) relu maxpool(2) conv(64, 3, padding=same)", 1),
        ("html", "<code>input(3, 32, 32) conv(32, 3, padding=same) relu conv(32, 3, padding=same) relu", 1),
        ("text", ": best validation accuracy ", 1),
    ],
    "nielsen": [
        ("html", REPORT, 1),
        ("text", "verdict: ", 1),
        ("png", "", 1),
        ("text", "1,000 images, 60 epochs", 1),  # what each row trained on tells rows 2-5 apart
        ("text", "4,000 images, 3 epochs", 1),
        ("text", "4,000 images + shifts, 2 epochs", 1),
    ],
    "backprop": [
        ("text", "w5 after the update: 0.35891648", 1),
        ("html", "<td><code>w5+</code></td>", 1),
        ("html", "FAILED: forward is not written yet", 1),  # the starter as it is
        ("html", "every case passed", 1),  # the solution
        ("text", "verdict: every case passed", 1),
        ("text", "on mnist-small (500 images, 1 epoch)", 1),  # QUICK's training of your layers, counted right
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


#: The built-in experiments whose quick runs each notebook shows (its ``layerlab.run("NAME", quick=QUICK, ...)``).
QUICK_RUNS = {
    "lab4a": ("lab4a",),
    "lab4b": ("lab4b",),
    "nielsen": ("nielsen",),
    "activations": ("activations",),
    "capacity": ("capacity", "vanishing"),
}


def trained_runs(out: Path, experiments) -> dict[str, bytes]:
    """Every run folder of these experiments' quick runs in ``out``, with its result (empty if unfinished)."""
    found = {}
    for folder in sorted(p for name in experiments for p in (out / f"{name}-quick" / "runs").glob("*")):
        result = folder / "result.json"
        found[folder.relative_to(out).as_posix()] = result.read_bytes() if result.is_file() else b""
    return found


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
def kernel_env(monkeypatch, tmp_path):
    """The kernel imports this checkout's layerlab and writes its runs into ``tmp_path/runs``; that folder."""
    out = tmp_path / "runs"
    out.mkdir()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("LAYERLAB_NOTEBOOK_OUT", str(out))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return out


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
    for name in NOTEBOOKS:  # the quick runs each notebook reuses are those it runs
        cells = json.loads(notebook_path(name).read_text())["cells"]
        source = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        runs = tuple(re.findall(r'layerlab\.run\("([a-z0-9-]+)", quick=QUICK,', source))
        assert runs == QUICK_RUNS.get(name, ()), name


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_runs_top_to_bottom_and_shows_its_results(name, kernel_env, quick, tmp_path):
    for experiment in QUICK_RUNS.get(name, ()):
        quick.copy(experiment, kernel_env)
    finished = trained_runs(kernel_env, QUICK_RUNS.get(name, ()))
    assert all(finished.values()), finished
    notebook, seconds = execute(name, tmp_path)
    assert trained_runs(kernel_env, QUICK_RUNS.get(name, ())) == finished  # reused: none trained again, none added
    shown = outputs(notebook)
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o["output_type"] == "error"]
    assert not errors
    for kind, text, at_least in SHOWN[name]:
        having = [t for k, t in shown if k == kind and text in t]
        assert len(having) >= at_least, (kind, text, at_least, len(having))
    if name == "lab4b":  # its filters are those of the run of best validation accuracy of all, as its text says
        (line,) = [t for k, t in shown if k == "text" and ": best validation accuracy " in t]
        run, accuracy = re.fullmatch(r"(\S+): best validation accuracy ([\d.]+)%\n", line).groups()
        table = rows(read_experiment(kernel_env / "lab4b-quick").runs)
        best = max(row.best_val_accuracy for row in table if row.best_val_accuracy is not None)
        assert float(accuracy) == round(100 * best, 2)
        assert [row.best_val_accuracy for row in table if row.run == run] == [best]
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
