"""``layerlab playground``: TensorFlow Playground in the browser, served by ``layerlab.playground.serve``."""

from __future__ import annotations

import argparse
from typing import Any

from ..playground import serve
from .flags import add_command


def add_parsers(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "playground",
        "TensorFlow Playground in the browser, trained by the numpy engine (the course's ten tasks as presets)",
        """
                layerlab playground                      (opens http://127.0.0.1:8765/)
                layerlab playground --port 9000 --no-browser
                layerlab playground --host 0.0.0.0       (share it on the network: anyone can use it)
                """,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    p.add_argument("--data-dir", help="the Images page: where MNIST and Fashion-MNIST are (mnist-small is built in)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    serve(args.host, args.port, open_browser=not args.no_browser, data_dir=args.data_dir)
    return 0
