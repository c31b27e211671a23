"""Datasets for the lab: MNIST, Fashion-MNIST, CIFAR-10, image folders and a small set shipped inside.

One call gives a :class:`Dataset` of plain NumPy arrays (images stay ``uint8``, labels ``int64``)::

    from layerlab.data import load
    data = load("mnist")            # local copy, else download (sha256-checked), cached as .npy
    print(data.describe())          # sizes and, in words, which files were used

``load("mnist-small")`` works offline: it is the MNIST test set embedded in the package. Files are
looked for in ``data_dir``, then ``$LAYERLAB_DATA``, then the per-user cache, before any download.
"""

from ..errors import DataError
from .catalog import DATASETS, data_dir_given, default_val, expected_files, load, task_of, works_offline
from .dataset import Dataset, Split

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "Split",
    "data_dir_given",
    "default_val",
    "expected_files",
    "load",
    "task_of",
    "works_offline",
]
