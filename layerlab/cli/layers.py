"""``layerlab exercise`` and ``layerlab check``: a starter file for layers of your own, and their grading
(one file, or a class's folder: ``layerlab.classroom``)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..classroom import check as grade
from ..classroom import gradescope
from ..exercises import write_starter
from .flags import add_command


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "exercise",
        "write a starter file for layers of your own: dense, relu, sigmoid, tanh, softmax-ce, conv, maxpool, ...",
        """
                layerlab exercise dense                    (writes my_layers.py)
                layerlab exercise relu sigmoid softmax-ce --out activations.py
                layerlab exercise all --out all_layers.py
                """,
    )
    p.add_argument("names", nargs="+", help="dense relu sigmoid tanh softmax-ce conv maxpool dropout batchnorm, or all")
    p.add_argument("--out", "-o", default="my_layers.py", help="the file to write (never replaced; my_layers.py)")
    p.set_defaults(handler=exercise, out_is_a_file=True)

    p = add_command(
        subparsers,
        "check",
        "grade your own layers: forward against the engine, backward against it and finite differences",
        """
                layerlab check my_layers.py
                layerlab check my_layers.py --no-train      (skip the MNIST comparison)
                layerlab check submissions/ --gradebook grades.csv --time-limit 30   (a class, one file each)
                layerlab check submission.py --gradescope /autograder/results/results.json
                """,
    )
    p.add_argument("file", help="your Python file (it is run), or a folder with one file per student")
    p.add_argument("--no-train", action="store_true", help="do not train the MNIST models after the checks")
    p.add_argument("--gradebook", action="append", help="a folder's grades to FILE.csv or FILE.json (repeatable)")
    p.add_argument("--gradescope", help="write Gradescope's autograder results.json here")
    p.add_argument("--time-limit", type=float, default=60, help="seconds per student's file (default 60)")
    p.add_argument("--memory-limit", type=int, default=1024, help="MiB per student's file (default 1024)")
    p.add_argument("--limit", type=int, default=1000, help="training images for the comparison (default 1000)")
    p.add_argument("--epochs", type=int, default=2, help="epochs for the comparison (default 2)")
    p.set_defaults(handler=check)


def exercise(args: argparse.Namespace) -> int:
    path = write_starter(args.names, args.out)
    print(f"wrote {path}: fill in forward and backward, then run: layerlab check {path}")
    return 0


def check(args: argparse.Namespace) -> int:
    folder = os.path.isdir(args.file)
    if args.gradescope and not folder:  # Gradescope's autograder: one file, limited, a results.json
        submission = gradescope(args.file, args.gradescope, args.time_limit, args.memory_limit)
        print(f"{submission.student}: {submission.status}, {submission.points} points; wrote {args.gradescope}")
        return 0
    result = grade(
        args.file,
        train=not args.no_train,
        limit=args.limit,
        epochs=args.epochs,
        time_limit=args.time_limit,
        memory_limit=args.memory_limit,
        gradebooks=args.gradebook or [],
        progress=print,
    )
    if folder:  # a class: the table; the gradebooks are written
        print(result.table())
        for path in args.gradebook or []:
            print(f"wrote {path}")
        return 0
    print(result)
    if not result.passed:
        return 1
    if result.training:
        print("\ntest accuracy on mnist-small (numpy engine, the same seed and settings):")
        width = max(len(r["yours"]) for r in result.training)
        for r in result.training:
            print(f"  {r['yours']:<{width}}  {r['yours_accuracy']:.2%}   ours: {r['ours_accuracy']:.2%}")
    return 0
