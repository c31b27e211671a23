"""The playground served from a notebook's kernel: ``layerlab.playground()``.

The server runs in a background thread of the kernel (the notebook stays usable), the page shows in
the output cell as an ``<iframe>``, and the server stops with ``.stop()``, or with the kernel (a
daemon thread, and ``atexit``). On Colab, whose browser cannot reach the kernel's 127.0.0.1, the page
goes through Colab's own proxy (``google.colab.output.serve_kernel_port_as_iframe``).
"""

from __future__ import annotations

import atexit
import html
import socket
import sys
import threading
import time
from typing import Any

from ..errors import LayerlabError
from .protocol import LIMITS


class Playground:
    """A playground server running in this process: ``url``, ``port``, ``stop()``; shows the page in a notebook."""

    def __init__(self, server: Any, thread: threading.Thread, host: str, port: int, height: int):
        self.server, self.thread, self.host, self.port, self.height = server, thread, host, port, height
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        self.url = f"http://{shown if ':' not in shown else f'[{shown}]'}:{port}/"

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (the open pages lose their connection); does nothing when it is stopped."""
        self.server.should_exit = True
        if self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def __repr__(self) -> str:
        state = "serving" if self.running else "stopped"
        return f"layerlab playground: {self.url} ({state}; .stop() stops it)"

    def _repr_html_(self) -> str:
        if not self.running:
            return f"<p>layerlab playground at {html.escape(self.url)}: stopped</p>"
        url = html.escape(self.url)
        return (
            f'<iframe src="{url}" width="100%" height="{self.height}" style="border: 1px solid #ddd" '
            f'title="layerlab playground"></iframe>\n'
            f'<p>layerlab playground: <a href="{url}" target="_blank">{url}</a> (opens in a tab too); '
            "<code>.stop()</code> stops it, and so does restarting the kernel.</p>"
        )

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        if "google.colab" in sys.modules and self.running:  # the browser reaches the kernel through Colab only
            from google.colab import output  # type: ignore[import-not-found]

            output.serve_kernel_port_as_iframe(self.port, height=self.height)
            return
        display(HTML(self._repr_html_()))


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def start(host: str = "127.0.0.1", port: int | None = None, height: int = 860, timeout: float = 30.0) -> Playground:
    """Serve the playground from a background thread of this process; ``port`` None: a free one."""
    import uvicorn

    from .server import _check_port, create_app

    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise LayerlabError(f"port must be from 1 to 65535 (or None for a free one), got {port!r}")
    if isinstance(height, bool) or not isinstance(height, int) or height < 100:
        raise LayerlabError(f"height is the frame's height in pixels, at least 100, got {height!r}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: listening on {host}: anyone who can reach this machine can use the playground (and its CPU)",
            file=sys.stderr,
        )
    if port is None:
        port = free_port(host)
    else:
        _check_port(host, port)
    config = uvicorn.Config(
        create_app(embed=True), host=host, port=port, log_level="warning", ws_max_size=LIMITS["message_bytes"] + 1024
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"layerlab playground :{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise LayerlabError(f"the playground did not start on {host}:{port}; choose another port")
        time.sleep(0.02)
    playground = Playground(server, thread, host, port, height)
    atexit.register(playground.stop, 2.0)
    return playground
