"""The response of a streamed generation: Litestar's `Stream`, sent by the handler's own task.

Litestar streams a body from a task of its own, in an anyio task group whose cancel scope the client's disconnect
cancels: a task group, a second task and a cancellation (which formats the task's repr) for every request, about as
much as the rest of the stream's own work on a small machine, and the first event leaves a turn of the event loop
after the head. Here the first event follows the head at once, the events are sent by the handler's task, and one
task listens for the client leaving, cancelling the stream as Litestar's scope did (the generation stops, the
upstream connection closes). Nothing else changes: the head, the events, the end of the body, background tasks.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING

from litestar.enums import MediaType
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Send
from litestar.utils.helpers import get_enum_string_value

if TYPE_CHECKING:
    from litestar import Litestar, Request
    from litestar.background_tasks import BackgroundTask, BackgroundTasks
    from litestar.datastructures import Cookie
    from litestar.types import TypeEncodersMap

__all__ = ["EventStream"]


class _Left:
    """Whether the client's leaving cancelled the stream (rather than something else cancelling the task)."""

    __slots__ = ("yes",)

    def __init__(self) -> None:
        self.yes = False


async def _cancel_when_the_client_leaves(receive: Receive, streaming: asyncio.Task, left: _Left) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    left.yes = True
    streaming.cancel()


class _EventStreamResponse(ASGIStreamingResponse):
    __slots__ = ()

    async def send_body(self, send: Send, receive: Receive) -> None:
        streaming = asyncio.current_task()
        assert streaming is not None
        left = _Left()
        listener = asyncio.get_running_loop().create_task(_cancel_when_the_client_leaves(receive, streaming, left))
        try:
            async for chunk in self.iterator:
                body = chunk if isinstance(chunk, bytes) else chunk.encode(self.encoding)
                await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not left.yes:
                raise
            # Nobody is reading any more: the stream ends here, as Litestar's cancelled scope ended it.
            if hasattr(streaming, "uncancel"):
                streaming.uncancel()
        finally:
            listener.cancel()


class EventStream(Stream):
    """A `Stream` sent by the handler's task (see the module's docstring)."""

    def to_asgi_response(
        self,
        app: Litestar | None,
        request: Request,
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> ASGIResponse:
        # As Stream.to_asgi_response, with the response class of this module.
        iterator = self.iterator
        if not isinstance(iterator, (Iterable, Iterator, AsyncIterable, AsyncIterator)) and callable(iterator):
            iterator = iterator()
        return _EventStreamResponse(
            background=self.background or background,
            content_length=0,
            cookies=self.cookies if cookies is None else itertools.chain(self.cookies, cookies),
            encoded_headers=encoded_headers,
            encoding=self.encoding,
            headers={**headers, **self.headers} if headers is not None else self.headers,
            is_head_response=is_head_response,
            iterator=iterator,
            media_type=get_enum_string_value(media_type or self.media_type or MediaType.JSON),
            status_code=self.status_code or status_code,
        )
