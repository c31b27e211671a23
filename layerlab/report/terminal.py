"""Tables as plain text for the terminal: an experiment's, one block per exercise, at most 100 columns; a
plain table of text cells (``text_table``)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TextIO

from ..phrases import count
from .blocks import Table
from .columns import all_regression, columns, has_regression, quick_note
from .row import Row, by_exercise
from .verdicts import ExpectationCheck, conclusion


def terminal_table(rows: list[Row], width: int = 100, quick: bool = False) -> str:
    """``rows`` as plain text at most ``width`` columns wide.

    One block per exercise, opened by its conclusion; ``*`` marks the best run (a clear lead), ``=`` the runs
    tied for best; long settings wrap onto the lines below; notes (errors, ensembles, early stopping) and, in
    an exercise of three runs or more, each run's comparison with the first go on indented lines below it.
    """
    shown = columns(rows, quick)
    cells = [[column.cell(row) for column in shown] for row in rows]
    headers = [column.short or column.header for column in shown]
    widths = [max(map(len, texts)) for texts in zip(headers, *cells, strict=True)]
    names = [row.run for row in rows]
    widths[0] = min(widths[0], 16)
    while len({cut_middle(name, widths[0]) for name in names}) < len(set(names)) and widths[0] < 28:
        widths[0] += 1  # grid runs that differ only in the middle: wider, from the settings' room
    others = 2 + sum(widths) - widths[1] + 2 * (len(widths) - 1)
    widths[1] = max(12 if widths[0] <= 16 else 6, min(widths[1], width - others))

    def line(mark: str, texts: list[str]) -> str:
        """The row's line; what a run changed is wrapped onto lines below it, never cut (it is what differs)."""
        kept = _keep_together(texts[1])
        below = []
        if max(map(len, kept.split(" "))) > widths[1]:  # a layer wider than the column: break at its spaces
            kept = texts[1]
        if max(map(len, kept.split(" "))) > widths[1]:  # a setting wider still: all of them below, full width
            below = textwrap.wrap(texts[1], width - 6, break_long_words=False, break_on_hyphens=False)
            kept = "(below)" if widths[1] >= 7 else "↓"
        parts = textwrap.wrap(kept, widths[1], break_on_hyphens=False)
        changed = [part.replace(_KEPT, " ") for part in parts] or [""]
        fitted = [
            (cut_middle if column.field == "run" else cut)(text, size).ljust(size)
            if column.text
            else cut(text, size).rjust(size)
            for text, size, column in zip([texts[0], changed[0], *texts[2:]], widths, shown, strict=True)
        ]
        indent = " " * (2 + widths[0] + 2)
        under = [indent + more for more in changed[1:]] + ["    " + more for more in below]
        return "\n".join([(mark + " " + "  ".join(fitted)).rstrip(), *under])

    lines = [line(" ", headers)]
    pairs = list(zip(rows, cells, strict=True))
    for exercise, group in by_exercise(pairs, lambda pair: pair[0].exercise).items():
        lines.append(cut(exercise, width))
        sentence = conclusion([row for row, _ in group], quick)
        lines += textwrap.wrap(sentence, width, initial_indent="  → ", subsequent_indent="    ")
        many = sum(row.comparison is not None for row, _ in group) > 1
        for row, texts in group:
            lines.append(line(row.mark, texts))
            if row.notes:  # wrapped, never cut: a repeated run's mean and spread are at the end
                lines += textwrap.wrap(row.notes, width, initial_indent="    ", subsequent_indent="      ")
            if many and row.comparison is not None:
                lines += textwrap.wrap(f"vs {row.versus}: {row.verdict}", width, initial_indent="    ")
    if not all_regression(rows):
        lines.append(
            cut("* best val (validation accuracy) and a clear lead over each other run; test: at that epoch", width)
        )
    if any(row.tied for row in rows):
        lines.append(cut("= best val and the runs within noise of it (no clear difference on the test set)", width))
    if any(row.interval for row in rows):
        lines.append(
            cut("  95%: the test figure's 95% interval (over the test examples; with repeats: of the mean)", width)
        )
    if any(row.loss_target is not None for row in rows):
        target = "  tloss: test loss at the best epoch (the test column's weights); reached: tloss < target"
        lines.append(cut(target, width))
    if has_regression(rows):
        regression = "* regression: best by vloss (lowest validation loss); tloss: test loss at that epoch"
        lines.append(cut(regression, width))
    if any(row.repeats for row in rows):
        repeated = "  a repeated run shows its repeat with the best test; its 95% and vs: its mean over the seeds"
        lines.append(cut(repeated, width))
    return "\n".join(lines)


def text_table(table: Table) -> str:
    """A plain table (a search's trials): columns two spaces apart, the header underlined."""
    lines = [table.headers, *table.rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(table.headers))]
    texts = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    return "\n".join([texts[0], "-" * len(texts[0]), *texts[1:]])


_KEPT = "\u00a0"  #: a space textwrap does not break at


def _keep_together(text: str) -> str:
    """``text`` with the spaces inside parentheses made unbreakable: "dense(1, init=normal(0.1))" wraps as
    a whole, not as "dense(1," and "init=normal(0.1))" (where it fits the column)."""
    depth, out = 0, []
    for char in text:
        depth += (char == "(") - (char == ")")
        out.append(_KEPT if char == " " and depth > 0 else char)
    return "".join(out)


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def cut_middle(text: str, width: int) -> str:
    """A long run name without its middle: its first word and its end, where a grid's runs differ
    (``task5…rts-seed=1``, ``task10…-8-8-tanh``)."""
    if len(text) <= width:
        return text
    first = len(text.split("-")[0])
    head = first if first <= (width - 1) // 2 else (width - 1) // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def summary(
    title: str, quick: bool, rows: list[Row], file: TextIO, expectations: Sequence[ExpectationCheck] = ()
) -> None:
    """The title, counts of runs by status, the quick-run note, the table and what the slides expect."""
    statuses = [row.status for row in rows]
    counts = ", ".join(f"{statuses.count(status)} {status}" for status in ("done", "failed", "pending"))
    trained = sum(row.repeats or 1 for row in rows)
    repeats = f" ({trained} with their repeats)" if trained > len(rows) else ""  # as the run's start counts them
    print(f"{title}: {count(len(rows), 'run')}{repeats}, {counts}", file=file)
    if quick:
        print(quick_note(rows), file=file)
    print(terminal_table(rows, quick=quick), file=file)
    if expectations:
        print("What the slides expect:", file=file)
        for check in expectations:
            print(textwrap.fill(check.sentence, 100, initial_indent="  ", subsequent_indent="    "), file=file)
