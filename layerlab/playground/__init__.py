"""``layerlab playground``: TensorFlow Playground's page, trained by the numpy engine, in the browser.

Start it with ``layerlab playground`` (or ``serve()`` here). The page is TensorFlow Playground's
(playground.tensorflow.org, by Daniel Smilkov and Shan Carter): data sets, features, layers, activation,
learning rate, regularisation, the heat maps; the learning happens in this process, in the numpy
engine's own forward and backward passes. Beyond Playground: CSV upload, 3+ classes, export/import of the
model, a neuron's backpropagation explained, and the course's ten exercises as presets.

Modules: ``protocol`` checks everything the page sends, ``session`` trains one tab's network and makes
its frames, ``export`` writes the continuation config and snippet, ``tasks`` holds the presets, and
``server`` is the Starlette app. The Images page (``/images``): a network learning the digits on the torch
engine, live, and a canvas to draw one; ``image_protocol`` checks what it sends, ``images`` is its session.
"""

import sys
import types

from .protocol import LIMITS, ProtocolError, Settings
from .session import Session

__all__ = ["LIMITS", "ProtocolError", "Session", "Settings", "create_app", "serve", "start"]


def create_app(max_fps: float = 60.0, hosts: frozenset[str] | None = None, embed: bool = False):
    """The Starlette app (imported on demand: starlette is needed only to serve); see ``server.create_app``."""
    from .server import create_app as make

    return make(max_fps, hosts, embed)


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True, data_dir: str | None = None) -> None:
    from .server import serve as run

    run(host, port, open_browser, data_dir)


def start(host: str = "127.0.0.1", port: int | None = None, height: int = 860):
    """``layerlab.playground()``: serve the page from a background thread (a notebook shows it in a frame);
    returns a ``background.Playground`` with ``url`` and ``stop()``."""
    from .background import start as begin

    return begin(host, port, height)


class _CallableModule(types.ModuleType):
    """``layerlab.playground`` is this package and, called, ``start``: ``layerlab.playground()``."""

    def __call__(self, host: str = "127.0.0.1", port: int | None = None, height: int = 860):
        return start(host, port, height)


sys.modules[__name__].__class__ = _CallableModule
