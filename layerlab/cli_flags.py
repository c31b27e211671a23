"""The flags of the ``layerlab`` command line that several commands share: one per TrainConfig setting, and
the parser's one-line errors.

Part of the command line (only ``cli.py`` and ``cli_ends.py`` import it).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Collection
from typing import Any, NoReturn

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
#: The reasons a command leaves out train flags, by command (``cli_ends.unknown_arguments`` says them).
LEFT_OUT = {"tune": {f"--{name.replace('_', '-')}": why for name, why in TUNE_SKIPS.items()}}


def add_train_flags(p: argparse.ArgumentParser, skip: Collection[str] = ()) -> None:
    """One flag per TrainConfig field (--batch-size for batch_size), defaulting to 'not given'; ``skip``:
    the fields (and run flags: out, resume, overwrite) a command leaves out."""
    from .config import TrainConfig

    types = {"int": int, "float": float, "str": str}
    p.add_argument("--config", help="a TOML file of settings (the same names); flags override it")
    for f in dataclasses.fields(TrainConfig):
        if f.type == "dict" or f.name in skip:  # dict: TOML only (--config)
            continue
        flag, help = f"--{f.name.replace('_', '-')}", f.metadata.get("help", "")
        if f.type == "bool":  # --channels-last / --no-channels-last
            action = argparse.BooleanOptionalAction
            p.add_argument(flag, dest=f.name, action=action, default=argparse.SUPPRESS, help=help)
            continue
        default = "" if f.default is None else f" (default {f.default})"
        kind = types[f.type.split(" | ")[0]]
        metavar = f.metadata.get("metavar")
        p.add_argument(flag, dest=f.name, type=kind, default=argparse.SUPPRESS, help=help + default, metavar=metavar)
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
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or per-epoch lines")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors that say where the flags are listed (no usage dump), and no
    abbreviated flags (``--epoch`` is not silently ``--epochs``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")
