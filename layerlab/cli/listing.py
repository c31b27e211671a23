"""``layerlab list``: the built-in experiments and searches."""

from __future__ import annotations

import argparse
from typing import Any

from ..experiments import builtin_names
from ..search import builtin_searches
from .flags import add_command


def add_parsers(subparsers: Any) -> None:
    p = add_command(subparsers, "list", "list the built-in experiments and searches", "layerlab list")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    experiments, searches = builtin_names(), builtin_searches()
    width = max(map(len, [*experiments, *searches]))
    lines = []
    for what, names, how in (("experiments", experiments, "run lab4a"), ("searches", searches, "search search-mlp")):
        lines += [f"{what} (run one as `layerlab {how} --quick`):", *(f"  {n:<{width}}  {t}" for n, t in names.items())]
    print("\n".join(lines))
    return 0
