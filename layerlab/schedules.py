"""Learning-rate schedules: the rate of each epoch (and of each step during a warm-up)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

SCHEDULES = ("constant", "step", "cosine", "plateau")


class Schedule:
    """The learning rate of each epoch: constant, step decay, cosine, or lowered when validation stalls.

    With ``warmup`` epochs the rate of those epochs rises linearly step by step from lr / (steps of the
    warm-up) to lr, as Goyal et al. (2017) do when eta is scaled up with the batch size: large first
    steps from a fresh initialisation can otherwise leave ReLU units dead for good.

    ``config`` is a ``TrainConfig`` (its ``schedule``, ``lr_*``, ``epochs`` and ``warmup`` settings).
    ``better(value, than)`` says whether a validation score beats the best so far (None: none yet): the
    loop's ``Task.score.better`` (the validation accuracy, or a regression run's validation loss).
    """

    def __init__(self, config: Any, lr0: float, better: Callable[[float, float | None], bool]):
        self.config, self.lr0 = config, lr0
        self.lr = lr0
        self.better = better
        self.stalled = 0  # plateau: epochs since the validation score last improved
        self.best: float | None = None  # plateau: the best validation score so far

    def for_epoch(self, epoch: int) -> float:
        """The rate for epoch ``epoch`` (1-based)."""
        c = self.config
        if c.schedule == "step":
            self.lr = self.lr0 * c.lr_gamma ** ((epoch - 1) // c.lr_step)
        elif c.schedule == "cosine":
            progress = (epoch - 1) / max(1, c.epochs - 1)
            self.lr = c.lr_min + (self.lr0 - c.lr_min) * (1 + math.cos(math.pi * progress)) / 2
        return self.lr

    def for_steps(self, epoch: int, steps: int) -> np.ndarray | None:
        """The rate of each step of epoch ``epoch`` during the warm-up; None after it (``for_epoch`` holds)."""
        if epoch > self.config.warmup:
            return None
        done = (epoch - 1) * steps + np.arange(1, steps + 1)
        return self.for_epoch(epoch) * done / (self.config.warmup * steps)

    def after_epoch(self, score: float) -> None:
        """Plateau: count an epoch whose validation ``score`` is no better than the best; after
        ``lr_patience`` such epochs the rate is multiplied by ``lr_gamma`` (not below ``lr_min``)."""
        c = self.config
        if c.schedule != "plateau":
            return
        if self.better(score, self.best):
            self.best, self.stalled = score, 0
            return
        self.stalled += 1
        if self.stalled >= c.lr_patience:
            self.lr, self.stalled = max(c.lr_min, self.lr * c.lr_gamma), 0

    def state(self) -> dict[str, float | None]:
        return {"lr": self.lr, "stalled": self.stalled, "best": self.best}

    def load(self, state: dict[str, Any]) -> None:
        best = state["best"]  # checkpoints before scores had a direction wrote -inf for "none yet"
        self.lr, self.stalled = state["lr"], int(state["stalled"])
        self.best = None if best is None or math.isinf(best) else best
