"""Weight and bias initialisers: where the first random numbers of a network come from.

Each initialiser is a plain function ``(shape, rng, dtype, ...) -> array``. Most scale their spread by
the *fans* of a weight, counted as PyTorch does: a dense weight (out, in) has fan_in = in and
fan_out = out; a conv weight (F, C, k, k) has fan_in = C*k*k and fan_out = F*k*k (every output pixel
sums over C*k*k inputs, every input pixel feeds F*k*k outputs).

Why the fans matter (Nielsen, "Neural Networks and Deep Learning", ch. 3, "Weight initialization"): a
unit computes z = sum_j w_j x_j + b over n_in inputs. With weights drawn from N(0, 1) the spread of z
grows like sqrt(n_in), sigmoid units saturate and learning stalls. Drawing them with standard deviation
1/sqrt(n_in) keeps z roughly N(0, 1) ("improved" initialisation, ``lecun_normal``). Glorot also balances
the backward pass (fan_out); He doubles the variance because a ReLU zeroes half of its inputs.

The model builder calls ``init_weight`` and ``init_bias`` with a spec's ``Call`` (``normal(0.01)``,
``he_normal``, ...); the names are those of ``spec.INITIALIZERS`` and ``spec.BIAS_INITIALIZERS``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike as DType

from ..errors import EngineError
from ..spec import BIAS_INITIALIZERS, INITIALIZERS, Call, Shape


def fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel), as in PyTorch."""
    if len(shape) < 2:
        raise EngineError(
            f"fan_in/fan_out need a weight shape (out, in, *kernel) with at least 2 dimensions, got {shape}; "
            "a bias has no fans of its own: pass the fan_in of its layer's weight"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def zeros(shape: Shape, rng: np.random.Generator | None = None, dtype: DType = np.float32) -> np.ndarray:
    """All zeros (biases; a weight of zeros would make every unit of a layer learn the same thing)."""
    return np.zeros(shape, dtype=dtype)


def normal(shape: Shape, rng: np.random.Generator, dtype: DType = np.float32, sigma: float = 1.0) -> np.ndarray:
    """N(0, sigma)."""
    return sigma * rng.standard_normal(shape, dtype=dtype)


def uniform(shape: Shape, rng: np.random.Generator, dtype: DType = np.float32, a: float = 0.05) -> np.ndarray:
    """U(-a, a)."""
    return a * (2 * rng.random(shape, dtype=dtype) - 1)


def glorot_normal(shape: Shape, rng: np.random.Generator, dtype: DType = np.float32) -> np.ndarray:
    """Glorot/Xavier normal: N(0, sqrt(2 / (fan_in + fan_out)))."""
    fan_in, fan_out = fans(shape)
    return normal(shape, rng, dtype, sigma=math.sqrt(2 / (fan_in + fan_out)))


def glorot_uniform(shape: Shape, rng: np.random.Generator, dtype: DType = np.float32) -> np.ndarray:
    """Glorot/Xavier uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), the same variance as above."""
    fan_in, fan_out = fans(shape)
    return uniform(shape, rng, dtype, a=math.sqrt(6 / (fan_in + fan_out)))


def he_normal(shape: Shape, rng: np.random.Generator, dtype: DType = np.float32) -> np.ndarray:
    """He/MSRA normal for ReLU networks: N(0, sqrt(2 / fan_in))."""
    fan_in, _ = fans(shape)
    return normal(shape, rng, dtype, sigma=math.sqrt(2 / fan_in))


def he_uniform(shape: Shape, rng: np.random.Generator, dtype: DType = np.float32) -> np.ndarray:
    """He/MSRA uniform: U(-a, a) with a = sqrt(6 / fan_in), the same variance as he_normal."""
    fan_in, _ = fans(shape)
    return uniform(shape, rng, dtype, a=math.sqrt(6 / fan_in))


def lecun_normal(shape: Shape, rng: np.random.Generator, dtype: DType = np.float32) -> np.ndarray:
    """N(0, 1/sqrt(fan_in)): the "improved" initialisation of Nielsen's ch. 3, so that z is roughly N(0, 1)."""
    fan_in, _ = fans(shape)
    return normal(shape, rng, dtype, sigma=1 / math.sqrt(fan_in))


def torch_default(
    shape: Shape, rng: np.random.Generator, dtype: DType = np.float32, fan_in: int | None = None
) -> np.ndarray:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): what torch.nn.Linear and Conv2d give weights and biases.

    fan_in comes from the shape of a weight; for a bias pass the fan_in of its layer's weight.
    """
    if fan_in is None:
        fan_in, _ = fans(shape)
    return uniform(shape, rng, dtype, a=1 / math.sqrt(fan_in))


#: The weight initialisers by their spec name; ``normal`` and ``uniform`` take one optional argument.
WEIGHT_INITIALIZERS = {
    "normal": normal,
    "uniform": uniform,
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "lecun_normal": lecun_normal,
    "torch": torch_default,
}


def init_weight(call: Call, shape: Shape, rng: np.random.Generator, dtype: DType = np.float32) -> np.ndarray:
    """A weight drawn as ``call`` says, e.g. ``Call("normal", (0.01,))`` or ``Call("he_normal")``."""
    if call.name not in WEIGHT_INITIALIZERS:
        raise EngineError(f"unknown weight initialiser {call.name!r}; known: {', '.join(INITIALIZERS)}")
    return WEIGHT_INITIALIZERS[call.name](shape, rng, dtype, *call.args)


def init_bias(call: Call, shape: Shape, fan_in: int, rng: np.random.Generator, dtype: DType = np.float32) -> np.ndarray:
    """A bias drawn as ``call`` says; ``fan_in`` is that of the layer's weight (used by ``torch``)."""
    if call.name == "zeros":
        return zeros(shape, rng, dtype)
    if call.name == "normal":
        return normal(shape, rng, dtype, *call.args)
    if call.name == "torch":
        return torch_default(shape, rng, dtype, fan_in=fan_in)
    raise EngineError(f"unknown bias initialiser {call.name!r}; known: {', '.join(BIAS_INITIALIZERS)}")
