"""The numpy engine as the trainer drives it (the contract: ``layerlab.engine.Trainable``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..augment import make_augmentation, parse_augmentation
from ..engine import (
    EngineSettings,
    EpochStats,
    grad_norm_stride,
    labels_of,
    learning_rate,
    optimizer_options,
    penalised,
)
from ..spec import Spec
from .model import build
from .optimizers import make_optimizer
from .regularizers import weight_penalty


class NumpyPredictor:
    """A numpy model with its weights, for prediction (no optimiser, no data)."""

    def __init__(self, settings: EngineSettings, spec: Spec):
        self.model = build(
            spec, seed=settings.seed, dtype=np.dtype(settings.dtype), loss=settings.loss, batch_size=settings.batch_size
        )
        self.eval_batch_size = settings.eval_batch_size

    @property
    def description(self) -> str:
        return f"numpy engine ({self.model.dtype})"

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x, self.eval_batch_size)

    def weights(self) -> dict[str, np.ndarray]:
        return self.model.state_dict()

    def load_weights(self, state: dict[str, np.ndarray]) -> None:
        self.model.load_state_dict(state)


class NumpyTrainable(NumpyPredictor):
    """The numpy model with its optimiser, weight penalty, augmentation and data."""

    def __init__(self, settings: EngineSettings, spec: Spec, n_train: int):
        super().__init__(settings, spec)
        self.optimizer = make_optimizer(settings.optimizer, learning_rate(settings), **optimizer_options(settings))
        self.penalty = weight_penalty(settings.l1, settings.l2, n_train)
        self.augment = make_augmentation(parse_augmentation(settings.augment)) if settings.augment else None
        self.augment_rng = np.random.default_rng([settings.seed, 4])
        self.grad_norms = settings.grad_norms
        self.data: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def add_data(self, name: str, x: np.ndarray, y: np.ndarray) -> None:
        self.data[name] = (x, y)

    def train_epoch(
        self,
        order: np.ndarray,
        batch_size: int,
        on_step: Callable[[int, float | None], None],
        step_lrs: np.ndarray | None = None,
    ) -> EpochStats:
        x, y = self.data["train"]
        losses, correct = [], 0
        norm_sums: dict[str, float] = {}  # over the sampled steps (``grad_norm_stride``) of this epoch
        stride, sampled = grad_norm_stride(-(-len(order) // batch_size)), 0
        for step, start in enumerate(range(0, len(order), batch_size), 1):
            if step_lrs is not None:
                self.set_lr(float(step_lrs[step - 1]))
            index = order[start : start + batch_size]
            xb, yb = x[index], y[index]
            if self.augment is not None:
                xb = self.augment(xb, self.augment_rng)
            loss = self.model.loss_and_grads(xb, yb, self.penalty)
            losses.append(loss)
            if not np.isfinite(loss):
                break  # the trainer reports the step; the weights stay as they were
            correct += int((self.model.loss.probabilities(self.model.last_output).argmax(1) == labels_of(yb)).sum())
            if self.grad_norms and (step - 1) % stride == 0:
                sampled += 1
                for name, g in self.model.grads.items():
                    if penalised(name, g.ndim):
                        norm_sums[name] = norm_sums.get(name, 0.0) + float(np.linalg.norm(g))
            self.optimizer.step(self.model.params, self.model.grads)
            on_step(step, loss)
        return EpochStats(np.array(losses), correct, {k: v / sampled for k, v in norm_sums.items()})

    def evaluate(self, name: str) -> tuple[float, float]:
        x, y = self.data[name]
        return self.model.evaluate(x, y, self.eval_batch_size)

    def set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr

    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Optimiser state as arrays, random-generator states as JSON: what a resumed run needs."""
        optimizer = {k: np.asarray(v) for k, v in self.optimizer.state_dict().items()}
        rngs = {"model": self.model.rng.bit_generator.state, "augment": self.augment_rng.bit_generator.state}
        return {f"optimizer/{k}": v for k, v in optimizer.items()}, {"rng": rngs}

    def load_training_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.optimizer.load_state_dict({k.removeprefix("optimizer/"): v for k, v in arrays.items()})
        self.model.rng.bit_generator.state = meta["rng"]["model"]
        self.augment_rng.bit_generator.state = meta["rng"]["augment"]


Trainable, Predictor = NumpyTrainable, NumpyPredictor  # the names ``layerlab.engine.ENGINES`` looks up
