"""Fixtures shared by the test modules."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from layerlab.cli import main


@pytest.fixture
def cli_error(capsys) -> Callable[..., str]:
    """Run the command line with these arguments; check that it fails with exit status 2 and exactly one
    line on standard error (no traceback, nothing about downloading); return that line."""

    def run(*args: str) -> str:
        code = main(list(args))
        captured = capsys.readouterr()
        assert code == 2, captured
        assert "Traceback" not in captured.err and len(captured.err.strip().splitlines()) == 1, captured.err
        assert "downloading" not in captured.err + captured.out
        return captured.err

    return run


class QuickRuns:
    """The built-in experiments' quick runs of the whole test session, in one folder as ``runs/`` is for a user
    (``<name>-quick``, ``<name>-quick-seed<N>``): each trained once, by whichever test needs it first, and reused
    by every other test (the reports' tests, the second seeds', the notebooks', the browser's), in any order and
    on any pytest-xdist worker. With workers the folder is the session's, above each worker's own temporary
    folder, and a lock per run (``<folder>.lock``, taken before training or copying it) makes a second worker
    wait for a run in training instead of training it again."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, name: str, seed: int = 0) -> Path:
        """Where ``layerlab run NAME --quick --seed SEED`` goes (its default folder's name)."""
        return self.folder / (f"{name}-quick-seed{seed}" if seed else f"{name}-quick")

    @contextlib.contextmanager
    def held(self, name: str, seed: int = 0) -> Iterator[Path]:
        """This run to oneself (no other worker trains, rewrites or copies it meanwhile); its folder."""
        out = self.path(name, seed)
        with open(f"{out}.lock", "w") as lock:
            if fcntl is not None:  # Windows has no fcntl: no workers share a folder there (pytest -n 0)
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield out

    def train(self, name: str, seed: int = 0) -> None:
        """``layerlab run NAME --quick --seed SEED --out <its folder> --quiet``, into the folder; the caller
        holds the run (``held``). Finished runs there are reused, as for a user."""
        out = self.path(name, seed)
        assert main(["run", name, "--quick", "--seed", str(seed), "--out", str(out), "--quiet"]) == 0

    def finished(self, name: str, seed: int = 0) -> Path:
        """The run's folder with its report, trained now if no test has trained it yet."""
        with self.held(name, seed) as out:
            if not (out / "report.html").is_file():
                self.train(name, seed)
        return out

    def copy(self, name: str, to: Path, seed: int = 0) -> Path:
        """A copy of the finished run in ``to`` (under the same name), to be read or extended there without
        touching the shared one."""
        self.finished(name, seed)
        with self.held(name, seed) as out:
            shutil.copytree(out, to / out.name)
        return to / out.name


@pytest.fixture(scope="session")
def quick(tmp_path_factory) -> QuickRuns:
    """The session's quick runs (``QuickRuns``)."""
    here = tmp_path_factory.getbasetemp()
    session = here.parent if os.environ.get("PYTEST_XDIST_WORKER") else here  # workers: <session>/popen-gwN
    folder = session / "quick-runs"
    folder.mkdir(exist_ok=True)
    return QuickRuns(folder)


#: The test files whose parametrized ``name`` is a built-in experiment sharing its quick runs (``quick``).
SHARING_QUICK_RUNS = {"test_builtin_experiments.py", "test_notebooks.py", "test_notebook_browser.py"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups (it runs first otherwise)
def pytest_collection_modifyitems(config, items):
    """With pytest-xdist (``-n auto --dist loadgroup``, pyproject's addopts): the tests that share a built-in's
    quick run (its report, its second seed, its notebook) go to one worker, which then trains it for all of them
    without waiting for another (``QuickRuns`` shares the runs between workers too); every other test module
    stays on one worker, so that its module-scoped fixtures are built once. It must run before pytest-xdist's
    own hook, which reads these groups into the tests' ids (``name@group``); after it, no group would count."""
    for item in items:
        file = item.path.name
        name = getattr(item, "callspec", None) and item.callspec.params.get("name")
        if file == "test_notebook_browser.py":
            group = "builtin-lab4a"  # it opens Lab 4A's notebook on the quick run
        elif file in SHARING_QUICK_RUNS and isinstance(name, str):
            group = f"builtin-{name}"
        else:
            group = file
        item.add_marker(pytest.mark.xdist_group(group))
