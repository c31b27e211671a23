"""How a ``layerlab`` command ends when it does not simply finish: an unknown flag, Ctrl-C, a closed pipe.

Part of the command line (``cli.py`` is the only module that imports it).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from typing import NoReturn

from .cli_flags import LEFT_OUT
from .rundir import RunDir

#: Flags people try from other tools, and ours that do the same: suggested, not accepted.
ALIASES = {
    "--learning-rate": "--lr",
    "--eta": "--lr",
    "--lambda": "--l2",
    "--epoch": "--epochs",
    "--n-epochs": "--epochs",
    "--batch": "--batch-size",
    "--bs": "--batch-size",
    "--dataset": "--data",
    "--output": "--out",
    "--optimiser": "--optimizer",
    "--workers": "--jobs",
}
#: Commands that continue where they stopped when run again (a finished part is kept).
RERUN_CONTINUES = ("run", "search", "tune")


def unknown_arguments(parser: argparse.ArgumentParser, command: str | None, extra: list[str]) -> NoReturn:
    """One line for arguments no flag takes, naming the command and the closest flag."""
    commands = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})
    where = commands.get(command, parser)
    flags = [option for action in where._actions for option in action.option_strings]
    first = next((a for a in extra if a.startswith("-")), extra[0])
    name = first.split("=")[0]
    close = difflib.get_close_matches(name, flags, n=1) if first.startswith("-") else []
    if ALIASES.get(name) in flags:
        close = [ALIASES[name]]
    hint = f" (did you mean {close[0]}?)" if close else ""
    if name in LEFT_OUT.get(command, {}):
        hint = f" ({command} does not take it: {LEFT_OUT[command][name]})"
    where.error(f"unknown {'flag' if first.startswith('-') else 'argument'} {' '.join(extra)}{hint}")


def interrupted(args: argparse.Namespace) -> str:
    """The line after Ctrl-C: how to continue what the command was doing (on a line of its own when a
    progress bar was showing)."""
    line = f"layerlab {args.command}: interrupted"
    if args.command in ("train", "ensemble") and args.out and RunDir(args.out).is_run():
        line += f"; to continue, run the same command {'again' if args.resume else 'with --resume'}"
    elif args.command in RERUN_CONTINUES:
        line += "; run the same command again to continue"
    return ("\n" if _bar_showing() else "") + line


def _bar_showing() -> bool:
    """Whether a tqdm bar is open (its line has no newline yet)."""
    classes = [getattr(sys.modules.get(module), "tqdm", None) for module in ("tqdm.std", "tqdm.auto")]
    bars = [bar for cls in classes for bar in list(getattr(cls, "_instances", ()))]
    return any(not getattr(bar, "disable", True) for bar in bars)  # a bar Ctrl-C stopped half-made has none


def closed_pipe() -> int:
    """The reader of the output went away (``layerlab explain | head``): end quietly, as ``cat`` does, with
    the status of a process ended by SIGPIPE (128 + 13)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's own last flush of stdout fails no more
    return 141
