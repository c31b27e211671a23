"""``layerlab notebook``: a copy of a notebook that ships with layerlab (``layerlab.commands.notebook``)."""

from __future__ import annotations

import argparse
from typing import Any

from .. import commands
from .flags import add_command


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "notebook",
        "copy one of the notebooks that ship with layerlab (the labs, backprop by hand, ...); no name: list them",
        """
                layerlab notebook                         (the list)
                layerlab notebook lab4a                   (writes lab4a.ipynb here)
                layerlab notebook backprop --out mine.ipynb  (never over a file)
                """,
    )
    p.add_argument("name", nargs="?", help="the notebook: lab4a, lab4b, nielsen, backprop, activations, ...")
    p.add_argument("--out", "-o", default=".", help="the folder (or .ipynb file) to write; never replaced")
    p.set_defaults(handler=run, out_is_a_file=True)


def run(args: argparse.Namespace) -> int:
    if args.name is None:
        print(commands.notebooks())
        return 0
    path = commands.notebook(args.name, args.out)
    print(f"wrote {path}: open it with `jupyter lab {path}` (pip install 'layerlab[notebook]'), or upload it to Colab")
    return 0
