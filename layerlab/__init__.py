"""layerlab: see how deep learning works (the numpy engine), then run the experiments fast (the torch engine).

The model description is shared by both engines::

    from layerlab import parse
    spec = parse("input(1, 28, 28) conv(20, 5) relu maxpool(2) flatten dense(10)")
    print(spec.summary())
"""

from .spec import Spec, SpecError, layer, parse

__version__ = "0.1.0"
__all__ = ["Spec", "SpecError", "__version__", "layer", "parse"]
