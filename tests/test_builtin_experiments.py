"""Every built-in experiment runs end to end with --quick, its report has the expected rows, and the report's
own verdicts agree with what the experiment expects (its ``expect`` list: the slides' lessons) for two seeds:
a quick run must teach the lesson of the full run, with a difference larger than its noise.

These are the slowest tests (several minutes in all on two shared cores); CI runs them.
"""

from __future__ import annotations

import json

import pytest

from layerlab.experiments import builtin_names, load_experiment
from layerlab.report import expectations
from layerlab.report.verdicts import AGREES, NEEDS_FULL

#: The seeds every quick run is checked with here; benchmarks/lesson_verdicts.py checks seeds 0-4 (and 2 threads).
SEEDS = (0, 1)


def assert_the_lessons_hold(out, name: str, seed: int) -> None:
    """The report's own verdicts: every expectation a quick run is sized to show agrees, with the verdict it
    expects (a clear "better" for ``>``); the others are reported as needing the full run."""
    checks = expectations(out)
    assert checks, f"{name} declares no expectations"
    wrong = [f"{c.expectation.text}: {c.status}: {c.sentence}" for c in checks if c.status not in (AGREES, NEEDS_FULL)]
    assert not wrong, f"{name} --quick --seed {seed}:\n" + "\n".join(wrong)
    assert any(c.status == AGREES for c in checks)
    report = (out / "report.md").read_text()
    for check in checks:
        assert check.sentence in report  # the report says it, not just this test


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(builtin_names()))
def test_builtin_runs_quick_and_reports(name, quick, capsys):
    with quick.held(name) as out:  # trained here for the notebooks' tests too, or reused from one that came first
        quick.train(name)
    printed = capsys.readouterr().out
    index = json.loads((out / "experiment.json").read_text())
    assert index["quick"] is True
    assert [r["status"] for r in index["runs"]] == ["done"] * len(index["runs"])
    markdown = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "quick run" in markdown and "quick run" in html
    for run in load_experiment(name, quick=True).runs:
        shown = run.repeat_of or run.name  # a repeated run is one row
        assert shown in markdown and shown in html
    assert "data:image/png;base64," in html
    assert f"report: {out / 'report.html'}" in printed
    assert "## Conclusions" in markdown and "## What the slides expect" in markdown
    for plot in TEACHING_PLOTS.get(name, ()):
        assert (out / "report" / plot).stat().st_size > 10_000, plot  # drawn, not blank
        assert f"report/{plot}" in markdown
    assert_the_lessons_hold(out, name, 0)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(builtin_names()))
def test_quick_lessons_hold_for_another_seed(name, quick):
    for seed in SEEDS[1:]:
        assert_the_lessons_hold(quick.finished(name, seed), name, seed)


@pytest.mark.parametrize("name", ["nielsen"])
def test_the_tests_of_one_quick_run_share_a_worker(name, request):
    """Under pytest-xdist's loadgroup (pyproject's addopts), conftest.py's groups reach xdist's test ids
    (``id@group``), so that a built-in's quick-run tests and its notebook's go to one worker. (Its hook ran after
    xdist's once: every test was on its own, and the nielsen notebook trained the quick run a second time.)"""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("run without pytest-xdist's --dist loadgroup")
    assert request.node.nodeid.endswith(f"@builtin-{name}")


def test_every_builtin_declares_what_the_slides_expect():
    for name in builtin_names():
        experiment = load_experiment(name, quick=True)
        assert experiment.expect, name
        assert experiment.quick_expect is None or experiment.quick_expect, name  # a quick run shows something


def test_quick_notes_say_what_ran():
    experiment = load_experiment("nielsen", quick=True)
    summary = experiment.notes[0]
    assert summary.startswith("Quick run: data mnist-small, the first 4,000 training images, 2 epochs")
    assert "except where a run's note says otherwise (1-mlp-100, 2-conv-20, 3-conv-40, 4-relu);" in summary
    assert "(the full run: data mnist, all training images, 60 epochs)" in summary
    assert "left out (full run only): 6-dropout (minutes per epoch" in summary
    assert experiment.notes[1].startswith("Full run: Faithful settings")
    notes = {run.repeat_of or run.name: run.note for run in experiment.runs}
    assert list(notes) == ["1-mlp-100", "2-conv-20", "3-conv-40", "4-relu", "5-expanded"]  # rows 2 and 3 climb too
    assert notes["1-mlp-100"].startswith("full run: 784-100-10 sigmoid, 60 epochs, eta 0.1, batch 10 (50,000 images);")
    quick_part = "quick: the first 1,000 training images, 60 epochs, trained once (full run: 3 times)"
    assert notes["1-mlp-100"].endswith(quick_part)
    assert "rows 1-3 take 6,000 steps on 1,000 images" in notes["3-conv-40"]
    assert notes["4-relu"].endswith("quick: 3 epochs, trained once (full run: 3 times)")
    assert "7-vote-of-5 (five 1000-unit dropout networks need many epochs" in summary
    full = load_experiment("nielsen")
    assert full.notes[0].startswith("Faithful settings")
    assert full.runs[0].note == "784-100-10 sigmoid, 60 epochs, eta 0.1, batch 10"


#: The teaching experiments' own figures (layerlab/report/plots/teaching.py), by experiment.
TEACHING_PLOTS = {
    "capacity": (
        "capacity-polynomial-degree-least-squares-y-w1-x-wd-x-d-b.png",
        "capacity-network-size-tanh-units-on-x.png",
    ),
    "vanishing": (
        "layer-gradients-sigmoid-vs-relu-8-hidden-layers.png",
        "activations-sigmoid-vs-relu-8-hidden-layers.png",
        "layer-gradients-remedies-batch-norm-and-he-initialisation.png",
    ),
    "activations": ("activations-activation-of-4-hidden-layers.png",),
}
