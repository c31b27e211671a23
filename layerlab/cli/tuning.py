"""``layerlab lr-find`` and ``layerlab tune``: the learning-rate range test, and Nielsen's step-by-step tuning
(``layerlab.commands.lr_find``, ``layerlab.commands.tune``); their flags are train's, less those they decide."""

from __future__ import annotations

import argparse
from typing import Any

from .. import commands
from .flags import LR_FIND_SKIPS, TUNE_SKIPS, add_command, add_train_flags, train_settings


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "lr-find",
        "the learning-rate range test: sweep eta exponentially, plot the loss, suggest a learning rate",
        """
                layerlab lr-find --quick --model "flatten dense(100) relu dense(10)"
                layerlab lr-find --optimizer adam --batch-size 64 --steps 300 --out runs/lr-adam
                """,
    )
    add_train_flags(p, skip=LR_FIND_SKIPS)
    p.add_argument("--out", "-o", help="folder of lr-find.png and lr-find.json (default runs/lr-find)")
    p.add_argument("--overwrite", action="store_true", help="replace the range test already in --out")
    p.add_argument("--quick", action="store_true", help="mnist-small, its first 2000 images (unless given)")
    p.add_argument("--steps", type=int, default=200, help="mini-batches in the sweep (default 200)")
    p.add_argument("--start-lr", type=float, default=1e-5, help="first eta of the sweep (default 1e-5)")
    p.add_argument("--end-lr", type=float, default=10.0, help="last eta of the sweep (default 10)")
    p.add_argument("--fraction", type=float, default=0.1, help="suggestion = fraction x threshold (default 0.1)")
    p.set_defaults(handler=lr_find)

    p = add_command(
        subparsers,
        "tune",
        "tune step by step as the slides do (binary problem, eta, epochs, schedule, lambda, batch size), explained",
        """
                layerlab tune --quick
                layerlab tune --data mnist --data-dir ../shared/data --model "flatten dense(100) relu dense(10)"
                """,
    )
    add_train_flags(p, skip=TUNE_SKIPS)
    p.add_argument("--quick", action="store_true", help="small data and few epochs: a couple of minutes")
    p.set_defaults(handler=tune)


def lr_find(args: argparse.Namespace) -> int:
    result = commands.lr_find(
        quick=args.quick,
        steps=args.steps,
        start_lr=args.start_lr,
        end_lr=args.end_lr,
        fraction=args.fraction,
        out=args.out or "runs/lr-find",
        overwrite=args.overwrite,
        progress=not args.quiet,
        **train_settings(args),
    )
    print(result.summary())
    print(f"plot: {result.plot}")
    return 0


def tune(args: argparse.Namespace) -> int:
    commands.tune(quick=args.quick, out=args.out, **train_settings(args))
    return 0
