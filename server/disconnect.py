"""Stop a request's work when its client goes away before the answer begins.

uvicorn does not cancel a handler whose client disconnected; it only tells whoever awaits `receive()`. Litestar
listens once a streamed answer has begun, but before that (a whole completion, or the wait for a stream's first
piece) an abandoned request would keep its upstream generating until read_timeout, minutes by default.

Listening costs a task and a wake-up of the client's socket, about a tenth of a millisecond per request on a small
machine: as much as the rest of the proxy's own work before the first byte. So the listener starts only once the
work has taken `LISTEN_AFTER` seconds; work done sooner never pays for it, and a client that leaves during longer
work (a model loading, a long prompt being read) is noticed at most that much later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import anyio
from litestar import Request
from litestar.exceptions import HTTPException

__all__ = ["ClientDisconnected", "unless_disconnected"]

T = TypeVar("T")
LISTEN_AFTER = 0.02


class ClientDisconnected(HTTPException):
    """The client closed the connection before the answer began; nobody will read the response.

    Status 499 (nginx's "client closed request") is what the request log and metrics record.
    """

    status_code = 499


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work` in this task; cancel it and raise `ClientDisconnected` if the client goes away first.

    The request body must have been read already (Litestar has, once a handler runs), so the next ASGI message
    can only be the disconnect. Errors of `work` propagate unchanged.
    """
    loop = asyncio.get_running_loop()
    watchers: list[asyncio.Task] = []
    with anyio.CancelScope() as scope:
        timer = loop.call_later(
            LISTEN_AFTER, lambda: watchers.append(loop.create_task(_cancel_on_disconnect(request, scope)))
        )
        try:
            return await work
        finally:
            timer.cancel()
            for watcher in watchers:
                watcher.cancel()
    raise ClientDisconnected(detail="the client closed the connection before the answer began")


async def _cancel_on_disconnect(request: Request, scope: anyio.CancelScope) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
