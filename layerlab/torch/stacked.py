"""Several networks of one spec trained as one batched model: an experiment's repeats, an ensemble's members.

Member m of a ``StackedTrainable`` is the network ``TorchTrainable`` would train with member m's seed, and it
trains as that trainable would: its own initial weights (``build(spec, seed)``), its own order of the
training examples (the trainer's ``LoopState``), its own dropout masks and augmentation (a generator per member
seeded as the single trainable seeds torch's global one), and its own optimiser state. The members' weights
are stacked on a leading axis of size M: a dense layer is one batched matrix product (``torch.baddbmm``),
a convolution one grouped convolution (``groups=M``); pooling and activations act on every member at
once. The loss minimised is the sum of the members' losses, so each member's gradient is the one it
would get alone, and the optimisers (all elementwise) move each member's slice as they would move its
own tensors. On a CPU, float32, every member's metrics match training it alone to ~1e-6 and its weights
to ~1e-6 after an epoch (``tests/test_stacked.py``); the floats differ only in summation order.

Activations travel in one of two layouts: ``(M, B, features)`` for the dense part ("members first") and
``(B, M*C, H, W)`` for images ("channels"), which grouped convolutions and pooling read directly.

``StackedTrainable.members`` are views implementing the engine contract (``layerlab.engine.Trainable``) for
one member each, so the trainer's ``LoopState`` and hooks drive each member as they drive a run of its own;
``unsupported(settings, spec)`` says in words what cannot be stacked (the trainer then trains the
runs one at a time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..augment import parse_augmentation
from ..engine import EngineSettings, EpochStats, grad_norm_stride, labels_of, learning_rate, optimizer_options
from ..engine import penalised as is_penalised
from ..spec import Spec
from .augment import make_augmentation
from .layers import channels_last_gradient
from .losses import cross_entropy, make_loss, predicted_classes
from .model import build
from .stacked_sgd import ByHandSGD, by_hand, to_channels, to_members_first
from .trainable import DEFAULT_THREADS, OPTIMIZERS, TorchPredictor, TorchTrainable, resolve_device

#: The layer kinds a stacked model computes; any other (batch norm, maxout, a layer of your own) is trained
#: one run at a time.
ELEMENTWISE = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "linear": lambda x: x,
}
STACKED_KINDS = {"dense", "conv", "maxpool", "avgpool", "l2pool", "flatten", "dropout", "step", "leakyrelu", "elu"}
STACKED_KINDS |= {"softmax"}
STACKED_KINDS |= set(ELEMENTWISE)
IMAGE_LAYERS = {"conv", "maxpool", "avgpool", "l2pool"}  #: the stacked kinds that read (B, M*C, H, W) images


def unsupported(settings: EngineSettings, spec: Spec) -> str | None:
    """Why runs with these settings cannot be trained as one stacked model, in words; None when they can."""
    if settings.compile or settings.autocast or settings.channels_last:
        return "--compile, --autocast and --channels-last are not available to runs trained together"
    resolved = spec.resolve()
    other = sorted({r.layer.kind for r in resolved if r.layer.kind not in STACKED_KINDS or r.layer.impl})
    if other:
        return f"the layer kinds {', '.join(other)} are not stacked"
    kinds = [r.layer.kind for r in resolved]
    images = kinds[: kinds.index("flatten")] if "flatten" in kinds else kinds
    if "dropout" in images and IMAGE_LAYERS.intersection(images):
        # a run alone draws the mask over its activations as they lie in memory (channels last after oneDNN's
        # convolutions), the stacked model in (C, H, W) order: the members would not be the runs alone
        return "dropout before the flatten draws its masks in another order when stacked"
    dropout = "dropout" in kinds
    if dropout and resolve_device(settings.device).type != "cpu":
        return "dropout draws its masks differently off the CPU"
    return None


class _Layer:
    """One layer of the stacked model: ``forward(x, layout)`` -> (y, layout); parameters stacked (M, ...)."""

    params: tuple[str, ...] = ()

    def forward(self, x: torch.Tensor, layout: str) -> tuple[torch.Tensor, str]:
        raise NotImplementedError


class _Dense(_Layer):
    def __init__(self, module: nn.Linear, m: int, stacked: dict[str, torch.Tensor]):
        self.m, self.weight, self.bias = m, stacked["weight"], stacked.get("bias")

    def forward(self, x, layout):
        x = to_members_first(x, layout, self.m)
        if self.bias is None:  # the weight is stored (M, in, out): 2-3x faster backward than a transposed view
            return torch.bmm(x, self.weight), "members"
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight), "members"


class _Conv(_Layer):
    """Member m's filters are group m of one grouped convolution. In channels-last memory (NHWC), where
    oneDNN's grouped convolutions took 1.7-2.3x one member's time for 3 members, against 2-3.5x in NCHW
    (2-core Xeon, one thread)."""

    def __init__(self, module: nn.Conv2d, m: int, stacked: dict[str, torch.Tensor]):
        self.m, self.weight, self.bias = m, stacked["weight"], stacked.get("bias")
        self.stride, self.padding = module.stride, module.padding

    def forward(self, x, layout):
        x = to_channels(x, layout, self.m).contiguous(memory_format=torch.channels_last)
        weight = self.weight.flatten(0, 1)  # (M*filters, C, k, k), channels last: group m is member m's filters
        bias = self.bias.flatten() if self.bias is not None else None
        return F.conv2d(x, weight, bias, self.stride, self.padding, groups=self.m), "channels"


class _PerChannel(_Layer):
    """Pooling: each channel of each member on its own, so (B, M*C, H, W) is pooled as it is."""

    def __init__(self, module: nn.Module, m: int):
        self.module, self.m = module, m

    def forward(self, x, layout):
        return self.module(to_channels(x, layout, self.m)), "channels"


class _Flatten(_Layer):
    def __init__(self, m: int):
        self.m = m

    def forward(self, x, layout):
        x = to_members_first(channels_last_gradient(x) if layout == "channels" else x, layout, self.m)
        return x.reshape(x.shape[0], x.shape[1], -1), "members"


class _Elementwise(_Layer):
    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]):
        self.function = function

    def forward(self, x, layout):
        return self.function(x), layout


class _Softmax(_Layer):
    """Over each member's features (or channels, as ``nn.Softmax(dim=1)`` does for images)."""

    def __init__(self, m: int):
        self.m = m

    def forward(self, x, layout):
        if layout == "members":
            return torch.softmax(x, -1), layout
        return torch.softmax(x.unflatten(1, (self.m, -1)), 2).flatten(1, 2), layout


class _Dropout(_Layer):
    """Each member's mask drawn from its own generator exactly as ``nn.Dropout`` draws it on a CPU
    (``bernoulli_(1 - p)`` over the member's (B, ...) activations, kept units divided by 1 - p)."""

    def __init__(self, module: nn.Dropout, stacked_trainable: StackedTrainable):
        self.p, self.trainable = module.p, stacked_trainable
        self.scaled_at_test = getattr(module, "scale", "train") == "test"

    def noise(self, x: torch.Tensor, layout: str) -> torch.Tensor | None:
        """Each member's mask for ``x`` in training, the kept units 1 / (1 - p); None when nothing is dropped."""
        if self.p == 0:
            return None
        if self.p == 1:
            return torch.zeros_like(x)
        m = self.trainable.m
        shape = x.shape[1:] if layout == "members" else (x.shape[0], x.shape[1] // m, *x.shape[2:])
        masks = [
            torch.empty(shape, dtype=x.dtype).bernoulli_(1 - self.p, generator=g).div_(1 - self.p)
            for g in self.trainable.dropout_generators
        ]
        noise = torch.stack(masks) if layout == "members" else torch.stack(masks, 1).flatten(1, 2)
        return noise.to(x.device)

    def multiplier(self, x: torch.Tensor, layout: str) -> torch.Tensor | None:
        """What training multiplies ``x`` by: the mask, times 1 - p with ``scale=test``; None for 1."""
        noise = self.noise(x, layout)
        if self.scaled_at_test:
            return noise * (1 - self.p) if noise is not None else None
        return noise

    def forward(self, x, layout):
        noise = self.noise(x, layout) if self.trainable.training else None
        y = x if noise is None else x * noise
        return (y * (1 - self.p) if self.scaled_at_test else y), layout


def _layer(kind: str, module: nn.Module, stacked: dict[str, torch.Tensor], trainable: StackedTrainable) -> _Layer:
    m = trainable.m
    if kind == "dense":
        return _Dense(module, m, stacked)
    if kind == "conv":
        return _Conv(module, m, stacked)
    if kind in ("maxpool", "avgpool", "l2pool"):
        return _PerChannel(module, m)
    if kind == "flatten":
        return _Flatten(m)
    if kind == "dropout":
        return _Dropout(module, trainable)
    if kind == "softmax":
        return _Softmax(m)
    if kind in ELEMENTWISE:
        return _Elementwise(ELEMENTWISE[kind])
    return _Elementwise(module)  # step, leakyrelu, elu: the single model's module, elementwise


class StackedTrainable:
    """M networks of one spec, one per settings (which differ in their seed only), trained together."""

    chunk_elements = TorchTrainable.chunk_elements
    float_train_bytes = TorchTrainable.float_train_bytes

    def __init__(self, settings: Sequence[EngineSettings], spec: Spec, n_train: int):
        first = settings[0]
        self.settings, self.m, self.spec = list(settings), len(settings), spec
        self.device, self.dtype = resolve_device(first.device), getattr(torch, first.dtype)
        if self.device.type == "cpu":
            torch.set_num_threads(first.threads or DEFAULT_THREADS)
        options = dict(dtype=self.dtype, device=self.device, batch_size=first.batch_size)
        singles = [build(spec, seed=s.seed, **options) for s in settings]
        self.names: list[str] = []  #: parameter names in the single model's order (the optimiser's indices)
        self.params: dict[str, torch.Tensor] = {}  #: name -> (M, ...) stacked parameter
        self.trainable: list[str] = []
        self.transposed: set[str] = set()  #: dense weights, stored (M, in, out); a member's is (out, in)
        self.layers: list[_Layer] = []
        self.kinds: list[str] = []  #: each layer's kind, as the spec names it
        self.training = False
        self.dropout_generators = [torch.Generator().manual_seed(s.seed) for s in settings]  # as torch.manual_seed
        for r in spec.resolve():
            module = singles[0][r.index]
            stacked = {}
            for name, p in module.named_parameters():
                full = f"{r.index}.{name}"
                value = torch.stack([single[r.index].get_parameter(name).detach() for single in singles])
                if r.layer.kind == "dense" and name == "weight":
                    value = value.transpose(1, 2).contiguous()
                    self.transposed.add(full)
                if r.layer.kind == "conv" and name == "weight":  # (M, filters, C, k, k), stored channels last
                    value = value.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
                stacked[name] = nn.Parameter(value, requires_grad=p.requires_grad)
                self.names.append(full)
                self.params[full] = stacked[name]
                if p.requires_grad:
                    self.trainable.append(full)
            self.layers.append(_layer(r.layer.kind, module, stacked, self))
            self.kinds.append(r.layer.kind)
        self.loss_name = first.loss
        self.loss_fn = make_loss(first.loss, first.label_smoothing)
        self.eval_batch_size = first.eval_batch_size
        self.penalty_l1, self.penalty_l2 = first.l1 / n_train, first.l2 / n_train
        self.weight_names = [n for n in self.names if is_penalised(n, self.params[n].ndim - 1)]
        self.grad_norms = first.grad_norms
        self.lrs = [learning_rate(s) for s in settings]
        self.optimizer = OPTIMIZERS[first.optimizer](
            [self.params[n] for n in self.trainable], lr=self.lrs[0], **optimizer_options(first)
        )
        self.augment = make_augmentation(parse_augmentation(first.augment)) if first.augment else None
        self.augment_generators = [torch.Generator(self.device).manual_seed(s.seed + 4) for s in settings]
        self.data: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.version = 0  #: bumped whenever weights change: evaluations are cached per version
        self.evaluated: dict[str, tuple[int, list[tuple[float, float]]]] = {}
        self.members = [StackedMember(self, i) for i in range(self.m)]
        self.by_hand = by_hand(self)  #: the written-out SGD step, where the model and settings allow it

    @property
    def description(self) -> str:
        return f"torch engine ({self.device}, {str(self.dtype).removeprefix('torch.')})"  # a single run's words

    def as_input(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.dtype) / 255 if x.dtype == torch.uint8 else x.to(self.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(M, B, ...) inputs, one batch per member -> (M, B, outputs)."""
        layout = "members"
        for layer in self.layers:
            x, layout = layer.forward(x, layout)
        return to_members_first(x, layout, self.m)

    def add_data(self, name: str, x: np.ndarray, y: np.ndarray) -> None:
        x_t = torch.as_tensor(x, device=self.device)
        if name == "train" and x_t.dtype == torch.uint8 and x_t.numel() * self.dtype.itemsize <= self.float_train_bytes:
            x_t = self.as_input(x_t)
        self.data[name] = (x_t, torch.as_tensor(y, device=self.device))

    # -- training ------------------------------------------------------------------------------------

    def member_losses(self, output: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The sum of the members' losses (what the backward pass takes: each member's gradient is its own)
        and each member's loss on its batch, with its weight penalty, detached (M,)."""
        m, b = output.shape[:2]
        if self.loss_fn is cross_entropy and y.ndim == 2 and not y.is_floating_point():
            each = F.cross_entropy(output.reshape(m * b, -1).float(), y.reshape(-1).long(), reduction="none")
            total, losses = each.sum() / b, each.detach().view(m, b).mean(1)  # a mean over each member's batch
        else:
            losses = torch.stack([self.loss_fn(output[i].float(), y[i]) for i in range(m)])
            total, losses = losses.sum(), losses.detach()
        penalty = self.penalties()
        if penalty is not None:
            total, losses = total + penalty.sum(), losses + penalty.detach()
        return total, losses

    def penalties(self) -> torch.Tensor | None:
        """Each member's weight penalty (M,): l1/n sum |w| + l2/(2n) sum w^2 (None without either)."""
        if not (self.penalty_l1 or self.penalty_l2):
            return None
        weights = [self.params[n] for n in self.weight_names]
        penalty = 0.0
        if self.penalty_l1:
            penalty = penalty + self.penalty_l1 * sum(w.abs().flatten(1).sum(1) for w in weights)
        if self.penalty_l2:
            penalty = penalty + self.penalty_l2 / 2 * sum(w.square().flatten(1).sum(1) for w in weights)
        return penalty

    def train_epoch(
        self,
        orders: Sequence[np.ndarray],
        batch_size: int,
        on_steps: Sequence[Callable[[int, float | None], None]],
        step_lrs: Sequence[np.ndarray | None],
        active: Sequence[int],
    ) -> dict[int, EpochStats]:
        """One pass for every member, each over its own ``orders[i]``; members not ``active`` are carried
        along but not reported. A member whose loss becomes non-finite stops there (its weights and
        optimiser state are kept as they were before that step, as the single trainable stops)."""
        x, y = self.data["train"]
        m = self.m
        order_t = torch.as_tensor(np.stack(orders), device=self.device)
        steps = (order_t.shape[1] + batch_size - 1) // batch_size
        on_cpu = self.device.type == "cpu"
        running = list(active)
        losses: dict[int, list[float]] = {i: [] for i in active}
        outputs: list[torch.Tensor] = []
        norms: list[tuple[torch.Tensor, ...]] = []
        monitored = [self.params[n] for n in self.weight_names] if self.grad_norms else []
        stride = grad_norm_stride(steps)
        parameters = [self.params[n] for n in self.trainable]
        self.training = True
        chunk = self.chunk_elements["cpu" if on_cpu else "other"]
        per_chunk = max(1, chunk // max(1, x[0].numel() * batch_size * m))  # every member's batches in one chunk
        self.version += 1
        hand = self.by_hand if self.by_hand is not None and ByHandSGD.takes(y) else None
        warming = any(rates is not None for rates in step_lrs)
        lrs = list(self.lrs)
        for step in range(steps):
            if warming:
                lrs = [float(step_lrs[i][step]) if step_lrs[i] is not None else self.lrs[i] for i in range(m)]
            if step % per_chunk == 0:
                index = order_t[:, step * batch_size : (step + per_chunk) * batch_size]
                x_chunk, y_chunk = self.as_input(x[index]), y[index]
            within = (step % per_chunk) * batch_size
            xb, yb = x_chunk[:, within : within + batch_size], y_chunk[:, within : within + batch_size]
            if self.augment is not None:
                xb = torch.stack([self.augment(xb[i], g) for i, g in enumerate(self.augment_generators)])
            if hand is not None:
                output, member_losses = hand.forward(xb, yb)
            else:
                output = self.forward(xb)
                total, member_losses = self.member_losses(output, yb)
                for p in parameters:
                    p.grad = None
                total.backward()
            values = member_losses.tolist()
            for i in list(running):
                losses[i].append(values[i])
                if not math.isfinite(values[i]):
                    running.remove(i)
                    self.members[i].halt()  # its state before this step, as a single run stops
            if not running:
                break
            outputs.append(output.detach())
            record = bool(monitored) and step % stride == 0
            if hand is not None:
                recorded = hand.step(lrs, record)
                if record:
                    norms.append(recorded)
            else:
                if record:
                    norms.append(tuple(torch.linalg.vector_norm(w.grad, dim=list(range(1, w.ndim))) for w in monitored))
                self.step(lrs, running)
            for i in running:
                on_steps[i](step + 1, values[i])
        self.training = False
        stats = {}
        for i in active:
            finished = len(losses[i]) - (i not in running)  # the steps before a non-finite loss
            correct = 0
            if finished:
                out = torch.cat([o[i] for o in outputs[:finished]])
                seen = order_t[i, : finished * batch_size]
                correct = int((predicted_classes(self.loss_name, out) == labels_of(y[seen])).sum())
            means = {}
            used = [n for k, n in enumerate(norms) if k * stride < finished]
            if used:
                per_step = torch.stack([torch.stack([w[i] for w in step]) for step in used])
                means = dict(zip(self.weight_names, (per_step.double().sum(0) / len(used)).tolist(), strict=True))
            stats[i] = EpochStats(np.asarray(losses[i], dtype=np.float64), correct, means)
        return stats

    def step(self, lrs: list[float], running: list[int]) -> None:
        """The optimiser's step at each member's learning rate: one step at the first running member's rate,
        then the members with another rate scaled (every optimiser's update is proportional to its rate)."""
        if not running:
            return
        reference = lrs[running[0]]
        others = [i for i in running if lrs[i] != reference]
        before = [self.params[n].detach().clone() for n in self.trainable] if others else []
        if self.optimizer.param_groups[0]["lr"] != reference:
            self.set_lr(reference)
        self.optimizer.step()
        for old, name in zip(before, self.trainable, strict=False):
            new = self.params[name].detach()
            for i in others:
                scale = lrs[i] / reference if reference else 0.0
                new[i] = old[i] + (new[i] - old[i]) * scale

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    # -- evaluation ----------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate_all(self, name: str) -> list[tuple[float, float]]:
        """Every member's (loss, accuracy) on a split, computed once per version of the weights."""
        cached = self.evaluated.get(name)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        x, y = self.data[name]
        m = self.m
        totals = torch.zeros(m, dtype=torch.float64, device=self.device)
        correct = torch.zeros(m, dtype=torch.int64, device=self.device)
        for start in range(0, len(x), self.eval_batch_size):
            xb, yb = self.as_input(x[start : start + self.eval_batch_size]), y[start : start + self.eval_batch_size]
            output = self.forward(xb.unsqueeze(0).expand(m, *xb.shape)).float()
            for i in range(m):
                totals[i] += self.loss_fn(output[i], yb).double() * len(xb)
                correct[i] += (predicted_classes(self.loss_name, output[i]) == labels_of(yb)).sum()
        results = [(float(totals[i]) / len(x), int(correct[i]) / len(x)) for i in range(m)]
        self.evaluated[name] = (self.version, results)
        return results

    # -- one member's state --------------------------------------------------------------------------

    def weights_of(self, i: int) -> dict[str, np.ndarray]:
        return {n: self.member_value(n, self.params[n][i]) for n in self.names}

    def member_value(self, name: str, value: torch.Tensor) -> np.ndarray:
        """A member's slice of a stacked parameter (or of its optimiser state) as the single model holds it."""
        value = value.detach().T if name in self.transposed else value.detach()
        return value.cpu().numpy().copy()

    def set_member_value(self, name: str, target: torch.Tensor, value: np.ndarray) -> None:
        tensor = torch.from_numpy(np.array(value)).to(device=target.device, dtype=target.dtype)
        with torch.no_grad():
            target.copy_(tensor.T if name in self.transposed else tensor)

    def training_state_of(self, i: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Member i's optimiser state and generators, in the single trainable's format (its resume reads them)."""
        saved = self.optimizer.state_dict()
        arrays, scalars = {}, {}
        for index, state in saved["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor) and value.ndim > 0:
                    arrays[f"optimizer/{index}.{key}"] = self.member_value(self.trainable[index], value[i])
                elif isinstance(value, torch.Tensor):
                    arrays[f"optimizer/{index}.{key}"] = value.detach().cpu().numpy().copy()
                else:
                    scalars[f"{index}.{key}"] = value
        groups = [dict(group, lr=self.lrs[i]) for group in saved["param_groups"]]
        arrays["rng/torch"] = self.dropout_generators[i].get_state().numpy()
        arrays["rng/augment"] = self.augment_generators[i].get_state().cpu().numpy()
        return arrays, {"param_groups": groups, "scalars": scalars}

    def load_training_state_of(self, i: int, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        own = self.optimizer.state
        for name, value in arrays.items():
            if not name.startswith("optimizer/"):
                continue
            index, key = name.removeprefix("optimizer/").split(".", 1)
            name = self.trainable[int(index)]
            state = own[self.params[name]]
            if np.ndim(value) == 0:  # a step count: the same for every member (they step together)
                state[key] = torch.from_numpy(np.array(value)).to(self.device)
            else:
                if key not in state:
                    state[key] = torch.zeros_like(self.params[name].detach())
                self.set_member_value(name, state[key][i], value)
        for name, value in meta["scalars"].items():
            index, key = name.split(".", 1)
            own[self.params[self.trainable[int(index)]]][key] = value
        self.lrs[i] = meta["param_groups"][0]["lr"]
        self.dropout_generators[i].set_state(torch.from_numpy(np.array(arrays["rng/torch"])))
        self.augment_generators[i].set_state(torch.from_numpy(np.array(arrays["rng/augment"])))


class StackedMember:
    """One member of a ``StackedTrainable`` behind the engine contract (``layerlab.engine.Trainable``).

    Once the member's run has ended (``freeze``) or its loss has become non-finite (``halt``), it keeps its
    own copy of its weights and state and no longer follows the stacked model (which trains on for the
    other members)."""

    def __init__(self, stacked: StackedTrainable, index: int):
        self.stacked, self.index = stacked, index
        self.frozen: dict[str, Any] | None = None
        self.predictor: TorchPredictor | None = None

    @property
    def description(self) -> str:
        return self.stacked.description

    def add_data(self, name: str, x: np.ndarray, y: np.ndarray) -> None:
        if self.index == 0:
            self.stacked.add_data(name, x, y)

    def train_epoch(self, *args, **kwargs) -> EpochStats:
        raise NotImplementedError("a stacked member trains with the others: layerlab.together.fit_together")

    def set_lr(self, lr: float) -> None:
        self.stacked.lrs[self.index] = lr

    def evaluate(self, name: str) -> tuple[float, float]:
        if self.frozen is not None:
            raise RuntimeError("a stopped member is not evaluated again")
        return self.stacked.evaluate_all(name)[self.index]

    def halt(self) -> None:
        """Keep the weights and state of now (before a step that would spoil them)."""
        if self.frozen is None:
            self.frozen = {
                "weights": self.stacked.weights_of(self.index),
                "state": self.stacked.training_state_of(self.index),
            }

    def weights(self) -> dict[str, np.ndarray]:
        if self.frozen is not None:
            return {k: v.copy() for k, v in self.frozen["weights"].items()}
        return self.stacked.weights_of(self.index)

    def load_weights(self, state: dict[str, np.ndarray]) -> None:
        if self.frozen is not None:
            self.frozen["weights"] = dict(state)
            self.predictor = None
        else:
            self._load(state)

    def _load(self, state: dict[str, np.ndarray]) -> None:
        stacked = self.stacked
        predictor = TorchPredictor(stacked.settings[self.index], stacked.spec)
        predictor.load_weights(state)  # the names and shapes checked as a single run checks them
        for n, value in predictor.weights().items():
            stacked.set_member_value(n, stacked.params[n][self.index], value)
        stacked.version += 1

    def training_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if self.frozen is not None:
            return self.frozen["state"]
        return self.stacked.training_state_of(self.index)

    def load_training_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.stacked.load_training_state_of(self.index, arrays, meta)

    def freeze(self) -> None:
        """The member's run has ended: from now on it is a model of its own."""
        self.halt()

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if self.predictor is None or self.frozen is None:
            self.predictor = TorchPredictor(self.stacked.settings[self.index], self.stacked.spec)
            self.predictor.load_weights(self.weights())
        return self.predictor.predict_proba(x)
