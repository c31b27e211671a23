"""Errors meant for people: each says what was wrong and what to do about it.

The command line prints these as one line (no traceback; ``--debug`` shows it). Anything else that
escapes is a bug in layerlab. This module imports nothing of layerlab's, so every other module can use it.
"""


class LayerlabError(Exception):
    """Bad input from the user: a spec, a file, a setting. The message names the problem and the fix."""


class TrainError(LayerlabError, ValueError):
    """A setting or a run directory that training cannot use."""


class DivergedError(LayerlabError, RuntimeError):
    """The loss became NaN or infinite."""


class EngineError(LayerlabError, ValueError):
    """A model, batch or option an engine cannot use (a bad dropout rate, targets of the wrong shape, ...)."""


class DataError(LayerlabError):
    """A dataset file that is missing, malformed or not the expected one; the message names file and fix."""
