"""``layerlab eval`` and ``layerlab predict``: a saved run (or ensemble) measured again on its data, or
classifying image files (``layerlab.api.evaluate``, ``layerlab.api.load``)."""

from __future__ import annotations

import argparse
from typing import Any

from .. import api
from ..errors import LayerlabError
from ..task import task_named
from .flags import add_command
from .notes import still_training


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "eval",
        "evaluate a saved run on its validation and test sets, optionally with test-time augmentation",
        """
                layerlab eval runs/cnn
                layerlab eval runs/cnn --tta rotations          (views turned by -15, 0 and 15 degrees)
                layerlab eval runs/cifar --tta crops,flip
                """,
    )
    _saved_run_flags(p)
    p.add_argument("--tta", help="test-time augmentation views: rotations, crops, flip (comma-separated)")
    p.set_defaults(handler=evaluate)

    p = add_command(
        subparsers,
        "predict",
        "classify image files with a saved run; prints the class and the top probabilities",
        "layerlab predict runs/cnn digit.png another.png --top 3",
    )
    _saved_run_flags(p)
    p.add_argument("images", nargs="+", help="PNG/JPEG files (prepared like the training images; see the notes)")
    p.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    p.add_argument(
        "--invert",
        action=argparse.BooleanOptionalAction,
        help="dark on light: invert (default: detected for MNIST-shaped models)",
    )
    p.set_defaults(handler=predict)


def _saved_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a run directory (`layerlab train --out`), or an ensemble's (`ensemble --out`)")
    p.add_argument("--weights", choices=("best", "last"), default="best", help="which epoch's weights (best)")
    p.add_argument("--device", help="where to run the model (default: as trained)")


def evaluate(args: argparse.Namespace) -> int:
    evaluation = api.evaluate(args.run, weights=args.weights, device=args.device, tta=args.tta)
    still_training(args.run, f"the weights are from its {args.weights} epoch so far")
    print(f"run: {args.run} ({args.weights} weights)\ndata: {evaluation.data}")
    if evaluation.run.result is not None:
        print(f"recorded: {evaluation.run.result.summary()}")
    if isinstance(evaluation.run, api.EnsembleRun):
        combined = task_named(evaluation.task).combined_by
        print(f"an ensemble of {len(evaluation.run.members)} members: {combined}")
    for name, (accuracy, examples) in evaluation.accuracy.items():
        print(f"{name} accuracy: {accuracy:.2%} ({examples:,} examples)")
    for name, (loss, examples) in evaluation.loss.items():  # a regression run
        print(f"{name} loss ({evaluation.run.config.loss}): {loss:.4g} ({examples:,} examples)")
    if evaluation.tta:
        print("test-time augmentation, test accuracy per view:")
        for view, accuracy in evaluation.tta["views"].items():
            print(f"  {view:<16} {accuracy:.2%}")
        print(f"  {'averaged':<16} {evaluation.tta['averaged']:.2%}")
    for warning in evaluation.warnings:
        print(f"warning: {warning}")
    return 0


def predict(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise LayerlabError(f"--top must be at least 1 (the number of classes shown), got {args.top}")
    run = api.load(args.run, weights=args.weights, device=args.device)
    still_training(args.run, f"the weights are from its {args.weights} epoch so far")
    for prediction in run.predict_files(args.images, invert=args.invert):
        for note in prediction.notes:
            print(f"note: {prediction.path}: {note}")
        ranked = prediction.top(args.top)
        print(f"{prediction.path}: {ranked[0][0]}  ({', '.join(f'{c} {p:.1%}' for c, p in ranked)})")
    return 0
