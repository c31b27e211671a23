"""Progress of the runs in flight: one live line per run in a terminal, plain lines in a log or a pipe.

A ``RunProgress`` hook (see ``layerlab.hooks``) turns a run's steps and epochs into events
``(run, kind, text)`` and hands them to a ``send`` function: in the process that shows them, a
``Display``'s ``event``; in a worker process of ``layerlab run --jobs N``, a multiprocessing queue that
the parent reads into its ``Display`` (``drain``). Kinds:

    step    the live line: epoch, step, loss, the last validation score (accuracy; a regression run's
            loss), the time left (ETA); sent at most every ``interval`` seconds, so a fast loop pays one
            clock read per step
    epoch   the epoch's line: losses, accuracies (a regression run: losses only), seconds, ETA (the plain
            output: one line per epoch)
    note    something the user should know now (``--compile`` is compiling)
    end     the run's last line (its result)

A ``Display`` in a terminal keeps one line per run in flight at the bottom of the screen, redrawn in
place with its steps and epochs, and prints the note and end lines above them; in a log or a pipe it
prints the epoch, note and end lines, one per event, with no control characters.
"""

from __future__ import annotations

import math
import queue as queues
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

Send = Callable[[str, str, str], None]


def duration(seconds: float) -> str:
    """``75`` -> ``1:15``, ``3725`` -> ``1:02:05``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class RunProgress:
    """A hook that reports one run's progress to ``send(run, kind, text)``. For an ensemble of ``members``
    whose first member has seed ``seed``, each member names itself ("vote member 2/5")."""

    def __init__(self, run: str, send: Send, interval: float = 0.5, members: int = 1, seed: int = 0):
        self.run, self.send, self.interval, self.members, self.seed = run, send, interval, members, seed
        self.name = run
        self.epoch, self.first_epoch, self.last_sent, self.started = 0, 1, 0.0, 0.0
        self.score = ""  # " | val acc 93.10%": the last epoch's validation score, on the live line

    def on_fit_start(self, loop: Any) -> None:
        if self.members > 1:
            self.name = f"{self.run} member {loop.config.seed - self.seed + 1}/{self.members}"
        self.started, self.score = time.monotonic(), ""
        self.first_epoch = len(loop.history) + 1  # after a resume, the epochs left
        if loop.history:
            self.score = _score(loop, loop.history[-1])
        if loop.config.compile:
            mode = loop.config.compile
            self.send(
                self.name,
                "note",
                f"{self.name}: compiling the model (--compile {mode}): the first steps take 20 s or more",
            )

    def on_epoch_start(self, loop: Any, epoch: int) -> None:
        self.epoch = epoch
        self.send(self.name, "step", self._line(loop, 0, loop.steps, None))

    def on_step(self, loop: Any, step: int, steps: int, loss: float | None) -> None:
        now = time.monotonic()
        if now - self.last_sent >= self.interval:
            self.last_sent = now
            self.send(self.name, "step", self._line(loop, step, steps, loss))

    def on_epoch_end(self, loop: Any, row: dict[str, Any]) -> None:
        self.score = _score(loop, row)
        self.send(
            self.name,
            "epoch",
            f"{self.name}: epoch {row['epoch']}/{loop.config.epochs}: {loop.task.epoch_figures(row)} | "
            f"{row['seconds']:.1f} s{self._eta(loop, loop.steps, loop.steps)}",
        )

    def on_fit_end(self, loop: Any, result: Any) -> None:
        if len(loop.history) >= self.first_epoch:  # it trained here: not a finished run read again (with
            self.send(self.name, "end", f"{self.name}: {result.summary()}")  # --jobs, an ensemble's members)

    def _line(self, loop: Any, step: int, steps: int, loss: float | None) -> str:
        loss_text = f" loss {loss:.4f}" if loss is not None else ""
        return (
            f"{self.name}: epoch {self.epoch}/{loop.config.epochs} step {step}/{steps}{loss_text}{self.score}"
            f"{self._eta(loop, step, steps)}"
        )

    def _eta(self, loop: Any, step: int, steps: int) -> str:
        """The time left at the pace of this run so far (evaluations included once an epoch has ended)."""
        done = (self.epoch - self.first_epoch) * steps + step
        left = (loop.config.epochs - self.epoch) * steps + (steps - step)
        if done <= 0:
            return ""
        return f" | ETA {duration((time.monotonic() - self.started) / done * left)}"


def _score(loop: Any, row: dict[str, Any]) -> str:
    """`` | val acc 93.10%`` (a regression run: `` | val loss 0.0123``): what the live line shows of an epoch."""
    score = loop.score
    if math.isnan(row[score.key]):  # no validation split
        return ""
    return f" | {score.short} {score.show(row[score.key])}"


class Display:
    """Shows the events of the runs in flight (see the module docstring); ``log`` prints permanent lines. Live
    lines are redrawn at most every ``interval`` seconds."""

    def __init__(
        self,
        log: Callable[[str], None] = print,
        live: bool | None = None,
        stream: TextIO | None = None,
        interval: float = 0.1,
    ):
        self.stream, self.interval = stream or sys.stdout, interval
        self.live = self.stream.isatty() if live is None else live
        self.log_line = log
        self.lines: dict[str, str] = {}  # run -> its live line, in the order the runs started
        self.drawn = 0  # live lines on the screen now
        self.last_draw = 0.0

    def event(self, run: str, kind: str, text: str) -> None:
        if kind in ("step", "epoch") and self.live:  # a terminal: the run's line, redrawn
            self.lines[run] = text
            self._draw(force=kind == "epoch")
            return
        if kind == "step":
            return
        if kind == "end":
            self.lines.pop(run, None)
        self.log(text)

    def log(self, text: str) -> None:
        """A permanent line (above the live lines in a terminal)."""
        self._clear()
        self.log_line(text)
        self._draw(force=True)

    def close(self) -> None:
        self.lines.clear()
        self._clear()

    def _clear(self) -> None:
        if self.drawn:
            self.stream.write(f"\x1b[{self.drawn}F\x1b[J")  # up to the first live line, erase to the end
            self.stream.flush()
            self.drawn = 0

    def _draw(self, force: bool) -> None:
        now = time.monotonic()
        if not self.live or (not force and now - self.last_draw < self.interval):
            return
        width = shutil.get_terminal_size().columns - 1  # a line that wraps would break the redraw
        text = "".join(f"\x1b[2K{line[:width]}\n" for line in self.lines.values())
        up = f"\x1b[{self.drawn}F" if self.drawn else ""
        self.stream.write(up + text + ("\x1b[J" if len(self.lines) < self.drawn else ""))
        self.stream.flush()
        self.drawn, self.last_draw = len(self.lines), now


def queue_sender(queue: Any) -> Send:
    """``send`` for a worker process: the events go to the parent through ``queue``."""
    return lambda run, kind, text: queue.put((run, kind, text))


def drain(queue: Any, display: Display) -> None:
    """Show every event waiting in ``queue``."""
    while True:
        try:
            run, kind, text = queue.get_nowait()
        except queues.Empty:
            return
        display.event(run, kind, text)
