"""Backpropagation number by number: one forward pass, one backward pass and one update of a small
dense network, every value read from the numpy engine, for one example or a batch (up to 8: each
example's values carry its number, [1], [2], ...; the error is their mean and each gradient the sum over
the batch of the examples' error signal times input). A dense layer may be followed by maxout(k): each
neuron is the largest of its k pieces (rows h1.1, h1.2, ... of the dense layer), and its error signal goes
to the piece that won.

With no arguments ``trace()`` is Matt Mazur's "A Step by Step Backpropagation Example" (the 2-2-2
logistic network with inputs 0.05/0.10, targets 0.01/0.99, weights w1..w8, biases 0.35/0.60 that stay
fixed, learning rate 0.5), in his order and with his names: net_h1, out_h1, E_total, dE_total/dw5 as
the product dE_total/dout_o1 x dout_o1/dnet_o1 x dnet_o1/dw5, w5+, ...

Nothing is re-derived on the side: every value is read from the engine's recorded pass
(``Model.recorded_pass``: each layer's input, output and dE/d(output)). The net input e of a neuron is
the output of the engine's dense layer, y = f(e) the output of its activation layer, the error signal
d = dE/de what the activation's ``backward`` returns, dE/dy what reaches it from above, f'(e) the
activation's ``backward`` applied to ones (its cached local derivative), dE/dw the dense layer's
``grads``, and the updated weights are what the engine's SGD optimiser writes (a parameter declared
``bias=fixed`` is not moved).

``Trace.to_dict()`` is the JSON form: per neuron e, y, dE/dy, f'(e), d and its incoming weights with
their gradients and updated values (what a web page's neuron panel shows), and the ordered steps.
"""

import sys
import types
from typing import Any

from .reading import ACTIVATIONS, MAX_BATCH, MAX_PARAMETERS, ExplainError, read_weights
from .rendering import RENDERERS, Step, Trace, num, render_html, render_json, render_markdown, render_text
from .tracing import MAZUR_MODEL, MAZUR_WEIGHTS, trace

__all__ = [
    "ACTIVATIONS",
    "MAX_BATCH",
    "MAX_PARAMETERS",
    "MAZUR_MODEL",
    "MAZUR_WEIGHTS",
    "RENDERERS",
    "ExplainError",
    "Step",
    "Trace",
    "num",
    "read_weights",
    "render_html",
    "render_json",
    "render_markdown",
    "render_text",
    "trace",
]


class _CallableModule(types.ModuleType):
    """``layerlab.explain`` is this module and, called, ``trace``: ``layerlab.explain()`` is Mazur's example."""

    def __call__(self, *args: Any, **kwargs: Any) -> Trace:
        return trace(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
