"""``layerlab explain``: backpropagation number by number (``layerlab.explain.trace``)."""

from __future__ import annotations

import argparse
from typing import Any

from ..explain import RENDERERS, trace
from .flags import add_command


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "explain",
        "backpropagation number by number: one forward pass, backward pass and update of a small dense network",
        """
                layerlab explain                     (Matt Mazur's worked example: 2-2-2 logistic network, eta 0.5)
                layerlab explain --format markdown > backprop.md
                layerlab explain --model "input(2) dense(3) tanh dense(1)" --input 1,0 --target 1 --loss mse
                layerlab explain --model "input(2) dense(2) sigmoid dense(2) sigmoid" --weights weights.json \\
                    --input 0.05,0.1 --target 0.01,0.99 --lr 0.5 --format json
                """,
    )
    p.add_argument("--model", "-m", help="a dense network starting with input(n) (default: Mazur's example)")
    p.add_argument("--weights", help='a .json/.safetensors/.npz file, JSON like {"0.weight": [[...]]}, or numbers')
    p.add_argument("--input", help="an input example, comma-separated; a batch: examples separated by ';'")
    p.add_argument("--target", help="the target outputs, comma-separated, one set per example (';')")
    p.add_argument("--loss", help="sse (default), mse, cross_entropy, nll or bce")
    p.add_argument("--lr", type=float, help="learning rate eta of the one update (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="draws the weights when --weights is not given (default 0)")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text", help="output form (text)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    tr = trace(args.model, args.weights, args.input, args.target, args.loss, args.lr, args.seed)
    print(RENDERERS[args.format](tr))
    return 0
