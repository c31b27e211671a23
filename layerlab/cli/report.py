"""``layerlab report``: an experiment's report written again, or run directories compared side by side
(``layerlab.report.report``); a search's report (``layerlab.search.rewrite_report``)."""

from __future__ import annotations

import argparse
from typing import Any

from .. import report
from ..errors import LayerlabError
from ..search import is_search, rewrite_report
from .flags import add_command
from .notes import still_training


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "report",
        "write the tables and plots of an experiment, or of run directories side by side",
        """
                layerlab report runs/lab4a-quick                 (an experiment directory: its own report)
                layerlab report runs/cnn                         (one run: the report goes into it)
                layerlab report runs/cnn runs/quick runs/vote    (compared: into runs/compare-cnn-quick-vote)
                layerlab report runs/cnn runs/quick --out runs/cnn-vs-quick
                """,
    )
    p.add_argument(
        "directories",
        nargs="+",
        metavar="DIRECTORY",
        help="an experiment directory (`layerlab run`), or run directories (train, ensemble) to compare",
    )
    p.add_argument("--out", "-o", help="where a comparison's report goes (default: compare-<names> next to the first)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if len(args.directories) == 1 and is_search(args.directories[0]):
        if args.out is not None:
            raise LayerlabError("a search's report goes into its own folder; --out is for run directories")
        print(f"report: {rewrite_report(args.directories[0])}")
        return 0
    for directory in args.directories:
        still_training(directory, "the report shows its epochs so far")
    print(f"report: {report.report(args.directories, out=args.out)}")
    return 0
