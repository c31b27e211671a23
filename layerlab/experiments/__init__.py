"""Experiments: TOML files of runs that differ in a few settings, the slides' labs built in.

layerlab list                      # the built-in experiments
layerlab run lab4a --quick         # about a minute on a laptop CPU
layerlab report runs/lab4a         # tables and plots, report.html

``plan.py`` reads an experiment file into a plan of runs (``load_experiment``); ``execute.py`` trains them
(``run_experiment``) and keeps the runs' index, ``experiment.json``.
"""

from .execute import load_index, run_experiment
from .plan import (
    Experiment,
    ExperimentError,
    RunPlan,
    builtin_names,
    load_experiment,
)

__all__ = [
    "Experiment",
    "ExperimentError",
    "RunPlan",
    "builtin_names",
    "load_experiment",
    "load_index",
    "run_experiment",
]
