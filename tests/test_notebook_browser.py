"""The Lab 4A notebook in JupyterLab, in Debian's headless Chromium driven by Playwright, as a student runs it:
open it, Run All Cells, and see the progress bar widget of the run that trains and the report inline.

The quick runs of Lab 4A are a copy of the session's (``quick`` in conftest.py, shared with
test_builtin_experiments.py), less one run,
which trains again here so that a progress bar has something to show. A screenshot of the notebook is
saved as ``jupyterlab-lab4a.png`` in the test's folder (and in LAYERLAB_SCREENSHOTS, when set).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from layerlab.commands import notebook

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed: apt-get install chromium"),
    pytest.mark.slow,
]
pytest.importorskip("jupyterlab", reason="the dev extra installs JupyterLab: pip install -e '.[dev]'")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def lab(tmp_path, quick):
    """JupyterLab serving ``tmp_path/work`` (the Lab 4A notebook, the quick runs less ex1-linear); its URL."""
    work = tmp_path / "work"
    work.mkdir()
    notebook("lab4a", work)
    runs = work / "runs"
    runs.mkdir()
    copied = quick.copy("lab4a", runs)  # trained now if no other test has trained it yet
    index = json.loads((copied / "experiment.json").read_text())
    linear = [run["directory"] for run in index["runs"] if run.get("repeat_of", run["name"]) == "ex1-linear"]
    for directory in linear:  # ex1-linear's repeats train again, with their progress bars
        shutil.rmtree(copied / directory)
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')  # every cell in the page
    token, port = secrets.token_hex(16), free_port()
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "LAYERLAB_NOTEBOOK_OUT": str(runs),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work}",
            "--LabApp.news_url=",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "jupyterlab.log", "w"),  # noqa: SIM115 (closed with the process)
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("JupyterLab did not start: " + (tmp_path / "jupyterlab.log").read_text()[-2000:])
        yield f"{base}/lab/tree/lab4a.ipynb?token={token}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_lab4a_in_jupyterlab_shows_progress_widgets_and_the_report(lab, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])  # CI runs as root
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(lab)
        expect(page.locator(".jp-NotebookPanel .jp-Cell").first).to_be_visible(timeout=120_000)
        # the kernel of the notebook's metadata (python3) has started: the status bar names it, idle
        expect(page.locator(".jp-StatusBar-Widget", has_text="Python 3 (ipykernel) | Idle")).to_have_count(
            1, timeout=180_000
        )
        status = page.locator(".jp-Notebook-ExecutionIndicator")
        page.click('.lm-MenuBar-itemLabel:text-is("Run")')
        page.click('.lm-Menu-itemLabel:text-is("Run All Cells")')
        dialog = page.locator(".jp-Dialog")
        try:  # a kernel still starting on a busy machine: JupyterLab asks which one, its default is python3
            dialog.wait_for(timeout=3_000)
            page.click(".jp-Dialog .jp-mod-accept")
        except PlaywrightTimeout:
            pass

        # the run that trains again has its progress bar, an ipywidgets widget drawn by the page
        bar = page.locator(".jp-OutputArea-output .widget-hprogress").first
        expect(bar).to_be_visible(timeout=240_000)
        report = page.locator(".layerlab-report").first
        expect(report).to_be_visible(timeout=420_000)
        expect(report.locator("table").first).to_contain_text("ex1-linear")
        expect(report.locator("img").first).to_be_visible()
        expect(status).to_have_attribute("data-status", "idle", timeout=300_000)
        outputs = page.locator(".jp-OutputArea-output")
        verdict = "verdict: Exercise 1: MLP vs. linear model: ex1-mlp beats ex1-linear by "
        expect(outputs.filter(has_text=verdict)).to_have_count(1)
        assert page.locator(".jp-OutputArea-output [data-mime-type='application/vnd.jupyter.stderr']").count() == 0
        # the quick run trains ex1-linear 3 times (its seeds, together): a bar each, "ex1-linear#1: 100% ... finished"
        linear = page.locator(".jp-OutputArea-output .widget-hbox", has_text="ex1-linear#1:")
        expect(linear.first).to_contain_text("100%")
        expect(linear.first).to_contain_text("finished")
        expect(outputs.filter(has_text="ex1-linear#1: test accuracy ").first).to_be_visible()  # its result
        news = page.get_by_role("button", name="No", exact=True)
        if news.count():  # JupyterLab's question about its news, over the notebook in the screenshot
            news.click()

        bar.scroll_into_view_if_needed()
        page.mouse.wheel(0, -200)
        shot = tmp_path / "jupyterlab-lab4a.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000
        if os.environ.get("LAYERLAB_SCREENSHOTS"):
            shutil.copy(shot, Path(os.environ["LAYERLAB_SCREENSHOTS"]) / shot.name)
        browser.close()
