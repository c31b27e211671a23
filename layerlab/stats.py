"""Is a difference larger than its noise? The intervals and tests behind every comparison of runs.

A test accuracy measured on n images is a proportion: its 95% interval is Wilson's score interval
(Wilson 1927; Agresti and Coull 1998 show it keeps its coverage where the textbook p ± 1.96 σ does not).
Two runs measured on the same test images differ in the images one gets right and the other wrong:
McNemar's test on those discordant images (its mid-p form: Fagerland, Lydersen and Laake 2013 found the exact
test too conservative and the mid-p test closer to its nominal level) says whether the difference is real, and
the interval of the difference is Newcombe's (1998, method 10) for paired proportions. With repeats (several
seeds of each run), the seeds are the samples: the mean difference with Welch's t interval.

Everything here takes plain numbers and returns plain numbers; ``task.py`` chooses what applies.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _scipy_stats():
    """scipy.stats, imported on first use: it takes over a second, and most commands compare nothing."""
    from scipy import stats

    return stats


LEVEL = 0.95  #: every interval's confidence
ALPHA = 1 - LEVEL


@dataclass(frozen=True)
class Interval:
    """A value with its 95% interval."""

    value: float
    low: float
    high: float

    def excludes(self, value: float) -> bool:
        return not (self.low <= value <= self.high)


def wilson(correct: int, n: int) -> Interval:
    """The 95% Wilson score interval of an accuracy of ``correct`` out of ``n``."""
    if n <= 0:
        return Interval(math.nan, math.nan, math.nan)
    low, high = _scipy_stats().binomtest(int(correct), int(n)).proportion_ci(LEVEL, method="wilson")
    return Interval(correct / n, float(low), float(high))


def mean_interval(values: Sequence[float]) -> Interval:
    """The mean of ``values`` (one per seed) with its 95% t interval; one value has no interval (NaN)."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean()) if len(x) else math.nan
    if len(x) < 2:
        return Interval(mean, math.nan, math.nan)
    half = float(_scipy_stats().t.ppf(1 - ALPHA / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return Interval(mean, mean - half, mean + half)


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[Interval, float]:
    """The difference of means ``mean(a) - mean(b)`` over seeds with its 95% Welch interval, and the
    two-sided p value. Needs at least 2 values on each side (else NaN interval, p = 1)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    difference = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return Interval(difference, math.nan, math.nan), 1.0
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:  # identical repeats on both sides: the difference is exactly what it is
        return Interval(difference, difference, difference), 0.0 if difference else 1.0
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(_scipy_stats().t.ppf(1 - ALPHA / 2, df) * se)
    p = 2 * _scipy_stats().t.sf(abs(difference) / se, df)
    return Interval(difference, difference - half, difference + half), float(p)


def mcnemar(only_a: int, only_b: int) -> float:
    """McNemar's mid-p two-sided p value: ``only_a`` images only run A gets right, ``only_b`` only B. Under no
    difference each discordant image is a fair coin's toss, k = max(only_a, only_b) of d = only_a + only_b;
    the exact test's p is 2 P(X >= k), the mid-p counts the observed outcome half: 2 P(X > k) + P(X = k).
    The exact test's p and Newcombe's interval disagreed near the edge (an interval of +0.03 to +6.0 points
    beside p = 0.065); of 4,080 tables of 250 images the exact p contradicted the interval in 80, the mid-p
    in 10."""
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    binom, k = _scipy_stats().binom, max(only_a, only_b)
    return float(min(1.0, 2 * binom.sf(k, discordant, 0.5) + binom.pmf(k, discordant, 0.5)))


def paired_difference(both: int, only_a: int, only_b: int, neither: int) -> Interval:
    """The difference of two accuracies on the same images, acc(A) - acc(B), with Newcombe's 95%
    interval for paired proportions (his method 10: the two Wilson intervals joined through the
    correlation of the pairs)."""
    n = both + only_a + only_b + neither
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    a, b = wilson(both + only_a, n), wilson(both + only_b, n)
    difference = (only_a - only_b) / n
    la, ua, lb, ub = a.value - a.low, a.high - a.value, b.value - b.low, b.high - b.value
    products = (both + only_a) * (neither + only_b) * (both + only_b) * (neither + only_a)
    spread = both * neither - only_a * only_b
    if products == 0:
        phi = 0.0
    else:
        phi = (max(spread - n / 2, 0) if spread > 0 else spread) / math.sqrt(products)
    low = difference - math.sqrt(max(la**2 - 2 * phi * la * ub + ub**2, 0))
    high = difference + math.sqrt(max(ua**2 - 2 * phi * ua * lb + lb**2, 0))
    return Interval(difference, max(low, -1.0), min(high, 1.0))


BOOTSTRAP_RESAMPLES = 1999  #: resamples of each bootstrap interval (seeded: the same interval on every call)
BCA_LIMIT = 2000  #: BCa's jackknife costs n^2: above this many values, the percentile interval (skew matters less)


def bootstrap_mean(values: Sequence[float]) -> Interval:
    """The mean of ``values`` (per-example squared errors, or their differences between two models) with
    its 95% BCa bootstrap interval (``scipy.stats.bootstrap``, seeded); one value has no interval (NaN),
    equal values the interval of their value alone."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean()) if len(x) else math.nan
    if len(x) < 2:
        return Interval(mean, math.nan, math.nan)
    if np.all(x == x[0]):
        return Interval(mean, mean, mean)
    low, high = _bootstrap(x, "BCa" if len(x) <= BCA_LIMIT else "percentile")
    if math.isnan(low) or math.isnan(high):  # BCa undefined (too few distinct values): percentiles
        low, high = _bootstrap(x, "percentile")
    return Interval(mean, min(low, mean), max(high, mean))


def _bootstrap(x: np.ndarray, method: str) -> tuple[float, float]:
    with warnings.catch_warnings():  # a degenerate BCa warns and gives NaN: the caller falls back
        warnings.simplefilter("ignore")
        result = _scipy_stats().bootstrap(
            (x,), np.mean, confidence_level=LEVEL, n_resamples=BOOTSTRAP_RESAMPLES, method=method, rng=0, batch=250
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
