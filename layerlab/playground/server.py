"""The playground's web server: the page, the task presets, and one training session per WebSocket.

Starlette serves the static page (``static/``: plain HTML, CSS and JavaScript, no build step, nothing
from the network) and ``/ws``, where each connection (a browser tab) gets its own ``Session``. Training
runs in a worker thread, a frame at a time, while the connection keeps reading messages: a control
change waits at most for the frame in progress, then the session answers it with a new frame at once.
Closing the tab ends the connection, and with it the training loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ..errors import LayerlabError
from . import tasks
from .image_protocol import DATASETS, IMAGE_LIMITS, image_settings_from, parse_image_message, presets
from .protocol import LIMITS, Message, pack_frame, parse_csv, parse_message, settings_from
from .session import Session

STATIC = Path(__file__).parent / "static"
FRAME_BUDGET = 0.025  # seconds of training per frame at most: with the frame itself (~30 ms for the largest
# network, 10 x 32 on 2,000 points) over 15 frames a second on one core; it trains part of an epoch a frame
IMAGE_FRAME_BUDGET = 0.045  # the Images page: training per frame (a frame's maps and filters take a few ms more;
# measuring the validation and test sets is spread out, see images.py): over 10 view updates a second
ACK_TIMEOUT = 1.0  # seconds the training loop waits for the page to draw a frame: a page that never
# acknowledges (a script, a hidden tab) still gets a frame a second
log = logging.getLogger("layerlab.playground")
CONNECTIONS: set[Connection] = set()  # the open tabs (the tests check that a closed one is gone)

HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class Connection:
    """One tab: its session, a training loop task, and the messages it sends."""

    parse = staticmethod(parse_message)  # the page's messages, checked

    def __init__(self, websocket: WebSocket, max_fps: float):
        self.websocket = websocket
        self.session = self.new_session()
        self.min_interval = 1 / max_fps
        self.playing = False
        self.wake = asyncio.Event()
        self.acked = asyncio.Event()
        self.unacked = 0  # training frames sent and not yet drawn (acknowledged) by the page
        self.made: dict[str, Any] | None = None  # a training frame made and not yet sent (see ``flush``)
        self.lock = asyncio.Lock()  # one session operation at a time
        self.send_lock = asyncio.Lock()

    def new_session(self) -> Any:
        return Session()

    @property
    def open(self) -> bool:
        connected = WebSocketState.CONNECTED
        return self.websocket.application_state == connected and self.websocket.client_state == connected

    async def send(self, message: dict[str, Any]) -> None:
        """JSON text; a message with byte strings in it (a frame's heat maps) as one binary message."""
        async with self.send_lock:
            if any(isinstance(value, bytes) for value in message.values()):
                await self.websocket.send_bytes(pack_frame(message))
            else:
                await self.websocket.send_text(json.dumps(message, allow_nan=False))

    def error(self, text: str) -> dict[str, Any]:
        """An error frame; it carries the settings in force, so the page can put its controls back."""
        return {"type": "error", "message": text, "settings": self.session.settings.to_json()}

    async def run_in_thread(self, function, *args):
        return await anyio.to_thread.run_sync(function, *args)

    async def run(self) -> None:
        self.trainer = trainer = asyncio.create_task(self.train_loop())
        CONNECTIONS.add(self)
        try:
            await self.send(self.session.data_message())
            await self.send(self.session.frame())
            while True:
                raw = await self.websocket.receive()
                if raw["type"] == "websocket.disconnect":
                    break
                text = raw.get("text")
                try:
                    await self.handle(self.parse(text if text is not None else raw.get("bytes")))
                except WebSocketDisconnect:
                    raise
                except (LayerlabError, ValueError) as e:  # checks, and the engine's words for bad input
                    await self.send(self.error(str(e)))
                except Exception:  # a bug: in the server log, an error frame, and the session goes on
                    if not self.open:  # the tab went away while its answer was being made: not a bug
                        break
                    log.exception("playground message failed")
                    await self.send(self.error("internal error (see the server log)"))
        except WebSocketDisconnect:
            pass
        finally:
            CONNECTIONS.discard(self)
            self.playing = False
            trainer.cancel()
            try:
                await trainer
            except (asyncio.CancelledError, Exception):  # the loop's own failure was logged there
                pass

    async def handle(self, message: Message) -> None:
        kind = message.type
        if kind == "ack":
            self.unacked = max(0, self.unacked - 1)
            self.acked.set()
            return
        if kind == "play":
            self.playing = True
            self.wake.set()
            return
        if kind in ("pause", "step"):
            self.playing = False
            self.wake.clear()
        async with self.lock:
            await self.answer(message)

    async def answer(self, message: Any) -> None:
        """A message other than play and ack, answered while no training frame is in progress: an import
        or an export (both pages), else the page's own (``answer_page``); then a frame, unless answered."""
        kind, session = message.type, self.session
        await self.flush()  # a training frame made before this message goes first, as if sent at once
        if kind == "import":
            await self.run_in_thread(session.import_weights, message.weights)
            await self.send(session.data_message())
        elif kind == "export":
            await self.send(await self.run_in_thread(session.export))
            return
        elif await self.answer_page(message):
            return
        await self.send(await self.run_in_thread(session.frame, self.playing))

    async def answer_page(self, message: Any) -> bool:
        """The 2-D page's own messages; True when the answer is complete (no frame follows)."""
        kind, session = message.type, self.session
        if kind == "config":
            settings = settings_from(message.settings, session.settings)
            changed = await self.run_in_thread(session.configure, settings, message.rev)
            if changed["data"]:
                await self.send(session.data_message())
        elif kind == "step":
            await self.run_in_thread(session.advance, 1)
        elif kind == "explain":
            session.select(message.neuron)
        elif kind == "edit":
            assert message.edit is not None
            session.edit(message.edit)
        elif kind == "upload":
            await self.run_in_thread(session.set_upload, parse_csv(message.csv))
            await self.send(session.data_message())
        return False

    async def flush(self) -> None:
        """Send the training frame made and not yet sent, if any. Frames carry what changed since the frame
        before (new curve points, the latest measurement, filters); one made is sent, never dropped, and it
        goes before any answer made after it, so no older frame follows an answer."""
        frame, self.made = self.made, None
        if frame is not None:
            await self.send(frame)
            self.unacked += 1

    async def drawn(self) -> None:
        """Wait until the page has drawn every training frame sent (at most ``ACK_TIMEOUT`` seconds)."""
        while self.unacked > 0:
            self.acked.clear()
            try:
                await asyncio.wait_for(self.acked.wait(), timeout=ACK_TIMEOUT)
            except TimeoutError:
                self.unacked = 0

    def _play_frame(self) -> dict[str, Any]:
        session = self.session
        if not session.advance(session.settings.speed, FRAME_BUDGET):
            self.playing = False
            self.wake.clear()
        return session.frame(self.playing)

    async def train_loop(self) -> None:
        """Play: each frame is trained and made while the page draws the one before, and sent when the page
        has drawn that one (its ack), so the page gets a new frame for each screen refresh (requestAnimationFrame)
        and no frame is made only to be skipped; at most ``max_fps`` frames a second on average."""
        loop = asyncio.get_running_loop()
        allowed = loop.time()  # the earliest time the next frame may be sent
        try:
            while True:
                await self.wake.wait()
                async with self.lock:
                    if not self.playing:
                        continue
                    self.made = await self.run_in_thread(self._play_frame)
                await self.drawn()
                await asyncio.sleep(max(0.0, allowed - loop.time()))
                await self.flush()  # unless an answer sent it first
                # the average stays under max_fps; one late frame lets the next follow after half an interval
                allowed = max(allowed + self.min_interval, loop.time() + self.min_interval / 2)
        except (WebSocketDisconnect, RuntimeError):
            self.playing = False  # the tab went away while we were sending
        except Exception:  # a bug: say so in the server log and on the page, keep the server up
            log.exception("playground training loop failed")
            self.playing = False
            try:
                await self.send(
                    {"type": "error", "message": "training stopped by an internal error (see the server log)"}
                )
            except Exception:
                pass


class ImageConnection(Connection):
    """One tab of the Images page: an ``ImageSession`` (torch engine) and the image mode's messages."""

    parse = staticmethod(parse_image_message)

    def __init__(self, websocket: WebSocket, max_fps: float, data_dir: str | None = None):
        self.data_dir = data_dir
        self.urgent = False  # a drawn digit waits: the training frame in progress ends early
        super().__init__(websocket, max_fps)

    def new_session(self) -> Any:
        return None  # made in a worker thread by run(): loading the data and torch takes a while

    async def handle(self, message: Any) -> None:
        if message.type == "draw":  # a drawn digit is answered at once: the frame in progress stops training
            self.urgent = True
        try:
            await super().handle(message)
        finally:
            self.urgent = False

    async def run(self) -> None:
        from .images import ImageSession  # torch: imported when the first Images tab opens

        CONNECTIONS.add(self)  # counts against the limit while its session is made
        try:
            self.session = await self.run_in_thread(lambda: ImageSession(data_dir=self.data_dir))
        except LayerlabError as e:  # the data set cannot be read
            CONNECTIONS.discard(self)
            await self.websocket.send_text(json.dumps({"type": "error", "message": str(e)}))
            await self.websocket.close(code=1011)
            return
        await super().run()

    async def answer_page(self, message: Any) -> bool:
        """The Images page's own messages; a drawn digit is answered by its classification alone."""
        kind, session = message.type, self.session
        if kind == "config":
            settings = image_settings_from(message.settings, session.settings)
            changed = await self.run_in_thread(session.configure, settings, message.rev)
            if changed["network"]:
                await self.send(session.data_message())
        elif kind == "reset":
            await self.run_in_thread(session.reset)
            await self.send(session.data_message())
        elif kind == "step":
            await self.run_in_thread(session.train, 1)
        elif kind == "pick":
            session.pick(message.index)
        elif kind == "draw":
            await self.send(await self.run_in_thread(session.draw, message.drawing))
            return True
        return False

    def _play_frame(self) -> dict[str, Any]:
        session = self.session
        if not session.train(10**9, IMAGE_FRAME_BUDGET, lambda: self.urgent):
            self.playing = False
            self.wake.clear()
        return session.frame(self.playing, measure=not self.urgent)


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def host_names(host: str) -> frozenset[str]:
    """The names a browser may use for a server listening on ``host`` (the Host header's name part).

    A name outside them is a DNS rebinding attempt: another site's page whose name now resolves to this
    machine. Loopback names always work; a wildcard address (0.0.0.0, ::) adds this machine's own names
    and addresses."""
    names = {*LOCAL_HOSTS, host.lower()}
    if host in ("0.0.0.0", "::"):
        machine = socket.gethostname()
        names |= {machine.lower(), socket.getfqdn().lower()}
        try:
            names |= {info[4][0] for info in socket.getaddrinfo(machine, None)}
        except OSError:
            pass
    return frozenset(names)


def _host_name(header: str) -> str:
    """The name part of a Host header: ``127.0.0.1:8765`` -> 127.0.0.1, ``[::1]:8765`` -> ::1."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class TrustedHosts:
    """ASGI middleware: answer only requests whose Host header names this server (DNS rebinding).

    Plain HTTP gets 400 with one line saying why; a WebSocket handshake is refused (HTTP 403) before any
    session starts. Starlette's TrustedHostMiddleware would do for HTTP, but it reads ``[::1]:8765`` wrong."""

    def __init__(self, app, names: frozenset[str]):
        self.app, self.names = app, names

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if _host_name(header) in self.names:
            return await self.app(scope, receive, send)
        log.warning("refused a request for host %r (DNS rebinding protection)", header[:80])
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        text = (
            f"this layerlab playground answers to {', '.join(sorted(self.names))}, not {header[:60]!r} "
            "(a page of another site cannot use it); open the URL the server printed"
        )
        await PlainTextResponse(text, status_code=400)(scope, receive, send)


def _same_origin(websocket: WebSocket) -> bool:
    """A page from another site must not drive this server (cross-site WebSocket hijacking)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser (a script or the test client)
    return urlsplit(origin).netloc == websocket.headers.get("host")


#: Who may show the page in a frame when a notebook embeds it (``layerlab.playground()``): a notebook served
#: from this machine (JupyterLab, Notebook, VS Code) or Colab's proxy; any other site still may not.
NOTEBOOK_FRAME_ANCESTORS = "'self' http://127.0.0.1:* http://localhost:* http://[::1]:* https://*.googleusercontent.com"


def create_app(
    max_fps: float = 60.0, hosts: frozenset[str] | None = None, embed: bool = False, data_dir: str | None = None
) -> Starlette:
    """The ASGI app: ``/`` the page, ``/static/...`` its files, ``/api/tasks`` the presets, ``/ws`` sessions;
    ``/images``, ``/api/images`` and ``/ws/images`` the same for the Images page.

    ``hosts``: the Host names it answers to (default: the loopback names); see ``host_names``.
    ``embed``: a notebook on this machine may show the page in a frame (``NOTEBOOK_FRAME_ANCESTORS``).
    ``data_dir``: where the Images page finds MNIST and Fashion-MNIST (mnist-small is built in)."""
    headers = HEADERS
    if embed:
        policy = HEADERS["Content-Security-Policy"].replace("'none'", NOTEBOOK_FRAME_ANCESTORS)
        headers = HEADERS | {"Content-Security-Policy": policy}

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=headers)

    async def images_page(request: Request) -> Response:
        return FileResponse(STATIC / "images.html", headers=headers)

    async def task_list(request: Request) -> Response:
        presets = {n: {**task, "settings": tasks.preset(n)} for n, task in tasks.TASKS.items()}
        return JSONResponse({"tasks": presets, "limits": LIMITS}, headers=headers)

    async def image_presets(request: Request) -> Response:
        found = await anyio.to_thread.run_sync(presets)
        body = {"presets": found, "datasets": list(DATASETS), "limits": IMAGE_LIMITS}
        return JSONResponse(body, headers=headers)

    def endpoint(connection: Callable[[WebSocket], Connection]):
        async def websocket_endpoint(websocket: WebSocket) -> None:
            if not _same_origin(websocket):
                await websocket.close(code=1008)
                return
            await websocket.accept()
            if len(CONNECTIONS) >= LIMITS["sessions"]:
                message = f"the server already runs {len(CONNECTIONS)} sessions, its limit; close another tab first"
                await websocket.send_text(json.dumps({"type": "error", "message": message}))
                await websocket.close(code=1013)
                return
            await connection(websocket).run()

        return websocket_endpoint

    routes = [
        Route("/", index),
        Route("/images", images_page),
        Route("/api/tasks", task_list),
        Route("/api/images", image_presets),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        WebSocketRoute("/ws", endpoint(lambda ws: Connection(ws, max_fps))),
        WebSocketRoute("/ws/images", endpoint(lambda ws: ImageConnection(ws, max_fps, data_dir))),
    ]
    return Starlette(routes=routes, middleware=[Middleware(TrustedHosts, names=hosts or host_names("127.0.0.1"))])


def _check_port(host: str, port: int) -> None:
    """Refuse a port another program listens on, in one line; SO_REUSEADDR as uvicorn's own socket, so
    that the connections of a server stopped a moment ago (TIME_WAIT, up to a minute) do not count."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            if sys.platform != "win32":  # on Windows the option means something else (port stealing)
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as e:
        raise LayerlabError(f"cannot listen on {host}:{port} ({e.strerror}); choose another with --port") from None


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True, data_dir: str | None = None) -> None:
    """Run the playground until Ctrl-C; opens the page in the browser when it can, prints the URL always.
    ``data_dir``: where the Images page finds MNIST and Fashion-MNIST."""
    import uvicorn

    if not 0 < port < 65536:
        raise LayerlabError(f"--port must be from 1 to 65535, got {port}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"warning: listening on {host}: anyone who can reach this machine on port {port} can use the "
            "playground (and its CPU); use the default 127.0.0.1 to keep it to this machine",
            file=sys.stderr,
        )
    _check_port(host, port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown if ':' not in shown else f'[{shown}]'}:{port}/"
    print(f"layerlab playground: {url}  (the digits: {url}images; Ctrl-C stops it)")
    graphical = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("darwin", "win32")
    if open_browser and graphical:  # a text-mode browser would take over the terminal
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    elif open_browser:
        print("no graphical display here: open the URL above in a browser")
    uvicorn.Server(uvicorn_config(host, port, data_dir=data_dir)).run()


def uvicorn_config(host: str, port: int, max_fps: float = 60.0, data_dir: str | None = None):
    """The server ``layerlab playground`` runs (the tests and the frame-rate benchmark start the same one).

    No per-message compression: deflating the largest network's 350 kB frame took the server ~15 ms of
    the ~60 it has for a frame (and the browser as long to inflate it), to save nothing on a loopback."""
    import uvicorn

    return uvicorn.Config(
        create_app(max_fps, hosts=host_names(host), data_dir=data_dir),
        host=host,
        port=port,
        log_level="warning",
        ws_max_size=LIMITS["message_bytes"] + 1024,  # larger ones are refused with an error frame, not a close
        ws_per_message_deflate=False,
    )
