"""The one container every loader returns: train, validation and test arrays plus what they are.

Images stay ``uint8`` of shape (N, channels, height, width) until a model needs floats (both engines
divide by 255 themselves); 2D toy sets are float32 of shape (N, features). Labels are int64 class
indices for classification and float32 targets (N, 1) for regression.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Split:
    """Inputs and labels of one part of a dataset."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(
                f"a split needs as many labels as inputs, got {len(self.x)} inputs and {len(self.y)} labels"
            )

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index: np.ndarray | slice) -> Split:
        return Split(self.x[index], self.y[index])


@dataclass(frozen=True)
class Dataset:
    """A dataset split three ways. ``source`` says, in words, where the arrays came from."""

    name: str
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...] = ()
    source: str = ""
    task: str = "classification"  # or "regression"
    info: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> str:
        """One line for logs: name, sizes, and where it came from."""
        sizes = f"{len(self.train):,} train / {len(self.val):,} validation / {len(self.test):,} test"
        return f"{self.name}: {sizes}, input {'x'.join(map(str, self.input_shape))}" + (
            f" ({self.source})" if self.source else ""
        )
