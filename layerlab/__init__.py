"""layerlab: see how deep learning works (the numpy engine), then run the experiments fast (the torch engine).

The model description is shared by both engines::

    from layerlab import parse
    spec = parse("input(1, 28, 28) conv(20, 5) relu maxpool(2) flatten dense(10)")
    print(spec.summary())

Training, from a notebook::

    import layerlab
    run = layerlab.fit(model="dense(100) sigmoid dense(10)", data="mnist-small", epochs=3)
    run.result.test_accuracy

Every command of the command line is a function too (``layerlab.commands``), and what they return
shows itself in a notebook::

    lab = layerlab.run("lab4a", quick=True)    # the report: table, verdicts, figures
    layerlab.explain()                         # backpropagation number by number
    layerlab.playground()                      # TensorFlow Playground in the output cell

A hook (``layerlab.Hook``, see ``layerlab.hooks``) sees every epoch and step and can stop the run::

    class StopAt(layerlab.Hook):
        def on_epoch_end(self, loop, row):
            if row["val_accuracy"] > 0.95:
                loop.stop("target_reached", "95% validation accuracy")

    layerlab.fit(model="dense(100) sigmoid dense(10)", hooks=[StopAt()]).result.status  # "target_reached"
"""

from .spec import Spec, SpecError, layer, parse

__version__ = "0.1.0"
__all__ = [
    "Experiment",
    "Hook",
    "LiveCurve",
    "Spec",
    "SpecError",
    "__version__",
    "check",
    "ensemble",
    "evaluate",
    "check",
    "exercise",
    "explain",
    "fit",
    "gradcheck",
    "layer",
    "load",
    "lr_find",
    "notebook",
    "parse",
    "playground",
    "plot",
    "report",
    "run",
    "search",
    "tune",
]

_API = ("fit", "load", "ensemble", "evaluate", "gradcheck", "Run")
_COMMANDS = ("run", "tune", "lr_find", "exercise", "check", "notebook", "plot", "Experiment")
_CALLABLE_MODULES = ("search", "report", "explain", "playground")  # a package or module that is also a function


def __getattr__(name: str):
    """The training API is imported on first use, so ``import layerlab`` stays light (no torch)."""
    if name in _API:
        from . import api

        return getattr(api, name)
    if name in _COMMANDS:
        from . import commands

        return getattr(commands, name)
    if name == "Hook":
        from .hooks import Hook

        return Hook
    if name == "LiveCurve":
        from .live import LiveCurve

        return LiveCurve
    if name in _CALLABLE_MODULES:  # e.g. the package layerlab/search, callable: layerlab.search("search-mlp")
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'layerlab' has no attribute {name!r}")
