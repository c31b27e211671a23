"""Does the model's output fit the data and the loss? Checked before training, so a mismatch is one line
that says which last layer or ``--loss`` to use, not a crash inside the loss (or, worse, a model that
trains with 10 outputs for 2 classes and fails only at ``predict``).

The rules, for a dataset of C classes: ``cross_entropy`` (softmax from logits) and ``nll`` (of
probabilities: the model ends with ``softmax``) need C outputs; ``bce`` (a sigmoid per output, from
logits) and the squared errors ``mse``/``sse`` take C outputs (one-hot targets) or, for two classes, one
output (the target is the class index, 0 or 1). A regression set needs one output per target and a
squared error.

The weights a run starts from (``init_weights``) are checked too: a ``.safetensors`` file whose names and
shapes are the model's, every value finite.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import safetensors

from .data.dataset import Dataset
from .errors import LayerlabError
from .spec import Spec
from .task import task_named
from .weights import WeightsError, read_safetensors

PER_CLASS = ("cross_entropy", "nll")
SQUARED = ("mse", "sse")


class OutputError(LayerlabError):
    """A model whose output does not fit the dataset's classes or the loss."""


def check_output(spec: Spec, dataset: Dataset, loss: str) -> None:
    """Raise an ``OutputError`` saying what to change when ``spec``'s output does not fit ``dataset`` and ``loss``."""
    resolved = spec.resolve(dataset.input_shape)
    shape = resolved[-1].output_shape
    weighted = [r for r in resolved if r.layer.kind in ("dense", "conv")]
    last = f"layer {weighted[-1].index + 1} `{weighted[-1].layer}`" if weighted else "the model"
    if len(shape) != 1:
        raise OutputError(f"the model ends with shape {shape}, not a vector of outputs; end it with flatten dense(N)")
    width = shape[0]
    if not task_named(dataset.task).has_classes:  # a number (or several) per example
        targets = dataset.train.y.shape[1] if dataset.train.y.ndim == 2 else 1
        if loss not in SQUARED:
            raise OutputError(
                f"{dataset.name} is a regression set (a number per point): use --loss mse or sse, not {loss}"
            )
        if width != targets:
            raise OutputError(
                f"{last} gives {width} outputs but {dataset.name} has {targets} target(s) per point; "
                f"end the model with dense({targets})"
            )
        return
    classes = dataset.num_classes
    if not classes:
        return
    names = ", ".join(dataset.classes[:4]) + (", ..." if classes > 4 else "")
    data = f"{dataset.name} has {classes} classes ({names})"
    if loss in PER_CLASS and width == 1 and classes == 2:
        raise OutputError(
            f"{last} gives 1 output but --loss {loss} needs one per class ({data}): use --loss bce "
            "for a single output (it applies the sigmoid itself: drop a final sigmoid), or end the "
            "model with dense(2)"
        )
    if loss in PER_CLASS and width != classes:
        other = " (or dense(1) with --loss bce)" if classes == 2 else ""
        raise OutputError(
            f"{last} gives {width} outputs but {data} and --loss {loss} needs one per class: end the "
            f"model with dense({classes}){other}"
        )
    if loss not in PER_CLASS and width != classes and not (width == 1 and classes == 2):
        one = " or dense(1)" if classes == 2 else ""
        raise OutputError(f"{last} gives {width} output(s) but {data}: end the model with dense({classes}){one}")
    if loss == "nll" and resolved[-1].layer.kind != "softmax":
        raise OutputError(
            "--loss nll takes probabilities: end the model with softmax, or use --loss cross_entropy "
            "(which applies the softmax itself)"
        )


#: A loss that applies its own squashing function, and the last layer that would then be applied twice.
SQUASHES = {"cross_entropy": "softmax", "bce": "sigmoid"}


def output_warnings(spec: Spec, loss: str) -> list[str]:
    """What trains, but worse than it should: a model ending with the squashing function its loss applies
    again (the Keras habit ``dense(10) softmax`` with the default cross-entropy: a softmax of probabilities,
    whose gradients are squashed; about 85% instead of 95% on MNIST)."""
    last = spec.layers[-1].kind if spec.layers else ""
    if SQUASHES.get(loss) != last:
        return []
    if loss == "cross_entropy":
        return [
            "the model ends with softmax and --loss cross_entropy applies the softmax itself, so it takes a "
            "softmax of probabilities and trains slowly; drop the final softmax (cross_entropy takes the scores), "
            "or keep it with --loss nll"
        ]
    return [
        "the model ends with sigmoid and --loss bce applies the sigmoid itself, so it takes a sigmoid of "
        "probabilities and trains slowly; drop the final sigmoid (bce takes the scores)"
    ]


def _names(names: list[str], where: dict[str, str]) -> str:
    shown = [f"{name} ({where[name]})" if name in where else name for name in names[:6]]
    return ", ".join(shown) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def initial_weights(path: str | os.PathLike, spec: Spec) -> dict[str, np.ndarray]:
    """The weights a run starts from: a ``.safetensors`` file (never a pickle) whose names and shapes are
    exactly the parameters and buffers of ``spec`` (with its input shape), every value finite. Anything
    else is a ``WeightsError`` of one line naming the file, the weight, its layer and the fix."""
    path = Path(path)
    flag = f"--init-weights {path}"
    if not path.is_file():
        raise WeightsError(
            f"{flag}: no such file; give a run's best.safetensors or last.safetensors, or a Playground export"
        )
    try:
        state, metadata = read_safetensors(path)
    except (safetensors.SafetensorError, ValueError, OSError) as e:
        raise WeightsError(
            f"{flag} is not a readable .safetensors file ({type(e).__name__}: {e}); it may be truncated or "
            "corrupt: copy or export it again"
        ) from None
    needed, where = {}, {}
    for layer in spec.resolve():
        for name, shape in (*layer.params.items(), *layer.buffers.items()):
            key = f"{layer.index}.{name}"
            needed[key], where[key] = tuple(shape), f"layer {layer.index + 1} {layer.layer}"
    saved = f"saved from `{metadata['spec']}`" if "spec" in metadata else "saved from another model"
    fix = f"train the model it was saved from, or give weights saved from `{spec}`"
    missing = [name for name in needed if name not in state]
    if missing:
        raise WeightsError(f"{flag} lacks {_names(missing, where)} of `{spec}` ({saved}); {fix}")
    extra = sorted(set(state) - set(needed))
    if extra:
        raise WeightsError(f"{flag} has weights `{spec}` does not: {_names(extra, where)} ({saved}); {fix}")
    for name, shape in needed.items():
        if state[name].shape != shape:
            raise WeightsError(
                f"{flag}: {name} of {where[name]} has shape {state[name].shape} in the file but the model needs "
                f"{shape} ({saved}); {fix}"
            )
        if state[name].dtype.kind not in "biuf" or not np.isfinite(state[name]).all():
            raise WeightsError(
                f"{flag}: {name} of {where[name]} holds values that are not finite numbers; "
                "start from the weights of a run that did not diverge"
            )
    return state
