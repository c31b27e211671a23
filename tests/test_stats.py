"""The intervals and tests behind every comparison (layerlab/stats.py, layerlab/task.py), checked against
textbook values, scipy's own implementations, and their coverage in simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from layerlab import stats
from layerlab.task import CLASSIFICATION, REGRESSION, Sample, task_named


def test_wilson_interval_matches_the_formula():
    # Wilson (1927): (p + z^2/2n ± z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    correct, n, z = 950, 1000, scipy_stats.norm.ppf(0.975)
    p = correct / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)
    interval = stats.wilson(correct, n)
    assert interval.value == 0.95
    assert interval.low == pytest.approx(low, abs=1e-9) and interval.high == pytest.approx(high, abs=1e-9)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.9347, 0.9619)


def test_wilson_stays_inside_0_and_1_where_the_normal_interval_does_not():
    interval = stats.wilson(1000, 1000)
    assert interval.high == 1.0 and 0.99 < interval.low < 1.0


def test_welch_matches_scipy():
    a, b = [0.951, 0.948, 0.955, 0.950], [0.940, 0.944, 0.939]
    interval, p = stats.welch(a, b)
    reference = scipy_stats.ttest_ind(a, b, equal_var=False)
    ci = reference.confidence_interval(0.95)
    assert p == pytest.approx(reference.pvalue, rel=1e-9)
    assert (interval.low, interval.high) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_mcnemar_is_the_mid_p_binomial_test_on_the_discordant_pairs():
    exact = scipy_stats.binomtest(40, 60, 0.5).pvalue
    assert stats.mcnemar(40, 20) == pytest.approx(exact - scipy_stats.binom.pmf(40, 60, 0.5))  # the outcome half
    assert stats.mcnemar(20, 40) == stats.mcnemar(40, 20)
    assert stats.mcnemar(3, 0) == pytest.approx(2 * 0.125 / 2)  # 2 (P(X > 3) + P(X = 3) / 2), X ~ B(3, 1/2)
    assert stats.mcnemar(0, 0) == 1.0 and stats.mcnemar(5, 5) == 1.0


def test_mcnemar_agrees_with_the_paired_interval_where_the_exact_test_did_not():
    # a Playground task's quick run: +2.8 points, Newcombe's interval +0.03 to +6.0, and the exact test's p = 0.065
    tables = [(both, a, b, 250 - both - a - b) for a in range(40) for b in range(40) for both in (200 - a,)]
    disagree = {"exact": 0, "mid-p": 0}
    for both, only_a, only_b, neither in tables:
        interval = stats.paired_difference(both, only_a, only_b, neither)
        clear = interval.low > 0 or interval.high < 0
        exact = scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
        disagree["exact"] += (exact < 0.05) != clear
        disagree["mid-p"] += (stats.mcnemar(only_a, only_b) < 0.05) != clear
    assert disagree["mid-p"] * 4 < disagree["exact"]


def test_paired_difference_matches_newcombes_method_10_by_hand():
    # Newcombe (1998) method 10 written out: Wilson limits of both accuracies joined through phi
    both, only_a, only_b, neither = 900, 40, 20, 40
    n = both + only_a + only_b + neither
    a, b = stats.wilson(both + only_a, n), stats.wilson(both + only_b, n)
    phi = (both * neither - only_a * only_b - n / 2) / math.sqrt(
        (both + only_a) * (neither + only_b) * (both + only_b) * (neither + only_a)
    )
    d = (only_a - only_b) / n
    la, ua, lb, ub = a.value - a.low, a.high - a.value, b.value - b.low, b.high - b.value
    low = d - math.sqrt(la**2 - 2 * phi * la * ub + ub**2)
    high = d + math.sqrt(ua**2 - 2 * phi * ua * lb + lb**2)
    interval = stats.paired_difference(both, only_a, only_b, neither)
    assert (interval.value, interval.low, interval.high) == pytest.approx((d, low, high))
    assert 0 < interval.low < 0.02 < interval.high  # 40 against 20 discordant images: a real difference


def test_paired_interval_covers_the_true_difference_about_95_percent_of_the_time():
    """Two classifiers with true accuracies 0.93 and 0.92 on 1,000 shared test images, 400 times."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        u = rng.random(1000)
        a, b = u < 0.93, (u < 0.90) | ((u > 0.95) & (u < 0.97))  # correlated, as two nets on the same images
        interval = stats.paired_difference(
            int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum()), int((~a & ~b).sum())
        )
        covered += interval.low <= 0.01 <= interval.high
    assert 0.92 <= covered / 400 <= 0.99


def test_classification_compares_single_runs_on_the_same_images():
    rng = np.random.default_rng(1)
    truth = rng.random(2000)
    a, b = (truth < 0.95).astype(float), (truth < 0.90).astype(float)  # a is right wherever b is, and more
    c = CLASSIFICATION.compare(Sample((a.mean(),), a, "images"), Sample((b.mean(),), b, "images"), 2000)
    assert c.verdict == "better" and c.low > 0 and "paired on 2,000 test images" in c.method
    # a Playground set's examples are points, not images; runs whose examples the files do not say: examples
    points = CLASSIFICATION.compare(Sample((a.mean(),), a, "points"), Sample((b.mean(),), b, "points"), 2000)
    assert points.method.startswith("paired on 2,000 test points, McNemar's p = ")
    unknown = CLASSIFICATION.compare(Sample((a.mean(),), a, "images"), Sample((b.mean(),), b), 2000)
    assert unknown.method.startswith("paired on 2,000 test examples, ")
    assert CLASSIFICATION.compare(Sample((b.mean(),), b), Sample((a.mean(),), a), 2000).verdict == "worse"
    same = CLASSIFICATION.compare(Sample((a.mean(),), a), Sample((a.mean(),), a), 2000)
    assert same.verdict == "no clear difference" and same.difference == 0


def test_a_difference_within_the_noise_is_no_clear_difference():
    """93.9% against 93.8% on 1,000 images (Lab 4A's starred 4-layer network): a tie, not a winner."""
    rng = np.random.default_rng(2)
    a = np.ones(1000)
    a[rng.choice(1000, 61, replace=False)] = 0
    b = np.ones(1000)
    b[rng.choice(1000, 62, replace=False)] = 0
    c = CLASSIFICATION.compare(Sample((a.mean(),), a), Sample((b.mean(),), b), 1000)
    assert c.verdict == "no clear difference" and c.low < 0 < c.high


def test_repeats_are_compared_over_their_seeds():
    c = CLASSIFICATION.compare(Sample((0.951, 0.949, 0.950)), Sample((0.941, 0.939, 0.940)), 1000)
    assert c.verdict == "better" and c.method == "3 seeds each"
    noisy = CLASSIFICATION.compare(Sample((0.96, 0.93, 0.95)), Sample((0.94, 0.95, 0.93)), 1000)
    assert noisy.verdict == "no clear difference"
    assert CLASSIFICATION.interval(Sample((0.951, 0.949, 0.950)), 1000).low == pytest.approx(0.95 - 0.0024841, 1e-4)


def test_regression_is_better_with_a_lower_loss():
    rng = np.random.default_rng(3)
    errors_a, errors_b = rng.random(500) * 0.1, rng.random(500) * 0.1 + 0.05
    c = REGRESSION.compare(Sample((errors_a.mean(),), errors_a), Sample((errors_b.mean(),), errors_b), 500)
    assert c.difference < 0 and c.verdict == "better" and "squared errors" in c.method
    assert REGRESSION.difference_words(c) == "-0.0496 in test loss (-0.0528 to -0.0458)"  # BCa bootstrap, seeded


def test_the_task_words_map_to_objects_and_old_files_read_as_classification():
    assert task_named("regression") is REGRESSION and task_named("classification") is CLASSIFICATION
    assert task_named(None) is CLASSIFICATION and task_named(REGRESSION) is REGRESSION
    assert REGRESSION.score.direction == "minimize" and CLASSIFICATION.score.key == "val_accuracy"


def test_a_difference_in_points_never_shows_a_signed_zero_or_hides_a_clear_end():
    from layerlab.task import Comparison

    assert CLASSIFICATION.amount(0.0, signed=True) == "0.0 points"  # not "-0.0"
    clear = Comparison(0.012, 0.0003, 0.024, "better", "paired")
    assert CLASSIFICATION.span(clear) == "+0.03 to +2.4"  # not "+0.0 to +2.4": the interval excludes 0


def test_an_interval_over_seeds_stays_within_the_values_a_headline_can_take():
    # a Playground task's quick run showed 93.8-101.8% for an accuracy: a t interval over 10 seeds near 100%
    near_one = Sample((1.0, 0.996, 0.82, 1.0, 1.0))
    interval = task_named("classification").interval(near_one, 250)
    assert interval.high == 1.0 and stats.mean_interval(near_one.values).high > 1.0
    assert interval.low == pytest.approx(stats.mean_interval(near_one.values).low)
    loss = task_named("regression").interval(Sample((0.01, 0.5, 0.02)), 250)
    assert loss.low == 0.0 and stats.mean_interval((0.01, 0.5, 0.02)).low < 0
