"""The browser demo's routes: the page at ``/`` and its static files under ``/static/`` (docs/demo.md).

The files are plain HTML, CSS and ES modules in ``serve/static/`` (shipped in the wheel as package
data), served as they are: no build step. The page speaks only the service's own protocol
(docs/protocol.md) from the browser, so it is a client like any other.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The page is small and changes with the package: the browser asks again each time (304 when unchanged).
NO_STORE = {"Cache-Control": "no-cache"}


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=NO_STORE)


class _StaticFiles(StaticFiles):
    """Starlette's StaticFiles with ``Cache-Control: no-cache`` (a new version of the page is picked up)."""

    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers.update(NO_STORE)
        return response


ROUTES = [
    Route("/", index, methods=["GET"]),
    Mount("/static", app=_StaticFiles(directory=STATIC_DIR), name="static"),
]
