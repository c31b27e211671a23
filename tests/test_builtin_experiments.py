"""Every built-in experiment runs end to end with --quick, its report has the expected rows, and its
comparisons point the way the full run's do (the quick runs must teach the lesson of the slides).

These are the slowest tests (several minutes in all on two shared cores); CI runs them.
"""

from __future__ import annotations

import fnmatch
import json

import pytest

from layerlab.cli import main
from layerlab.experiments import builtin_names, load_experiment
from layerlab.report import table

#: What each quick run must show, as the full run does (the full run's numbers are in issue 13's closing
#: note): (better, worse, margin) reads "better's test accuracy (at its best validation epoch) is at least
#: worse's plus margin"; better or worse may be a number (an accuracy to reach, or to stay under). A run is
#: named by its name or a pattern (fnmatch) for the long grid names. A negative margin reads "no worse than
#: by more than": it is for differences the full run itself shows within noise (0.1-0.4 points on 10,000
#: test images). A fourth item names a loss to compare instead (for regression, where accuracy means
#: nothing): "best_val_loss" (the lowest validation loss) or "test_loss" (at that epoch), and the lesson
#: reads "better's loss is at most worse's minus margin". The comments give the full run's numbers, then
#: the quick run's (seed 0, 1,000 test images; 200 for CIFAR, 250 points for Playground).
LESSONS: dict[str, list[tuple]] = {
    "lab4a": [
        ("ex1-mlp", "ex1-linear", 0.015),  # 97.80 vs 92.34; 94.8 vs 91.6
        ("ex2-2-layers", "ex2-4-layers", -0.01),  # 97.80 vs 97.40: 4 layers do not help; 94.8 vs 94.4
        ("ex3-200-units", "ex3-100-units", -0.005),  # 97.90 vs 97.80; 95.8 vs 94.8
        ("ex4-lr=0.02", "ex4-lr=0.002", 0.02),  # 97.80 vs 95.71; 94.8 vs 90.0
    ],
    "lab4b": [
        ("ex1-4-conv", "ex1-2-conv", 0.0),  # 70.32 vs 68.60 (10 epochs); 45.0 vs 42.0 (10 epochs of 1,600 images)
        ("ex2-rmsprop", "ex2-sgd", 0.08),  # 68.60 vs 51.45; 39.0 vs 16.0 (3 epochs)
        ("ex3-30-epochs", "ex3-10-epochs", 0.0),  # 70.88 vs 68.60; 10 vs 3 epochs: 42.0 vs 39.0
    ],
    "nielsen": [
        ("4-relu", "1-mlp-100", 0.02),  # 99.23 vs 97.80 (rows 2-3 run in the full run only); 91.0 vs 86.6
        ("5-expanded", "4-relu", 0.02),  # 99.37 vs 99.23; 96.7 vs 91.0
    ],
    "nielsen-scaled": [
        ("4-relu", "1-mlp-100", 0.01),  # 5 epochs of 4,000 images in batches of 64: 91.4 vs 89.5
        ("5-expanded", "4-relu", 0.01),  # 97.3 vs 91.4
    ],
    "activations": [
        ("tanh", "sigmoid", 0.2),  # 97.29 vs 94.86; 4 sigmoid layers stay near chance for 3 epochs: 90.2 vs 11.4
        ("relu", "tanh", -0.01),  # 97.33 vs 97.29; 92.0 vs 90.2
    ],
    "init": [
        ("sigmoid-*lecun_normal*", "sigmoid-*normal(1.0)*", 0.01),  # 95.76 vs 91.14; 79.8 vs 76.1
        ("sigmoid-*glorot_uniform*", "sigmoid-*lecun_normal*", 0.0),  # 96.06 vs 95.76; 85.8 vs 79.8
        ("relu-*glorot_uniform*", "relu-*normal(1.0)*", 0.3),  # 97.79 vs 38.73; 94.6 vs 20.5
        ("relu-*he_normal*", "relu-*glorot_uniform*", -0.01),  # 97.85 vs 97.79; 94.4 vs 94.6
    ],
    "optimisers": [  # 97.30-97.97: every optimiser works at its usual rate; 92.8-95.2
        (name, "adam", -0.04) for name in ("sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop")
    ],
    "batch-size": [
        ("fixed-eta-batch_size=10", "fixed-eta-batch_size=50", 0.01),  # 97.23 vs 94.86; 92.1 vs 89.6
        ("fixed-eta-batch_size=50", "fixed-eta-batch_size=100", 0.01),  # 94.86 vs 93.27; 89.6 vs 87.2
        ("scaled-eta-m50", "fixed-eta-batch_size=50", 0.01),  # eta x m/10 recovers: 97.23 vs 94.86; 92.3 vs 89.6
        ("scaled-eta-m100", "fixed-eta-batch_size=100", 0.02),  # 97.32 vs 93.27; 92.4 vs 87.2
        ("scaled-eta-m100", "fixed-eta-batch_size=10", -0.01),  # as good as batch 10: 97.32 vs 97.23; 92.4 vs 92.1
    ],
    "regularisation": [  # 10,000 images in the full run, 2,000 here: 95.59-96.09; 89.6-90.8
        ("dropout", "none", -0.005),  # 96.09 vs 95.91; 90.8 vs 90.4
        *((name, "none", -0.02) for name in ("l1", "l2", "early-stopping")),
    ],
    "playground": [
        ("task2-relu-3", "task1-relu-2", 0.05),  # 2 ReLU units cannot close the ring: 99.2 vs 84.0; 99.6 vs 83.2
        ("task3-tanh-3", "task3-sigmoid-3", 0.05),  # 99.2 vs 97.2; 98.8 vs 85.2
        ("task3-tanh-3", "task4-linear-3x3", 0.15),  # linear layers do not help: 67-68%; 59-69%
        ("task5-xor-4-2", "task5-xor-4", 0.03),  # 4-2 tanh: 98.8 vs 92.4
        ("task6-xor-x1x2-feature-no-hidden", 0.95, 0.0),  # one unit with x1*x2 solves XOR: 98.8
        ("task7-gauss-6-6-2", 0.98, 0.0),  # 100%
        ("task9-spiral-features", "task8-spiral-8-8-tanh", 0.15),  # 94.8 vs 61.2
    ],
    "capacity": [  # mean squared error on the noisy curve (noise variance 0.0625); full: 1,000 epochs, quick: 150
        ("degree-5", "degree-1", 0.1, "best_val_loss"),  # underfit: 0.085 vs 0.256; 0.099 vs 0.256
        ("degree-5", "degree-15", 0.04, "best_val_loss"),  # overfit: 0.085 vs 0.118; 0.099 vs 0.178
        ("degree-5", "degree-1", 0.06, "test_loss"),  # 0.095 vs 0.223; 0.102 vs 0.223
        ("degree-5", "degree-15", 0.15, "test_loss"),  # 0.095 vs 0.176 (last epoch: 5.3); 0.102 vs 0.431
        ("64-units", "1-unit", 0.04, "best_val_loss"),  # 0.076 vs 0.108; 0.080 vs 0.153
    ],
    "vanishing": [  # quick: 2 epochs of 1,000 images; the sigmoid network stays at chance
        (0.2, "sigmoid", 0.0),  # 9.4
        ("relu", "sigmoid", 0.1),  # 28.6 vs 9.4
        ("sigmoid-batchnorm", "sigmoid-plain", 0.35),  # 70.3 vs 9.4
        ("relu-he", "sigmoid-plain", 0.2),  # 46.7 vs 9.4
    ],
    "hyperparameters": [  # quick: 2 epochs of 1,000 images
        ("batchnorm", "base-for-regularisation", 0.05),  # 85.8 vs 75.5
        ("adam", "base-for-optimisation", 0.04),  # 84.1 vs 75.5
        ("base-for-optimisation", "lr-0.01", 0.1),  # 75.5 vs 53.6
        ("base", "sigmoid-activation", 0.08),  # 75.5 vs 58.9
    ],
}
#: The lessons' measures that are losses: lower is better.
LOSSES = ("best_val_loss", "test_loss")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(builtin_names()))
def test_builtin_runs_quick_and_reports(name, quick_runs, capsys):
    out = quick_runs / f"{name}-quick"  # the notebooks' tests reuse these runs
    assert main(["run", name, "--quick", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    index = json.loads((out / "experiment.json").read_text())
    assert index["quick"] is True
    assert [r["status"] for r in index["runs"]] == ["done"] * len(index["runs"])
    markdown = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "quick run" in markdown and "quick run" in html
    for run in load_experiment(name, quick=True).runs:
        assert run.name in markdown and run.name in html
    assert "data:image/png;base64," in html
    assert f"report: {out / 'report.html'}" in printed
    for plot in TEACHING_PLOTS.get(name, ()):
        assert (out / "report" / plot).stat().st_size > 10_000, plot  # drawn, not blank
        assert f"report/{plot}" in markdown
    by_run = {row.run: row for row in table(out)}

    def of(run: str | float, measure: str) -> float:
        if not isinstance(run, str):
            return run
        (match,) = fnmatch.filter(by_run, run)  # one run per pattern
        return getattr(by_run[match], measure)

    for better, worse, margin, *measure in LESSONS[name]:
        measure = measure[0] if measure else "test_accuracy"
        shown = (better, worse, measure, of(better, measure), of(worse, measure))
        if measure in LOSSES:
            assert of(better, measure) <= of(worse, measure) - margin, shown
        else:
            assert of(better, measure) >= of(worse, measure) + margin, shown


def test_every_builtin_has_its_lessons_checked():
    assert set(LESSONS) == set(builtin_names())


def test_quick_notes_say_what_ran():
    experiment = load_experiment("nielsen", quick=True)
    summary = experiment.notes[0]
    assert summary.startswith("Quick run: data mnist-small, the first 4,000 training images, 2 epochs")
    assert "(the full run: data mnist, all training images, 60 epochs)" in summary
    assert "left out (full run only): 2-conv-20 (sigmoid convolutions need more steps" in summary
    assert experiment.notes[1].startswith("Full run: Faithful settings")
    notes = {run.repeat_of or run.name: run.note for run in experiment.runs}
    assert list(notes) == ["1-mlp-100", "4-relu", "5-expanded"]
    assert (
        notes["1-mlp-100"]
        == "full run: 784-100-10 sigmoid, 60 epochs, eta 0.1, batch 10; quick: trained once (full run: 3 times)"
    )
    assert "7-vote-of-5 (five 1000-unit dropout networks need many epochs" in summary
    full = load_experiment("nielsen")
    assert full.notes[0].startswith("Faithful settings")
    assert full.runs[0].note == "784-100-10 sigmoid, 60 epochs, eta 0.1, batch 10"


#: The teaching experiments' own figures (layerlab/report/plots/teaching.py), by experiment.
TEACHING_PLOTS = {
    "capacity": ("capacity-polynomial-degree-y-w1-x-wd-x-d-b.png", "capacity-network-size-tanh-units-on-x.png"),
    "vanishing": (
        "layer-gradients-sigmoid-vs-relu-8-hidden-layers.png",
        "activations-sigmoid-vs-relu-8-hidden-layers.png",
        "layer-gradients-remedies-batch-norm-and-he-initialisation.png",
    ),
    "activations": ("activations-activation-of-4-hidden-layers.png",),
}
