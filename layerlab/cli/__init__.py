"""The ``layerlab`` command line: a thin layer over the Python API (``layerlab.api``, ``layerlab.commands``).

One module per command, or per small family of commands, with its flags and its action side by side:
``add_parsers(subparsers)`` declares the command (``flags.add_command``) and its flags, ``set_defaults(handler=...)``
names the function that calls the API and prints. ``flags.py`` holds the flags several commands share;
``unknown_flags.py``, ``interruptions.py`` and ``notes.py`` how a command ends otherwise or what it notes.
This module assembles them and runs a command: every user error ends it with one clear line and a non-zero
exit; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

from ..errors import FLAG_WORDS, LayerlabError, Terminated
from ..files import out_folder
from ..numpy.custom import load_layers
from . import (
    datasets,
    experiment,
    explain,
    layers,
    listing,
    model,
    notebook,
    playground,
    plot,
    report,
    saved_runs,
    search,
    train,
    tuning,
)
from .flags import ArgumentParser, run_directory, top_parser
from .interruptions import closed_pipe, interrupted
from .unknown_flags import refuse

#: The command modules, in the order ``layerlab --help`` lists their commands.
COMMANDS = (
    model,  # summary, gradcheck
    explain,
    layers,  # exercise, check
    plot,
    train,  # train, ensemble
    saved_runs,  # eval, predict
    experiment,  # run
    listing,  # list
    report,
    notebook,
    datasets,
    playground,
    search,
    tuning,  # lr-find, tune
)


def parser() -> ArgumentParser:
    """The ``layerlab`` parser with every command's."""
    top, subparsers = top_parser()
    for command in COMMANDS:
        command.add_parsers(subparsers)
    return top


def main(argv: list[str] | None = None) -> int:
    cli = parser()
    args, extra = cli.parse_known_args(argv)
    if extra:
        refuse(cli, args.command, extra)
    if args.command is None:
        cli.print_help()
        return 2
    try:
        if getattr(args, "out", None) is not None and not getattr(args, "out_is_a_file", False):
            out_folder(args.out)  # one check for every command, before any work: not a file, not ""
        if getattr(args, "layers", None):  # your own layer classes (it is your code: only the file you name)
            load_layers(args.layers)
        args.run_dir = run_directory(args)  # train's, ensemble's --out: opened once, with its mode
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


__all__ = ["main", "parser"]
