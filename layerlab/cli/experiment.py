"""``layerlab run``: an experiment (a built-in or a TOML file), its runs trained, then its report
(``layerlab.commands.run``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .. import commands, report
from ..engine import ENGINES
from ..phrases import count
from .flags import add_command, add_setting_flag


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "run",
        "run an experiment (a built-in or a TOML file): train its runs, then write the report",
        """
                layerlab run lab4a --quick
                layerlab run nielsen --device cuda --data-dir ../shared/data
                layerlab run my-experiment.toml --jobs 2 --out runs/mine
                """,
    )
    p.add_argument("experiment", help="a built-in name (see `layerlab list`) or an experiment .toml file")
    p.add_argument("--quick", action="store_true", help="shrink every run (fewer images and epochs): a minute or two")
    p.add_argument("--out", "-o", help="experiment directory (default runs/<name>, runs/<name>-quick with --quick)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="parallel processes for runs and ensemble members")
    add_setting_flag(p, "device", "auto, cpu, cuda, ... for every run", default=None)
    add_setting_flag(p, "threads", "torch engine on a CPU: threads per run (default 1)", default=None)
    add_setting_flag(p, "engine", "the engine for every run", default=None, choices=tuple(ENGINES))
    add_setting_flag(p, "data_dir", "where local copies of the datasets are", default=None)
    p.add_argument("--only", help="train only these runs (comma-separated names, e.g. 1-mlp-100,2-conv-20)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="train the experiment again with other seeds (every run's moves by 100,000 x SEED)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="train every run N times (seeds seed, seed+1, ...) and compare their means: where a report finds "
        "two runs within noise",
    )
    p.add_argument("--storage", help="share the runs with workers on other machines: postgresql://..., journal:FILE")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    experiment = commands.run(
        args.experiment,
        quick=args.quick,
        out=args.out,
        jobs=args.jobs,
        device=args.device,
        threads=args.threads,
        engine=args.engine,
        data_dir=args.data_dir,
        only=args.only,
        storage=args.storage,
        progress=not args.quiet,
        seed=args.seed,
        repeats=args.repeats,
    )
    report.print_summary(experiment.directory)
    print(f"report: {experiment.page}")
    failed = experiment.failed
    if failed:
        print(f"layerlab run: {count(len(failed), 'run')} failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
