"""Validation splits and the binary version of a classification set.

Choosing hyper-parameters on the test set would make the test score optimistic, so they are chosen on a
validation split carved out of the training data. Two ways are offered: Nielsen's fixed MNIST split
(:func:`nielsen_split`) and a seeded random fraction (:func:`random_split`). :func:`binary` turns a
multi-class problem into a two-class one ("digit 0 vs rest", or two chosen classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ..errors import DataError
from ..task import task_named
from .dataset import Dataset, Split

ClassRef = int | str


def nielsen_split(train: Split, val_size: int = 10_000) -> tuple[Split, Split]:
    """Nielsen's MNIST convention: the last ``val_size`` training images validate, the ones before train.

    On MNIST's 60,000 that is 50,000 for training and 10,000 for validation, the split of "Neural Networks
    and Deep Learning" (ch. 1); the official 10,000 test images stay the test set.
    """
    if not 0 < val_size < len(train):
        raise DataError(f"a validation split of {val_size:,} needs more than that many of the {len(train):,} images")
    return train.take(slice(0, len(train) - val_size)), train.take(slice(len(train) - val_size, None))


def random_split(train: Split, fraction: float, seed: int = 0) -> tuple[Split, Split]:
    """Hold out ``fraction`` of the images, drawn with ``seed``; both parts keep the original order.

    The size is ``round(fraction * n)``, at least one image when ``fraction > 0``; ``fraction == 0`` gives an
    empty validation split.
    """
    if not 0 <= fraction < 1:
        raise DataError(f"the validation fraction must be at least 0 and below 1 (e.g. 0.1), got {fraction}")
    size = max(round(fraction * len(train)), 1) if fraction > 0 else 0
    if size >= len(train):
        raise DataError(f"a validation fraction of {fraction} leaves no training images out of {len(train)}")
    held = np.zeros(len(train), bool)
    held[np.random.default_rng(seed).permutation(len(train))[:size]] = True
    return train.take(np.flatnonzero(~held)), train.take(np.flatnonzero(held))


def binary(
    dataset: Dataset, positive: ClassRef | Sequence[ClassRef] = 0, negative: ClassRef | Sequence[ClassRef] | None = None
) -> Dataset:
    """A two-class version: label 1 for the ``positive`` classes, 0 for the ``negative`` ones.

    By default the negative classes are all the others ("digit 0 vs rest"); otherwise images of classes in
    neither list are dropped from every split. Classes are given by index or by name. The class names
    become ``(negative, positive)``, e.g. ``("not 0", "0")`` or ``("3", "5")``.
    """
    if not task_named(dataset.task).has_classes or not dataset.classes:
        raise DataError(f"{dataset.name} is not a classification set with named classes; binary() needs one")
    pos = _class_indices(dataset, positive)
    neg = _class_indices(dataset, negative) if negative is not None else []
    if not pos or (negative is not None and not neg):
        raise DataError("binary() needs at least one positive and (when given) one negative class")
    if set(pos) & set(neg):
        raise DataError(f"classes {sorted(set(pos) & set(neg))} are both positive and negative; give each once")
    pos_name = "/".join(dataset.classes[i] for i in pos)
    neg_name = "/".join(dataset.classes[i] for i in neg) if neg else f"not {pos_name}"
    kept = pos + neg if neg else list(range(dataset.num_classes))

    def relabel(split: Split) -> Split:
        keep = np.isin(split.y, kept)
        x, y = (split.x, split.y) if keep.all() else (split.x[keep], split.y[keep])
        return Split(x, np.isin(y, pos).astype(np.int64))

    versus = f"{pos_name} vs {neg_name if neg else 'rest'}"
    return replace(
        dataset,
        name=f"{dataset.name} ({versus})",
        train=relabel(dataset.train),
        val=relabel(dataset.val),
        test=relabel(dataset.test),
        classes=(neg_name, pos_name),
        source=f"{dataset.source}; made binary: {pos_name} (label 1) vs {neg_name if neg else 'the rest'} (label 0)",
        info={**dataset.info, "binary": {"positive": pos, "negative": neg or "rest"}},
    )


def _class_indices(dataset: Dataset, refs: ClassRef | Sequence[ClassRef]) -> list[int]:
    """Class indices from indices or names, in the order given."""
    refs = list(refs) if isinstance(refs, Sequence) and not isinstance(refs, str) else [refs]
    indices = []
    for ref in refs:
        if isinstance(ref, str) and ref in dataset.classes:
            indices.append(dataset.classes.index(ref))
        elif str(ref).isdigit() and int(ref) < dataset.num_classes:
            indices.append(int(ref))
        else:
            raise DataError(
                f"{dataset.name} has no class {ref!r}; give an index below {dataset.num_classes} or one of "
                f"{', '.join(dataset.classes)}"
            )
    return list(dict.fromkeys(indices))
