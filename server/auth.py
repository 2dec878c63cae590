"""Optional bearer-token API keys for the `/v1/` routes, compared in constant time; keys never reach a log.

`/health`, `/metrics` and the OpenAPI schema stay open so that probes and scrapers need no secret. Without keys,
`loopback_guard` keeps the studio page and the routes that start or cancel work to clients on this machine.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from tunesmith.server.errors import AuthenticationError

__all__ = ["api_key_guard", "is_loopback", "loopback_guard", "on_the_loop"]

# What a stranger on the network must not reach when no key guards the server: the page itself, and every route
# that starts or cancels work (a run, a package, a publish with the server's own logins).
_PAGE = re.compile(r"^/($|studio/)")
_STARTS_WORK = re.compile(r"^/v1/(runs|runs/[^/]+/package|publish|jobs/[^/]+/cancel)/?$")


def api_key_guard(keys: tuple[str, ...]):
    """A Litestar guard accepting `Authorization: Bearer <key>` for any of `keys`."""
    encoded = [key.encode("utf-8") for key in keys]

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        if not connection.scope["path"].startswith("/v1/"):
            return
        scheme, _sep, token = connection.headers.get("authorization", "").partition(" ")
        offered = token.strip().encode("utf-8")
        # Compare against every key, without stopping at a match, so timing says nothing about which matched.
        matched = False
        for key in encoded:
            matched |= hmac.compare_digest(offered, key)
        if scheme.lower() != "bearer" or not offered:
            raise AuthenticationError("no API key given", hint="Send the header `Authorization: Bearer <key>`.")
        if not matched:
            raise AuthenticationError("unknown API key", hint="Use one of the keys the server was started with.")

    return guard


def is_loopback(host: str | None) -> bool:
    """Whether a client is on this machine: a loopback address (127.0.0.0/8, ::1, or mapped into IPv6), or no network
    address at all (a Unix socket, an in-process transport such as Litestar's test client)."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return True
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def loopback_guard():
    """A Litestar guard for a server without API keys: the studio page and the routes that start or cancel work
    answer only clients on this machine (403 for others, saying how to open them up safely)."""

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        path = connection.scope["path"]
        guarded = _PAGE.match(path) or (connection.scope.get("method") == "POST" and _STARTS_WORK.match(path))
        if guarded and not is_loopback(connection.client.host if connection.client else None):
            raise PermissionDeniedException(
                "this server has no API keys, so the studio and the routes that start or cancel work answer only "
                "clients on the server's own machine; start it with --api-key KEY (or TUNESMITH_API_KEYS) to open "
                "them to others"
            )

    return guard


_Guard = Callable[[ASGIConnection, BaseRouteHandler], None]


def on_the_loop(guard: _Guard) -> Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]:
    """`guard` as Litestar should run it: awaited on the event loop. Litestar runs a guard that is a plain function
    in a worker thread, for every request; these guards only read the request, and the thread's round trip cost a
    tenth of the proxy's own work per request."""

    async def run(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        guard(connection, handler)

    return run
