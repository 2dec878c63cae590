"""Ollama's generation endpoints on the wire: the body of a chat or raw generation, and its answer, whole or as NDJSON
lines, read straight from the bytes into msgspec structs.

Hand-written rather than the `ollama` client's `chat`/`generate`: per request, the client encodes with the standard
json module, lets httpx merge the URL, headers and cookies again, and parses every line into pydantic models, which
together cost as much as the rest of the proxy's own work. The request goes through the same httpx client (its
base URL, headers, timeouts, auth, proxies and redirects), and failures are the ones the `ollama` client raises:
`ollama.ResponseError` for an error status or an error line, httpx's errors for the connection, and msgspec's
`DecodeError` or `ValidationError` for an answer that is not Ollama's JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import ollama

from tunesmith.server.backends.base import GenerateRequest

__all__ = ["ChatPart", "GeneratePart", "Generations", "generation_body"]


class _Function(msgspec.Struct):
    name: str
    arguments: dict[str, Any]


class _ToolCall(msgspec.Struct):
    function: _Function


class _Message(msgspec.Struct):
    role: str
    content: str | None = None
    thinking: str | None = None
    tool_calls: list[_ToolCall] | None = None


class ChatPart(msgspec.Struct):
    """A line of /api/chat's answer, or the whole answer: only the fields the proxy reads."""

    message: _Message | None = None  # absent only from an error line
    done: bool | None = None
    done_reason: str | None = None
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    error: str | None = None


class GeneratePart(msgspec.Struct):
    """A line of /api/generate's answer, or the whole answer."""

    response: str | None = None
    done: bool | None = None
    done_reason: str | None = None
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    error: str | None = None


# Lax, as the client's pydantic models are: 12.0 is a count of 12.
_CHAT = msgspec.json.Decoder(ChatPart, strict=False)
_GENERATE = msgspec.json.Decoder(GeneratePart, strict=False)
_encode = msgspec.json.encode


def generation_body(request: GenerateRequest, stream: bool) -> tuple[str, dict[str, Any]]:
    """The path and JSON body for `request`: a raw generation when it has a prompt, else a chat."""
    if request.prompt is not None:
        body: dict[str, Any] = {"model": request.model, "stream": stream}
        if request.options:
            body["options"] = request.options
        if request.format is not None:
            body["format"] = request.format
        body.update(prompt=request.prompt, raw=True)
        return "/api/generate", body
    # The messages and tools go as they are: the client's Message model has no tool call `id` and no
    # `tool_call_id`, which Ollama's API takes and templates print (Mistral's call ids).
    body = {"model": request.model, "messages": request.messages, "stream": stream}
    for key, value in (("tools", request.tools), ("options", request.options), ("format", request.format)):
        if value:
            body[key] = value
    if request.think is not None:  # false is a value: it switches a thinking model's reasoning off
        body["think"] = request.think
    return "/api/chat", body


def _decoder(path: str) -> msgspec.json.Decoder:
    return _CHAT if path == "/api/chat" else _GENERATE


def _checked(part: ChatPart | GeneratePart) -> ChatPart | GeneratePart:
    if part.error:
        raise ollama.ResponseError(part.error)
    if isinstance(part, ChatPart) and part.message is None:
        raise msgspec.ValidationError("Object missing required field `message`")
    return part


class Generations:
    """Ollama's /api/chat and /api/generate through one httpx client (an `ollama.AsyncClient`'s own)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._templates: dict[str, httpx.Request] = {}

    def _request(self, path: str, body: dict[str, Any]) -> httpx.Request:
        # What httpx's build_request makes of the client's base URL, headers and timeout, made once per path; a
        # client holding cookies (set by a proxy in front of Ollama) builds each request afresh, so they go along.
        template = self._templates.get(path)
        if template is None or self._client.cookies:
            template = self._templates[path] = self._client.build_request("POST", path)
            del template.headers["content-length"]  # each request's own is set from its body
        return httpx.Request(
            "POST", template.url, headers=template.headers, content=_encode(body), extensions=template.extensions
        )

    async def whole(self, request: GenerateRequest) -> ChatPart | GeneratePart:
        """The whole answer (`"stream": false`)."""
        path, body = generation_body(request, stream=False)
        response = await self._client.send(self._request(path, body))
        if not response.is_success:
            raise ollama.ResponseError(response.text, response.status_code)
        part = _decoder(path).decode(response.content)
        if isinstance(part, ChatPart) and part.message is None:  # the client reads no error line from a whole answer
            raise msgspec.ValidationError("Object missing required field `message`")
        return part

    async def stream(self, request: GenerateRequest) -> AsyncIterator[ChatPart | GeneratePart]:
        """Each NDJSON line of the answer as it arrives; closing the iterator closes the connection, which is how
        Ollama learns to stop generating."""
        path, body = generation_body(request, stream=True)
        decode = _decoder(path).decode
        response = await self._client.send(self._request(path, body), stream=True)
        try:
            if not response.is_success:
                await response.aread()
                raise ollama.ResponseError(response.text, response.status_code)
            rest = b""
            async for chunk in response.aiter_bytes():
                lines = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
                rest = lines.pop()
                for line in lines:
                    yield _checked(decode(line))
            if rest.strip():
                yield _checked(decode(rest))
        finally:
            await response.aclose()
