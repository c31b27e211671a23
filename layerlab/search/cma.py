"""The CMA-ES sampler (Hansen & Ostermeier, 2001: the covariance matrix adaptation evolution strategy),
Optuna's ``CmaEsSampler`` on the ``cmaes`` package, made safe to share a study with.

CMA-ES moves a multivariate normal distribution over the numeric parameters (int, float, log ranges)
towards the better trials. It has no notion of a list of choices, so, as Optuna does, the ``choice``
parameters of a trial are drawn by an independent sampler (here, at random with the search's seed);
the report and the start line of the search say which parameters CMA-ES samples and which it does not.

Optuna keeps the CMA-ES state between trials as a pickle in the study's storage (a trial's system
attributes), which every worker unpickles. A pickle can run any code, and a shared storage (PostgreSQL)
is written by every machine of the search, so the state is read back here with an unpickler that builds
the ``cmaes`` optimiser classes and NumPy arrays and refuses anything else.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from .space import SearchDefinition

#: What a pickled ``cmaes`` optimiser (CMA, SepCMA, CMAwM) is made of, and nothing else.
ALLOWED = {
    ("cmaes._cma", "CMA"),
    ("cmaes._sepcma", "SepCMA"),
    ("cmaes._cmawm", "CMAwM"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),  # NumPy 1 spells the module so
    ("numpy.core.multiarray", "scalar"),
}


class _OptimizerUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"the stored CMA-ES state refers to {module}.{name}, which it never holds")
        return super().find_class(module, name)


def load_optimizer(data: bytes) -> Any:
    """A ``cmaes`` optimiser from its pickle, refusing any other object (``pickle.UnpicklingError``)."""
    return _OptimizerUnpickler(io.BytesIO(data)).load()


def split_space(definition: SearchDefinition) -> tuple[list[str], list[str]]:
    """(the parameters CMA-ES samples, the choices it leaves to the independent sampler)."""
    numeric = [name for name, param in definition.space.items() if param.kind != "choice"]
    return numeric, [name for name in definition.space if name not in numeric]


def describe(definition: SearchDefinition) -> str:
    """One sentence on what CMA-ES samples in this space."""
    numeric, choices = split_space(definition)
    if not choices:
        return f"CMA-ES samples every parameter ({', '.join(numeric)})."
    return (
        f"CMA-ES samples {', '.join(numeric)}; it handles numbers only, so {', '.join(choices)} "
        f"({'a choice' if len(choices) == 1 else 'choices'}) {'is' if len(choices) == 1 else 'are'} drawn at "
        "random, independently of the others (Optuna's fallback)."
    )


def cma_sampler(seed: int | None):
    """Optuna's CmaEsSampler, its stored state read back by ``load_optimizer``, its choices drawn at random
    with ``seed``, without a warning per trial about them (``describe`` says it once)."""
    import optuna
    from optuna.samplers import CmaEsSampler

    class SafeCmaEsSampler(CmaEsSampler):
        # Optuna's own _restore_optimizer (Optuna 5), with pickle.loads replaced by load_optimizer.
        def _restore_optimizer(self, completed_trials):
            for trial in reversed(completed_trials):
                attrs = {k: v for k, v in trial.system_attrs.items() if k.startswith(self._attr_key_optimizer)}
                if attrs:
                    return load_optimizer(bytes.fromhex(self._concat_optimizer_attrs(attrs)))
            return None

    random = optuna.samplers.RandomSampler(seed=seed)
    return SafeCmaEsSampler(seed=seed, independent_sampler=random, warn_independent_sampling=False)
