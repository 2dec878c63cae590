"""POST /v1/chat/completions and POST /v1/completions: one generation, whole or streamed as server-sent events.

Errors before the first byte become a plain HTTP error with the OpenAI body (the backend's first piece is awaited
before the response starts); errors after it end the stream with an error event. A client that goes away stops the
generation, before the first byte as after it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema

from tunesmith.server.backends import Backends, Delta, GenerateRequest
from tunesmith.server.disconnect import unless_disconnected
from tunesmith.server.errors import UnfinishedAnswerError
from tunesmith.server.event_stream import EventStream
from tunesmith.server.mapping import (
    chat_completion_body,
    chat_to_generate,
    completion_body,
    completion_to_generate,
    new_id,
)
from tunesmith.server.observe import RequestRecord, record_of
from tunesmith.server.schemas import ChatCompletion, ChatCompletionRequest, Completion, CompletionRequest, ErrorBody
from tunesmith.server.streaming import StreamedAnswer, chat_events, completion_events

__all__ = ["ERROR_RESPONSES", "create_chat_completion", "create_completion"]

ERROR_RESPONSES = {
    400: ResponseSpec(ErrorBody, description="The body is invalid; `error.param` names the field."),
    401: ResponseSpec(ErrorBody, description="No API key, or an unknown one."),
    404: ResponseSpec(ErrorBody, description="No backend serves the model."),
    413: ResponseSpec(ErrorBody, description="The body is larger than the server accepts."),
    502: ResponseSpec(ErrorBody, description="The upstream is unreachable or answered with an error."),
    504: ResponseSpec(ErrorBody, description="The upstream did not answer in time."),
}
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_STREAM_NOTE = (
    "With `stream: true` the answer is `text/event-stream`: one `data: {chunk}` event per piece, then "
    '`data: [DONE]`; a failure after the first event ends the stream with `data: {"error": ...}`.'
)


@dataclass
class _StreamableOperation(Operation):
    """A generation answers JSON, or with `stream: true` server-sent events: the 200 answer lists both media types,
    so that clients generated from the schema (and schema checkers) expect both."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            # One schema per event, as OpenAPI 3.2 describes event streams.
            data = Schema(type=OpenAPIType.STRING, description='A chunk as JSON, `{"error": ...}`, or `[DONE]`')
            ok.content["text/event-stream"] = OpenAPIMediaType(
                schema=Schema(
                    type=OpenAPIType.OBJECT,
                    required=["data"],
                    properties={"data": data},
                    description="`data: {chunk}` events, then `data: [DONE]`",
                )
            )


# What both generation routes declare: 200 as JSON or server-sent events, the error answers, the stream's note.
_GENERATION_ROUTE: dict[str, Any] = {
    "status_code": 200,
    "tags": ["generation"],
    "responses": ERROR_RESPONSES,
    "description": _STREAM_NOTE,
    "operation_class": _StreamableOperation,
}


def _take_usage(record: RequestRecord):
    def on_finish(last: Delta | None, error: BaseException | None) -> None:
        if last is not None:
            record.prompt_tokens, record.completion_tokens = last.prompt_tokens, last.completion_tokens
        if error is not None:
            record.error = str(error) or type(error).__name__

    return on_finish


async def _start(request: Request, backends: Backends, generate: GenerateRequest, stream: bool):
    record = record_of(request)
    record.model, record.stream = generate.model, stream
    record.prompt = generate.messages if generate.prompt is None else generate.prompt
    backend = await backends.for_model(generate.model)
    if not stream:
        delta = await unless_disconnected(request, backend.complete(generate))
        record.prompt_tokens, record.completion_tokens = delta.prompt_tokens, delta.completion_tokens
        return record, delta, None
    pieces = backend.stream(generate)
    try:
        first = await unless_disconnected(request, anext(pieces, None))
        if first is None:
            raise UnfinishedAnswerError()
    except BaseException:
        await pieces.aclose()
        raise
    return record, first, pieces


async def _answer(
    request: Request,
    backends: Backends,
    generate: GenerateRequest,
    data: ChatCompletionRequest | CompletionRequest,
    id_prefix: str,
    body: Callable[..., Any],
    events: Callable[..., AsyncIterator[bytes]],
) -> Response:
    """One answer, whole (`body` makes it) or as server-sent events (`events` makes them): the two routes differ
    only in those shapes."""
    record, first, rest = await _start(request, backends, generate, data.stream)
    response_id, created = new_id(id_prefix), int(time.time())
    if rest is None:
        return Response(body(response_id, created, data.model, first))
    include_usage = bool(data.stream_options and data.stream_options.include_usage)
    stream = events(
        StreamedAnswer(response_id, created, data.model, first, rest, include_usage, on_finish=_take_usage(record))
    )
    return EventStream(stream, media_type="text/event-stream", headers=_SSE_HEADERS)


@post(
    "/v1/chat/completions",
    summary="Create a chat completion",
    response_description="The completion (JSON), or with `stream: true` `chat.completion.chunk` events (SSE)",
    **_GENERATION_ROUTE,
)
async def create_chat_completion(
    data: ChatCompletionRequest, request: Request, backends: Backends
) -> Response[ChatCompletion]:
    """OpenAI chat completions over the backend that serves `model`."""
    return await _answer(request, backends, chat_to_generate(data), data, "chatcmpl", chat_completion_body, chat_events)


@post(
    "/v1/completions",
    summary="Create a text completion (raw prompt, no chat template)",
    response_description="The completion (JSON), or with `stream: true` `text_completion` events (SSE)",
    **_GENERATION_ROUTE,
)
async def create_completion(data: CompletionRequest, request: Request, backends: Backends) -> Response[Completion]:
    """OpenAI (legacy) completions: the prompt is sent as is, without the model's chat template."""
    return await _answer(
        request, backends, completion_to_generate(data), data, "cmpl", completion_body, completion_events
    )
