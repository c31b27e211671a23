"""The torch engine: a spec becomes a ``torch.nn.Sequential``, one module per layer of the spec.

``MODULES`` below is the only place that maps a layer kind to a PyTorch module class (built with the
arguments ``spec.ResolvedLayer.arguments`` gives). Module i of the
Sequential is layer i of the spec, so the state dict names (``"{i}.weight"``, ``"{i}.running_mean"``)
are those of the numpy engine, and the initial weights come from the same generator::

    spec = parse("input(784) dense(100) sigmoid dense(10)")
    net = build(spec, seed=1)
    numpy_model = layerlab.numpy.build(spec, seed=1)  # the same network, float32 in both
    numpy_model.load_state_dict(export_state(net))    # weights move both ways
    import_state(net, numpy_model.state_dict())

The Sequential starts in training mode, as every ``nn.Module`` does: call ``.eval()`` before
predicting (dropout off, batch norm on its running averages).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from ..engine import check_memory
from ..numpy.model import initial_state
from ..spec import Spec, SpecError
from ..weights import WeightsError
from .layers import (
    AvgPool2d,
    BatchNorm,
    Conv,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    L2Pool2d,
    LeakyReLU,
    Maxout,
    MaxPool2d,
    Softmax,
    Step,
)

#: The module class of each layer kind, built from the placed layer as ``cls(**r.arguments())``.
MODULES: dict[str, type[nn.Module]] = {
    "dense": Dense,
    "conv": Conv,
    "maxpool": MaxPool2d,
    "avgpool": AvgPool2d,
    "l2pool": L2Pool2d,
    "globalavgpool": GlobalAvgPool,
    "flatten": Flatten,
    "dropout": Dropout,
    "batchnorm": BatchNorm,
    "step": Step,
    "linear": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leakyrelu": LeakyReLU,
    "elu": nn.ELU,
    "maxout": Maxout,
    "softmax": Softmax,
}


def build(
    spec: Spec,
    input_shape=None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    state: Mapping[str, np.ndarray | torch.Tensor] | None = None,
    device: torch.device | str | None = None,
    batch_size: int = 1,
) -> nn.Sequential:
    """The PyTorch module of a spec; weights from ``state`` if given, else drawn with ``seed``.

    The drawn weights are those of ``layerlab.numpy.build(spec, seed=seed)`` with the matching dtype
    (drawn in float64 for a float64 model, in float32 otherwise), so both engines start alike. A model too
    large for the device's memory (with a batch of ``batch_size``) is refused before anything is allocated.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    gpu = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None
    check_memory(spec, input_shape, batch_size, dtype.itemsize, gpu, f"the GPU {device}" if gpu else "this machine")
    resolved = spec.resolve(input_shape)
    for r in resolved:
        if r.layer.impl:
            raise SpecError(f"`{r.layer}` is a layer of your own: it runs on the numpy engine only (--engine numpy)")
    with torch.random.fork_rng(devices=[]):  # PyTorch's own initial weights are overwritten below
        modules = (MODULES[r.layer.kind](**r.arguments()) for r in resolved)
        model = nn.Sequential(*modules).to(device=device, dtype=dtype)
    if state is None:
        state = initial_state(spec, input_shape, seed, np.float64 if dtype == torch.float64 else np.float32)
    import_state(model, state)
    for r in resolved:
        for name in r.layer.fixed:  # bias=fixed: no gradient, so no optimiser moves it
            getattr(model[r.index], name).requires_grad_(False)
    return model


def _own_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers by name, without batch norm's step counter (the numpy engine has none)."""
    return {k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}


def export_state(module: nn.Module) -> dict[str, np.ndarray]:
    """Copies of every parameter and buffer as numpy arrays, by the names of the numpy engine."""
    return {name: value.detach().cpu().numpy().copy() for name, value in _own_state(module).items()}


def import_state(module: nn.Module, state: Mapping[str, np.ndarray | torch.Tensor]) -> None:
    """Copy arrays (numpy or torch) into the module; every name must be present with the same shape.

    Values are converted to each parameter's dtype and device. Batch norm's step counters
    (``num_batches_tracked``, in a PyTorch ``state_dict()``) are ignored, as ``export_state`` leaves them out.
    """
    own = _own_state(module)
    state = {name: value for name, value in state.items() if not name.endswith("num_batches_tracked")}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise WeightsError(
            f"the weights do not belong to this model: missing {missing or 'nothing'}, "
            f"unexpected {unexpected or 'nothing'}; were they saved from a different spec?"
        )
    values = {name: _tensor(state[name]) for name in own}
    for name, target in own.items():
        if values[name].shape != target.shape:
            raise WeightsError(
                f"weight {name} has shape {tuple(values[name].shape)}, this model needs {tuple(target.shape)}"
            )
    with torch.no_grad():
        for name, target in own.items():
            target.copy_(values[name])


def _tensor(value: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A tensor view of a torch or numpy value (a copy where numpy's array is read-only, as from a file)."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    value = np.asarray(value)
    return torch.from_numpy(value if value.flags.writeable else value.copy())
