"""The server over a FaultyOllama, both on real sockets, for the fault tests (test_upstream_down_or_slow.py,
test_upstream_garbage.py, test_connection_lost.py, test_upstream_routing.py): the `stack` fixture (conftest.py offers
it to the folder), the request they send, the upstream handlers several of them use, and the two checks they end
with: a failure is an OpenAI error, and the server then serves the next request as if nothing had happened.
"""

from __future__ import annotations

import httpx
import pytest

from tests.reliability.fault_upstream import Exchange, FaultyOllama
from tests.server.conftest import sse_events
from tests.server.live import running
from tunesmith.server import ServerSettings, create_app

CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
# The promise: a client that goes away stops the upstream's work within a second.
CANCEL_BOUND_S = 1.0
# Long enough that only a disconnect, never the timeout, can close an upstream connection within the bound.
READ_TIMEOUT_S = 30.0


@pytest.fixture
def stack(request):
    """A scriptable fake Ollama and a server over it, both on real sockets; an HTTP client of the server."""
    fake = FaultyOllama()
    read_timeout = getattr(request, "param", READ_TIMEOUT_S)
    with fake.running():
        app = create_app(ServerSettings(ollama=(fake.url,), read_timeout=read_timeout, health_interval=3600))
        with running(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            yield fake, http


def openai_error(response: httpx.Response, status: int, code: str | None) -> dict:
    """The error of `response`, checked to be an OpenAI error body with `status` and `code`."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code, error
    return error


def serves_normally(http: httpx.Client) -> None:
    """A streamed chat through the server then ends in [DONE], and the upstream is healthy with nothing in flight."""
    answer = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert answer.status_code == 200 and sse_events(answer.text)[-1] == "[DONE]", answer.text
    upstream = http.get("/health").json()["backends"]["ollama"]["upstreams"][0]
    assert upstream["healthy"] and upstream["in_flight"] == 0, upstream


async def silent(exchange: Exchange) -> None:
    """An upstream that accepts the request and never answers."""
    await exchange.until_closed()


def endless(line):
    """An upstream that starts a stream with one piece (`line` makes it in its API's shape) and never ends it."""

    async def handler(exchange: Exchange) -> None:
        await exchange.start_stream()
        await exchange.send_chunk(line("Once"))
        await exchange.until_closed()

    return handler
