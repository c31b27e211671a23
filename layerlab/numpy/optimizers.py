"""Gradient-descent optimisers, with the defaults and update rules of ``torch.optim``.

Every optimiser has ``step(params, grads)``, which updates each array of ``params`` in place from the
gradient of the same name in ``grads``. Per-parameter state (momentum buffers, running averages) is
kept under that name, so the model passes its flat names (``"0.weight"``, ``"3.bias"``).

In the formulas below, g is the gradient, w the parameter, lr the learning rate and t the step
count. A ``weight_decay`` lam first turns g into g + lam * w, as torch does (the gradient of an L2
penalty lam/2 * |w|^2). ``lr`` is a plain attribute: a scheduler may change it between steps.

``state_dict()`` returns a flat dict of numpy arrays and numbers (``"0.weight.exp_avg"``, ...,
and ``"lr"``) that ``load_state_dict`` takes back, so a checkpoint can store it as it stores weights.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from functools import partial

import numpy as np

from ..errors import EngineError

Number = int | float
State = dict[str, np.ndarray | Number]


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise EngineError(message)


class Optimizer:
    """Base class: applies weight decay, keeps state per parameter name, and saves/loads it.

    A subclass lists its per-parameter state in ``state_names`` (all start at zero) and implements
    ``update(w, g, state)``, which changes w in place.
    """

    state_names: tuple[str, ...] = ()

    def __init__(self, lr: float, weight_decay: float = 0.0):
        name = type(self).__name__
        _require(lr > 0, f"{name}: the learning rate lr must be > 0, got {lr}")
        _require(weight_decay >= 0, f"{name}: weight_decay must be >= 0, got {weight_decay}")
        self.lr = lr
        self.weight_decay = weight_decay
        self.state: dict[str, State] = {}

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """One update of every parameter in ``params`` (in place) from its gradient in ``grads``."""
        for key, w in params.items():
            if key not in grads:
                raise EngineError(f"no gradient for parameter {key!r}: run the backward pass before step()")
            g = grads[key]
            if g.shape != w.shape:
                raise EngineError(f"gradient of {key!r} has shape {g.shape}, the parameter has {w.shape}")
            if self.weight_decay:
                g = g + self.weight_decay * w
            if key not in self.state:
                self.state[key] = {name: 0 if name == "step" else np.zeros_like(w) for name in self.state_names}
            self.update(w, g, self.state[key])

    def update(self, w: np.ndarray, g: np.ndarray, state: State) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray | Number]:
        """Copies of the state, flat: ``{"lr": ..., "<parameter>.<state name>": ...}``."""
        flat: dict[str, np.ndarray | Number] = {"lr": self.lr}
        for key, state in self.state.items():
            for name, value in state.items():
                flat[f"{key}.{name}"] = value.copy() if isinstance(value, np.ndarray) else value
        return flat

    def load_state_dict(self, flat: Mapping[str, np.ndarray | Number]) -> None:
        """Take back what ``state_dict`` gave (0-d arrays are read as numbers)."""
        state: dict[str, State] = {}
        for full_name, value in flat.items():
            if full_name == "lr":
                continue
            key, _, name = full_name.rpartition(".")
            if name not in self.state_names:
                raise EngineError(
                    f"{type(self).__name__} has no state {full_name!r} (its state per parameter: "
                    f"{', '.join(self.state_names) or 'none'}); was the checkpoint written by another optimiser?"
                )
            value = np.asarray(value)
            state.setdefault(key, {})[name] = value.copy() if value.ndim else value.item()
        self.state = state
        if "lr" in flat:
            self.lr = float(np.asarray(flat["lr"]))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={getattr(self, k)!r}" for k in inspect.signature(type(self)).parameters)
        return f"{type(self).__name__}({options})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (Qian 1999) or Nesterov momentum.

        plain:     w <- w - lr * g
        momentum:  v <- mu * v + g;         w <- w - lr * v
        Nesterov:  v <- mu * v + g;         w <- w - lr * (g + mu * v)

    v starts at 0, so the first step is a plain one (torch starts v at g, the same thing).
    """

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        _require(momentum >= 0, f"SGD: momentum must be >= 0, got {momentum}")
        _require(not nesterov or momentum > 0, "SGD: nesterov=True needs a momentum > 0, e.g. momentum=0.9")
        self.momentum = momentum
        self.nesterov = nesterov
        self.state_names = ("momentum_buffer",) if momentum else ()

    def update(self, w: np.ndarray, g: np.ndarray, state: State) -> None:
        if not self.momentum:
            w -= self.lr * g
            return
        mu = self.momentum
        state["momentum_buffer"] = v = mu * state["momentum_buffer"] + g
        w -= self.lr * (g + mu * v if self.nesterov else v)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011): each weight's step shrinks with the sum of its squared gradients.

    s <- s + g^2;   w <- w - lr * g / (sqrt(s) + eps)
    """

    state_names = ("sum",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        _require(eps >= 0, f"Adagrad: eps must be >= 0, got {eps}")
        self.eps = eps

    def update(self, w: np.ndarray, g: np.ndarray, state: State) -> None:
        state["sum"] = s = state["sum"] + g**2
        w -= self.lr * g / (np.sqrt(s) + self.eps)


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012): the step has the units of w, from running averages of g^2 and step^2.

    E[g^2]  <- rho * E[g^2]  + (1 - rho) * g^2
    dw      =  sqrt(E[dw^2] + eps) / sqrt(E[g^2] + eps) * g
    E[dw^2] <- rho * E[dw^2] + (1 - rho) * dw^2
    w       <- w - lr * dw
    """

    state_names = ("square_avg", "acc_delta")

    def __init__(self, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        _require(0 <= rho <= 1, f"Adadelta: rho must be in [0, 1], got {rho}")
        _require(eps >= 0, f"Adadelta: eps must be >= 0, got {eps}")
        self.rho = rho
        self.eps = eps

    def update(self, w: np.ndarray, g: np.ndarray, state: State) -> None:
        rho, eps = self.rho, self.eps
        state["square_avg"] = square_avg = rho * state["square_avg"] + (1 - rho) * g**2
        dw = np.sqrt(state["acc_delta"] + eps) / np.sqrt(square_avg + eps) * g
        state["acc_delta"] = rho * state["acc_delta"] + (1 - rho) * dw**2
        w -= self.lr * dw


class RMSprop(Optimizer):
    """RMSprop (Hinton): divide the gradient by a running root mean square of recent gradients.

    E[g^2] <- alpha * E[g^2] + (1 - alpha) * g^2
    plain:     w <- w - lr * g / (sqrt(E[g^2]) + eps)
    momentum:  v <- mu * v + g / (sqrt(E[g^2]) + eps);   w <- w - lr * v
    """

    def __init__(
        self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8, momentum: float = 0.0, weight_decay: float = 0.0
    ):
        super().__init__(lr, weight_decay)
        _require(0 <= alpha <= 1, f"RMSprop: alpha must be in [0, 1], got {alpha}")
        _require(eps >= 0, f"RMSprop: eps must be >= 0, got {eps}")
        _require(momentum >= 0, f"RMSprop: momentum must be >= 0, got {momentum}")
        self.alpha = alpha
        self.eps = eps
        self.momentum = momentum
        self.state_names = ("square_avg", "momentum_buffer") if momentum else ("square_avg",)

    def update(self, w: np.ndarray, g: np.ndarray, state: State) -> None:
        alpha = self.alpha
        state["square_avg"] = square_avg = alpha * state["square_avg"] + (1 - alpha) * g**2
        scaled = g / (np.sqrt(square_avg) + self.eps)
        if self.momentum:
            state["momentum_buffer"] = scaled = self.momentum * state["momentum_buffer"] + scaled
        w -= self.lr * scaled


class Adam(Optimizer):
    """Adam (Kingma & Ba 2014): momentum on g and RMSprop on g^2, both corrected for starting at 0.

    t <- t + 1
    m <- beta1 * m + (1 - beta1) * g          m_hat = m / (1 - beta1^t)
    v <- beta2 * v + (1 - beta2) * g^2        v_hat = v / (1 - beta2^t)
    w <- w - lr * m_hat / (sqrt(v_hat) + eps)
    """

    state_names = ("step", "exp_avg", "exp_avg_sq")

    def __init__(
        self,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(lr, weight_decay)
        _require(
            len(betas) == 2 and all(0 <= b < 1 for b in betas),
            f"Adam: betas must be two numbers in [0, 1), got {betas}",
        )
        _require(eps >= 0, f"Adam: eps must be >= 0, got {eps}")
        self.betas = tuple(betas)
        self.eps = eps

    def update(self, w: np.ndarray, g: np.ndarray, state: State) -> None:
        beta1, beta2 = self.betas
        state["step"] = t = state["step"] + 1
        state["exp_avg"] = m = beta1 * state["exp_avg"] + (1 - beta1) * g
        state["exp_avg_sq"] = v = beta2 * state["exp_avg_sq"] + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        w -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


#: Optimisers by name; "momentum" and "nesterov" are SGD with momentum 0.9 (override with momentum=...).
OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": SGD,
    "momentum": partial(SGD, momentum=0.9),
    "nesterov": partial(SGD, momentum=0.9, nesterov=True),
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "rmsprop": RMSprop,
    "adam": Adam,
}


def make_optimizer(name: str, lr: float | None = None, **options) -> Optimizer:
    """The optimiser called ``name``, with its own default learning rate unless ``lr`` is given."""
    if name not in OPTIMIZERS:
        raise EngineError(f"unknown optimiser {name!r}; known: {', '.join(OPTIMIZERS)}")
    factory = OPTIMIZERS[name]
    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(options) - set(accepted) | ({"lr"} & set(options)))
    if unknown:
        raise EngineError(f"{name} has no option {', '.join(unknown)}; its options are: {', '.join(accepted)}")
    if lr is None:
        if accepted["lr"].default is inspect.Parameter.empty:
            raise EngineError(f"{name} has no default learning rate: pass one, e.g. make_optimizer({name!r}, lr=0.1)")
        return factory(**options)
    return factory(lr=lr, **options)
