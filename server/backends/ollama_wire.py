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

import logging
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
_httpx_log = logging.getLogger("httpx")  # the client's own request log, kept for requests sent past it


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
        self._templates: dict[str, tuple[httpx.Request, httpx.AsyncBaseTransport | None]] = {}

    def _template(self, path: str) -> tuple[httpx.Request, httpx.AsyncBaseTransport | None]:
        """What httpx's build_request makes of the client's base URL, headers and timeout for `path`, and the
        transport (or proxy) the client would send it through; no transport where the client's own send has work
        to do on the way (auth, event hooks, cookies)."""
        client = self._client
        template = client.build_request("POST", path)
        del template.headers["content-length"]  # each request's own is set from its body
        hooks = client.event_hooks["request"] or client.event_hooks["response"]
        plain = client.auth is None and not template.url.userinfo and not hooks and not client.cookies
        return template, client._transport_for_url(template.url) if plain else None

    async def _send(self, path: str, body: dict[str, Any], stream: bool) -> httpx.Response:
        entry = self._templates.get(path)
        if entry is None or (entry[1] is not None and self._client.cookies):  # cookies: set since by a proxy
            entry = self._templates[path] = self._template(path)
        template, transport = entry
        if transport is None:
            request = self._client.build_request("POST", path, content=_encode(body))
            return await self._client.send(request, stream=stream)
        request = httpx.Request(
            "POST", template.url, headers=template.headers, content=_encode(body), extensions=template.extensions
        )
        # What the client's send does for a request with no auth, hooks or cookies, without its bookkeeping (a
        # cookie jar that parses every answer's URL with urllib): a tenth of the proxy's own work per request.
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as err:
            err.request = request
            raise
        response.request = request
        _httpx_log.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method,
            request.url,
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )
        if response.has_redirect_location:
            # Not Ollama (it never redirects) but something in front of it: from now on the client sends, and
            # follows, as it would have.
            await response.aclose()
            self._templates[path] = (template, None)
            return await self._client.send(request, stream=stream)
        if "set-cookie" in response.headers:  # the same: kept for the next requests, which the client then sends
            self._client.cookies.extract_cookies(response)
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response

    async def whole(self, request: GenerateRequest) -> ChatPart | GeneratePart:
        """The whole answer (`"stream": false`)."""
        path, body = generation_body(request, stream=False)
        response = await self._send(path, body, stream=False)
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
        response = await self._send(path, body, stream=True)
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
