"""The notes commands print about what they read: a run that another process is still training.

Part of the command line: only the modules of ``layerlab/cli/`` import it.
"""

from __future__ import annotations

from ..rundir import RunDir


def still_training(run: str, what: str) -> None:
    """A note when another process is still training the run a command reads; ``what``: what it reads of it."""
    writer = RunDir(run).writer()
    if writer is not None:
        print(f"note: {run} is still training ({writer}): {what}")
