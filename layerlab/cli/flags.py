"""The flags several commands share and how a command is declared: one flag per TrainConfig setting (less
those a command does not use, and why), the run directory of --out opened once with its mode, the parser's
one-line errors.

Part of the command line: only the modules of ``layerlab/cli/`` import it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import textwrap
from collections.abc import Collection
from typing import Any, NoReturn

from ..config import TrainConfig, check_settings, paths_from, read_toml, setting_names
from ..errors import LayerlabError
from ..rundir import RunDir

#: lr-find's flags leave out the settings it does not use (it sweeps eta for a few hundred steps, no epochs)
LR_FIND_SKIPS = (
    "epochs",
    "lr",
    "schedule",
    "lr_step",
    "lr_gamma",
    "lr_patience",
    "lr_min",
    "warmup",
    "patience",
    "grad_norms",
    "eval_batch_size",
    "out",
    "resume",
    "overwrite",
)
#: tune's flags leave out what it decides itself and the flags of one run: why, for the error on each
TUNE_SKIPS = {
    "patience": "it stops its runs by its own rule, Nielsen's no improvement in ten epochs",
    "resume": "run the same command again to continue: the runs already in --out are reused",
    "overwrite": "the runs already in --out are reused; give another --out to start afresh",
}
#: The reasons a command leaves out train flags, by command (``unknown_flags.refuse`` says them).
LEFT_OUT = {"tune": {f"--{name.replace('_', '-')}": why for name, why in TUNE_SKIPS.items()}}
DEBUG_HELP = "show the full traceback of an error"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors that say where the flags are listed (no usage dump), and no
    abbreviated flags (``--epoch`` is not silently ``--epochs``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def top_parser() -> tuple[ArgumentParser, Any]:
    """The ``layerlab`` parser and its subparsers, to which each command module adds its command."""
    parser = ArgumentParser(
        prog="layerlab",
        description="A deep-learning lab: every layer by hand in NumPy, the same models fast in PyTorch.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    return parser, parser.add_subparsers(dest="command", metavar="COMMAND")


def add_command(subparsers: Any, name: str, help: str, examples: str) -> argparse.ArgumentParser:
    """A command's parser: ``help`` is its line in ``layerlab --help`` and its description, ``examples`` the
    command lines its --help ends with (tests/test_examples.py runs them)."""
    p = subparsers.add_parser(
        name,
        help=help,
        description=help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
    )
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return p


def add_setting_flag(
    p: argparse.ArgumentParser, name: str, help: str | None = None, default: Any = argparse.SUPPRESS, **extra: Any
) -> None:
    """The flag of TrainConfig's setting ``name`` (--batch-size for batch_size), its type and placeholder the
    field's; ``help``: the command's own words (default: the setting's, with its default value); ``default``:
    'not given' unless said; ``extra``: more of argparse's arguments (``choices``)."""
    f = next(f for f in dataclasses.fields(TrainConfig) if f.name == name)
    flag = f"--{name.replace('_', '-')}"
    if f.type == "bool":  # --channels-last / --no-channels-last
        action = argparse.BooleanOptionalAction
        p.add_argument(flag, dest=name, action=action, default=default, help=help or f.metadata.get("help", ""))
        return
    if help is None:
        help = f.metadata.get("help", "") + ("" if f.default is None else f" (default {f.default})")
    kind = {"int": int, "float": float, "str": str}[f.type.split(" | ")[0]]
    metavar = f.metadata.get("metavar")
    p.add_argument(flag, dest=name, type=kind, default=default, help=help, metavar=metavar, **extra)


def add_train_flags(p: argparse.ArgumentParser, skip: Collection[str] = ()) -> None:
    """One flag per TrainConfig field, defaulting to 'not given'; ``skip``: the fields (and run flags: out,
    resume, overwrite) a command leaves out."""
    p.add_argument("--config", help="a TOML file of settings (the same names); flags override it")
    for f in dataclasses.fields(TrainConfig):
        if f.type != "dict" and f.name not in skip:  # dict: TOML only (--config)
            add_setting_flag(p, f.name)
    p.add_argument(
        "--layers", help="numpy engine: a .py file of your own layer classes, usable by class name in --model"
    )
    if "out" not in skip:
        p.add_argument("--out", "-o", help="run directory: config, metrics.jsonl, checkpoints, weights")
    if "resume" not in skip:
        p.add_argument(
            "--resume", action="store_true", help="continue the run in --out (its own settings; flags override)"
        )
    if "overwrite" not in skip:
        p.add_argument(
            "--overwrite", action="store_true", help="replace the run in --out (once the new one has an epoch)"
        )
    if not {"out", "resume"} & set(skip):
        p.set_defaults(run_dir=None)  # opened by ``run_directory`` once the flags are read
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or per-epoch lines")


def train_settings(args: argparse.Namespace) -> dict:
    """The settings of the TOML file of --config (its relative paths from its folder: ``PATH_SETTINGS``),
    then the flags given on the command line (over them), each checked for its type and range.

    The API fills in the rest: the defaults, or with --resume the settings the run was started with.
    """
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


def run_directory(args: argparse.Namespace) -> RunDir | None:
    """The run directory of --out, opened in the mode --resume or --overwrite give (train, ensemble); None
    without --out, or for a command whose --out is not a run."""
    if "run_dir" not in args:
        return None
    mode = "resume" if args.resume else "overwrite" if args.overwrite else "new"
    run_dir = RunDir(args.out, mode) if args.out is not None else None
    if args.resume and not (run_dir is not None and run_dir.is_run()):
        where = args.out or "no --out"
        raise LayerlabError(f"--resume: {where} holds no run to continue; leave out --resume to start one")
    return RunDir.opened(run_dir, args.resume, args.overwrite)  # the same object; both flags: one is refused
