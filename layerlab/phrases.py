"""Small helpers for the words people read: counts with the right plural, settings as "lr=0.1, l2=5"."""

from __future__ import annotations

from typing import Any


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "epoch")`` -> "1 epoch", ``count(3, "epoch")`` -> "3 epochs" (thousands separated)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def describe_changes(changed: dict[str, Any], defaults: dict[str, Any] | None = None) -> str:
    """The settings a run changed, as people read them:
    ``{"lr": None, "l2": 5.0, "data_options": {"degree": 1}}`` -> "lr=0.1 (default), l2=5.0, degree=1".

    None reads "default", with the value ``defaults`` gives for that setting when it has one (the
    optimiser's own learning rate, say); a table of options (``data_options``) shows its own keys."""
    parts = []
    for key, value in changed.items():
        if isinstance(value, dict):
            parts += [f"{k}={_value(v)}" for k, v in value.items()] or [f"{key}=default"]
        elif value is None:
            known = (defaults or {}).get(key)
            parts.append(f"{key}=default" if known is None else f"{key}={_value(known)} (default)")
        else:
            parts.append(f"{key}={_value(value)}")
    return ", ".join(parts) or "shared settings"


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
