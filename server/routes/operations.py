"""GET /health (each backend's and upstream's state) and GET /metrics (Prometheus text format)."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tunesmith.server.backends import Backends
from tunesmith.server.observe import Metrics

__all__ = ["health", "metrics"]


@get(
    "/health",
    tags=["operations"],
    summary="Backend and upstream health",
    description="200 when at least one backend can serve, 503 when none can.",
)
async def health(backends: Backends) -> Response[dict[str, Any]]:
    state = await backends.health()
    return Response(
        {"status": "ok" if state["ok"] else "unavailable", **state}, status_code=200 if state["ok"] else 503
    )


@get("/metrics", tags=["operations"], summary="Prometheus metrics", media_type="text/plain")
async def metrics(backends: Backends, metrics: Metrics) -> Response[bytes]:
    state = await backends.health()
    for name, backend_state in state["backends"].items():
        for upstream in backend_state.get("upstreams", []):
            metrics.upstream_up.labels(name, upstream["url"]).set(1 if upstream["healthy"] else 0)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
