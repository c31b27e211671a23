"""The numpy engine as the trainer drives it (see ``layerlab.train.Learner``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..spec import Spec
from ..train import EpochStats, TrainConfig, augmentation_items
from .model import build, labels_of
from .optimizers import make_optimizer
from .regularizers import weight_penalty


class NumpyLearner:
    def __init__(self, config: TrainConfig, spec: Spec, n_train: int):
        self.model = build(spec, seed=config.seed, dtype=np.dtype(config.dtype), loss=config.loss,
                           batch_size=config.batch_size)  # fmt: skip
        self.optimizer = make_optimizer(config.optimizer, config.resolved_lr(), **config.optimizer_options())
        self.penalty = weight_penalty(config.l1, config.l2, n_train)
        self.eval_batch_size = config.eval_batch_size
        self.augment = None
        if config.augment:
            from ..augment import make_augmentation

            self.augment = make_augmentation(augmentation_items(config.augment))
        self.augment_rng = np.random.default_rng([config.seed, 4])
        self.data: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def description(self) -> str:
        return f"numpy engine ({self.model.dtype})"

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
        norm_sums: dict[str, float] = {}
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
            for name, g in self.model.grads.items():
                if name.endswith("weight") and g.ndim > 1:
                    norm_sums[name] = norm_sums.get(name, 0.0) + float(np.linalg.norm(g))
            self.optimizer.step(self.model.params, self.model.grads)
            on_step(step, loss)
        return EpochStats(np.array(losses), correct, {k: v / len(losses) for k, v in norm_sums.items()})

    def evaluate(self, name: str) -> tuple[float, float]:
        x, y = self.data[name]
        return self.model.evaluate(x, y, self.eval_batch_size)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x, self.eval_batch_size)

    def set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr

    def weights(self) -> dict[str, np.ndarray]:
        return self.model.state_dict()

    def load_weights(self, state: dict[str, np.ndarray]) -> None:
        self.model.load_state_dict(state)

    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Optimiser state as arrays, random-generator states as JSON: what a resumed run needs."""
        optimizer = {k: np.asarray(v) for k, v in self.optimizer.state_dict().items()}
        rngs = {"model": self.model.rng.bit_generator.state, "augment": self.augment_rng.bit_generator.state}
        return {f"optimizer/{k}": v for k, v in optimizer.items()}, {"rng": rngs}

    def load_training_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.optimizer.load_state_dict({k.removeprefix("optimizer/"): v for k, v in arrays.items()})
        self.model.rng.bit_generator.state = meta["rng"]["model"]
        self.augment_rng.bit_generator.state = meta["rng"]["augment"]
