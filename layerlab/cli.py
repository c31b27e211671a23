"""The ``layerlab`` command line: a thin layer over the Python API.

Every user error ends the command with one clear line and a non-zero exit; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import textwrap

from .cli_ends import closed_pipe, interrupted, unknown_arguments
from .cli_flags import LR_FIND_SKIPS, TUNE_SKIPS, ArgumentParser, add_train_flags
from .engine import ENGINES
from .errors import FLAG_WORDS, LayerlabError, Terminated
from .files import out_folder
from .phrases import count
from .rundir import RunDir
from .spec import Spec, SpecError, parse
from .task import task_named

#: The commands whose --out is a file (a PNG, a starter .py, a notebook's .ipynb or its folder, "." by default):
#: they check it themselves. Every other command's --out is a folder, checked by ``files.out_folder``.
FILE_OUTS = ("exercise", "notebook", "plot")
#: The last line of `train` and `ensemble` without --out.
NOT_SAVED = "not saved: add --out DIR to keep the weights and a report"
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
    spec = parse(args.model, args.input, "--input")
    if spec.input_shape is None:
        raise SpecError("the model has no input shape: start it with input(...) or pass --input, e.g. --input 1x28x28")
    return spec


def cmd_summary(args: argparse.Namespace) -> int:
    spec = _spec(args)
    table = spec.summary()
    print(f"model: {spec}\n\n{table}")
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from . import api

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


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import RENDERERS, trace

    tr = trace(args.model, args.weights, args.input, args.target, args.loss, args.lr, args.seed)
    print(RENDERERS[args.format](tr))
    return 0


def cmd_exercise(args: argparse.Namespace) -> int:
    from .exercises import write_starter

    path = write_starter(args.names, args.out)
    print(f"wrote {path}: fill in forward and backward, then run: layerlab check {path}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .classroom import check, gradescope

    folder = os.path.isdir(args.file)
    if args.gradescope and not folder:  # Gradescope's autograder: one file, limited, a results.json
        submission = gradescope(args.file, args.gradescope, args.time_limit, args.memory_limit)
        print(f"{submission.student}: {submission.status}, {submission.points} points; wrote {args.gradescope}")
        return 0
    result = check(
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


def cmd_plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import commands
    from .files import write_figure

    out = Path(args.out or f"{args.figure}.png")
    if out.exists() and not args.overwrite:
        raise LayerlabError(f"{out.resolve()} exists: give another --out, or --overwrite to replace it")
    figure = commands.plot(args.figure)
    write_figure(out, figure, dpi=100)
    print(f"wrote {out.resolve()}")
    return 0


def _train_settings(args: argparse.Namespace) -> dict:
    """The settings of the TOML file of --config (its relative paths from its folder: ``PATH_SETTINGS``),
    then the flags given on the command line (over them), each checked for its type and range.

    The API fills in the rest: the defaults, or with --resume the settings the run was started with.
    """
    from .config import TrainConfig, check_settings, paths_from, read_toml, setting_names

    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)}
    check_settings(flags, flags=True)
    settings = {}
    if args.config:
        where = f"config file {args.config}"
        settings = setting_names(read_toml(args.config, "config file"), where)
        check_settings(settings, where)
        settings = paths_from(settings, os.path.dirname(args.config))
    settings |= flags
    TrainConfig.from_dict(settings)  # unknown keys of the file are errors now
    return settings


def cmd_train(args: argparse.Namespace) -> int:
    from . import api

    if args.resume and not (args.out and RunDir(args.out).is_run()):
        where = args.out or "no --out"
        raise LayerlabError(f"--resume: {where} holds no run to continue; leave out --resume to start one")
    settings = _train_settings(args)
    run = api.fit(out=args.out, resume=args.resume, overwrite=args.overwrite, quiet=args.quiet, **settings)
    if args.quiet:
        print(run.result.summary())
    if args.out:
        print(f"run saved in {args.out}; report: {api.write_report(run)}")
    else:
        print(NOT_SAVED)
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from . import api

    settings = _train_settings(args)
    result, members = api.ensemble(
        args.members, out=args.out, resume=args.resume, overwrite=args.overwrite, quiet=args.quiet, **settings
    )
    print(result.summary())
    if args.out:
        print(f"report: {api.write_report(api.EnsembleRun.of(members, args.out))}")
    else:
        print(NOT_SAVED)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from . import api

    evaluation = api.evaluate(args.run, weights=args.weights, device=args.device, tta=args.tta)
    _still_training(args.run, f"the weights are from its {args.weights} epoch so far")
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


def cmd_predict(args: argparse.Namespace) -> int:
    from . import api

    if args.top < 1:
        raise LayerlabError(f"--top must be at least 1 (the number of classes shown), got {args.top}")
    run = api.load(args.run, weights=args.weights, device=args.device)
    _still_training(args.run, f"the weights are from its {args.weights} epoch so far")
    for prediction in run.predict_files(args.images, invert=args.invert):
        for note in prediction.notes:
            print(f"note: {prediction.path}: {note}")
        ranked = prediction.top(args.top)
        print(f"{prediction.path}: {ranked[0][0]}  ({', '.join(f'{c} {p:.1%}' for c, p in ranked)})")
    return 0


def _still_training(run: str, what: str) -> None:
    """A note when another process is still training the run a command reads; ``what``: what it reads of it."""
    writer = RunDir(run).writer()
    if writer is not None:
        print(f"note: {run} is still training ({writer}): {what}")


def cmd_datasets(args: argparse.Namespace) -> int:
    from .data import DATASETS

    width = max(map(len, DATASETS))
    for name, description in DATASETS.items():
        print(f"{name:<{width}}  {description}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .experiments import builtin_names
    from .search import builtin_searches

    experiments, searches = builtin_names(), builtin_searches()
    width = max(map(len, [*experiments, *searches]))
    lines = []
    for what, names, how in (("experiments", experiments, "run lab4a"), ("searches", searches, "search search-mlp")):
        lines += [f"{what} (run one as `layerlab {how} --quick`):", *(f"  {n:<{width}}  {t}" for n, t in names.items())]
    print("\n".join(lines))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from . import commands, report

    experiment = commands.run(
        args.experiment,
        quick=args.quick,
        out=args.out,
        jobs=args.jobs,
        device=args.device,
        threads=args.threads,
        engine=args.engine,
        data_dir=args.data_dir,
        only=args.only,
        storage=args.storage,
        progress=not args.quiet,
        seed=args.seed,
    )
    report.print_summary(experiment.directory)
    print(f"report: {experiment.page}")
    failed = experiment.failed
    if failed:
        print(f"layerlab run: {count(len(failed), 'run')} failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from . import report
    from .search import is_search

    if len(args.directories) == 1 and is_search(args.directories[0]):
        if args.out is not None:
            raise LayerlabError("a search's report goes into its own folder; --out is for run directories")
        from .search import rewrite_report

        print(f"report: {rewrite_report(args.directories[0])}")
        return 0
    for directory in args.directories:
        _still_training(directory, "the report shows its epochs so far")
    print(f"report: {report.report(args.directories, out=args.out)}")
    return 0


def cmd_playground(args: argparse.Namespace) -> int:
    from .playground import serve

    serve(args.host, args.port, open_browser=not args.no_browser, data_dir=args.data_dir)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from .search import SEARCH_OPTIONS, search

    names = (*SEARCH_OPTIONS, "data_dir", "device", "engine")
    overrides = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    log = (lambda message: None) if args.quiet else print
    result = search(
        args.search,
        args.out,
        storage=args.storage,
        jobs=args.jobs,
        quick=args.quick,
        study=args.study,
        log=log,
        **overrides,
    )
    if args.quiet and result.best is not None:
        best = result.best
        print(f"best: {', '.join(best.figures())}: {best.command}")
    if result.report is not None:
        print(f"report: {result.report}")
    return 0


def cmd_lr_find(args: argparse.Namespace) -> int:
    from . import commands

    result = commands.lr_find(
        quick=args.quick,
        steps=args.steps,
        start_lr=args.start_lr,
        end_lr=args.end_lr,
        fraction=args.fraction,
        out=args.out or "runs/lr-find",
        overwrite=args.overwrite,
        progress=not args.quiet,
        **_train_settings(args),
    )
    print(result.summary())
    print(f"plot: {result.plot}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from . import commands

    commands.tune(quick=args.quick, out=args.out, **_train_settings(args))
    return 0


def cmd_notebook(args: argparse.Namespace) -> int:
    from . import commands

    if args.name is None:
        print(commands.notebooks())
        return 0
    path = commands.notebook(args.name, args.out)
    print(f"wrote {path}: open it with `jupyter lab {path}` (pip install 'layerlab[notebook]'), or upload it to Colab")
    return 0


def _search_commands(command) -> None:
    """The `search`, `lr-find` and `tune` subcommands (layerlab/search/)."""
    p = command(
        "search",
        "search hyperparameters with Optuna (grid, random, TPE, GP; pruning) and report the best configuration",
        """
                layerlab search search-mlp --quick
                layerlab search search-mlp --data-dir ../shared/data --trials 50 --jobs 2
                layerlab search my-search.toml --sampler random --pruner none --timeout 3600
                layerlab search my-search.toml --storage postgresql://lab@db.example.org/searches   (on every machine)
                layerlab search my-search.toml --storage journal:/shared/nfs/my-search.log
                """,
    )
    p.add_argument("search", help="a built-in (search-mlp, search-cnn) or a search .toml file")
    p.add_argument("--quick", action="store_true", help="the file's [quick] overrides: small data, a few trials")
    p.add_argument("--out", "-o", help="search directory: study.db, runs/, report (default runs/<name>)")
    p.add_argument("--storage", help="a shared study: postgresql://user@host/db or journal:/shared/file.log")
    p.add_argument("--study", help="the study's name in the storage (default: the search's name)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--trials", type=int, help="budget: finished trials, over all workers")
    p.add_argument("--timeout", type=float, help="budget: seconds; no trial starts after it")
    p.add_argument("--sampler", help="grid, random, tpe, gp or cmaes")
    p.add_argument("--pruner", help="none, median, halving or hyperband")
    p.add_argument("--seed", type=int, help="the sampler's seed (default 0)")
    p.add_argument("--heartbeat", type=int, help="seconds between a trial's heartbeats (default 10)")
    p.add_argument("--data-dir", help="where local copies of the datasets are")
    p.add_argument("--device", help="auto, cpu, cuda, ... for every trial")
    p.add_argument("--engine", choices=("torch", "numpy"), help="the engine for every trial")
    p.add_argument("--quiet", "-q", action="store_true", help="only the best configuration and the report's path")
    p.set_defaults(handler=cmd_search)

    p = command(
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
    p.set_defaults(handler=cmd_lr_find)

    p = command(
        "tune",
        "tune step by step as the slides do (binary problem, eta, epochs, schedule, lambda, batch size), explained",
        """
                layerlab tune --quick
                layerlab tune --data mnist --data-dir ../shared/data --model "flatten dense(100) relu dense(10)"
                """,
    )
    add_train_flags(p, skip=TUNE_SKIPS)
    p.add_argument("--quick", action="store_true", help="small data and few epochs: a couple of minutes")
    p.set_defaults(handler=cmd_tune)


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
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
        p.add_argument("--layers", help="a .py file of your own layer classes, usable by class name in --model")

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
    p.set_defaults(handler=cmd_summary)

    p = command(
        "gradcheck",
        "check the numpy engine's backprop against finite differences",
        """
                layerlab gradcheck
                layerlab gradcheck --model "input(2) dense(3) tanh dense(2)" --batch 4
                layerlab gradcheck --model "input(8) dense(6) relu dropout(0.5, scale=test) dense(3)" --eval
                """,
    )
    model_args(p)
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
    p.set_defaults(handler=cmd_gradcheck)

    p = command(
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
    p.set_defaults(handler=cmd_explain)

    p = command(
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
    p.set_defaults(handler=cmd_exercise)

    p = command(
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
    p.set_defaults(handler=cmd_check)

    p = command(
        "plot",
        "draw a teaching figure: activations (step, linear, sigmoid, tanh, ReLU, leaky ReLU, ELU, maxout, derivatives)",
        "layerlab plot activations --out activations.png",
    )
    p.add_argument("figure", choices=("activations",), help="the figure to draw")
    p.add_argument("--out", "-o", help="the PNG file to write (default: activations.png in the current folder)")
    p.add_argument("--overwrite", action="store_true", help="replace the file if it exists")
    p.set_defaults(handler=cmd_plot)

    p = command(
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
    p.set_defaults(handler=cmd_train)

    p = command(
        "ensemble",
        "train several members with seeds seed, seed+1, ... and combine them by vote and mean probability",
        """
                layerlab ensemble --members 5 --model "flatten dense(100) sigmoid dense(10)" --epochs 3 --out runs/vote
                """,
    )
    p.add_argument("--members", type=int, default=5, help="number of networks (default 5)")
    add_train_flags(p)
    p.set_defaults(handler=cmd_ensemble)

    def run_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("run", help="a run directory (`layerlab train --out`), or an ensemble's (`ensemble --out`)")
        p.add_argument("--weights", choices=("best", "last"), default="best", help="which epoch's weights (best)")
        p.add_argument("--device", help="where to run the model (default: as trained)")

    p = command(
        "eval",
        "evaluate a saved run on its validation and test sets, optionally with test-time augmentation",
        """
                layerlab eval runs/cnn
                layerlab eval runs/cnn --tta rotations          (views turned by -15, 0 and 15 degrees)
                layerlab eval runs/cifar --tta crops,flip
                """,
    )
    run_args(p)
    p.add_argument("--tta", help="test-time augmentation views: rotations, crops, flip (comma-separated)")
    p.set_defaults(handler=cmd_eval)

    p = command(
        "predict",
        "classify image files with a saved run; prints the class and the top probabilities",
        "layerlab predict runs/cnn digit.png another.png --top 3",
    )
    run_args(p)
    p.add_argument("images", nargs="+", help="PNG/JPEG files (prepared like the training images; see the notes)")
    p.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    p.add_argument(
        "--invert",
        action=argparse.BooleanOptionalAction,
        help="dark on light: invert (default: detected for MNIST-shaped models)",
    )
    p.set_defaults(handler=cmd_predict)

    p = command(
        "run",
        "run an experiment (a built-in or a TOML file): train its runs, then write the report",
        """
                layerlab run lab4a --quick
                layerlab run nielsen --device cuda --data-dir ../shared/data
                layerlab run my-experiment.toml --jobs 2 --out runs/mine
                """,
    )
    p.add_argument("experiment", help="a built-in name (see `layerlab list`) or an experiment .toml file")
    p.add_argument("--quick", action="store_true", help="shrink every run (fewer images and epochs): about a minute")
    p.add_argument("--out", "-o", help="experiment directory (default runs/<name>, runs/<name>-quick with --quick)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="parallel processes for runs and ensemble members")
    p.add_argument("--device", help="auto, cpu, cuda, ... for every run")
    p.add_argument("--threads", type=int, help="torch engine on a CPU: threads per run (default 1)")
    p.add_argument("--engine", choices=tuple(ENGINES), help="the engine for every run")
    p.add_argument("--data-dir", help="where local copies of the datasets are")
    p.add_argument("--only", help="train only these runs (comma-separated names, e.g. 1-mlp-100,2-conv-20)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="train the experiment again with other seeds (every run's moves by 100,000 x SEED)",
    )
    p.add_argument("--storage", help="share the runs with workers on other machines: postgresql://..., journal:FILE")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(handler=cmd_run)

    p = command("list", "list the built-in experiments and searches", "layerlab list")
    p.set_defaults(handler=cmd_list)

    p = command(
        "report",
        "write the tables and plots of an experiment, or of run directories side by side",
        """
                layerlab report runs/lab4a-quick                 (an experiment directory: its own report)
                layerlab report runs/cnn                         (one run: the report goes into it)
                layerlab report runs/cnn runs/quick runs/vote    (compared: into runs/compare-cnn-quick-vote)
                layerlab report runs/cnn runs/quick --out runs/cnn-vs-quick
                """,
    )
    p.add_argument(
        "directories",
        nargs="+",
        metavar="DIRECTORY",
        help="an experiment directory (`layerlab run`), or run directories (train, ensemble) to compare",
    )
    p.add_argument("--out", "-o", help="where a comparison's report goes (default: compare-<names> next to the first)")
    p.set_defaults(handler=cmd_report)

    p = command(
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
    p.set_defaults(handler=cmd_notebook)

    p = command("datasets", "list the datasets layerlab knows", "layerlab datasets")
    p.set_defaults(handler=cmd_datasets)

    p = command(
        "playground",
        "TensorFlow Playground in the browser, trained by the numpy engine (the course's ten tasks as presets)",
        """
                layerlab playground                      (opens http://127.0.0.1:8765/)
                layerlab playground --port 9000 --no-browser
                layerlab playground --host 0.0.0.0       (share it on the network: anyone can use it)
                """,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    p.add_argument("--data-dir", help="the Images page: where MNIST and Fashion-MNIST are (mnist-small is built in)")
    p.set_defaults(handler=cmd_playground)
    _search_commands(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        unknown_arguments(parser, args.command, extra)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if getattr(args, "out", None) is not None and args.command not in FILE_OUTS:
            out_folder(args.out)  # one check for every command, before any work: not a file, not ""
        if getattr(args, "layers", None):  # your own layer classes (it is your code: only the file you name)
            from .numpy.custom import load_layers

            load_layers(args.layers)
        code = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except LayerlabError as e:  # anything else is a bug: its traceback shows
        if args.debug:
            raise
        print(f"layerlab {args.command}: error: {e.worded(FLAG_WORDS)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(interrupted(args), file=sys.stderr)
        return 143 if isinstance(interrupt, Terminated) else 130
    except BrokenPipeError:
        return closed_pipe()


if __name__ == "__main__":
    sys.exit(main())
