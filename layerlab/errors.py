"""Errors meant for people: each says what was wrong and what to do about it.

The command line prints these as one line (no traceback; ``--debug`` shows it). Anything else that
escapes is a bug in layerlab. This module imports nothing of layerlab's, so every other module can use it.
"""

from typing import Self

#: How a caller names the options a message advises: the Python API's keywords, the command line's flags.
API_WORDS = {"resume": "resume=True", "overwrite": "overwrite=True", "out": "out"}
FLAG_WORDS = {"resume": "--resume", "overwrite": "--overwrite", "out": "--out"}


class LayerlabError(Exception):
    """Bad input from the user: a spec, a file, a setting. The message names the problem and the fix.

    A message that advises an option (``advising``) is written with placeholders, ``{resume}``, and reads
    ``resume=True`` from Python; ``worded(FLAG_WORDS)`` gives the command line's ``--resume``.
    """

    template: str | None = None
    fields: dict = {}

    @classmethod
    def advising(cls, template: str, *args: object, **fields: object) -> Self:
        """``cls(message, *args)`` whose message names options through ``{resume}``, ``{overwrite}``,
        ``{out}``; ``fields`` fill the rest of ``template`` (a path: braces in it stay as they are)."""
        error = cls(template.format(**fields, **API_WORDS), *args)
        error.template, error.fields = template, fields
        return error

    def worded(self, words: dict[str, str]) -> str:
        """The message with the options named as the caller names them."""
        return str(self) if self.template is None else self.template.format(**self.fields, **words)


class TrainError(LayerlabError, ValueError):
    """A setting or a run directory that training cannot use."""


class DivergedError(LayerlabError, RuntimeError):
    """The loss became NaN or infinite."""


class EngineError(LayerlabError, ValueError):
    """A model, batch or option an engine cannot use (a bad dropout rate, targets of the wrong shape, ...)."""


class DataError(LayerlabError):
    """A dataset file that is missing, malformed or not the expected one; the message names file and fix."""


class Terminated(KeyboardInterrupt):
    """SIGTERM ended a run: it stops as after Ctrl-C (its last finished epoch is written), and the command
    line ends with the status of a process that SIGTERM ended (143)."""
