"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Callable

import pytest

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


@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory):
    """One folder for the built-in experiments' quick runs of the whole session, as ``runs/`` is for a user:
    ``<name>-quick`` each. test_builtin_experiments.py trains them there, and the notebooks (which read the
    folder from LAYERLAB_NOTEBOOK_OUT) reuse the finished runs instead of training them again."""
    return tmp_path_factory.mktemp("quick-runs")


#: The test files whose parametrized ``name`` is a built-in experiment sharing one quick run in ``quick_runs``.
SHARING_QUICK_RUNS = {"test_builtin_experiments.py", "test_notebooks.py", "test_notebook_browser.py"}


def pytest_collection_modifyitems(config, items):
    """With pytest-xdist (``-n auto --dist loadgroup``, pyproject's addopts): the tests that share a built-in's
    quick run (its report, its second seed, its notebook) go to one worker, which trains it once for all of
    them; every other test module stays on one worker, so that its module-scoped fixtures are built once."""
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
