"""The server over an Ollama that is down or slow, over sockets: one that refuses connections or exits after start,
one that never answers, one that stalls mid-stream. Each is a 502 or 504 OpenAI error naming the upstream (or a
timeout event once the stream began), and the server serves the next request as if nothing had happened.

tests/server/test_ollama_errors.py checks the same mappings with pytest-httpx in place of the network; here the
bytes are real.

Why a fake: a real Ollama cannot be made to refuse connections, exit or hang on demand.
"""

from __future__ import annotations

import httpx
import pytest

from tests.reliability.fault_stack import CANCEL_BOUND_S, CHAT, openai_error, serves_normally, silent
from tests.reliability.fault_upstream import Exchange, FaultyOllama, chat_line, refused_url, wait_for
from tests.server.conftest import sse_events
from tests.server.live import running
from tunesmith.server import ServerSettings, create_app

# What the timeout tests run with (indirect parametrization of `stack`).
SHORT_TIMEOUT = pytest.mark.parametrize("stack", [0.5], indirect=True)


# ---- down -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_that_refuses_connections_is_a_502_naming_it_and_how_to_start_ollama(stream):
    url = refused_url()
    app = create_app(ServerSettings(ollama=(url,), health_interval=3600))
    with running(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        error = openai_error(
            http.post("/v1/chat/completions", json={**CHAT, "stream": stream}), 502, "upstream_unavailable"
        )
        assert url in error["message"] and "ollama serve" in error["message"], error
        assert url in openai_error(http.get("/v1/models"), 502, "upstream_unavailable")["message"]
        health = http.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"


def test_an_upstream_that_exits_after_start_is_a_502_and_serves_again_when_back(stack):
    fake, http = stack
    assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
    fake.stop_listening()
    error = openai_error(http.post("/v1/chat/completions", json={**CHAT, "stream": True}), 502, "upstream_unavailable")
    assert fake.url in error["message"] and "ollama serve" in error["message"], error
    assert http.get("/health").status_code == 503
    with FaultyOllama(port=int(fake.url.rsplit(":", 1)[1])).running():
        serves_normally(http)


# ---- slow -------------------------------------------------------------------------------------------------------


async def _one_piece_then_silent(exchange: Exchange) -> None:
    await exchange.start_stream()
    await exchange.send_chunk(chat_line("Once"))
    await exchange.until_closed()


@SHORT_TIMEOUT
@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_that_never_answers_is_a_504_after_read_timeout_and_is_hung_up_on(stack, stream):
    fake, http = stack
    fake.handlers["/api/chat"] = silent
    error = openai_error(http.post("/v1/chat/completions", json={**CHAT, "stream": stream}), 504, "upstream_timeout")
    assert "0.5 s" in error["message"] and "read_timeout" in error["message"], error
    assert wait_for(lambda: all(c.closed_at for c in fake.connections_to("/api/chat")), CANCEL_BOUND_S)
    fake.heal()
    serves_normally(http)


@SHORT_TIMEOUT
def test_an_upstream_that_stalls_mid_stream_ends_the_stream_with_a_timeout_event(stack):
    fake, http = stack
    fake.handlers["/api/chat"] = _one_piece_then_silent
    response = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    events = sse_events(response.text)
    assert events[0]["choices"][0]["delta"]["content"] == "Once" and "[DONE]" not in events
    assert events[-1]["error"]["code"] == "upstream_timeout"
    fake.heal()
    serves_normally(http)
