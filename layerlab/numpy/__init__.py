"""The from-scratch engine: every layer, loss, initialiser and optimiser written by hand in NumPy.

from layerlab import parse
from layerlab.numpy import build, SGD
model = build(parse("input(2) dense(4) tanh dense(2)"), seed=0)
model.train_step(x, y, SGD(lr=0.5))
"""

from .model import LAYERS, Model, build, initial_state, make_layer
from .optimizers import OPTIMIZERS, SGD, Adadelta, Adagrad, Adam, RMSprop, make_optimizer
from .regularizers import L1, L2

__all__ = [
    "LAYERS",
    "L1",
    "L2",
    "OPTIMIZERS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "Model",
    "RMSprop",
    "build",
    "initial_state",
    "make_layer",
    "make_optimizer",
]
