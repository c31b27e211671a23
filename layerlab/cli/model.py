"""``layerlab summary`` and ``layerlab gradcheck``: a model spec's layers, and its backprop checked."""

from __future__ import annotations

import argparse
from typing import Any

from .. import api
from ..spec import Spec, SpecError, parse
from .flags import add_command

EXAMPLE_CNN = (
    "input(1, 28, 28) conv(25, 3) relu maxpool(2) conv(50, 3) relu maxpool(2) flatten dense(100) relu dense(10)"
)


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "summary",
        "print a model's layers, output shapes and parameter counts",
        """
                layerlab summary
                layerlab summary --model "input(784) dense(100) sigmoid dense(10)"
                layerlab summary --model "conv(20, 5) maxpool(2) relu flatten dense(10)" --input 1x28x28
                """,
    )
    _model_flags(p)
    p.set_defaults(handler=summary)

    p = add_command(
        subparsers,
        "gradcheck",
        "check the numpy engine's backprop against finite differences",
        """
                layerlab gradcheck
                layerlab gradcheck --model "input(2) dense(3) tanh dense(2)" --batch 4
                layerlab gradcheck --model "input(8) dense(6) relu dropout(0.5, scale=test) dense(3)" --eval
                """,
    )
    _model_flags(p)
    p.add_argument("--batch", type=int, default=3, help="examples in the random batch (default 3)")
    p.add_argument(
        "--loss",
        default="cross_entropy",
        choices=("cross_entropy", "nll", "mse", "sse", "bce"),
        help="the loss (default cross_entropy)",
    )
    p.add_argument("--eval", action="store_true", help="check the network as it predicts (dropout off or scaled)")
    p.add_argument("--entries", type=int, default=20, help="entries checked per parameter (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed for weights and data (default 0)")
    p.add_argument("--tolerance", type=float, default=1e-6, help="largest relative error accepted (default 1e-6)")
    p.set_defaults(handler=gradcheck)


def _model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", default=EXAMPLE_CNN, help="the model spec (default: the slides' Keras CNN)")
    p.add_argument("--input", type=_input_shape, help="input shape if the spec has no input(...), e.g. 1x28x28")
    p.add_argument("--layers", help="a .py file of your own layer classes, usable by class name in --model")


def _input_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape; write it like 1x28x28 or 784") from None
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give (features) or (channels x height x width), e.g. 1x28x28")
    return shape


def _spec(args: argparse.Namespace) -> Spec:
    spec = parse(args.model, args.input, "--input")
    if spec.input_shape is None:
        raise SpecError("the model has no input shape: start it with input(...) or pass --input, e.g. --input 1x28x28")
    return spec


def summary(args: argparse.Namespace) -> int:
    spec = _spec(args)
    print(f"model: {spec}\n\n{spec.summary()}")
    return 0


def gradcheck(args: argparse.Namespace) -> int:
    check = api.gradcheck(
        _spec(args),
        batch=args.batch,
        loss=args.loss,
        entries=args.entries,
        seed=args.seed,
        tolerance=args.tolerance,
        training=not args.eval,
    )
    print(check.report())
    return 0 if check.ok else 1
