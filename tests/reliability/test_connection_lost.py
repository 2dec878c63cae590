"""A connection lost mid-answer, over sockets, from either side: Ollama resets it (before the first byte or
mid-stream), or the client walks away. A reset is a 502 OpenAI error, or an SSE error event once the stream began;
a client that goes away closes the upstream connection within a second. Either way the server serves the next
request as if nothing had happened.

tests/server/test_ollama_errors.py checks the same mappings with pytest-httpx in place of the network; here the
bytes are real.

Why a fake: a real Ollama cannot be made to reset a connection mid-answer on demand, nor report when the server
hung up on it.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.reliability.fault_stack import CANCEL_BOUND_S, CHAT, endless, openai_error, serves_normally, silent
from tests.reliability.fault_upstream import Exchange, chat_line, generate_line, wait_for
from tests.server.conftest import sse_events

# ---- reset ------------------------------------------------------------------------------------------------------


async def _reset_after_one_piece(exchange: Exchange) -> None:
    await exchange.start_stream()
    await exchange.send_chunk(chat_line("Once"))
    exchange.reset()


async def _reset_at_once(exchange: Exchange) -> None:
    exchange.reset()


def test_a_reset_mid_stream_ends_the_stream_with_an_error_event_and_the_server_stays_healthy(stack):
    fake, http = stack
    fake.handlers["/api/chat"] = _reset_after_one_piece
    response = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    events = sse_events(response.text)
    assert events[0]["choices"][0]["delta"]["content"] == "Once" and "[DONE]" not in events
    error = events[-1]["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_unavailable")
    assert fake.url in error["message"]
    assert response.text.endswith("\n\n")
    fake.heal()
    serves_normally(http)


@pytest.mark.parametrize("stream", [False, True])
def test_a_reset_before_the_first_byte_is_a_502(stack, stream):
    fake, http = stack
    fake.handlers["/api/chat"] = _reset_at_once
    openai_error(http.post("/v1/chat/completions", json={**CHAT, "stream": stream}), 502, "upstream_unavailable")
    fake.heal()
    serves_normally(http)


# ---- client disconnect ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "upstream_path", "body", "line"),
    [
        ("/v1/chat/completions", "/api/chat", CHAT, chat_line),
        ("/v1/completions", "/api/generate", {"model": "echo", "prompt": "Once upon"}, generate_line),
    ],
    ids=["chat", "completions"],
)
def test_a_client_gone_mid_stream_closes_the_upstream_connection_within_a_second(
    stack, path, upstream_path, body, line
):
    fake, http = stack
    fake.handlers[upstream_path] = endless(line)
    with http.stream("POST", path, json={**body, "stream": True}) as response:
        assert next(response.iter_lines()).startswith("data: ")
    gone = time.monotonic()
    [upstream] = fake.connections_to(upstream_path)
    assert wait_for(lambda: upstream.closed_at is not None, CANCEL_BOUND_S + 1)
    assert upstream.closed_at - gone <= CANCEL_BOUND_S
    fake.heal()
    serves_normally(http)


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_gone_before_the_first_byte_closes_the_upstream_connection_within_a_second(stack, stream):
    fake, http = stack
    fake.handlers["/api/chat"] = silent
    port = int(str(http.base_url).rstrip("/").rsplit(":", 1)[1])
    body = json.dumps({**CHAT, "stream": stream}).encode()
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert wait_for(lambda: bool(fake.connections_to("/api/chat")), 5), "the request never reached the upstream"
    gone = time.monotonic()
    [upstream] = fake.connections_to("/api/chat")
    assert wait_for(lambda: upstream.closed_at is not None, CANCEL_BOUND_S + 1)
    assert upstream.closed_at - gone <= CANCEL_BOUND_S
    fake.heal()
    serves_normally(http)
