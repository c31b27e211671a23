"""``layerlab datasets``: the datasets layerlab knows."""

from __future__ import annotations

import argparse
from typing import Any

from ..data import DATASETS
from .flags import add_command


def add_parsers(subparsers: Any) -> None:
    p = add_command(subparsers, "datasets", "list the datasets layerlab knows", "layerlab datasets")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    width = max(map(len, DATASETS))
    for name, description in DATASETS.items():
        print(f"{name:<{width}}  {description}")
    return 0
