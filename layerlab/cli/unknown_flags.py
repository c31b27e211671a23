"""An argument no flag of the command takes: one line naming the command and the closest flag, a flag
people bring from other tools (``--learning-rate``: ``--lr``), or why the command leaves that flag out.

Part of the command line: only ``layerlab/cli/__init__.py`` imports it.
"""

from __future__ import annotations

import argparse
import difflib
from typing import NoReturn

from .flags import LEFT_OUT

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


def refuse(parser: argparse.ArgumentParser, command: str | None, extra: list[str]) -> NoReturn:
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
