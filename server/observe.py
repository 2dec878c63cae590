"""Request logs and Prometheus metrics, from one ASGI middleware that sees every request start and end.

Handlers note the model and token counts on the request's `RequestRecord`; the middleware writes one structured
log line (no prompt text unless `log_prompts`) and updates the app's own metrics registry when the body ends.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics", "RequestRecord", "observe_middleware", "record_of"]

_log = logging.getLogger("tunesmith.server.access")
_KEY = "tunesmith_record"
# Metric labels use route templates, never raw paths, so unknown URLs cannot blow up the series count.
_ROUTES = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/models",
    "/v1/publish",
    "/health",
    "/metrics",
)


@dataclass
class RequestRecord:
    """What a handler learned about its request, for the log line and the metrics."""

    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stream: bool = False
    error: str | None = None
    prompt: Any = None


def record_of(request: Request) -> RequestRecord:
    """The record the middleware attached to this request (a detached one where no middleware runs)."""
    state = request.scope.setdefault("state", {})
    if _KEY not in state:
        state[_KEY] = RequestRecord()
    return state[_KEY]


class Metrics:
    """The server's Prometheus metrics, in a registry of its own (two apps in one process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tunesmith_requests", "HTTP requests served", ["route", "model", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "tunesmith_request_seconds",
            "Time from request to the end of the response body",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.tokens = Counter("tunesmith_tokens", "Tokens processed", ["model", "kind"], registry=self.registry)
        self.in_flight = Gauge("tunesmith_requests_in_flight", "Requests being served", registry=self.registry)
        self.upstream_up = Gauge(
            "tunesmith_upstream_up",
            "1 when a backend upstream is reachable",
            ["backend", "upstream"],
            registry=self.registry,
        )


def _route(path: str) -> str:
    if path.startswith("/v1/models/"):
        return "/v1/models/{model}"
    if path.startswith("/v1/publish/"):
        return "/v1/publish/{job_id}"
    return path if path in _ROUTES else "other"


def observe_middleware(metrics: Metrics, *, log_prompts: bool) -> Any:
    """A Litestar middleware factory timing each HTTP request and logging it once its body is complete."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            record = RequestRecord()
            scope.setdefault("state", {})[_KEY] = record
            started = time.perf_counter()
            status = 500
            done = False

            def finish() -> None:
                nonlocal done
                done = True
                elapsed = time.perf_counter() - started
                route = _route(scope["path"])
                model = record.model or ""
                metrics.requests.labels(route, model, str(status)).inc()
                metrics.latency.labels(route).observe(elapsed)
                if record.prompt_tokens:
                    metrics.tokens.labels(model, "prompt").inc(record.prompt_tokens)
                if record.completion_tokens:
                    metrics.tokens.labels(model, "completion").inc(record.completion_tokens)
                if _log.isEnabledFor(logging.INFO):
                    line = {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "latency_ms": round(elapsed * 1000, 2),
                        "model": record.model,
                        "prompt_tokens": record.prompt_tokens,
                        "completion_tokens": record.completion_tokens,
                        "stream": record.stream,
                        "error": record.error,
                    }
                    if log_prompts:
                        line["prompt"] = record.prompt
                    _log.info(json.dumps(line, default=str))

            async def watch(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                # Logged before the last body message goes out, so the line exists once the client has the answer.
                if message["type"] == "http.response.body" and not message.get("more_body", False) and not done:
                    finish()
                await send(message)

            metrics.in_flight.inc()
            try:
                await app(scope, receive, watch)
            finally:
                metrics.in_flight.dec()
                if not done:  # the client went away before the body ended
                    record.error = record.error or "client disconnected"
                    finish()

        return middleware

    return factory
