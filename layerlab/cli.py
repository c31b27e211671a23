"""The ``layerlab`` command line: a thin layer over the Python API.

Every user error ends the command with one clear line and a non-zero exit; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from .errors import LayerlabError
from .spec import Spec, SpecError, parse

EXAMPLE_CNN = (
    "input(1, 28, 28) conv(25, 3) relu maxpool(2) conv(50, 3) relu maxpool(2) flatten dense(100) relu dense(10)"
)


def _input_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape; write it like 1x28x28 or 784") from None
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give (features) or (channels x height x width), e.g. 1x28x28")
    return shape


def _spec(args: argparse.Namespace) -> Spec:
    spec = parse(args.model, args.input)
    if spec.input_shape is None:
        raise SpecError("the model has no input shape: start it with input(...) or pass --input, e.g. --input 1x28x28")
    return spec


def cmd_summary(args: argparse.Namespace) -> int:
    spec = _spec(args)
    table = spec.summary()
    print(f"model: {spec}\n\n{table}")
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    import numpy as np

    from .numpy import build
    from .numpy.gradcheck import check_model

    spec = _spec(args)
    model = build(spec, seed=args.seed, dtype=np.float64, loss=args.loss)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch, *spec.input_shape))
    classes = spec.output_shape()[0]
    y = (
        rng.integers(0, classes, size=args.batch)
        if args.loss != "bce"
        else rng.integers(0, 2, size=(args.batch, classes))
    )
    errors = check_model(model, x, y, entries=args.entries, seed=args.seed)
    print(f"model: {spec}")
    print(
        f"finite-difference check of backprop (float64, batch {args.batch}, loss {args.loss}, "
        f"up to {args.entries} entries per parameter)\n"
    )
    width = max(len(n) for n in errors)
    worst = 0.0
    for name, err in errors.items():
        i = int(name.split(".")[0])
        verdict = "ok" if err < args.tolerance else "MISMATCH"
        print(f"  {name:<{width}}  {str(spec.layers[i]):<28}  relative error {err:.2e}  {verdict}")
        worst = max(worst, err)
    ok = worst < args.tolerance
    print(
        f"\n{'all gradients agree' if ok else 'gradients DISAGREE'}: worst relative error {worst:.2e} "
        f"(tolerance {args.tolerance:.0e})"
    )
    return 0 if ok else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerlab",
        description="A deep-learning lab: every layer by hand in NumPy, the same models fast in PyTorch.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str, examples: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help,
            description=help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
        )
        p.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback of an error"
        )
        return p

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", "-m", default=EXAMPLE_CNN, help="the model spec (default: the slides' Keras CNN)")
        p.add_argument("--input", type=_input_shape, help="input shape if the spec has no input(...), e.g. 1x28x28")

    p = command(
        "summary",
        "print a model's layers, output shapes and parameter counts",
        """
                layerlab summary
                layerlab summary --model "input(784) dense(100) sigmoid dense(10)"
                layerlab summary --model "conv(20, 5) maxpool(2) relu flatten dense(10)" --input 1x28x28
                """,
    )
    model_args(p)
    p.set_defaults(run=cmd_summary)

    p = command(
        "gradcheck",
        "check the numpy engine's backprop against finite differences",
        """
                layerlab gradcheck
                layerlab gradcheck --model "input(2) dense(3) tanh dense(2)" --batch 4
                """,
    )
    model_args(p)
    p.add_argument("--batch", type=int, default=3, help="examples in the random batch (default 3)")
    p.add_argument(
        "--loss", default="cross_entropy", help="cross_entropy, nll, mse, sse or bce (default cross_entropy)"
    )
    p.add_argument("--entries", type=int, default=20, help="entries checked per parameter (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed for weights and data (default 0)")
    p.add_argument("--tolerance", type=float, default=1e-6, help="largest relative error accepted (default 1e-6)")
    p.set_defaults(run=cmd_gradcheck)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except LayerlabError as e:
        if args.debug:
            raise
        print(f"layerlab {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
