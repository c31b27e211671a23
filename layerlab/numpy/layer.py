"""The contract every numpy layer keeps.

A layer holds its trainable arrays in ``params`` and, after ``backward``, the gradient of the loss
with respect to each of them in ``grads`` (same names, same shapes). ``forward`` keeps in ``self``
whatever ``backward`` will need (the cache), and ``backward`` takes dL/dy and returns dL/dx.
Inputs are batch-first: (N, features) or (N, channels, height, width).

Parameter names and shapes are those of the spec (and of PyTorch), so a model's state dict means the
same thing in both engines.
"""

from __future__ import annotations

import numpy as np


class Layer:
    """Base class: no parameters, identity shape. Subclasses override ``forward`` and ``backward``."""

    #: True for a layer that draws random numbers (dropout): the model passes its generator as ``rng``.
    needs_rng: bool = False

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        #: Non-trainable state that is saved with the model (batch-norm running averages).
        self.buffers: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The layer's output y for a batch x (batch first), keeping in ``self`` what ``backward`` needs.

        ``training`` is True while fitting: layers that behave differently then (dropout, batch norm)
        read it; the others ignore it.
        """
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx from dL/dy (same shape as the last ``forward``'s y), after the last ``forward`` call.

        Stores dL/dp for each parameter p in ``grads[name]``, summed over the batch; the optimiser
        reads them there. Only the layer's input gradient is returned, for the layer below.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"
