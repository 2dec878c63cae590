"""The Ollama backend: one or more Ollama servers behind the `ollama` AsyncClient, with least-busy routing.

A request goes to the healthy upstream that has the model and the fewest requests in flight; a connection failure
before the first byte fails over to the next one, and a background task re-checks unhealthy upstreams.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx
import ollama
import pydantic

from tunesmith.errors import UpstreamError
from tunesmith.server.backends.base import Delta, Embeddings, GenerateRequest, ModelCard
from tunesmith.server.errors import BadRequestError, ModelNotFoundError, UnfinishedAnswerError, UpstreamTimeoutError

__all__ = ["OllamaBackend"]

_log = logging.getLogger("tunesmith.server")
# Connection failures: nothing reached the upstream, so another one may safely take the request.
_UNREACHABLE = (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout)
# What the `ollama` client raises on a body that is not Ollama's: not JSON, the wrong fields, or JSON that is not an
# object at all (the client's `Model(**part)` then raises TypeError).
_MALFORMED = (json.JSONDecodeError, pydantic.ValidationError, TypeError)
# httpcore walks its whole pool on every request and response (a readability check per idle connection, a count of
# idle ones per idle one), so its cost grows with the pool: at 64 concurrent streams one client spends more time
# there than on the request. Several clients per upstream, taken in turn, keep every pool small.
_SHARDS = 8
_KEEPALIVE = 32


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        parts = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts)


def _tagged(model: str) -> str:
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


def _unfinished(upstream: _Upstream) -> UnfinishedAnswerError:
    # Ollama's last line says `done: true`; a body that ends before it is a cut answer, not a short one.
    return UnfinishedAnswerError(f"Ollama at {upstream.url}", detail=" (its answer had no final `done: true` line)",
                                 hint="Try again; if it keeps happening, check Ollama's log and any proxy between.")


class _Upstream:
    def __init__(self, url: str, clients: list[ollama.AsyncClient]) -> None:
        self.url = _redact(url)
        self.clients = clients
        self._turns = itertools.cycle(clients)
        self.in_flight = 0
        self.healthy = True
        self.models: dict[str, ModelCard] | None = None
        self.error: str | None = None

    @property
    def client(self) -> ollama.AsyncClient:
        """The next client in turn (each has its own small connection pool)."""
        return next(self._turns)

    def mark_down(self, error: BaseException) -> None:
        if isinstance(error, _UNREACHABLE):
            reason = "unreachable: the connection failed"
        elif isinstance(error, (TimeoutError, asyncio.TimeoutError, httpx.TimeoutException)):
            reason = "unreachable: no answer in time"
        elif isinstance(error, _MALFORMED):
            reason = f"unusable answer: not Ollama's JSON ({type(error).__name__}: {error})"
        else:
            reason = f"unusable answer: {error}"
        if self.healthy:
            _log.warning("upstream %s is %s", self.url, reason)
        self.healthy = False
        self.error = reason

    def mark_up(self) -> None:
        if not self.healthy:
            _log.info("upstream %s is back", self.url)
        self.healthy, self.error = True, None


class OllamaBackend:
    """Serve the models of one or more Ollama servers (`urls`)."""

    name = "ollama"

    def __init__(self, urls: list[str], *, connect_timeout: float = 5.0, read_timeout: float = 300.0,
                 health_interval: float = 10.0) -> None:
        if not urls:
            raise ValueError("OllamaBackend needs at least one upstream URL")
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=_KEEPALIVE)
        tls = httpx.create_ssl_context()  # one for all clients: building it costs milliseconds
        self._upstreams = [_Upstream(url, [ollama.AsyncClient(host=url, timeout=timeout, limits=limits, verify=tls)
                                           for _ in range(_SHARDS)]) for url in urls]
        self._read_timeout = read_timeout
        self._health_interval = health_interval
        self._health_task: asyncio.Task | None = None

    # ---- models -------------------------------------------------------------------------------------------------

    async def _refresh(self, upstream: _Upstream) -> None:
        try:
            with anyio.fail_after(self._read_timeout):
                listing = await upstream.client.list()
        except (*_UNREACHABLE, *_MALFORMED, httpx.HTTPError, ollama.ResponseError, TimeoutError,
                asyncio.TimeoutError) as err:
            upstream.mark_down(err)
            return
        cards = {}
        for item in listing.models:
            if item.model:
                created = int(item.modified_at.timestamp()) if item.modified_at else 0
                cards[item.model] = ModelCard(id=item.model, owned_by="ollama", created=created)
        upstream.models = cards
        upstream.mark_up()

    async def list_models(self) -> list[ModelCard]:
        await asyncio.gather(*(self._refresh(upstream) for upstream in self._upstreams))
        merged: dict[str, ModelCard] = {}
        for upstream in self._upstreams:
            if upstream.healthy and upstream.models:
                for card in upstream.models.values():
                    merged.setdefault(card.id, card)
        if not any(upstream.healthy for upstream in self._upstreams):
            raise UpstreamError(f"no Ollama upstream answered ({self._describe_errors()})",
                                hint="Start Ollama (`ollama serve`) or check the --ollama URLs.")
        return list(merged.values())

    def _describe_errors(self) -> str:
        return "; ".join(f"{upstream.url}: {upstream.error}" for upstream in self._upstreams)

    def _holders(self, model: str) -> list[_Upstream]:
        name = _tagged(model)
        return [upstream for upstream in self._upstreams if upstream.models is not None and name in upstream.models]

    async def has_model(self, model: str) -> bool:
        if not self._holders(model):
            # A model pulled since the last look, or lists never fetched: look again, once.
            await asyncio.gather(*(self._refresh(upstream) for upstream in self._upstreams))
        return bool(self._holders(model))

    async def _candidates(self, model: str) -> list[_Upstream]:
        if not self._holders(model):
            await self.has_model(model)
        holders = self._holders(model)
        if not holders:
            if not any(upstream.healthy for upstream in self._upstreams):
                raise UpstreamError(f"no Ollama upstream answered ({self._describe_errors()})",
                                    hint="Start Ollama (`ollama serve`) or check the --ollama URLs.")
            raise ModelNotFoundError(f"model {model!r} is not served here",
                                     hint="List the served models with GET /v1/models, or `ollama pull` it.")
        # Healthy ones first, least busy first; unhealthy ones last, in case they came back.
        return sorted(holders, key=lambda upstream: (not upstream.healthy, upstream.in_flight))

    # ---- generation ---------------------------------------------------------------------------------------------

    def _call(self, upstream: _Upstream, request: GenerateRequest, stream: bool):
        if request.prompt is not None:
            return upstream.client.generate(model=request.model, prompt=request.prompt, raw=True, stream=stream,
                                            options=request.options or None, format=request.format)
        return upstream.client.chat(model=request.model, messages=request.messages, tools=request.tools,
                                    stream=stream, options=request.options or None, format=request.format)

    def _failure(self, err: BaseException, upstream: _Upstream, model: str) -> Exception:
        if isinstance(err, (httpx.TimeoutException, TimeoutError, asyncio.TimeoutError)):
            return UpstreamTimeoutError(f"Ollama at {upstream.url} did not answer within {self._read_timeout:g} s",
                                        hint="Raise the server's read_timeout, or try again when it is less busy.")
        if isinstance(err, ollama.ResponseError):
            message = f"Ollama at {upstream.url}: {err.error}"
            if err.status_code == 404:
                return ModelNotFoundError(message, hint="`ollama pull` the model, or pick one from GET /v1/models.")
            if err.status_code == 400:
                return BadRequestError(message)
            status = f" (status {err.status_code})" if err.status_code > 0 else ""
            return UpstreamError(f"{message}{status}")
        if isinstance(err, _UNREACHABLE):
            return UpstreamError(f"Ollama at {upstream.url} is unreachable", hint="Check that `ollama serve` runs.")
        if isinstance(err, _MALFORMED):
            return UpstreamError(f"Ollama at {upstream.url} sent a malformed answer: {err}",
                                 hint="Check that the --ollama URL is an Ollama server, and its version.")
        return UpstreamError(f"Ollama at {upstream.url} broke off the answer: {err or type(err).__name__}")

    async def _open(self, request: GenerateRequest, stream: bool) -> tuple[_Upstream, Any, Any]:
        """Send to the least busy holder; before any byte came back, a connection failure tries the next one."""
        last_error: BaseException | None = None
        for upstream in await self._candidates(request.model):
            upstream.in_flight += 1
            try:
                # fail_after, unlike wait_for, stays in this task: the opened stream is read on in this task.
                with anyio.fail_after(self._read_timeout):
                    answer = await self._call(upstream, request, stream)
                    first = await anext(answer, None) if stream else answer
            except _UNREACHABLE as err:
                upstream.in_flight -= 1
                upstream.mark_down(err)
                last_error = err
                continue
            except BaseException as err:
                upstream.in_flight -= 1
                if isinstance(err, Exception):
                    raise self._failure(err, upstream, request.model) from err
                raise
            if first is None:  # a stream that ended before its first line
                upstream.in_flight -= 1
                with contextlib.suppress(Exception):
                    await answer.aclose()
                raise _unfinished(upstream)
            # An answer proves the upstream is back; /health should not wait for the next background check.
            upstream.mark_up()
            return upstream, answer, first
        raise UpstreamError(f"every Ollama upstream holding {request.model!r} is unreachable "
                            f"({self._describe_errors()})", hint="Check that `ollama serve` runs.") from last_error

    @staticmethod
    def _delta(part: Any) -> Delta:
        if isinstance(part, ollama.ChatResponse):
            content = part.message.content or ""
            calls = [call.model_dump(exclude_none=True) for call in part.message.tool_calls or ()] or None
        else:
            content, calls = part.response or "", None
        return Delta(content=content, tool_calls=calls, done=bool(part.done), done_reason=part.done_reason,
                     prompt_tokens=part.prompt_eval_count or 0, completion_tokens=part.eval_count or 0)

    async def stream(self, request: GenerateRequest) -> AsyncIterator[Delta]:
        upstream, answer, first = await self._open(request, stream=True)
        try:
            part = first
            while True:
                if part.done:
                    # Read the body to its end first: a fully read response returns its connection to the pool.
                    async for _ in answer:
                        pass
                    yield self._delta(part)
                    return
                yield self._delta(part)
                part = await anext(answer, None)
                if part is None:
                    break
        except Exception as err:
            raise self._failure(err, upstream, request.model) from err
        finally:
            upstream.in_flight -= 1
            # Closing the NDJSON stream closes its connection, which is how Ollama learns to stop generating.
            with contextlib.suppress(Exception):
                await answer.aclose()
        raise _unfinished(upstream)

    async def complete(self, request: GenerateRequest) -> Delta:
        upstream, _, answer = await self._open(request, stream=False)
        upstream.in_flight -= 1
        if not answer.done:
            raise _unfinished(upstream)
        return self._delta(answer)

    async def embed(self, model: str, inputs: list[str]) -> Embeddings:
        last_error: BaseException | None = None
        for upstream in await self._candidates(model):
            upstream.in_flight += 1
            try:
                with anyio.fail_after(self._read_timeout):
                    answer = await upstream.client.embed(model=model, input=inputs)
                return Embeddings(vectors=[list(vector) for vector in answer.embeddings],
                                  prompt_tokens=answer.prompt_eval_count or 0)
            except _UNREACHABLE as err:
                upstream.mark_down(err)
                last_error = err
            except Exception as err:
                raise self._failure(err, upstream, model) from err
            finally:
                upstream.in_flight -= 1
        raise UpstreamError(f"every Ollama upstream holding {model!r} is unreachable ({self._describe_errors()})",
                            hint="Check that `ollama serve` runs.") from last_error

    # ---- health -------------------------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        upstreams = [{"url": upstream.url, "healthy": upstream.healthy, "in_flight": upstream.in_flight,
                      "models": len(upstream.models or ()), "error": upstream.error} for upstream in self._upstreams]
        return {"ok": any(upstream.healthy for upstream in self._upstreams), "upstreams": upstreams}

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval)
            try:
                await asyncio.gather(*(self._refresh(upstream) for upstream in self._upstreams
                                       if not upstream.healthy or upstream.models is None))
            except Exception:
                # A bug, but one that must not end the checks for good: a down upstream would never come back.
                _log.exception("the background health check of the Ollama upstreams failed")

    async def start(self) -> None:
        await asyncio.gather(*(self._refresh(upstream) for upstream in self._upstreams))
        self._health_task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        await asyncio.gather(*(client.close() for upstream in self._upstreams for client in upstream.clients))
