"""``layerlab search``: a hyperparameter search with Optuna, and its report (``layerlab.search.search``)."""

from __future__ import annotations

import argparse
from typing import Any

from ..engine import ENGINES
from ..search import SEARCH_OPTIONS, search
from .flags import add_command, add_setting_flag

#: The run settings a search's flags set for every trial, over its file's.
TRIAL_SETTINGS = {
    "data_dir": "where local copies of the datasets are",
    "device": "auto, cpu, cuda, ... for every trial",
    "engine": "the engine for every trial",
}


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "search",
        "search hyperparameters with Optuna (grid, random, TPE, GP; pruning) and report the best configuration",
        """
                layerlab search search-mlp --quick
                layerlab search search-mlp --data-dir ../shared/data --trials 50 --jobs 2
                layerlab search my-search.toml --sampler random --pruner none --timeout 3600
                layerlab search my-search.toml --storage postgresql://lab@db.example.org/searches   (on every machine)
                layerlab search my-search.toml --storage journal:/shared/nfs/my-search.log
                """,
    )
    p.add_argument("search", help="a built-in (search-mlp, search-cnn) or a search .toml file")
    p.add_argument("--quick", action="store_true", help="the file's [quick] overrides: small data, a few trials")
    p.add_argument("--out", "-o", help="search directory: study.db, runs/, report (default runs/<name>)")
    p.add_argument("--storage", help="a shared study: postgresql://user@host/db or journal:/shared/file.log")
    p.add_argument("--study", help="the study's name in the storage (default: the search's name)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--trials", type=int, help="budget: finished trials, over all workers")
    p.add_argument("--timeout", type=float, help="budget: seconds; no trial starts after it")
    p.add_argument("--sampler", help="grid, random, tpe, gp or cmaes")
    p.add_argument("--pruner", help="none, median, halving or hyperband")
    p.add_argument("--seed", type=int, help="the sampler's seed (default 0)")
    p.add_argument("--heartbeat", type=int, help="seconds between a trial's heartbeats (default 10)")
    for name, words in TRIAL_SETTINGS.items():
        choices = {"choices": tuple(ENGINES)} if name == "engine" else {}
        add_setting_flag(p, name, words, default=None, **choices)
    p.add_argument("--quiet", "-q", action="store_true", help="only the best configuration and the report's path")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    names = (*SEARCH_OPTIONS, *TRIAL_SETTINGS)
    overrides = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    log = (lambda message: None) if args.quiet else print
    result = search(
        args.search,
        args.out,
        storage=args.storage,
        jobs=args.jobs,
        quick=args.quick,
        study=args.study,
        log=log,
        **overrides,
    )
    if args.quiet and result.best is not None:
        best = result.best
        print(f"best: {', '.join(best.figures())}: {best.command}")
    if result.report is not None:
        print(f"report: {result.report}")
    return 0
