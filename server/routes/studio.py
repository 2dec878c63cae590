"""The studio page: GET / (the page), GET /studio/{file} (its scripts and style), GET /studio/info (what it may do).

The page is a few static files in server/studio/ (plain ES modules, one stylesheet, no build step): everything it
shows comes from the JSON of the /v1 routes, drawn in the browser. These routes sit outside /v1, so the API keys do
not guard them; the page asks for a key when a /v1 call answers 401. With no keys, `loopback_guard` keeps the page to
this machine (server/auth.py).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from litestar import Response, Router, get
from litestar.exceptions import NotFoundException

from tunesmith import __version__
from tunesmith.server.settings import ServerSettings

__all__ = ["studio_router"]

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The page is small and changes with the server: browsers check back each time instead of caching a stale script.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _studio_files() -> dict[str, tuple[bytes, str]]:
    """Every file of server/studio/ by name, with its media type (read once: they are part of the install)."""
    folder = resources.files("tunesmith.server").joinpath("studio")
    files = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            files[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return files


def studio_router(settings: ServerSettings) -> Router:
    """The page's routes for an app built from `settings`."""
    files = _studio_files()
    info = {"version": __version__, "keys": bool(settings.api_keys), "loopback_only": not settings.api_keys}

    @get("/", include_in_schema=False, sync_to_thread=False)
    def page() -> Response[bytes]:
        body, media_type = files["index.html"]
        return Response(body, media_type=media_type, headers=_HEADERS)

    @get("/studio/info", tags=["studio"], summary="What the studio page may do", sync_to_thread=False)
    def studio_info() -> dict[str, Any]:
        """The server's version, whether API keys guard /v1, and whether the page answers this machine only."""
        return dict(info)

    @get("/studio/{name:str}", include_in_schema=False, sync_to_thread=False)
    def studio_file(name: str) -> Response[bytes]:
        if name not in files:
            raise NotFoundException(f"the studio has no file {name!r}")
        body, media_type = files[name]
        return Response(body, media_type=media_type, headers=_HEADERS)

    return Router(path="/", route_handlers=[page, studio_info, studio_file])
