"""The grader's cases: per layer kind, the input shapes and settings each class is run on.

Each case is a condition that training meets (a batch of 1, odd sizes, stride and padding where they
apply, training and test mode, inputs at a kink, ties in a pooling window, extreme values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Case:
    """One input shape and the layer's settings; ``params`` are drawn with these shapes.

    ``inputs`` says what the input holds, each a condition that training meets: ``"normal"`` values,
    ``"kinks"`` (many exact zeros, where ReLU bends), ``"ties"`` (equal values inside a pooling window, as
    after a ReLU) or ``"extreme"`` (|x| up to 1000, where e^x overflows). At kinks and ties finite
    differences mean nothing, so those cases compare with the engine only.
    """

    shape: tuple[int, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    params: dict[str, tuple[int, ...]] = field(default_factory=dict)
    training: bool = True
    scale: float = 1.0  # of the random input (large logits test the overflow)
    inputs: str = "normal"

    def describe(self) -> str:
        parts = [f"x of shape {self.shape}"] + [f"{k}={v}" for k, v in self.settings.items()]
        if len(self.params.get("weight", ())) > 1:  # dense and conv
            parts.append("with bias" if "bias" in self.params else "without bias")
        if not self.training:
            parts.append("test mode")
        parts.append(INPUT_WORDS[self.inputs])
        return ", ".join(p for p in parts if p)


INPUT_WORDS = {
    "normal": "",
    "kinks": "inputs exactly at the kink x = 0",
    "ties": "equal values inside the windows",
    "extreme": "extreme inputs (|x| up to 1000)",
}


def _dense(n: int, i: int, o: int, bias: bool = True) -> Case:
    return Case((n, i), {}, {"weight": (o, i), **({"bias": (o,)} if bias else {})})


def _conv(shape, f, k, stride, padding, bias=True) -> Case:
    return Case(
        shape,
        {"stride": stride, "padding": padding},
        {"weight": (f, shape[1], k, k), **({"bias": (f,)} if bias else {})},
    )


def _pool(shape, size, stride, inputs="normal") -> Case:
    return Case(shape, {"size": size, "stride": stride}, inputs=inputs)


def _bn(shape, training=True) -> Case:
    c = shape[1]
    return Case(shape, {"eps": 1e-5}, {"weight": (c,), "bias": (c,)}, training=training)


def _activation() -> list[Case]:
    return [Case((1, 5)), Case((4, 3)), Case((2, 3, 3, 3)), Case((3, 4), scale=400.0, inputs="extreme")]


CASES: dict[str, list[Case]] = {
    "dense": [_dense(1, 3, 4), _dense(5, 7, 3), _dense(2, 1, 1), _dense(3, 4, 2, bias=False)],
    "relu": [Case((1, 5)), Case((4, 3)), Case((2, 3, 5, 5)), Case((4, 5), inputs="kinks"), *_activation()[3:]],
    "sigmoid": _activation(),
    "tanh": _activation(),
    "softmax-ce": [Case((1, 3)), Case((5, 4)), Case((3, 10), scale=1000.0, inputs="extreme")],
    "conv": [
        _conv((1, 1, 5, 5), 2, 3, 1, 0),
        _conv((2, 3, 6, 7), 4, 3, 2, 1),
        _conv((3, 2, 5, 5), 1, 2, 1, 0, bias=False),
        _conv((1, 2, 4, 4), 3, 3, 1, 1),
        _conv((2, 2, 7, 6), 2, 3, 3, 0),  # the last row does not fit a stride: it is left out
        _conv((1, 1, 4, 5), 2, 2, 2, 2),
    ],
    "maxpool": [
        _pool((1, 1, 4, 4), 2, 2),
        _pool((2, 3, 5, 5), 2, 1),
        _pool((1, 2, 7, 7), 3, 2),
        _pool((2, 2, 5, 7), 2, 2),  # sizes not a multiple of the window: the last row and column are dropped
        _pool((2, 3, 6, 6), 2, 2, inputs="ties"),
        _pool((1, 2, 6, 6), 3, 2, inputs="ties"),
    ],
    "dropout": [Case((4, 6), {"p": 0.5}), Case((1, 3, 4, 4), {"p": 0.2}), Case((3, 5), {"p": 0.5}, training=False)],
    "batchnorm": [_bn((5, 3)), _bn((4, 2, 3, 3)), _bn((6, 3), training=False), _bn((3, 2, 2, 3), training=False)],
}
