"""The torch engine: the same specs as the numpy engine, run by PyTorch on CPU or GPU.

from layerlab import parse
from layerlab.torch import build, make_loss
net = build(parse("input(784) dense(100) sigmoid dense(10)"), seed=1)  # the numpy engine's weights for seed 1
loss = make_loss("cross_entropy")(net(x), y)
"""

from .layers import BatchNorm, L2Pool2d, Maxout, Step
from .losses import LOSSES, LossError, make_loss, probabilities
from .model import MODULES, build, export_state, import_state

__all__ = [
    "LOSSES",
    "MODULES",
    "BatchNorm",
    "L2Pool2d",
    "LossError",
    "Maxout",
    "Step",
    "build",
    "export_state",
    "import_state",
    "make_loss",
    "probabilities",
]
