"""``layerlab check my_layers.py``: grade layers you wrote yourself against the numpy engine.

Every class of the file with a ``kind`` (as ``layerlab exercise`` writes them) is run on several
cases (a batch of 1, odd sizes, stride and padding where they apply, training and test mode): its
forward against the engine's layer, its backward against the engine and against finite differences
of your own forward. A failure is explained in words you can act on (the shape is transposed, the
gradient is off by the batch size, the bias gradient is missing, forward changed its input in
place, ...). When all pass, a small MNIST model is trained with each of your layers in place of ours.

The package: ``cases.py`` (what each kind is run on), ``checks.py`` (running one case), ``hints.py``
(the words for a difference and the known mistakes' signatures), ``grade.py`` (a whole file, its report,
the training comparison).
"""

from .cases import CASES, Case
from .checks import check_case
from .grade import TRAIN_MODELS, ClassReport, check_file, render, train_comparison
from .hints import TOLERANCE, Failure, compare

__all__ = [
    "CASES",
    "TOLERANCE",
    "TRAIN_MODELS",
    "Case",
    "ClassReport",
    "Failure",
    "check_case",
    "check_file",
    "compare",
    "render",
    "train_comparison",
]
