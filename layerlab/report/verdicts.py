"""Which run was better, and is it real? Each run's interval, each exercise's comparisons and conclusion, and
whether the runs agree with what the experiment expects (its ``expect`` list, from the slides' sources).

A difference is a lesson only when it is larger than its noise. Every comparison is the task's
(``Task.compare``): over seeds when both runs have repeats, else paired on the same test examples; its
verdict is "better", "worse" or "no clear difference" (the 95% interval of the difference holds 0). The
best-run star of an exercise goes to the run of best validation score only when it beats every other run
of the exercise clearly; otherwise the runs within noise of it are shown as tied, unless another run beats
it clearly on the test set (validation and test disagree: nothing is marked, and the conclusion says so).
Runs without a validation set (a Playground task's quick run) are concluded on the test set alone.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass

import numpy as np

from ..task import NO_CLEAR, Comparison, Task, examples_in_words, task_named
from .row import Row, by_exercise

#: The relations an experiment can expect between two runs: A > B (A better, clearly), A >= B (A not clearly
#: worse: "4 layers do not help"), A ~ B (no clear difference).
RELATIONS = {">": "is better than", ">=": "is at least as good as", "~": "is as good as"}
_EXPECTATION = re.compile(r"^\s*(\S+)\s*(>=|>|~)\s*(\S+)\s*$")

AGREES, DISAGREES, UNDECIDED, NOT_MEASURED = "agrees", "disagrees", "cannot tell yet", "not measured"
NEEDS_FULL = "needs the full run"


def judge(table: list[Row]) -> None:
    """Fill in each row's interval and its comparison with its exercise's first finished run, and mark the
    best run of each exercise (or the runs tied for best)."""
    for row in table:
        _interval(row)
    for group in by_exercise(table, lambda row: row.exercise).values():
        done = [row for row in group if _comparable(row)]
        for row in done[1:]:
            row.versus, row.comparison = done[0].run, compare(row, done[0])
        _mark_best([row for row in group if row.status == "done"])


def compare(a: Row, b: Row) -> Comparison:
    """Row A against row B (their task's statistics, on the test set they share)."""
    return task_named(a.task).compare(a.sample, b.sample, a.examples or b.examples or 0)


def _comparable(row: Row) -> bool:
    return row.status == "done" and row.sample is not None


def _interval(row: Row) -> None:
    if row.sample is None:
        return
    interval = task_named(row.task).interval(row.sample, row.examples or 0)
    if not math.isnan(interval.low):
        row.low, row.high = interval.low, interval.high


def _candidate(group: list[Row]) -> Row | None:
    """The run of best validation score (the first on a tie), as Nielsen chooses; None when none has one."""
    for key, higher in (("best_val_accuracy", True), ("best_val_loss", False)):
        ranked = [row for row in group if getattr(row, key) is not None]
        if ranked:
            values = [getattr(row, key) for row in ranked]
            return ranked[values.index(max(values) if higher else min(values))]
    return None


def _mark_best(group: list[Row]) -> None:
    """The star for the run of best validation score when it beats every other run clearly on the test set;
    else the runs within noise of it are tied for best, unless another run beats it clearly on the test
    set (then no run of the exercise is marked: validation and test disagree, and the conclusion says so).
    A run alone in its exercise is compared with nothing and marked as nothing."""
    candidate = _candidate(group)
    if candidate is None:
        return
    candidate.chosen = True
    rivals = [row for row in group if row is not candidate and _comparable(row)]
    if not rivals or not _comparable(candidate):
        return
    verdicts = [compare(candidate, rival).verdict for rival in rivals]
    if all(verdict == "better" for verdict in verdicts):
        candidate.best = True
        return
    if "worse" in verdicts:
        return
    tied = [rival for rival, verdict in zip(rivals, verdicts, strict=True) if verdict == NO_CLEAR]
    for row in [candidate, *tied]:
        row.tied = True


# ---------------------------------------------------------------------------------------------------
# Conclusions
# ---------------------------------------------------------------------------------------------------


def conclusion(group: list[Row], quick: bool = False) -> str:
    """One sentence on an exercise built from its comparisons: who beats whom by how much, or no clear
    difference, with the 95% interval and how it was measured."""
    done = [row for row in group if _comparable(row)]
    if not done:
        return ""
    task = task_named(done[0].task)
    if len(done) == 1:  # with repeats, the mean (the figure its interval is of), not the best repeat
        return f"{done[0].run}: {done[0].figures}."
    if len(done) == 2:
        return _pair_sentence(done[1], done[0], compare(done[1], done[0]), task, quick)
    best = next((row for row in done if row.best), None)
    if best is not None:
        closest = min((task.lead(compare(best, row)) for row in done if row is not best), key=lambda c: c.difference)
        return (
            f"{best.run} is the best of {len(done)} runs: it beats each of the others clearly (its smallest lead: "
            f"{_figures(task, closest, lead=True)})."
        )
    tied = [row for row in done if row.tied]
    if tied:
        return _tie_sentence(tied, [row for row in done if not row.tied], task, quick)
    chosen = next((row for row in done if row.chosen), None)
    if chosen is None:  # no validation set chose a run: the test set alone, which says no more than who leads
        return _test_sentence(done, task, quick)
    ahead = [row for row in done if compare(row, chosen).verdict == "better"]
    if ahead:
        top = max(ahead, key=lambda row: task.lead(compare(row, chosen)).difference)
        return (
            f"No run is clearly best: {chosen.run} has the best {task.score.name}, but {top.run} beats it on the "
            f"test set by {_figures(task, task.lead(compare(top, chosen)), lead=True)}."
        )
    return ""


def _test_sentence(done: list[Row], task: Task, quick: bool) -> str:
    """For runs without validation scores: the run of best test figure, and whether its lead is clear."""
    top = max(done, key=lambda row: row.headline if task.score.higher_is_better else -row.headline)
    others = [row for row in done if row is not top]
    level = [row for row in others if not compare(top, row).clear]
    if not level:
        closest = min((task.lead(compare(top, row)) for row in others), key=lambda c: c.difference)
        return (
            f"{top.run} has the best {task.headline} of {len(done)} runs, clearly ahead of each other run (its "
            f"smallest lead: {_figures(task, closest, lead=True)})."
        )
    behind = [row for row in others if row not in level]
    return _no_clear_winner(top, task.headline, level, behind, "clearly behind", task, quick)


def _tie_sentence(tied: list[Row], others: list[Row], task: Task, quick: bool) -> str:
    """ "No clear winner: B has the best validation accuracy, within noise of A and C (A against B: ...); D
    clearly behind it; ..." The figures are the strongest challenger's against the run of best validation
    score; every other run of the exercise is clearly behind that run (else the runs would not be tied)."""
    chosen = next((row for row in tied if row.chosen), tied[0])
    rest = [row for row in tied if row is not chosen]
    if not rest:
        return ""
    return _no_clear_winner(chosen, task.score.name, rest, others, "clearly behind it", task, quick)


def _no_clear_winner(
    leader: Row, measure: str, level: list[Row], behind: list[Row], behind_words: str, task: Task, quick: bool
) -> str:
    """ "No clear winner: B has the best <measure>, within noise of A and C (A against B: ...); D <behind_words>";
    the figures are the strongest challenger's against the leader."""
    challenger = max(level, key=lambda row: task.lead(compare(row, leader)).difference)
    gap = f" ({challenger.run} against {leader.run}: {_figures(task, compare(challenger, leader))})"
    rest = f"; {_names([row.run for row in behind])} {behind_words}" if behind else ""
    return (
        f"No clear winner: {leader.run} has the best {measure}, within noise of "
        f"{_names([row.run for row in level])}{gap}{rest}{_more(quick, [leader, *level])}."
    )


def _names(names: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _pair_sentence(a: Row, b: Row, c: Comparison, task: Task, quick: bool) -> str:
    if _identical(a, b):  # the same run twice (same settings and seed): no noise to speak of
        every = examples_in_words(len(a.sample.per_example), a.sample.kind)
        return f"{b.run} and {a.run}: the same result on every one of the {every}."
    if not c.clear:
        return f"{b.run} and {a.run}: {NO_CLEAR} ({_figures(task, c)}){_more(quick, [a, b])}."
    winner, loser, c = (a, b, c) if c.verdict == "better" else (b, a, _flipped(c))
    lead = task.lead(c)
    by = f"{task.amount(lead.difference)} (95% interval {task.span(lead)}; {c.method})"
    return f"{winner.run} beats {loser.run} by {by}."


def _identical(a: Row, b: Row) -> bool:
    """Whether two single runs did the same on every test example (what the paired comparison reads)."""
    ours, theirs = (row.sample.per_example if row.sample is not None else None for row in (a, b))
    return ours is not None and theirs is not None and np.array_equal(ours, theirs)


def _figures(task: Task, c: Comparison, lead: bool = False) -> str:
    """ "+0.4 points, 95% interval -1.2 to +2.0; paired on 1,000 test images"; with ``lead``, a comparison
    already turned by ``Task.lead`` (the amount unsigned, as "by 0.4 points")."""
    amount = task.amount(c.difference, signed=not lead)
    if math.isnan(c.low):
        return f"{amount}; {c.method}"
    return f"{amount}, 95% interval {task.span(c)}; {c.method}"


def _flipped(c: Comparison) -> Comparison:
    verdict = {"better": "worse", "worse": "better"}.get(c.verdict, c.verdict)
    return Comparison(-c.difference, -c.high, -c.low, verdict, c.method)


def _more(quick: bool, rows: list[Row]) -> str:
    """What would measure runs within noise more closely (without claiming they differ: "no difference" can
    be the lesson), and how to get it: more seeds per run, twice those they have (at least 5), by ``layerlab
    run --repeats N`` (``repeats=N`` in Python)."""
    more = max(5, 2 * max(row.repeats or 1 for row in rows))
    if quick:
        return f"; the full run, or more repeats (--repeats {more}), would measure it more closely"
    return f"; more repeats (--repeats {more}) would measure it more closely"


# ---------------------------------------------------------------------------------------------------
# Expectations
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """``better relation worse``, as an experiment file writes it ("ex1-mlp > ex1-linear")."""

    text: str
    left: str
    relation: str
    right: str


def threshold(text: str) -> float | None:
    """The right side of "RUN > 0.95" (an accuracy to beat; a regression's loss to get under), else None."""
    try:
        return float(text)
    except ValueError:
        return None


def _against(row: Row, value: float, task: Task) -> Comparison:
    """A run's headline against a fixed value, by its 95% interval."""
    difference = row.headline - value
    if row.low is None or row.high is None:
        return Comparison(difference, math.nan, math.nan, NO_CLEAR, "no interval")
    low, high = row.low - value, row.high - value
    clear = low > 0 or high < 0
    verdict = NO_CLEAR if not clear else "better" if (difference > 0) == task.score.higher_is_better else "worse"
    kind = row.sample.kind if row.sample is not None else "examples"
    how = f"{row.repeats} seeds" if row.repeats and row.repeats > 1 else examples_in_words(row.examples or 0, kind)
    return Comparison(difference, low, high, verdict, f"95% interval over {how}")


def parse_expectation(text: str) -> Expectation:
    """An expectation's parts; raises ValueError naming the form when ``text`` is not one."""
    match = _EXPECTATION.match(text)
    if match is None:
        raise ValueError(f"expected 'RUN > RUN', 'RUN >= RUN' or 'RUN ~ RUN' (run names or patterns), got {text!r}")
    return Expectation(text.strip(), match[1], match[2], match[3])


def matching(pattern: str, names: list[str]) -> list[str]:
    """The run names a name or pattern (``relu-*he_normal*``) picks."""
    return [name for name in names if name == pattern] or fnmatch.filter(names, pattern)


@dataclass(frozen=True)
class ExpectationCheck:
    """What this run says of an expectation: agrees, disagrees, cannot tell yet, or not measured."""

    expectation: Expectation
    status: str
    comparison: Comparison | None
    sentence: str
    figures: str = ""  #: the comparison in words: "+2.6 points, 95% interval +1.2 to +4.1; paired on ..."


def check_expectations(
    table: list[Row], expected: list[str], quick: bool = False, quick_expected: list[str] | None = None
) -> list[ExpectationCheck]:
    """Each expectation against this run's rows (see ``check``). A quick run checks those its settings are
    sized to show (``quick_expected``, by default all); the others agree where this run shows them clearly,
    and otherwise need the full run, with what this run measured."""
    shown = expected if not quick or quick_expected is None else quick_expected
    checks = []
    for text in dict.fromkeys([*expected, *shown]):
        measured = check(parse_expectation(text), table, quick)
        checks.append(measured if text in shown else _not_sized(measured))
    return checks


def _not_sized(measured: ExpectationCheck) -> ExpectationCheck:
    """An expectation a quick run is not sized to show: what this run shows when it agrees, else that it needs
    the full run (before, its sentence said so beside a clear "better" in the same report)."""
    if measured.status == AGREES:
        return measured
    c, text = measured.comparison, measured.expectation.text
    if c is None:  # not measured: a run left out, or not finished
        sentence = f"{measured.sentence.removesuffix('.')}; run the full experiment."
    else:
        here = f"here {c.verdict}: {measured.figures}"
        sentence = f"{text}: a quick run is too short to show this ({here}); run the full experiment."
    return ExpectationCheck(measured.expectation, NEEDS_FULL, c, sentence)


def check(expectation: Expectation, table: list[Row], quick: bool = False) -> ExpectationCheck:
    names = [row.run for row in table]
    fixed = threshold(expectation.right)
    sides = (expectation.left,) if fixed is not None else (expectation.left, expectation.right)
    picked = [matching(side, names) for side in sides]
    rows = {row.run: row for row in table}
    missing = [side for side, found in zip(sides, picked, strict=True) if not found]
    if missing:
        left_out_by = "--quick or --only left it out" if quick else "--only left it out"
        why = f"{' and '.join(missing)} did not run here ({left_out_by})"
        return ExpectationCheck(expectation, NOT_MEASURED, None, f"{expectation.text}: not measured: {why}.")
    a = rows[picked[0][0]]
    b = rows[picked[1][0]] if fixed is None else a
    if not (_comparable(a) and _comparable(b)):
        unfinished = " and ".join(dict.fromkeys(row.run for row in (a, b) if not _comparable(row)))
        sentence = f"{expectation.text}: not measured: {unfinished} has not finished."
        return ExpectationCheck(expectation, NOT_MEASURED, None, sentence)
    task = task_named(a.task)
    c = compare(a, b) if fixed is None else _against(a, fixed, task)
    if expectation.relation == ">":
        status = AGREES if c.verdict == "better" else DISAGREES if c.verdict == "worse" else UNDECIDED
    elif expectation.relation == ">=":
        status = DISAGREES if c.verdict == "worse" else AGREES
    else:
        status = AGREES if not c.clear else DISAGREES
    other = b.run if fixed is None else task.show(fixed)
    said = f"{a.run} {RELATIONS[expectation.relation]} {other}"
    figures = _figures(task, c)
    sentence = {
        AGREES: f"{said}, as the slides say ({c.verdict}: {figures}).",
        DISAGREES: f"Unlike the slides, this run does not show that {said} ({c.verdict}: {figures}).",
        UNDECIDED: f"Cannot tell yet whether {said}: {NO_CLEAR} ({figures}){_more(quick, [a, b])}.",
    }[status]
    return ExpectationCheck(expectation, status, c, sentence, figures)
