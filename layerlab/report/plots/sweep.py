"""A metric against a hyperparameter: for the runs of a grid (``grid = {lr = [...]}``), or any three or
more runs that differ in one numeric setting only."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

from ...task import task_named
from ..reading import RunSource
from ..row import Row
from .figures import figure_legend, new_figure

#: Settings that differ between runs without being a hyperparameter worth a plot.
_NOT_SWEPT = ("seed", "data_dir", "device", "eval_batch_size")
_GRID_NAME = re.compile(r"^(?P<base>.+)-(?P<key>[a-z_]+)=(?P<value>.+)$")


@dataclass
class Sweep:
    """Runs that differ in one numeric setting, with the value of that setting for each run."""

    setting: str
    runs: list[RunSource]
    values: list[float]


def _numeric(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _varying(runs: list[RunSource]) -> list[str]:
    everything = [run.settings for run in runs]
    keys = dict.fromkeys(key for settings in everything for key in settings)
    return [key for key in keys if len({json.dumps(s.get(key)) for s in everything}) > 1 and key not in _NOT_SWEPT]


def sweeps(runs: list[RunSource]) -> list[Sweep]:
    """The sweeps among ``runs`` (one exercise): each grid of a numeric setting, else all the runs when
    three or more differ in one numeric setting only."""
    started = [run for run in runs if run.settings and run.status == "done"]
    grids: dict[tuple[str, str], list[RunSource]] = {}
    for run in started:
        match = _GRID_NAME.match(run.repeat_of or run.name)
        if match and str(run.settings.get(match["key"])) == match["value"]:
            grids.setdefault((match["base"], match["key"]), []).append(run)
    candidates = [(key, group, 2) for (_, key), group in grids.items()]
    if not candidates and len(keys := _varying(started)) == 1:
        candidates = [(keys[0], started, 3)]
    found = []
    for key, group, least in candidates:  # a grid of 2 values is a sweep; other runs need 3 values
        values = [run.settings.get(key) for run in group]
        if _varying(group) == [key] and all(map(_numeric, values)) and len(set(values)) >= least:
            order = np.argsort(values, kind="stable")
            found.append(Sweep(key, [group[i] for i in order], [float(values[i]) for i in order]))
    return found


def log_spaced(values: list[float]) -> bool:
    """Positive values spanning a factor of 10 or more (0.001, 0.01, 0.1; batch sizes 10 to 100)."""
    return min(values) > 0 and max(values) / min(values) >= 10


def sweep_plot(sweep: Sweep, rows: dict[str, Row]):
    """Accuracy (best validation, test at that epoch) and the last test loss against the setting; for
    regression runs (no accuracies) the losses alone: lowest validation, test at that epoch, last test."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import PercentFormatter

    table = [rows[run.name] for run in sweep.runs]

    def values(field: str) -> np.ndarray:
        return np.array([np.nan if getattr(row, field) is None else getattr(row, field) for row in table], float)

    losses = np.isfinite(values("final_test_loss")).any()
    regression = losses and not any(task_named(row.task).has_classes for row in table)
    figure = new_figure(9 if losses and not regression else 5, 4)
    if regression:
        accuracy, cost = None, figure.subplots()
    else:
        accuracy, cost = figure.subplots(1, 2, sharex=True) if losses else (figure.subplots(), None)
    measures = [
        (accuracy, "best_val_accuracy", "best validation", "o-", "C0"),
        (accuracy, "test_accuracy", "test (at best validation)", "s--", "C1"),
        (cost, "best_val_loss", "lowest validation loss", "o-", "C0"),
        (cost, "test_loss", "test loss (at the best epoch)", "s--", "C1"),
        (cost, "final_test_loss", "test loss (last epoch)", "D-", "C2"),
    ]
    repeated = [row.repeats or 0 for row in table]
    if accuracy is not None and max(repeated) > 1:  # repeats: the test accuracy's mean and its 95% interval
        counts = sorted({n for n in repeated if n > 1})
        seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        measures[1] = (accuracy, "test_mean", f"test: mean of {seeds} seeds, 95% interval", "s--", "C1")
    legend = []
    for ax, field, label, style, colour in measures:
        if ax is not None and np.isfinite(values(field)).any():
            ax.plot(sweep.values, values(field), style, color=colour)
            legend.append(Line2D([], [], color=colour, ls=style[1:], marker=style[0], label=label))
            if field == "test_mean":
                low, high = values("low"), values("high")
                spans = np.vstack([values(field) - low, high - values(field)])
                ax.errorbar(
                    sweep.values, values(field), yerr=np.nan_to_num(spans), fmt="none", ecolor=colour, capsize=3
                )
    targets = {row.loss_target for row in table if row.loss_target is not None}
    if len(targets) == 1 and cost is not None:
        cost.axhline(targets.pop(), color="k", lw=0.8, ls=":")
        legend.append(Line2D([], [], color="k", lw=0.8, ls=":", label="loss target"))
    for ax in (ax for ax in (accuracy, cost) if ax is not None):
        ax.set_xlabel(sweep.setting)
        if log_spaced(sweep.values):
            ax.set_xscale("log")
        ax.set_xticks(sweep.values, [f"{value:g}" for value in sweep.values])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    if accuracy is not None:
        accuracy.set(title=f"accuracy against {sweep.setting}", ylabel="accuracy")
        accuracy.yaxis.set_major_formatter(PercentFormatter(1))
    if cost is not None:
        cost.set(title=f"{'loss' if regression else 'test loss'} against {sweep.setting}", ylabel="loss")
    figure_legend(figure, legend, columns=4)
    scale = " (log scale)" if log_spaced(sweep.values) else ""
    what = "Validation and test loss" if regression else "Accuracy and test loss"
    caption = f"{what} against {sweep.setting}{scale}: {len(sweep.runs)} runs that differ only in it"
    if max(repeated) > 1:
        caption += "; a repeated run: its best repeat's validation accuracy, its mean test accuracy over the seeds"
    return figure, caption
