"""``layerlab plot``: a teaching figure as a PNG (``layerlab.commands.plot``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import commands
from ..errors import LayerlabError
from ..files import write_figure
from .flags import add_command


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "plot",
        "draw a teaching figure: activations (step, linear, sigmoid, tanh, ReLU, leaky ReLU, ELU, maxout, derivatives)",
        "layerlab plot activations --out activations.png",
    )
    p.add_argument("figure", choices=commands.FIGURES, help="the figure to draw")
    p.add_argument("--out", "-o", help="the PNG file to write (default: activations.png in the current folder)")
    p.add_argument("--overwrite", action="store_true", help="replace the file if it exists")
    p.set_defaults(handler=run, out_is_a_file=True)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out or f"{args.figure}.png")
    if out.exists() and not args.overwrite:
        raise LayerlabError(f"{out.resolve()} exists: give another --out, or --overwrite to replace it")
    figure = commands.plot(args.figure)
    write_figure(out, figure, dpi=100)
    print(f"wrote {out.resolve()}")
    return 0
