"""Small helpers for the words people read: counts with the right plural."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``count(1, "epoch")`` -> "1 epoch", ``count(3, "epoch")`` -> "3 epochs" (thousands separated)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
