"""Optional bearer-token API keys for the `/v1/` routes, compared in constant time; keys never reach a log.

`/health`, `/metrics` and the OpenAPI schema stay open so that probes and scrapers need no secret.
"""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from tunesmith.server.errors import AuthenticationError

__all__ = ["api_key_guard"]


def api_key_guard(keys: tuple[str, ...]):
    """A Litestar guard accepting `Authorization: Bearer <key>` for any of `keys`."""
    encoded = [key.encode("utf-8") for key in keys]

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        if not connection.scope["path"].startswith("/v1/"):
            return
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
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
