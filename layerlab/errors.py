"""Errors meant for people: each says what was wrong and what to do about it.

The command line prints these as one line (no traceback; ``--debug`` shows it). Anything else that
escapes is a bug in layerlab.
"""


class LayerlabError(Exception):
    """Bad input from the user: a spec, a file, a setting. The message names the problem and the fix."""
