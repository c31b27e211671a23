"""A catalogue of realistic mistakes in the `layerlab exercise` layers, each an edit of good_layers.py.

Each belongs to a condition that a training run meets and that the grader must grade under:

- ``ties``: equal values inside a pooling window (after a ReLU, most windows hold several zeros);
- ``sizes``: input sizes that are not a multiple of the window or the stride;
- ``shared rng``: one random generator serves a dropout layer's forward and backward, as in training;
- ``kinks``: inputs exactly at the kink of a piecewise function (ReLU at 0);
- ``extreme``: very large or very negative inputs for every activation (e^x overflows past 709);
- ``hints``: mistakes whose hint the grader must get right, each next to a look-alike that must not get it.

``hint`` is a phrase the grader's message must contain (None: caught, with any message); ``not_hints``
are phrases it must not contain (the hint of a look-alike mistake).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mistake:
    name: str
    kind: str
    condition: str
    old: str
    new: str
    hint: str | None = None
    not_hints: tuple[str, ...] = field(default=())


FIRST_MAX = """                first = window.reshape(*window.shape[:2], k * k).argmax(axis=2)  # the first maximum
                mask = (np.arange(k * k) == first[:, :, None]).reshape(window.shape)
"""
POOL_ADD = "dx[:, :, i * s : i * s + k, j * s : j * s + k] += mask * dy[:, :, i, j][:, :, None, None]"
POOL_SIZE = "ho, wo = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1"
DROP_FORWARD = 'self.mask = (args["rng"].random(x.shape) >= self.p) / (1 - self.p)'
DROP_BACKWARD = "return dy if self.mask is None else dy * self.mask"
BN_TEST_BACKWARD = """        if not self.training:
            return dx_hat * inv_std, grads
"""
BN_TRAIN_BACKWARD = "return (m * dx_hat - s1 - self.x_hat * s2) * inv_std / m, grads"
TIE_WORDS = "the gradient goes to one of them only"
ADD_WORDS = "add them up (+=)"
FORGOT_DY = "local derivative dy/dx alone"
KINK_WORDS = "at x = 0 exactly the derivative is taken as 0"
OVERFLOW = "overflows"
UNDERFLOW = "underflowed"
THREE_TERMS = "three terms"
TEST_CONSTANTS = "at test time the mean and variance are the running averages"
PER_CHANNEL = "m is the number of values per channel"
UNBIASED = "unbiased variance"
PADDING = "the padding"

MISTAKES = [
    # --- equal values inside a pooling window ---
    Mistake(
        "maxpool-every-tie",
        "maxpool",
        "ties",
        FIRST_MAX,
        "                mask = window == window.max(axis=(2, 3), keepdims=True)\n",
        TIE_WORDS,
        (ADD_WORDS,),
    ),
    Mistake(
        "maxpool-tie-shared",
        "maxpool",
        "ties",
        FIRST_MAX,
        "                mask = window == window.max(axis=(2, 3), keepdims=True)\n"
        "                mask = mask / mask.sum(axis=(2, 3), keepdims=True)\n",
        None,
        (ADD_WORDS, TIE_WORDS),
    ),
    Mistake(
        "maxpool-tie-last",
        "maxpool",
        "ties",
        "first = window.reshape(*window.shape[:2], k * k).argmax(axis=2)",
        "first = k * k - 1 - window.reshape(*window.shape[:2], k * k)[..., ::-1].argmax(axis=2)",
        None,
        (ADD_WORDS,),
    ),
    # --- sizes that are not a multiple of the window or stride ---
    Mistake(
        "maxpool-ceil-size",
        "maxpool",
        "sizes",
        POOL_SIZE,
        "ho, wo = -(-(x.shape[2] - k) // s) + 1, -(-(x.shape[3] - k) // s) + 1",
        "is dropped",
    ),
    Mistake(
        "maxpool-reshape-trick",
        "maxpool",
        "sizes",
        "        self.x = x\n        ho, wo",
        "        self.x = x\n        if k == s:\n            n, c, h, w = x.shape\n"
        "            return x.reshape(n, c, h // k, k, w // k, k).max(axis=(3, 5))\n        ho, wo",
        "raised ValueError",
    ),
    Mistake(
        "conv-ceil-size",
        "conv",
        "sizes",
        "ho, wo = (h - k) // s + 1, (wd - k) // s + 1",
        "ho, wo = -(-(h - k) // s) + 1, -(-(wd - k) // s) + 1",
    ),
    Mistake(
        "maxpool-backward-ceil-loop",
        "maxpool",
        "sizes",
        "        for i in range(dy.shape[2]):\n            for j in range(dy.shape[3]):\n"
        "                window = self.x",
        "        for i in range(-(-(self.x.shape[2] - k) // s) + 1):\n"
        "            for j in range(-(-(self.x.shape[3] - k) // s) + 1):\n                window = self.x",
    ),
    # --- one generator for forward and backward ---
    Mistake(
        "dropout-backward-redraws",
        "dropout",
        "shared rng",
        DROP_BACKWARD,
        'return dy if self.mask is None else dy * (args["rng"].random(dy.shape) >= self.p) / (1 - self.p)',
        "backward drew a new mask",
    ),
    Mistake(
        "dropout-own-generator",
        "dropout",
        "shared rng",
        DROP_FORWARD,
        "self.mask = (np.random.default_rng(0).random(x.shape) >= self.p) / (1 - self.p)",
        "not the one args['rng'] gives",
        ("backward drew a new mask",),
    ),
    Mistake(
        "dropout-keeps-below-p",
        "dropout",
        "shared rng",
        DROP_FORWARD,
        'self.mask = (args["rng"].random(x.shape) < 1 - self.p) / (1 - self.p)',
        "not the one args['rng'] gives",
    ),
    Mistake(
        "dropout-drops-at-test",
        "dropout",
        "shared rng",
        '        if not args["training"]:\n            self.mask = None\n            return x\n',
        "",
        "drops nothing",
    ),
    # --- inputs exactly at a kink ---
    Mistake(
        "relu-derivative-1-at-0", "relu", "kinks", "return dy * (self.x > 0)", "return dy * (self.x >= 0)", KINK_WORDS
    ),
    Mistake(
        "relu-half-at-0",
        "relu",
        "kinks",
        "return dy * (self.x > 0)",
        "return dy * (np.sign(self.x) + 1) / 2",
        None,
        (KINK_WORDS, FORGOT_DY),
    ),
    Mistake(
        "relu-sign-derivative",
        "relu",
        "kinks",
        "return dy * (self.x > 0)",
        "return dy * np.maximum(np.sign(self.x), 0) + dy * (self.x == 0)",
        KINK_WORDS,
    ),
    # --- extreme inputs ---
    Mistake(
        "sigmoid-exp-x",
        "sigmoid",
        "extreme",
        "        e = np.exp(-np.abs(x))\n        self.y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))",
        "        self.y = np.exp(x) / (1 + np.exp(x))",
        OVERFLOW,
    ),
    Mistake(
        "sigmoid-backward-from-x",
        "sigmoid",
        "extreme",
        "        return dy * self.y * (1 - self.y)",
        "        x = np.log(self.y / (1 - self.y))\n        return dy * np.exp(-x) / (1 + np.exp(-x)) ** 2",
    ),
    Mistake(
        "tanh-from-exp",
        "tanh",
        "extreme",
        "        self.y = np.tanh(x)",
        "        self.y = (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))",
        OVERFLOW,
    ),
    Mistake(
        "tanh-from-sigmoid",
        "tanh",
        "extreme",
        "        self.y = np.tanh(x)",
        "        self.y = 2 * np.exp(2 * x) / (1 + np.exp(2 * x)) - 1",
        OVERFLOW,
    ),
    Mistake(
        "softmax-no-shift",
        "softmax-ce",
        "extreme",
        "shifted = x - x.max(axis=1, keepdims=True)",
        "shifted = x",
        OVERFLOW,
        (UNDERFLOW,),
    ),
    # --- hints next to their look-alikes ---
    Mistake(
        "batchnorm-test-backward-as-training",
        "batchnorm",
        "hints",
        BN_TEST_BACKWARD,
        "",
        TEST_CONSTANTS,
        (THREE_TERMS,),
    ),
    Mistake(
        "batchnorm-training-backward-as-test",
        "batchnorm",
        "hints",
        BN_TRAIN_BACKWARD,
        "return dx_hat * inv_std, grads",
        THREE_TERMS,
        (TEST_CONSTANTS,),
    ),
    Mistake(
        "batchnorm-count-N-forward",
        "batchnorm",
        "hints",
        "            m = x.size // mean.size\n",
        "            m = len(x)\n",
        PER_CHANNEL,
        (UNBIASED,),
    ),
    Mistake(
        "batchnorm-count-N-backward",
        "batchnorm",
        "hints",
        'm = dy.size // grads["bias"].size',
        "m = len(dy)",
        PER_CHANNEL,
        (THREE_TERMS,),
    ),
    Mistake(
        "batchnorm-biased-running-var",
        "batchnorm",
        "hints",
        "self.momentum * var * m / (m - 1)",
        "self.momentum * var",
        UNBIASED,
        (PER_CHANNEL,),
    ),
    Mistake(
        "relu-backward-without-dy",
        "relu",
        "hints",
        "return dy * (self.x > 0)",
        "return (self.x > 0).astype(float)",
        FORGOT_DY,
        (KINK_WORDS,),
    ),
    Mistake(
        "relu-backward-wrong-threshold",
        "relu",
        "hints",
        "return dy * (self.x > 0)",
        "return dy * (self.x > 0.5)",
        None,
        (FORGOT_DY, KINK_WORDS),
    ),
    Mistake(
        "sigmoid-backward-without-dy",
        "sigmoid",
        "hints",
        "return dy * self.y * (1 - self.y)",
        "return self.y * (1 - self.y)",
        FORGOT_DY,
    ),
    Mistake(
        "tanh-backward-wrong-derivative",
        "tanh",
        "hints",
        "return dy * (1 - self.y**2)",
        "return dy * (1 - self.y)",
        None,
        (FORGOT_DY,),
    ),
    Mistake(
        "conv-backward-unpadded-buffer",
        "conv",
        "hints",
        "dxp, dw = np.zeros_like(self.xp), np.zeros_like(w)",
        "dxp, dw = np.zeros(self.x_shape), np.zeros_like(w)",
        PADDING,
    ),
    Mistake(
        "conv-backward-wrong-axes",
        "conv",
        "hints",
        "np.tensordot(dy[:, :, i, j], w, axes=([1], [0]))",
        "np.tensordot(dy[:, :, i, j], w[:, :, ::-1], axes=([1], [0]))[:, :, :, :-1]",
        None,
        (PADDING,),
    ),
    Mistake(
        "conv-forward-unpadded",
        "conv",
        "hints",
        "self.xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))",
        "self.xp = x",
        "leaves out the padding",
    ),
    Mistake(
        "softmax-log-of-softmax",
        "softmax-ce",
        "hints",
        "log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
        "log_p = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))",
        UNDERFLOW,
        (OVERFLOW,),
    ),
    Mistake(
        "maxpool-assign-not-add",
        "maxpool",
        "hints",
        POOL_ADD,
        POOL_ADD.replace("+=", "="),
        ADD_WORDS,
        (TIE_WORDS,),
    ),
    Mistake(
        "batchnorm-test-forward-batch-stats",
        "batchnorm",
        "hints",
        '        else:\n            mean, var = self.buffers["running_mean"], self.buffers["running_var"]\n',
        "        else:\n            mean, var = x.mean(axis=self.axes), x.var(axis=self.axes)\n",
        "not the batch's statistics",
    ),
]
