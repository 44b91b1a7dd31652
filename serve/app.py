"""Builds the Starlette app and runs it under uvicorn: in the foreground (``sam-edge serve``) or on a
background thread (``BackgroundServer``: tests, benchmarks, a Python program embedding the service).

The socket is bound before the model loads, so ``port=0`` gets a free port that is known at once;
clients that connect during start-up wait in the listen backlog. The models load in the app's
lifespan (serve/service.py) and are released at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import Callable

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute

from sam_edge.runtime.errors import SamEdgeError
from sam_edge.serve.everything_route import ROUTES as EVERYTHING_ROUTES
from sam_edge.serve.http_routes import ROUTES
from sam_edge.serve.page_routes import ROUTES as PAGE_ROUTES
from sam_edge.serve.service import Service
from sam_edge.serve.settings import ServeSettings
from sam_edge.serve.stream import stream_endpoint

LOG = logging.getLogger("sam_edge.serve")


def build_app(settings: ServeSettings, service: Service | None = None) -> Starlette:
    """The ASGI app: HTTP routes (serve/http_routes.py) and ``/v1/stream``. Its lifespan loads the
    models (or takes ``service``, already loaded) and closes the workers at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.service = service if service is not None else await asyncio.to_thread(Service, settings)
        try:
            yield
        finally:
            await asyncio.to_thread(app.state.service.close)

    return Starlette(
        routes=[*ROUTES, *EVERYTHING_ROUTES, WebSocketRoute("/v1/stream", stream_endpoint), *PAGE_ROUTES],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    detail = str(error.detail)
    if error.status_code in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
        detail = f"{request.method} {request.url.path}: {detail.lower()} (routes: docs/protocol.md)"
    return JSONResponse({"error": detail}, status_code=error.status_code, headers=error.headers)


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, SamEdgeError):
        return JSONResponse({"error": str(error)}, status_code=422)
    LOG.error("request %s %s failed: %s: %s", request.method, request.url.path, type(error).__name__, error)
    return JSONResponse({"error": f"internal error ({type(error).__name__}); the server goes on"}, status_code=500)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one (``sock.getsockname()[1]``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: a response's body then leaves right after its headers instead of
    # waiting for the client's delayed ACK of them (~40 ms per request with Python's http.client).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise SamEdgeError(f"cannot listen on {host}:{port} ({error.strerror or error})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app: Starlette, settings: ServeSettings, log_level: str = "warning") -> uvicorn.Server:
    """uvicorn with the server's transport limits: WebSocket message size, buffered messages, connections."""
    config = uvicorn.Config(
        app,
        ws="websockets-sansio",  # reads one message at a time: a client cannot queue up more
        ws_max_size=settings.transport_frame_bytes,
        limit_concurrency=settings.max_connections,
        log_level=log_level,
        server_header=False,
        lifespan="on",
    )
    return uvicorn.Server(config)


def run_server(settings: ServeSettings, announce: Callable[[Service, str], None] | None = None) -> None:
    """Serve until interrupted (Ctrl-C, SIGTERM). The socket is bound and the models loaded first, so a
    busy port or a bad model is a one-line SamEdgeError; ``announce(service, url)`` then runs."""
    sock = bind_socket(settings.host, settings.port)
    with sock:
        service = Service(settings)
        if announce is not None:
            announce(service, _url(settings.host, sock.getsockname()[1]))
        uvicorn_server(build_app(settings, service), settings).run(sockets=[sock])


class BackgroundServer:
    """A server on a thread of this process, e.g. ``with BackgroundServer(ServeSettings(port=0)) as server:``
    then ``server.url`` (http://127.0.0.1:PORT) and ``server.ws_url`` (ws://.../v1/stream)."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self._sock = bind_socket(settings.host, settings.port)
        self.port = self._sock.getsockname()[1]
        self.url = _url(settings.host, self.port)
        self.ws_url = self.url.replace("http://", "ws://", 1) + "/v1/stream"
        self.app = build_app(settings)
        self._server = uvicorn_server(self.app, settings)
        self._thread = threading.Thread(target=self._serve, name="sam-edge-serve", daemon=True)
        self._failure: BaseException | None = None

    @property
    def service(self) -> Service:
        return self.app.state.service

    def start(self, timeout: float = 300.0) -> "BackgroundServer":
        """Start and wait until the models are loaded and the socket accepts requests."""
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive() or waited > timeout:
                raise SamEdgeError(f"the server did not start ({self._failure or 'timed out'})")
            self._thread.join(0.05)
            waited += 0.05
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=60)
        self._sock.close()

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as error:  # reported by start()
            self._failure = error


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
