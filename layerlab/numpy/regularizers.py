"""L1 and L2 weight penalties: a cost added to the loss that pulls the weights towards zero.

Nielsen, "Neural Networks and Deep Learning", ch. 3: with L1 the weights shrink by a constant amount
(lam * sign(w) per unit of learning rate), which leaves a few high-importance connections and zeroes the
rest; with L2 they shrink in proportion to w (lam * w), which keeps all weights small.

``value(w)`` is the penalty of one weight array and ``grad(w)`` its gradient, both with the ``lam``
given here and nothing else. Nielsen writes the L2-regularised cost over n training examples as

    C = C0 + lambda / (2 n) * sum_w w^2,

so for that form the trainer builds ``L2(lam=lambda / n)``: knowing n, and which arrays to penalise
(weights of dense and conv layers, not biases), is the trainer's business. The L2 gradient lam * w is
what the optimisers' ``weight_decay=lam`` adds to a gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EngineError


@dataclass(frozen=True)
class _Penalty:
    lam: float

    def __post_init__(self) -> None:
        if not self.lam >= 0:
            raise EngineError(f"{type(self).__name__}: the penalty strength lam must be >= 0, got {self.lam}")


class L1(_Penalty):
    """lam * sum |w|; gradient lam * sign(w) (0 at w = 0, the subgradient numpy's sign picks)."""

    def value(self, w: np.ndarray) -> float:
        return self.lam * float(np.abs(w).sum())

    def grad(self, w: np.ndarray) -> np.ndarray:
        return self.lam * np.sign(w)


class L2(_Penalty):
    """lam / 2 * sum w^2; gradient lam * w."""

    def value(self, w: np.ndarray) -> float:
        return self.lam / 2 * float(np.square(w).sum())

    def grad(self, w: np.ndarray) -> np.ndarray:
        return self.lam * w


@dataclass(frozen=True)
class Penalties:
    """Several penalties at once (L1 and L2 together: the "elastic net"): values and gradients add up."""

    terms: tuple[L1 | L2, ...]

    def value(self, w: np.ndarray) -> float:
        return sum(term.value(w) for term in self.terms)

    def grad(self, w: np.ndarray) -> np.ndarray:
        return sum(term.grad(w) for term in self.terms)


def weight_penalty(l1: float = 0.0, l2: float = 0.0, n: int = 1) -> Penalties | None:
    """Nielsen's regularised cost over n training examples: C0 + l1/n sum|w| + l2/(2n) sum w^2.

    Returns None when both strengths are 0 (no penalty at all).
    """
    terms = tuple(term for term, lam in ((L1(l1 / n), l1), (L2(l2 / n), l2)) if lam)
    return Penalties(terms) if terms else None
