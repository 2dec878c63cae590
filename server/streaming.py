"""Server-sent events in OpenAI's shape: chunks of a chat or text completion, `data: [DONE]`, or an error event.

Each stream encodes its constant head (id, created, model) once, so a token costs one small msgspec encode; a
failure after the first byte ends the stream with an OpenAI error event instead of a silent cut.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

import msgspec

from tunesmith.errors import TunesmithError
from tunesmith.server.backends.base import Delta
from tunesmith.server.errors import UnfinishedAnswerError, error_body, status_of
from tunesmith.server.handoff import END, Failure
from tunesmith.server.mapping import finish_reason, openai_tool_calls

__all__ = ["DONE", "StreamedAnswer", "chat_events", "completion_events"]

DONE = b"data: [DONE]\n\n"
_encode = msgspec.json.encode
_log = logging.getLogger("tunesmith.server")
OnFinish = Callable[[Delta | None, BaseException | None], None]


def _error_event(error: BaseException) -> bytes:
    if isinstance(error, TunesmithError):
        _, type_, code = status_of(error)
        return b"data: " + _encode(error_body(str(error), type_, getattr(error, "param", None), code)) + b"\n\n"
    _log.error("stream failed after it began", exc_info=error)
    return b"data: " + _encode(error_body("internal server error", "server_error")) + b"\n\n"


class _Pump:
    """Reads the backend's pieces in a task of its own, so pieces that arrive together leave in one write.

    A fast upstream sends many pieces in one packet; one socket write per SSE event would cost more than the rest of
    the request. A piece that arrives alone still leaves at once.
    """

    def __init__(self, pieces: AsyncGenerator[Delta, None]) -> None:
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(pieces))

    async def _run(self, pieces: AsyncGenerator[Delta, None]) -> None:
        try:
            async for delta in pieces:
                self._queue.put_nowait(delta)
                if delta.done:
                    break
            self._queue.put_nowait(END)
        except Exception as error:  # noqa: BLE001  handed to the reader, which reports it (and logs a bug)
            self._queue.put_nowait(Failure(error))
        finally:
            # Closing the backend's iterator is what stops the generation (or closes the upstream connection).
            await pieces.aclose()

    async def batch(self) -> list:
        """Wait for the next piece, then take every piece already there."""
        items = [await self._queue.get()]
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items

    def stop(self) -> None:
        self._task.cancel()


async def _events(
    answer: StreamedAnswer, render: Callable[[Delta], bytes | None], final: Callable[[Delta], bytes]
) -> AsyncIterator[bytes]:
    first, rest = answer.first, answer.rest
    last: Delta | None = None
    failure: BaseException | None = None
    pump = None if first.done else _Pump(rest)
    try:
        pending: list = [first]
        while True:
            out, error = bytearray(), None
            for item in pending:
                if isinstance(item, Failure):
                    error = item.error
                    break
                if item is END:
                    # Every finished generation ends on a `done` piece; without one the answer was cut short.
                    error = UnfinishedAnswerError()
                    break
                delta = item
                if delta.done:
                    last = delta
                    out += final(delta) + DONE
                    break
                out += render(delta) or b""
            if out:
                yield bytes(out)
            if error is not None:
                raise error
            if last is not None or pump is None:  # no pump: the first piece was the last
                break
            pending = await pump.batch()
    except Exception as error:  # noqa: BLE001  after the first byte, only an event can say it; a bug is logged
        failure = error
        yield _error_event(error)
    except BaseException as error:  # the client went away: cancelled mid-stream
        failure = error
        raise
    finally:
        answer.on_finish(last, failure)
        if pump is not None:
            pump.stop()
        else:
            await rest.aclose()


@dataclass(frozen=True)
class StreamedAnswer:
    """One answer to stream: its id, creation time and model, the backend's first piece and the rest, whether the
    client asked for usage (`stream_options.include_usage`), and what to call when it ends."""

    response_id: str
    created: int
    model: str
    first: Delta
    rest: AsyncGenerator[Delta, None]
    include_usage: bool
    on_finish: OnFinish


def _head(answer: StreamedAnswer, kind: bytes) -> bytes:
    """The fields every event of one answer starts with, encoded once: a token then costs one small encode."""
    return (
        b'data: {"id":'
        + _encode(answer.response_id)
        + b',"object":"'
        + kind
        + b'","created":'
        + str(answer.created).encode()
        + b',"model":'
        + _encode(answer.model)
    )


def _choice_event(head: bytes, field: bytes, value: object, reason: str | None, usage_null: bytes) -> bytes:
    """One event with one choice whose `field` (delta or text) is `value`."""
    return (
        head
        + b',"choices":[{"index":0,"'
        + field
        + b'":'
        + _encode(value)
        + b',"logprobs":null,"finish_reason":'
        + _encode(reason)
        + b"}]"
        + usage_null
        + b"}\n\n"
    )


def chat_events(answer: StreamedAnswer) -> AsyncIterator[bytes]:
    """`chat.completion.chunk` events: role first, then reasoning (`reasoning_content`), content and tool calls, the
    finish reason, usage, [DONE]."""
    head = _head(answer, b"chat.completion.chunk") + b',"system_fingerprint":"fp_tunesmith"'
    usage_null = b',"usage":null' if answer.include_usage else b""
    state = {"role_sent": False, "tool_calls": 0}

    def chunk(delta: dict, reason: str | None) -> bytes:
        if not state["role_sent"]:
            delta = {"role": "assistant", **delta}
            state["role_sent"] = True
        return _choice_event(head, b"delta", delta, reason, usage_null)

    def render(delta: Delta) -> bytes | None:
        body: dict = {}
        if delta.thinking:
            body["reasoning_content"] = delta.thinking
        if delta.content:
            body["content"] = delta.content
        if delta.tool_calls:
            body["tool_calls"] = openai_tool_calls(delta.tool_calls, state["tool_calls"], streaming=True)
            state["tool_calls"] += len(delta.tool_calls)
        return chunk(body, None) if body else None

    def final(delta: Delta) -> bytes:
        event = render(delta) or b""
        event += chunk({}, finish_reason(delta, state["tool_calls"] > 0))
        return event + (_usage_event(head, delta) if answer.include_usage else b"")

    return _events(answer, render, final)


def _usage_event(head: bytes, delta: Delta) -> bytes:
    """The event before [DONE] when the client asked for usage (`stream_options.include_usage`): no choices."""
    usage = {
        "prompt_tokens": delta.prompt_tokens,
        "completion_tokens": delta.completion_tokens,
        "total_tokens": delta.prompt_tokens + delta.completion_tokens,
    }
    return head + b',"choices":[],"usage":' + _encode(usage) + b"}\n\n"


def completion_events(answer: StreamedAnswer) -> AsyncIterator[bytes]:
    """`text_completion` events: text pieces, the finish reason, usage, [DONE]."""
    head = _head(answer, b"text_completion")
    usage_null = b',"usage":null' if answer.include_usage else b""

    def render(delta: Delta) -> bytes | None:
        return _choice_event(head, b"text", delta.content, None, usage_null) if delta.content else None

    def final(delta: Delta) -> bytes:
        event = (render(delta) or b"") + _choice_event(head, b"text", "", finish_reason(delta), usage_null)
        return event + (_usage_event(head, delta) if answer.include_usage else b"")

    return _events(answer, render, final)
