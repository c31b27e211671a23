"""Which run was better, and is it real (layerlab/report/verdicts.py): the star only for a clear lead, ties
shown as ties, each exercise's conclusion, and an experiment's expectations checked against its runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from layerlab.report.row import Row
from layerlab.report.verdicts import (
    AGREES,
    DISAGREES,
    NEEDS_FULL,
    NOT_MEASURED,
    UNDECIDED,
    check_expectations,
    conclusion,
    judge,
    parse_expectation,
)
from layerlab.task import Sample

RNG = np.random.default_rng(0)
TRUTH = RNG.random(1000)


def run(name: str, accuracy: float, val: float, exercise: str = "Exercise 1", status: str = "done") -> Row:
    """A run that gets the test images right where TRUTH < accuracy (so a better run is right on a superset)."""
    outcomes = (TRUTH < accuracy).astype(float)
    row = Row(run=name, exercise=exercise, changed="", status=status, best_val_accuracy=val)
    row.test_accuracy = float(outcomes.mean())
    row.sample, row.examples = Sample((row.test_accuracy,), outcomes, "images"), 1000
    return row


def repeated(name: str, accuracies: tuple[float, ...], val: float) -> Row:
    row = Row(run=name, exercise="Exercise 1", changed="", status="done", best_val_accuracy=val, repeats=3)
    row.test_accuracy, row.sample = max(accuracies), Sample(accuracies)
    return row


def test_a_clear_winner_gets_the_star_and_each_run_its_interval_and_verdict():
    table = [run("linear", 0.90, 0.89), run("mlp", 0.95, 0.94)]
    judge(table)
    linear, mlp = table
    assert mlp.best and not linear.best and not mlp.tied
    assert mlp.versus == "linear" and mlp.comparison.verdict == "better"
    assert mlp.low < mlp.test_accuracy < mlp.high and mlp.interval.count("–") == 1
    assert mlp.verdict.startswith("better: +") and "points" in mlp.verdict
    sentence = conclusion(table)
    assert sentence.startswith("mlp beats linear by ") and "paired on 1,000 test images" in sentence


def test_a_lead_within_the_noise_is_a_tie_not_a_star():
    """Lab 4A's old report starred the 4-layer network for +0.1 points of validation accuracy."""
    table = [run("2-layers", 0.938, 0.938), run("4-layers", 0.939, 0.939)]
    judge(table)
    assert not any(row.best for row in table) and all(row.tied for row in table)
    assert table[1].chosen  # the best validation score still picks the run whose plots the report shows
    assert "no clear difference" in conclusion(table)


def test_three_runs_name_the_runs_tied_for_best():
    table = [run("a", 0.90, 0.90), run("b", 0.95, 0.951), run("c", 0.951, 0.95)]
    judge(table)
    assert [row.tied for row in table] == [False, True, True] and not any(row.best for row in table)
    sentence = conclusion(table)
    assert sentence.startswith(
        "No clear winner: b has the best validation accuracy, within noise of c (c against b: +0.1"
    )
    # how to get more repeats, as a user writes it: a run's `repeats` in its experiment file (no flag has it)
    assert sentence.endswith("; a clearly behind it; more repeats (--repeats 5) would measure it more closely.")


def regression_run(name: str, errors: np.ndarray, val: float) -> Row:
    row = Row(run=name, exercise="Degree", changed="", status="done", task="regression", best_val_loss=val)
    row.test_loss = float(errors.mean())
    row.sample, row.examples = Sample((row.test_loss,), errors, "points"), len(errors)  # the curve's
    return row


def test_a_run_that_beats_the_validation_choice_on_test_leaves_no_mark():
    """capacity --quick: degree-5 had the lowest validation loss, degree-3 the clearly lower test loss, and
    degree-15 (wild at a few test points) was tied with degree-5 for best: the lesson told wrong."""
    rng = np.random.default_rng(1)
    base = rng.random(200) * 0.2
    wild = base + 0.05
    wild[:4] = 1e8  # a degree-15 polynomial far off at a few points: a t interval would reach below zero
    table = [
        regression_run("degree-3", base, val=0.0973),
        regression_run("degree-5", base + 0.05, val=0.0939),
        regression_run("degree-15", wild, val=9.7e4),
    ]
    judge(table)
    three, five, fifteen = table
    assert five.chosen and not any(row.best or row.tied for row in table)
    assert fifteen.low > 0 and fifteen.comparison.verdict == "worse"  # a bootstrap interval follows the skew
    assert conclusion(table) == (
        "No run is clearly best: degree-5 has the best validation loss, but degree-3 beats it on the test set by "
        "0.05 in test loss, 95% interval +0.05 to +0.05; paired on 200 test points (squared errors, bootstrap)."
    )


def test_a_loss_lead_is_told_with_its_interval_the_same_way_round():
    rng = np.random.default_rng(2)
    errors = rng.random(300) * 0.2
    table = [regression_run("wide", errors + rng.random(300) * 0.1, 0.2), regression_run("narrow", errors, 0.1)]
    judge(table)
    sentence = conclusion(table)
    lead, low, high = (float(x) for x in re.findall(r"[-+]?\d+\.\d+", sentence.split("by ", 1)[1])[:3])
    assert sentence.startswith("narrow beats wide by ") and 0 < low < lead < high  # all positive: lower is better


def test_a_run_alone_in_its_exercise_gets_no_star():
    table = [run("only", 0.95, 0.94)]
    judge(table)
    assert table[0].chosen and not table[0].best and table[0].mark == " "


def test_repeats_are_compared_over_their_seeds():
    table = [repeated("sgd", (0.90, 0.905, 0.895), 0.9), repeated("adam", (0.95, 0.951, 0.949), 0.95)]
    judge(table)
    assert table[1].best and table[1].comparison.method == "3 seeds each"
    assert table[1].low == pytest.approx(0.95 - 0.00248, abs=1e-4)
    close = [repeated("sgd", (0.90, 0.93, 0.88), 0.9), repeated("adam", (0.91, 0.94, 0.89), 0.95)]
    judge(close)  # within noise over 3 seeds each: twice as many would tell
    assert conclusion(close).endswith("more repeats (--repeats 6) would measure it more closely.")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("mlp > linear", AGREES),
        ("linear > mlp", DISAGREES),
        ("mlp >= linear", AGREES),
        ("linear >= mlp", DISAGREES),
        ("mlp ~ linear", DISAGREES),
        ("mlp ~ mlp2", AGREES),
        ("mlp > mlp2", UNDECIDED),
        ("mlp > 0.9", AGREES),
        ("linear > 0.95", DISAGREES),
        ("mlp > 0.95", UNDECIDED),
        ("m* > linear", AGREES),
        ("cnn > mlp", NOT_MEASURED),
    ],
)
def test_an_expectation_is_checked_against_the_runs(text, status):
    table = [run("linear", 0.90, 0.89), run("mlp", 0.95, 0.94), run("mlp2", 0.951, 0.94)]
    judge(table)
    (check,) = check_expectations(table, [text])
    assert check.status == status, check.sentence
    assert check.sentence.endswith(".")


def test_a_quick_run_says_which_expectations_need_the_full_run():
    table = [run("linear", 0.90, 0.89), run("mlp", 0.95, 0.94), run("mlp2", 0.951, 0.942)]
    judge(table)
    expected = ["mlp > linear", "mlp2 > mlp", "vote > mlp", "mlp >= linear"]
    checks = check_expectations(table, expected, quick=True, quick_expected=["mlp >= linear"])
    assert [c.status for c in checks] == [AGREES, NEEDS_FULL, NEEDS_FULL, AGREES]
    # not sized for a quick run, but shown clearly here: it agrees (it said "too short" beside a clear "better")
    assert checks[0].sentence.startswith("mlp is better than linear, as the slides say (better: +4.8 points")
    assert checks[1].sentence.startswith("mlp2 > mlp: a quick run is too short to show this (here no clear difference:")
    assert checks[1].sentence.endswith("; run the full experiment.")
    assert (
        checks[2].sentence
        == "vote > mlp: not measured: vote did not run here (--quick or --only left it out); run the full experiment."
    )


def test_a_run_left_out_is_not_measured_and_the_report_says_so_once():
    from layerlab.report.blocks import Bullets, Item
    from layerlab.report.markdown import markdown_block

    table = [run("linear", 0.90, 0.89)]
    (check,) = check_expectations(table, ["mlp > linear"], quick=True)
    assert check.status == NOT_MEASURED
    assert check.sentence == "mlp > linear: not measured: mlp did not run here (--quick or --only left it out)."
    items = Bullets([Item(check.sentence, status=check.status), Item("mlp is better", status=AGREES)])
    assert markdown_block(items, Path(".")).splitlines() == [f"- {check.sentence}", "- *agrees*: mlp is better"]


def test_an_unreadable_expectation_names_the_form():
    with pytest.raises(ValueError, match="expected 'RUN > RUN'"):
        parse_expectation("mlp beats linear")


def test_an_experiment_file_refuses_an_expectation_naming_no_run(tmp_path):
    from layerlab.experiments import ExperimentError, load_experiment

    text = """name = "x"
expect = [{expect}]
quick_repeats = 3
[settings]
data = "xor"
[[runs]]
name = "small"
[[runs]]
name = "big"
model = "dense(8) tanh dense(2)"
"""
    path = tmp_path / "x.toml"
    path.write_text(text.format(expect='"big > smal"'))
    with pytest.raises(ExperimentError, match="expect 'big > smal': no run is named 'smal'; the runs: small, big"):
        load_experiment(str(path))
    path.write_text(text.format(expect='"big beats small"'))
    with pytest.raises(ExperimentError, match="expected 'RUN > RUN'"):
        load_experiment(str(path))
    path.write_text(text.format(expect='"big > small", "big > 0.9"'))
    quick = load_experiment(str(path), quick=True)
    assert quick.expect == ["big > small", "big > 0.9"]
    assert [run.name for run in quick.runs] == ["small#1", "small#2", "small#3", "big#1", "big#2", "big#3"]
    assert [run.config.seed for run in load_experiment(str(path), quick=True, seed=1).runs][:3] == [
        100_000,
        100_001,
        100_002,
    ]


def test_the_same_run_twice_is_said_to_be_the_same_not_within_noise():
    table = [run("a", 0.95, 0.94), run("a-again", 0.95, 0.94)]
    judge(table)
    assert conclusion(table) == "a and a-again: the same result on every one of the 1,000 test images."


def test_runs_without_validation_scores_are_concluded_on_the_test_set():
    """A Playground task's quick run keeps no validation points: no run is chosen, yet the exercise concludes."""
    table = [run("a", 0.90, None), run("b", 0.95, None), run("c", 0.951, None)]
    judge(table)
    assert not any(row.best or row.tied or row.chosen for row in table)
    sentence = conclusion(table, quick=True)
    assert sentence.startswith("No clear winner: c has the best test accuracy, within noise of b (b against c: -0.1")
    more = "the full run, or more repeats (--repeats 5), would measure it more closely"
    assert sentence.endswith(f"; a clearly behind; {more}.")
    clear = [run("a", 0.80, None), run("b", 0.95, None), run("c", 0.70, None)]
    judge(clear)
    assert conclusion(clear).startswith("b has the best test accuracy of 3 runs, clearly ahead of each other run")


def test_a_repeated_run_alone_is_told_by_its_mean_the_mean_its_interval_is_of():
    """playground --quick: "task9-spiral-features: test accuracy 95.60% (95% interval 75.23% to 95.01%)": the
    best repeat beside the interval of the mean, which did not even hold it."""
    row = repeated("spiral", (0.956, 0.80, 0.78, 0.85, 0.87), 0.9)
    row.repeats = 5
    judge([row])
    sentence = conclusion([row])
    assert sentence == "spiral: mean test accuracy 85.12% over 5 seeds (95% interval 76.56% to 93.68%)."
    assert row.low < 0.8512 < row.high < 0.956


def test_a_repeated_run_is_shown_by_its_seed_of_best_validation_never_by_its_test_accuracy():
    """A Playground task showed its lucky seed (99.6% test, mean 83.1%) and lab 4A's 4-layer row carried the
    validation score of its best-test seed, so the star was chosen with the test set's help."""
    from layerlab.report.table import _repeated_row

    seeds = [run(f"deep#{i}", test, val) for i, (test, val) in enumerate([(0.95, 0.93), (0.97, 0.92), (0.94, 0.94)], 1)]
    row = _repeated_row(seeds)
    assert row.best_repeat == "deep#3" and row.best_val_accuracy == 0.94
    assert row.test_accuracy == seeds[2].test_accuracy < max(seed.test_accuracy for seed in seeds)
    assert row.sample.values == tuple(seed.test_accuracy for seed in seeds) and row.repeats == 3
    assert "shown: deep#3, the seed of best validation accuracy" in row.notes
    unvalidated = [run(f"pg#{i}", test, float("nan")) for i, test in enumerate([0.80, 0.996, 0.83], 1)]
    row = _repeated_row(unvalidated)
    assert row.best_repeat == "pg#1" and "shown: pg#1, the first seed (no validation score to choose by)" in row.notes
