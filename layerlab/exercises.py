"""Starter files for writing layers yourself, with the interface of the course's ``Layer`` assignment.

``layerlab exercise dense relu`` writes ``my_layers.py`` with one class per exercise: the
constructor given, ``forward(x, args)`` and ``backward(dy, args)`` left for you, the shapes and the
formulas to derive in comments. ``layerlab check my_layers.py`` then grades them (``grader/``).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import LayerlabError
from .files import atomic_write


class ExerciseError(LayerlabError, ValueError):
    """An unknown exercise, or a starter file that would replace an existing file."""


HEADER = '''"""My own layers for layerlab: {names}.

Each class keeps the interface of the course's Layer assignment: forward(x, args) returns y,
backward(dy, args) returns the gradient of the input x (and, for a layer with parameters, a dict of
the parameters' gradients). Everything is batch-first: the first axis of x and dy is the example.
args is a dict: args["training"] is True while training, args["rng"] is a numpy random Generator.

Fill in the bodies, then run:    layerlab check {file}
Once they pass, use them in a model on the numpy engine, e.g.
    layerlab train --engine numpy --layers {file} --model "flatten MyDense(100) MyReLU dense(10)"
(each class name is a layer name, with the arguments of the layer kind it implements).
"""

import numpy as np


class Layer:
    def __init__(self, name):
        self.name = name
        self.params = {{}}  # trainable arrays by name; the optimiser updates them in place
        self.buffers = {{}}  # arrays saved with the model but not trained (batch norm's running averages)

    def forward(self, x, args=None):
        # return y, the output of this layer
        raise NotImplementedError

    def backward(self, dy, args=None):
        # return the gradient of the input x (and of the parameters)
        raise NotImplementedError
'''

TEMPLATES: dict[str, tuple[str, str]] = {
    "dense": (
        "MyDense",
        '''
class MyDense(Layer):
    """Fully connected: y = x W^T + b."""

    kind = "dense"

    def __init__(self, name, weight, bias=None):
        super().__init__(name)
        self.params["weight"] = weight  # W: (out, in)
        if bias is not None:
            self.params["bias"] = bias  # b: (out,)

    def forward(self, x, args=None):
        # x: (N, in)  ->  y: (N, out),  y[n, o] = sum_i x[n, i] W[o, i] + b[o]
        # keep what backward needs (x) in self
        raise NotImplementedError("MyDense.forward")

    def backward(self, dy, args=None):
        # dy = dL/dy: (N, out). Derive, by the chain rule, with shapes that fit:
        #   dL/dx: (N, in)      dL/dW: (out, in), summed over the batch      dL/db: (out,)
        # dy is already the gradient of the batch's loss: do not divide by N again
        # return dx, {"weight": dW, "bias": db}   (no "bias" if the layer has none)
        raise NotImplementedError("MyDense.backward")
''',
    ),
    "relu": (
        "MyReLU",
        '''
class MyReLU(Layer):
    """Rectified linear unit: y = max(0, x), element by element."""

    kind = "relu"

    def forward(self, x, args=None):
        # x: any shape (N, ...)  ->  y: the same shape. Do not change x itself (no x[x < 0] = 0 on x).
        raise NotImplementedError("MyReLU.forward")

    def backward(self, dy, args=None):
        # dL/dx = dL/dy * dy/dx, with dy/dx = 1 where x > 0, else 0. Return dx (same shape as x).
        raise NotImplementedError("MyReLU.backward")
''',
    ),
    "sigmoid": (
        "MySigmoid",
        '''
class MySigmoid(Layer):
    """The logistic function: y = 1 / (1 + e^-x), element by element."""

    kind = "sigmoid"

    def forward(self, x, args=None):
        # x: any shape  ->  y: the same shape. e^-x overflows for x < -709: keep it finite
        raise NotImplementedError("MySigmoid.forward")

    def backward(self, dy, args=None):
        # dy/dx can be written with y alone: derive it. Return dx (same shape as x).
        raise NotImplementedError("MySigmoid.backward")
''',
    ),
    "tanh": (
        "MyTanh",
        '''
class MyTanh(Layer):
    """The hyperbolic tangent: y = tanh(x), element by element."""

    kind = "tanh"

    def forward(self, x, args=None):
        # x: any shape  ->  y: the same shape
        raise NotImplementedError("MyTanh.forward")

    def backward(self, dy, args=None):
        # dy/dx can be written with y alone: derive it. Return dx (same shape as x).
        raise NotImplementedError("MyTanh.backward")
''',
    ),
    "softmax-ce": (
        "MySoftmaxCrossEntropy",
        '''
class MySoftmaxCrossEntropy(Layer):
    """Softmax followed by the cross-entropy loss, from the scores (logits) x of the last layer.

    p = softmax(x) along axis 1; L = -1/N sum_n log p[n, t_n], with the class indices t = args["target"].
    """

    kind = "softmax-ce"

    def forward(self, x, args=None):
        # x: (N, classes), args["target"]: (N,) integers  ->  the loss, one number (the mean over the batch)
        # e^x overflows for large x: softmax(x) = softmax(x - max over the row)
        raise NotImplementedError("MySoftmaxCrossEntropy.forward")

    def backward(self, dy, args=None):
        # dy: dL/dL = 1.0. Return dL/dx: (N, classes). Derive it: the result is short.
        raise NotImplementedError("MySoftmaxCrossEntropy.backward")
''',
    ),
    "conv": (
        "MyConv",
        '''
class MyConv(Layer):
    """2D convolution (cross-correlation, as in every deep-learning library), square kernels."""

    kind = "conv"

    def __init__(self, name, weight, bias=None, stride=1, padding=0):
        super().__init__(name)
        self.params["weight"] = weight  # (filters F, channels C, k, k)
        if bias is not None:
            self.params["bias"] = bias  # (F,)
        self.stride, self.padding = stride, padding  # padding: zeros added on each side

    def forward(self, x, args=None):
        # x: (N, C, H, W)  ->  y: (N, F, H', W'),  H' = (H + 2 padding - k) // stride + 1 (W' likewise)
        # y[n, f, i, j] = b[f] + sum_{c, u, v} xp[n, c, i stride + u, j stride + v] W[f, c, u, v]
        # with xp = x padded with zeros (np.pad)
        raise NotImplementedError("MyConv.forward")

    def backward(self, dy, args=None):
        # dy: (N, F, H', W'). Return dx (N, C, H, W), {"weight": dW (F, C, k, k), "bias": db (F,)}
        # every product in forward sends dy back to both of its factors; drop the padding from dx
        raise NotImplementedError("MyConv.backward")
''',
    ),
    "maxpool": (
        "MyMaxPool",
        '''
class MyMaxPool(Layer):
    """Max pooling: the largest value of each size x size window, windows stride apart."""

    kind = "maxpool"

    def __init__(self, name, size, stride=None):
        super().__init__(name)
        self.size, self.stride = size, stride or size

    def forward(self, x, args=None):
        # x: (N, C, H, W)  ->  y: (N, C, H', W'),  H' = (H - size) // stride + 1 (W' likewise)
        raise NotImplementedError("MyMaxPool.forward")

    def backward(self, dy, args=None):
        # dy: (N, C, H', W'). The gradient flows only to the position that was the maximum of its window;
        # on a tie (equal values, as after a ReLU) to the first of them only, row by row (np.argmax finds
        # it); windows may overlap (stride < size): add up. Windows that do not fit at the bottom or right
        # edge are left out. Return dx (N, C, H, W).
        raise NotImplementedError("MyMaxPool.backward")
''',
    ),
    "dropout": (
        "MyDropout",
        '''
class MyDropout(Layer):
    """Inverted dropout: in training drop each value with probability p and scale the rest by 1/(1-p)."""

    kind = "dropout"

    def __init__(self, name, p=0.5):
        super().__init__(name)
        self.p = p

    def forward(self, x, args=None):
        # in training (args["training"]): keep = args["rng"].random(x.shape) >= self.p (draw it exactly so,
        # so that the grader can draw the same mask), y = x * keep / (1 - p). At test time: y = x.
        raise NotImplementedError("MyDropout.forward")

    def backward(self, dy, args=None):
        # the same mask and scale as the forward. Return dx.
        raise NotImplementedError("MyDropout.backward")
''',
    ),
    "batchnorm": (
        "MyBatchNorm",
        '''
class MyBatchNorm(Layer):
    """Batch normalisation: per feature (per channel for images), over the batch (and positions)."""

    kind = "batchnorm"

    def __init__(self, name, weight, bias, running_mean, running_var, momentum=0.1, eps=1e-5):
        super().__init__(name)
        self.params["weight"], self.params["bias"] = weight, bias  # gamma, beta: (features,)
        self.buffers["running_mean"], self.buffers["running_var"] = running_mean, running_var
        self.momentum, self.eps = momentum, eps

    def forward(self, x, args=None):
        # x: (N, F) or (N, C, H, W); statistics over axis 0 (or axes 0, 2, 3)
        # training: mu, var = mean and (biased) variance of the batch;
        #   running_mean <- (1 - momentum) running_mean + momentum mu
        #   running_var  <- (1 - momentum) running_var + momentum var m / (m - 1)   (m values per feature)
        # test: mu, var = running_mean, running_var
        # x_hat = (x - mu) / sqrt(var + eps);  y = gamma x_hat + beta
        raise NotImplementedError("MyBatchNorm.forward")

    def backward(self, dy, args=None):
        # Return dx, {"weight": dgamma, "bias": dbeta}. In training mu and var depend on x too:
        # dx = (m dx_hat - sum(dx_hat) - x_hat sum(dx_hat x_hat)) / (m sqrt(var + eps)), dx_hat = dy gamma
        raise NotImplementedError("MyBatchNorm.backward")
''',
    ),
}


def starter(names: list[str], file: str = "my_layers.py") -> str:
    """The text of a starter file with one class per exercise."""
    unknown = [n for n in names if n not in TEMPLATES and n != "all"]
    if unknown or not names:
        raise ExerciseError(
            f"unknown exercise {', '.join(unknown) or '(none)'}; choose from {', '.join(TEMPLATES)}, all"
        )
    names = list(TEMPLATES) if "all" in names else list(dict.fromkeys(names))
    return HEADER.format(names=", ".join(names), file=file) + "".join("\n" + TEMPLATES[n][1] for n in names)


def write_starter(names: list[str], path: str | os.PathLike = "my_layers.py") -> Path:
    """Write the starter file; refuse if ``path`` exists (your work is never replaced). Atomic."""
    path = Path(path)
    if path.exists():
        raise ExerciseError(f"{path} exists: layerlab never replaces your file; give another name with --out")
    if not path.parent.is_dir():
        raise ExerciseError(f"cannot write {path}: the directory {path.parent} does not exist")
    text = starter(names, path.name)
    try:
        return atomic_write(path, lambda f: f.write(text.encode()), replace=False)
    except FileExistsError:  # it appeared meanwhile
        raise ExerciseError(f"{path} exists: layerlab never replaces your file; give another name with --out") from None
