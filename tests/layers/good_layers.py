"""A correct solution of every `layerlab exercise`, written plainly (the grader's tests start from it)."""

import numpy as np


class Layer:
    def __init__(self, name):
        self.name = name
        self.params = {}
        self.buffers = {}


class MyDense(Layer):
    kind = "dense"

    def __init__(self, name, weight, bias=None):
        super().__init__(name)
        self.params["weight"] = weight
        if bias is not None:
            self.params["bias"] = bias

    def forward(self, x, args=None):
        self.x = x
        y = x @ self.params["weight"].T
        if "bias" in self.params:
            y = y + self.params["bias"]
        return y

    def backward(self, dy, args=None):
        grads = {"weight": dy.T @ self.x}
        if "bias" in self.params:
            grads["bias"] = dy.sum(axis=0)
        return dy @ self.params["weight"], grads


class MyReLU(Layer):
    kind = "relu"

    def forward(self, x, args=None):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dy, args=None):
        return dy * (self.x > 0)


class MySigmoid(Layer):
    kind = "sigmoid"

    def forward(self, x, args=None):
        e = np.exp(-np.abs(x))
        self.y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.y

    def backward(self, dy, args=None):
        return dy * self.y * (1 - self.y)


class MyTanh(Layer):
    kind = "tanh"

    def forward(self, x, args=None):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy, args=None):
        return dy * (1 - self.y**2)


class MySoftmaxCrossEntropy(Layer):
    kind = "softmax-ce"

    def forward(self, x, args=None):
        t = args["target"]
        shifted = x - x.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.p, self.t = np.exp(log_p), t
        return -log_p[np.arange(len(x)), t].mean()

    def backward(self, dy, args=None):
        d = self.p.copy()
        d[np.arange(len(d)), self.t] -= 1
        return dy * d / len(d)


class MyConv(Layer):
    kind = "conv"

    def __init__(self, name, weight, bias=None, stride=1, padding=0):
        super().__init__(name)
        self.params["weight"] = weight
        if bias is not None:
            self.params["bias"] = bias
        self.stride, self.padding = stride, padding

    def forward(self, x, args=None):
        w, s, p = self.params["weight"], self.stride, self.padding
        self.x_shape = x.shape
        self.xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        n, c, h, wd = self.xp.shape
        f, _, k, _ = w.shape
        ho, wo = (h - k) // s + 1, (wd - k) // s + 1
        y = np.zeros((n, f, ho, wo))
        for i in range(ho):
            for j in range(wo):
                patch = self.xp[:, :, i * s : i * s + k, j * s : j * s + k]
                y[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
        if "bias" in self.params:
            y = y + self.params["bias"][None, :, None, None]
        return y

    def backward(self, dy, args=None):
        w, s, p = self.params["weight"], self.stride, self.padding
        k = w.shape[2]
        dxp, dw = np.zeros_like(self.xp), np.zeros_like(w)
        for i in range(dy.shape[2]):
            for j in range(dy.shape[3]):
                patch = self.xp[:, :, i * s : i * s + k, j * s : j * s + k]
                dw += np.tensordot(dy[:, :, i, j], patch, axes=([0], [0]))
                dxp[:, :, i * s : i * s + k, j * s : j * s + k] += np.tensordot(dy[:, :, i, j], w, axes=([1], [0]))
        h, wd = self.x_shape[2:]
        grads = {"weight": dw}
        if "bias" in self.params:
            grads["bias"] = dy.sum(axis=(0, 2, 3))
        return dxp[:, :, p : p + h, p : p + wd], grads


class MyMaxPool(Layer):
    kind = "maxpool"

    def __init__(self, name, size, stride=None):
        super().__init__(name)
        self.size, self.stride = size, stride or size

    def forward(self, x, args=None):
        k, s = self.size, self.stride
        self.x = x
        ho, wo = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
        y = np.empty((*x.shape[:2], ho, wo))
        for i in range(ho):
            for j in range(wo):
                y[:, :, i, j] = x[:, :, i * s : i * s + k, j * s : j * s + k].max(axis=(2, 3))
        return y

    def backward(self, dy, args=None):
        k, s = self.size, self.stride
        dx = np.zeros_like(self.x)
        for i in range(dy.shape[2]):
            for j in range(dy.shape[3]):
                window = self.x[:, :, i * s : i * s + k, j * s : j * s + k]
                first = window.reshape(*window.shape[:2], k * k).argmax(axis=2)  # the first maximum
                mask = (np.arange(k * k) == first[:, :, None]).reshape(window.shape)
                dx[:, :, i * s : i * s + k, j * s : j * s + k] += mask * dy[:, :, i, j][:, :, None, None]
        return dx


class MyDropout(Layer):
    kind = "dropout"

    def __init__(self, name, p=0.5):
        super().__init__(name)
        self.p = p

    def forward(self, x, args=None):
        if not args["training"]:
            self.mask = None
            return x
        self.mask = (args["rng"].random(x.shape) >= self.p) / (1 - self.p)
        return x * self.mask

    def backward(self, dy, args=None):
        return dy if self.mask is None else dy * self.mask


class MyBatchNorm(Layer):
    kind = "batchnorm"

    def __init__(self, name, weight, bias, running_mean, running_var, momentum=0.1, eps=1e-5):
        super().__init__(name)
        self.params["weight"], self.params["bias"] = weight, bias
        self.buffers["running_mean"], self.buffers["running_var"] = running_mean, running_var
        self.momentum, self.eps = momentum, eps

    def forward(self, x, args=None):
        self.axes = (0,) if x.ndim == 2 else (0, 2, 3)
        self.shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
        self.training = args["training"]
        if self.training:
            mean, var = x.mean(axis=self.axes), x.var(axis=self.axes)
            m = x.size // mean.size
            self.buffers["running_mean"][...] = (1 - self.momentum) * self.buffers[
                "running_mean"
            ] + self.momentum * mean
            self.buffers["running_var"][...] = (1 - self.momentum) * self.buffers[
                "running_var"
            ] + self.momentum * var * m / (m - 1)
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        self.inv_std = 1 / np.sqrt(var + self.eps)
        self.x_hat = (x - mean.reshape(self.shape)) * self.inv_std.reshape(self.shape)
        return self.params["weight"].reshape(self.shape) * self.x_hat + self.params["bias"].reshape(self.shape)

    def backward(self, dy, args=None):
        grads = {"weight": (dy * self.x_hat).sum(axis=self.axes), "bias": dy.sum(axis=self.axes)}
        dx_hat = dy * self.params["weight"].reshape(self.shape)
        inv_std = self.inv_std.reshape(self.shape)
        if not self.training:
            return dx_hat * inv_std, grads
        m = dy.size // grads["bias"].size
        s1 = dx_hat.sum(axis=self.axes, keepdims=True)
        s2 = (dx_hat * self.x_hat).sum(axis=self.axes, keepdims=True)
        return (m * dx_hat - s1 - self.x_hat * s2) * inv_std / m, grads
