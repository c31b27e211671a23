"""``layerlab train`` and ``layerlab ensemble``: one run, or several with seeds seed, seed+1, ... combined
(``layerlab.api.fit``, ``layerlab.api.ensemble``), into the run directory of --out opened once with its mode."""

from __future__ import annotations

import argparse
from typing import Any

from .. import api
from .flags import add_command, add_train_flags, train_settings

#: The last line of `train` and `ensemble` without --out.
NOT_SAVED = "not saved: add --out DIR to keep the weights and a report"


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "train",
        "train a model on a dataset (numpy or torch engine) and save the run",
        """
                layerlab train --model "flatten dense(100) sigmoid dense(10)" --data mnist-small --epochs 5 --lr 0.1
                layerlab train --model "conv(20, 5) maxpool(2) relu flatten dense(100) relu dense(10)" \\
                    --data mnist --data-dir ../shared/data --epochs 30 --batch-size 10 --lr 0.03 --l2 1.0 --out runs/cnn
                layerlab train --model "conv(32, 3, padding=same) relu maxpool(2) flatten dense(10)" \\
                    --data cifar10-small --optimizer adam --out runs/cifar
                layerlab train --config lab.toml --epochs 2 --engine numpy --out runs/quick
                    (lab.toml holds settings as keys: model = "flatten dense(30) relu dense(10)", lr = 0.1, ...)
                layerlab train --out runs/cnn --resume ...   (continue a killed run with the same settings)
                """,
    )
    add_train_flags(p)
    p.set_defaults(handler=train)

    p = add_command(
        subparsers,
        "ensemble",
        "train several members with seeds seed, seed+1, ... and combine them by vote and mean probability",
        """
                layerlab ensemble --members 5 --model "flatten dense(100) sigmoid dense(10)" --epochs 3 --out runs/vote
                """,
    )
    p.add_argument("--members", type=int, default=5, help="number of networks (default 5)")
    add_train_flags(p)
    p.set_defaults(handler=ensemble)


def train(args: argparse.Namespace) -> int:
    run = api.fit(out=args.run_dir, quiet=args.quiet, **train_settings(args))
    if args.quiet:
        print(run.result.summary())
    if args.out:
        print(f"run saved in {args.out}; report: {api.write_report(run)}")
    else:
        print(NOT_SAVED)
    return 0


def ensemble(args: argparse.Namespace) -> int:
    result, members = api.ensemble(args.members, out=args.run_dir, quiet=args.quiet, **train_settings(args))
    print(result.summary())
    if args.out:
        print(f"report: {api.write_report(api.EnsembleRun.of(members, args.out))}")
    else:
        print(NOT_SAVED)
    return 0
