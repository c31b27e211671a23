"""The torch engine as the trainer drives it (the contract: ``layerlab.engine.Trainable``).

The data of a run is put on the device once (a training set of up to 256 MB in floats, such as
MNIST's, is made float there once; a larger one stays uint8 and is made float a chunk at a time), and
every batch is gathered there by index, so an epoch moves no images between host and device.
Per-step losses, outputs and gradient norms are kept on the device and summarised once per epoch; on
a GPU the loop therefore never waits for the host except to refresh the progress every ``sync_every``
steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..augment import parse_augmentation
from ..engine import (
    EngineSettings,
    EpochStats,
    grad_norm_stride,
    labels_of,
    learning_rate,
    optimizer_options,
    penalised,
)
from ..errors import TrainError
from ..spec import Spec
from .augment import make_augmentation
from .losses import make_loss, predicted_classes, probabilities
from .model import build, export_state, import_state

#: Intra-op threads on a CPU unless --threads says otherwise. One (benchmarks/torch_fast_path.py --threads,
#: 2-core VM): on an idle machine two threads made Nielsen's CNN 1.5x faster but the MLPs between 8% slower
#: and 31% faster; on a busy one (other runs, other users) they made the same loops up to 18x slower, and the
#: thread count can change a run's last digits. One thread is never slow and gives the same numbers
#: everywhere; ``--threads`` asks for more, and ``layerlab run --jobs N`` uses the cores with N runs side by side.
DEFAULT_THREADS = 1

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "momentum": lambda params, momentum=0.9, **kw: torch.optim.SGD(params, momentum=momentum, **kw),
    "nesterov": lambda params, momentum=0.9, **kw: torch.optim.SGD(params, momentum=momentum, nesterov=True, **kw),
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
}


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when there is a GPU, else the CPU; asking for a missing device is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainError(f"--device {name} was asked for, but this torch build sees no CUDA GPU; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise TrainError(f"--device {name}: there are only {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise TrainError("--device mps was asked for, but MPS is not available here; use --device cpu")
    return device


class TorchPredictor:
    """A torch model with its weights on its device, for prediction (no optimiser, no data)."""

    #: On a CPU, evaluation batches hold at most ``eval_batch_size`` examples and at most this many elements
    #: (16 MB of floats) in the model's widest layer output, so that a layer's output is still in the cache
    #: when the next layer reads it: Nielsen's conv(20, 5) net evaluated 1,000 images in 0.25 s as one
    #: batch and in 0.13 s in batches of 364 (one thread, 2-core AMD EPYC, 32 MB L3). Accuracies are those
    #: of one batch; a mean loss may differ in its last bits.
    eval_cpu_elements = 1 << 22

    def __init__(self, settings: EngineSettings, spec: Spec):
        self.device = resolve_device(settings.device)
        self.dtype = getattr(torch, settings.dtype)
        self.model = build(
            spec, seed=settings.seed, dtype=self.dtype, device=self.device, batch_size=settings.batch_size
        )
        self.channels_last = settings.channels_last
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)  # conv weights; batches follow in as_input
        self.loss_name = settings.loss
        self.eval_batch_size = settings.eval_batch_size
        if self.device.type == "cpu":
            widest = max(math.prod(r.output_shape) for r in spec.resolve())
            self.eval_batch_size = max(1, min(self.eval_batch_size, self.eval_cpu_elements // widest))
        self.use_autocast = settings.autocast == "bf16"

    @property
    def description(self) -> str:
        return f"torch engine ({self.device}, {str(self.dtype).removeprefix('torch.')})"

    def as_input(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 pixels become floats in [0, 1]; everything else takes the model's dtype."""
        x = x.to(self.dtype) / 255 if x.dtype == torch.uint8 else x.to(self.dtype)
        if self.channels_last and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def autocast(self):
        """bfloat16 matrix products and convolutions when --autocast bf16 (weights and the loss stay float32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_autocast)

    @torch.no_grad()
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        parts = []
        for start in range(0, len(x), self.eval_batch_size):
            xb = self.as_input(torch.as_tensor(x[start : start + self.eval_batch_size], device=self.device))
            with self.autocast():
                output = self.model(xb).float()
            parts.append(probabilities(self.loss_name, output).cpu().numpy())
        return np.concatenate(parts)

    def weights(self) -> dict[str, np.ndarray]:
        return export_state(self.model)

    def load_weights(self, state: dict[str, np.ndarray]) -> None:
        import_state(self.model, state)


class TorchTrainable(TorchPredictor):
    """The torch model with its optimiser, weight penalty, augmentation and data on the device."""

    sync_every = 100  # steps between progress-bar updates on a GPU (each one waits for the device)
    #: Training images are gathered (and made float) a chunk of steps at a time: ~4M values (16 MB) on a
    #: GPU, one gather for many steps; ~1M (4 MB) on a CPU, small enough to still be in the cache when
    #: the forward and backward passes read it (784-30-10 at batch 64: 8% faster than 16 MB chunks).
    chunk_elements = {"cpu": 1 << 20, "other": 1 << 22}
    float_train_bytes = 1 << 28  # a training set up to 256 MB in floats (MNIST's 50,000) is made float once
    compile_backend = "inductor"  # torch.compile's default; tests swap in a backend that needs no C compiler

    def __init__(self, settings: EngineSettings, spec: Spec, n_train: int):
        torch.manual_seed(settings.seed)  # dropout masks; the weights come from the spec's seed
        super().__init__(settings, spec)
        if self.device.type == "cpu":
            torch.set_num_threads(settings.threads or DEFAULT_THREADS)
        self.forward = self.model if settings.compile is None else self.compiled(settings.compile)
        self.loss_fn = make_loss(settings.loss, settings.label_smoothing)
        self.penalty_l1, self.penalty_l2 = settings.l1 / n_train, settings.l2 / n_train
        weights = [(n, p) for n, p in self.model.named_parameters() if penalised(n, p.ndim)]
        self.weight_names = [name for name, _ in weights]  # dense and conv weights: penalised and monitored
        self.weights_penalised = [p for _, p in weights]
        self.weights_monitored = self.weights_penalised if settings.grad_norms else []  # gradient norms recorded
        self.optimizer = OPTIMIZERS[settings.optimizer](
            [p for p in self.model.parameters() if p.requires_grad],
            lr=learning_rate(settings),
            **optimizer_options(settings),
        )
        self.generator = torch.Generator(self.device).manual_seed(settings.seed + 4)  # augmentation
        self.augment = make_augmentation(parse_augmentation(settings.augment)) if settings.augment else None
        self.data: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def compiled(self, mode: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """The model through ``torch.compile`` (forward and backward), for the training and evaluation loops.

        One graph per batch shape (``dynamic=False``): a run sees at most four (the training batch,
        the last smaller one, and the same two for evaluation). ``reduce-overhead`` records each graph
        as a CUDA graph on a GPU, which removes the per-kernel launch cost that dominates small batches.
        """
        module = torch.compile(self.model, mode=mode, dynamic=False, backend=self.compile_backend)

        def forward(x: torch.Tensor) -> torch.Tensor:
            if mode == "reduce-overhead":
                torch.compiler.cudagraph_mark_step_begin()  # outputs of the previous step may be overwritten now
            try:
                return module(x)
            except torch._dynamo.exc.BackendCompilerFailed as error:
                cause = getattr(error, "inner_exception", None) or error
                reason = f"{type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[0]}"
                raise TrainError(f"--compile {mode} failed ({reason}); train without --compile") from error

        return forward

    # -- data ----------------------------------------------------------------------------------------

    def add_data(self, name: str, x: np.ndarray, y: np.ndarray) -> None:
        x_t = torch.as_tensor(x, device=self.device)
        if name == "train" and x_t.dtype == torch.uint8 and x_t.numel() * self.dtype.itemsize <= self.float_train_bytes:
            x_t = self.as_input(x_t)  # a small training set costs less to keep in floats than to convert every epoch
        self.data[name] = (x_t, torch.as_tensor(y, device=self.device))

    # -- training ------------------------------------------------------------------------------------

    def penalty(self) -> torch.Tensor | float:
        """Nielsen's regularisation term: l1/n sum |w| + l2/(2n) sum w^2 over dense and conv weights."""
        total = 0.0
        if self.penalty_l1:
            total = total + self.penalty_l1 * sum(w.abs().sum() for w in self.weights_penalised)
        if self.penalty_l2:
            total = total + self.penalty_l2 / 2 * sum(w.square().sum() for w in self.weights_penalised)
        return total

    def train_epoch(
        self,
        order: np.ndarray,
        batch_size: int,
        on_step: Callable[[int, float | None], None],
        step_lrs: np.ndarray | None = None,
    ) -> EpochStats:
        """One pass over ``order`` in mini-batches.

        The loop does only what a step needs (forward, backward, update) plus cheap records: the loss,
        the detached output and, on the sampled steps of ``grad_norm_stride`` (none with ``grad_norms``
        off), the weight-gradient norms (one ``_foreach_norm`` call). The correct counts and the means of
        the norms are computed once at the end of the epoch from those records, so a step costs what a
        bare PyTorch loop's does (``benchmarks/torch_fast_path.py``).
        On the CPU each loss is read as a Python float (free there) to stop at the first non-finite one;
        elsewhere the losses stay on the device and the host waits only every ``sync_every`` steps.
        """
        x, y = self.data["train"]
        order_t = torch.as_tensor(order, device=self.device)
        steps = (len(order) + batch_size - 1) // batch_size
        on_cpu = self.device.type == "cpu"
        losses: list = []  # Python floats on the CPU, 0-d tensors on other devices
        outputs: list[torch.Tensor] = []
        norms: list[tuple[torch.Tensor, ...]] = []
        monitored, stride = self.weights_monitored, grad_norm_stride(steps)
        parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.model.train()
        chunk = self.chunk_elements["cpu" if on_cpu else "other"]
        per_chunk = max(1, chunk // max(1, x[0].numel() * batch_size))  # steps per gathered chunk
        for step in range(steps):
            if step_lrs is not None:
                self.set_lr(float(step_lrs[step]))  # a Python float: no device sync
            if step % per_chunk == 0:  # one gather and one conversion for many steps; a batch is then a view
                index = order_t[step * batch_size : (step + per_chunk) * batch_size]
                x_chunk, y_chunk = self.as_input(x[index]), y[index]
            within = (step % per_chunk) * batch_size
            xb, yb = x_chunk[within : within + batch_size], y_chunk[within : within + batch_size]
            if self.augment is not None:
                xb = self.augment(xb, self.generator)
            if self.use_autocast:
                with self.autocast():
                    output, loss = self.output_and_loss(xb, yb)
            else:
                output, loss = self.output_and_loss(xb, yb)
            for p in parameters:  # what zero_grad(set_to_none=True) does, without its profiler scope
                p.grad = None
            loss.backward()
            if on_cpu:
                value = loss.item()  # no device to wait for
                losses.append(value)
                if not math.isfinite(value):
                    break  # stop before the step spoils the weights
            else:
                losses.append(loss.detach())
            outputs.append(output.detach())
            if monitored and step % stride == 0:
                norms.append(torch._foreach_norm([w.grad for w in monitored]))
            self.optimizer.step()
            done = step + 1
            if on_cpu:
                on_step(done, value)
            elif done % self.sync_every == 0 or done == steps:
                on_step(done, float(losses[-1]))
        return self.epoch_stats(losses, outputs, norms, order_t[: len(outputs) * batch_size], y)

    def output_and_loss(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.forward(xb)
        loss = self.loss_fn(output.float(), yb)
        if self.penalty_l1 or self.penalty_l2:
            loss = loss + self.penalty()
        return output, loss

    def epoch_stats(self, losses: list, outputs: list, norms: list, seen: torch.Tensor, y: torch.Tensor) -> EpochStats:
        """The epoch's records as an ``EpochStats``: the losses (up to and including a non-finite one), the
        correct count of the finished steps, and each weight's gradient norm averaged over those steps."""
        if losses and isinstance(losses[0], torch.Tensor):
            losses = torch.stack(losses).double().cpu().numpy()
        correct = 0
        if outputs:
            predicted = predicted_classes(self.loss_name, torch.cat(outputs))
            correct = int((predicted == labels_of(y[seen])).sum())
        means = {}
        if norms:
            per_step = torch.stack([n for step in norms for n in step]).reshape(len(norms), -1)
            means = dict(zip(self.weight_names, (per_step.double().sum(0) / len(norms)).cpu().tolist(), strict=True))
        return EpochStats(np.asarray(losses, dtype=np.float64), correct, means)

    # -- evaluation ----------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, name: str) -> tuple[float, float]:
        x, y = self.data[name]
        self.model.eval()
        total, correct = torch.zeros((), device=self.device, dtype=torch.float64), 0
        for start in range(0, len(x), self.eval_batch_size):
            xb, yb = self.as_input(x[start : start + self.eval_batch_size]), y[start : start + self.eval_batch_size]
            with self.autocast():
                output = self.forward(xb).float()
            total += self.loss_fn(output, yb).double() * len(xb)
            correct += (predicted_classes(self.loss_name, output) == labels_of(yb)).sum()
        return float(total) / len(x), int(correct) / len(x)

    # -- state ---------------------------------------------------------------------------------------

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The optimiser's tensors as arrays, its settings and the generator states: what a resume needs."""
        saved = self.optimizer.state_dict()
        arrays, scalars = {}, {}
        for index, state in saved["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    arrays[f"optimizer/{index}.{key}"] = value.detach().cpu().numpy()
                else:
                    scalars[f"{index}.{key}"] = value
        arrays["rng/torch"] = torch.get_rng_state().numpy()
        arrays["rng/augment"] = self.generator.get_state().cpu().numpy()
        if self.device.type == "cuda":
            arrays["rng/cuda"] = torch.cuda.get_rng_state(self.device).numpy()
        return arrays, {"param_groups": saved["param_groups"], "scalars": scalars}

    def load_training_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        state: dict[int, dict[str, Any]] = {}
        for name, value in arrays.items():
            if name.startswith("optimizer/"):
                index, key = name.removeprefix("optimizer/").split(".", 1)
                state.setdefault(int(index), {})[key] = torch.from_numpy(np.array(value))
        for name, value in meta["scalars"].items():
            index, key = name.split(".", 1)
            state.setdefault(int(index), {})[key] = value
        self.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        torch.set_rng_state(torch.from_numpy(np.array(arrays["rng/torch"])))
        self.generator.set_state(torch.from_numpy(np.array(arrays["rng/augment"])))
        if "rng/cuda" in arrays and self.device.type == "cuda":
            torch.cuda.set_rng_state(torch.from_numpy(np.array(arrays["rng/cuda"])), self.device)


Trainable, Predictor = TorchTrainable, TorchPredictor  # the names ``layerlab.engine.ENGINES`` looks up
