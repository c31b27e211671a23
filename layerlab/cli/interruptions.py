"""How a ``layerlab`` command ends when it is stopped from outside: Ctrl-C or SIGTERM (and how to continue
what it was doing), or a reader of its output that went away (a closed pipe).

Part of the command line: only ``layerlab/cli/__init__.py`` imports it.
"""

from __future__ import annotations

import argparse
import os
import sys

#: Commands that continue where they stopped when run again (a finished part is kept).
RERUN_CONTINUES = ("run", "search", "tune")


def interrupted(args: argparse.Namespace) -> str:
    """The line after Ctrl-C: how to continue what the command was doing (on a line of its own when a
    progress bar was showing)."""
    line = f"layerlab {args.command}: interrupted"
    run_dir = getattr(args, "run_dir", None)  # train's, ensemble's (``flags.run_directory``)
    if run_dir is not None and run_dir.is_run():
        line += f"; to continue, run the same command {'again' if run_dir.resuming else 'with --resume'}"
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
