"""Training shown live in a notebook: a progress bar per run in flight, and a learning curve redrawn each epoch.

``NotebookProgress`` shows the events of ``layerlab.progress`` (``RunProgress`` sends them, from this
process or from the worker processes of ``jobs=N``) as ``tqdm.auto`` bars: in Jupyter, ipywidgets
progress bars, one per run in flight, each with its epoch, loss, validation score and time left; the
lines that stay (a run's result, a failure) are printed under them. ``layerlab.run`` uses it when it
runs in a notebook's kernel (``in_notebook``), ``progress.Display`` elsewhere.

``LiveCurve`` is a hook, like fastai's ``ShowGraphCallback``: after every epoch it redraws the training
and validation loss (and accuracy) of the run so far, in place in the notebook::

    layerlab.fit(model="flatten dense(100) relu dense(10)", data="mnist-small", epochs=5,
                 hooks=[layerlab.LiveCurve()])
"""

from __future__ import annotations

import io
import math
import re
import sys
from collections.abc import Callable
from typing import Any

from .task import Task, task_named

#: The live line ``progress.RunProgress`` sends: "<run>: epoch 2/5 step 30/125 loss 0.4012 | val acc ... | ETA 0:12".
_STEP = re.compile(
    r"^(?P<run>.*?): epoch (?P<epoch>\d+)/(?P<epochs>\d+) step (?P<step>\d+)/(?P<steps>\d+)(?P<rest>.*)$"
)
_EPOCH = re.compile(r"^(?P<run>.*?): epoch (?P<epoch>\d+)/(?P<epochs>\d+): (?P<rest>.*)$")


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab), where widgets show."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and "ZMQInteractiveShell" in {cls.__name__ for cls in type(shell).__mro__}


class NotebookProgress:
    """``progress.Display``'s interface (``event``, ``log``, ``close``) drawn as one ``tqdm.auto`` bar per run in
    flight; ``log`` prints the lines that stay. ``bar`` makes a bar (``tqdm.auto.tqdm`` by default)."""

    def __init__(self, log: Callable[[str], None] = print, bar: Callable[..., Any] | None = None):
        if bar is None:
            from tqdm.auto import tqdm as bar
        self.log_line, self.make_bar = log, bar
        self.bars: dict[str, Any] = {}  #: run -> its bar, while it trains

    def event(self, run: str, kind: str, text: str) -> None:
        if kind == "step":
            self._step(run, text)
        elif kind == "epoch":
            self._epoch(run, text)
        elif kind == "end":
            bar = self.bars.pop(run, None)
            if bar is not None:
                bar.n = bar.total
                bar.set_postfix_str(text.split(": ", 1)[-1][:80], refresh=False)
                bar.close()
            self.log(text)
        else:
            self.log(text)

    def log(self, text: str) -> None:
        self.log_line(text)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()

    def _bar(self, run: str, epochs: int, steps: int) -> Any:
        bar = self.bars.get(run)
        if bar is None or bar.total != epochs * steps:
            if bar is not None:
                bar.close()
            bar = self.make_bar(total=epochs * steps, desc=run, unit="step", leave=True, dynamic_ncols=True)
            self.bars[run] = bar
        return bar

    def _step(self, run: str, text: str) -> None:
        match = _STEP.match(text)
        if match is None:
            return
        epoch, epochs, step, steps = (int(match[k]) for k in ("epoch", "epochs", "step", "steps"))
        bar = self._bar(run, epochs, steps)
        bar.update((epoch - 1) * steps + step - bar.n)
        bar.set_postfix_str(f"epoch {epoch}/{epochs}{match['rest'].replace(' | ', ', ')}", refresh=False)

    def _epoch(self, run: str, text: str) -> None:
        match = _EPOCH.match(text)
        bar = self.bars.get(run)
        if match is None or bar is None:
            return
        steps = bar.total // int(match["epochs"])
        bar.update(int(match["epoch"]) * steps - bar.n)
        bar.set_postfix_str(f"epoch {match['epoch']}/{match['epochs']}: {match['rest']}", refresh=True)


def png(figure: Any, dpi: int = 90) -> bytes:
    """A matplotlib figure as PNG bytes (shown the same under every matplotlib backend)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class LiveCurve:
    """A hook that redraws the run's learning curves after every ``every`` epochs: loss (training dashed,
    validation solid) and, for a classifier, accuracy. In a notebook the figure is updated in place; elsewhere
    ``show`` receives the PNG bytes (None: nothing is shown). ``figure`` is the last one drawn."""

    def __init__(self, every: int = 1, show: Callable[[bytes], None] | None = None):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            from .errors import LayerlabError

            raise LayerlabError(f"LiveCurve(every=...) counts epochs: a whole number from 1, got {every!r}")
        self.every, self.show = every, show
        self.figure: Any = None
        self.handle: Any = None  #: the notebook's display, updated in place
        self.drawn = 0  #: how many times the curve was drawn

    def on_epoch_end(self, loop: Any, row: dict[str, Any]) -> None:
        if row["epoch"] % self.every == 0 or row["epoch"] == loop.config.epochs:
            self.draw(loop.history, loop.config.epochs, loop.task)

    def draw(self, history: list[dict[str, Any]], epochs: int, task: Task | str | None = None) -> None:
        """``task``: the loop's (a regression run has no accuracies: its loss only)."""
        from matplotlib.figure import Figure

        regression = not task_named(task).has_classes
        figure = Figure(figsize=(5 if regression else 10, 3.2), layout="constrained")
        axes = [figure.subplots()] if regression else figure.subplots(1, 2)
        x = [row["epoch"] for row in history]
        measures = [("loss", "loss")] + ([] if regression else [("accuracy", "accuracy")])
        for ax, (measure, label) in zip(axes, measures, strict=True):
            for split, style in (("train", "--"), ("val", "-")):
                values = [row.get(f"{split}_{measure}", math.nan) for row in history]
                if not all(v is None or math.isnan(v) for v in values):
                    ax.plot(x, values, style, marker="o", label="training" if split == "train" else "validation")
            ax.set_xlim(0.5, max(epochs, 1) + 0.5)
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.legend(loc="best")
        self.figure, self.drawn = figure, self.drawn + 1
        self._show(png(figure))

    def _show(self, data: bytes) -> None:
        if self.show is not None:
            self.show(data)
            return
        if not in_notebook():
            return
        from IPython.display import Image, display

        if self.handle is None:
            self.handle = display(Image(data=data, format="png"), display_id=True)
        else:
            self.handle.update(Image(data=data, format="png"))
