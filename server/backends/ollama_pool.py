"""The Ollama upstreams of the Ollama backend: their clients, model lists and health, and which ones may take a request.

A request goes to a healthy upstream that has the model, the least busy first; unhealthy ones are kept last, in case
they came back, and a background task re-checks them (and any never listed) every `health_interval` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx
import msgspec
import ollama
import pydantic

from tunesmith.errors import UpstreamError
from tunesmith.server.backends.base import ModelCard
from tunesmith.server.backends.ollama_wire import Generations
from tunesmith.server.backends.upstream_transport import upstream_transport
from tunesmith.server.errors import ModelNotFoundError

__all__ = ["MALFORMED", "UNREACHABLE", "Upstream", "UpstreamPool", "is_malformed"]

_log = logging.getLogger("tunesmith.server")
# Connection failures: nothing reached the upstream, so another one may safely take the request.
UNREACHABLE = (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout)
# What the `ollama` client raises on a body that is not Ollama's: not JSON, the wrong fields, or JSON that is not an
# object at all (the client's `Model(**part)` then raises TypeError, its `part.get(...)` AttributeError); and what
# msgspec raises reading a generation's answer (ollama_wire.py): its ValidationError is a DecodeError.
MALFORMED = (json.JSONDecodeError, pydantic.ValidationError, msgspec.DecodeError, TypeError, AttributeError)
# httpcore walks its whole pool on every request and response (a readability check per idle connection, a count of
# idle ones per idle one), so its cost grows with the pool: at 64 concurrent streams one client spends more time
# there than on the request. Several clients per upstream, taken in turn, keep every pool small. (That pool serves
# https upstreams only; plain HTTP goes through upstream_transport.py's, which finds an idle connection in O(1).)
_SHARDS = 8
_KEEPALIVE = 32


def is_malformed(error: BaseException) -> bool:
    """Whether `error` is the `ollama` client failing on an answer that is not Ollama's. A TypeError or
    AttributeError raised outside the client is a bug of ours, not a malformed answer."""
    if isinstance(error, (json.JSONDecodeError, pydantic.ValidationError, msgspec.DecodeError)):
        return True
    if not isinstance(error, MALFORMED):
        return False
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    return trace is not None and trace.tb_frame.f_globals.get("__name__", "").partition(".")[0] == "ollama"


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password:
        parts = parts._replace(netloc=(parts.hostname or "") + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts)


def _tagged(model: str) -> str:
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


class Upstream:
    """One Ollama server: its clients, what it serves, how many requests it has in flight and whether it answers."""

    def __init__(self, url: str, clients: list[ollama.AsyncClient]) -> None:
        self.url = _redact(url)
        self.clients = clients
        self._turns = itertools.cycle(clients)
        # Generations go through each client's own httpx client (its base URL, headers, timeouts), not its methods.
        self._generation_turns = itertools.cycle([Generations(client._client) for client in clients])
        self.in_flight = 0
        self.healthy = True
        self.models: dict[str, ModelCard] | None = None
        self.error: str | None = None

    @property
    def client(self) -> ollama.AsyncClient:
        """The next client in turn (each has its own small connection pool)."""
        return next(self._turns)

    @property
    def generations(self) -> Generations:
        """/api/chat and /api/generate through the next client in turn."""
        return next(self._generation_turns)

    def mark_down(self, error: BaseException) -> None:
        if isinstance(error, UNREACHABLE):
            reason = "unreachable: the connection failed"
        elif isinstance(error, (TimeoutError, asyncio.TimeoutError, httpx.TimeoutException)):
            reason = "unreachable: no answer in time"
        elif isinstance(error, MALFORMED):
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


class UpstreamPool:
    """The upstreams of `urls`, with their model lists kept fresh and a background health check."""

    def __init__(self, urls: list[str], *, connect_timeout: float, read_timeout: float, health_interval: float) -> None:
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=_KEEPALIVE)
        tls = httpx.create_ssl_context()  # one for all clients: building it costs milliseconds
        self.upstreams = [
            Upstream(
                url,
                [
                    ollama.AsyncClient(
                        host=url, timeout=timeout, transport=upstream_transport(verify=tls, limits=limits)
                    )
                    for _ in range(_SHARDS)
                ],
            )
            for url in urls
        ]
        self._read_timeout = read_timeout
        self._health_interval = health_interval
        self._health_task: asyncio.Task | None = None

    # ---- models -------------------------------------------------------------------------------------------------

    async def _refresh(self, upstream: Upstream) -> None:
        try:
            with anyio.fail_after(self._read_timeout):
                listing = await upstream.client.list()
        except (
            *UNREACHABLE,
            *MALFORMED,
            httpx.HTTPError,
            ollama.ResponseError,
            TimeoutError,
            asyncio.TimeoutError,
        ) as err:
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
        await asyncio.gather(*(self._refresh(upstream) for upstream in self.upstreams))
        merged: dict[str, ModelCard] = {}
        for upstream in self.upstreams:
            if upstream.healthy and upstream.models:
                for card in upstream.models.values():
                    merged.setdefault(card.id, card)
        if not any(upstream.healthy for upstream in self.upstreams):
            raise UpstreamError(
                f"no Ollama upstream answered ({self.describe_errors()})",
                hint="Start Ollama (`ollama serve`) or check the --ollama URLs.",
            )
        return list(merged.values())

    def describe_errors(self) -> str:
        return "; ".join(f"{upstream.url}: {upstream.error}" for upstream in self.upstreams)

    def _holders(self, model: str) -> list[Upstream]:
        name = _tagged(model)
        return [upstream for upstream in self.upstreams if upstream.models is not None and name in upstream.models]

    async def has_model(self, model: str) -> bool:
        if not self._holders(model):
            # A model pulled since the last look, or lists never fetched: look again, once.
            await asyncio.gather(*(self._refresh(upstream) for upstream in self.upstreams))
        return bool(self._holders(model))

    async def candidates(self, model: str) -> list[Upstream]:
        """The upstreams that may take a request for `model`, in the order to try them."""
        if not self._holders(model):
            await self.has_model(model)
        holders = self._holders(model)
        if not holders:
            if not any(upstream.healthy for upstream in self.upstreams):
                raise UpstreamError(
                    f"no Ollama upstream answered ({self.describe_errors()})",
                    hint="Start Ollama (`ollama serve`) or check the --ollama URLs.",
                )
            raise ModelNotFoundError(
                f"model {model!r} is not served here",
                hint="List the served models with GET /v1/models, or `ollama pull` it.",
            )
        # Healthy ones first, least busy first; unhealthy ones last, in case they came back.
        return sorted(holders, key=lambda upstream: (not upstream.healthy, upstream.in_flight))

    # ---- health -------------------------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        upstreams = [
            {
                "url": upstream.url,
                "healthy": upstream.healthy,
                "in_flight": upstream.in_flight,
                "models": len(upstream.models or ()),
                "error": upstream.error,
            }
            for upstream in self.upstreams
        ]
        return {"ok": any(upstream.healthy for upstream in self.upstreams), "upstreams": upstreams}

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval)
            try:
                await asyncio.gather(
                    *(
                        self._refresh(upstream)
                        for upstream in self.upstreams
                        if not upstream.healthy or upstream.models is None
                    )
                )
            except Exception:  # noqa: BLE001
                # A bug, but one that must not end the checks for good: a down upstream would never come back.
                _log.exception("the background health check of the Ollama upstreams failed")

    async def start(self) -> None:
        await asyncio.gather(*(self._refresh(upstream) for upstream in self.upstreams))
        self._health_task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        await asyncio.gather(*(client.close() for upstream in self.upstreams for client in upstream.clients))
