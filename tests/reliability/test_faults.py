"""The server over an Ollama that breaks for real, over sockets: refused, silent, garbage, reset mid-answer, and a
client that walks away. Each failure reaches the client as an OpenAI error (502/504, or an SSE error event once the
stream began), never a 500, and the server serves the next request as if nothing had happened.

tests/server/ checks the same mappings with pytest-httpx in place of the network; here the bytes are real.

Why a fake: a real Ollama cannot be made to refuse, hang, send garbage or reset mid-answer on demand.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.reliability.fault_upstream import (
    Exchange,
    FaultyOllama,
    answer_chat,
    chat_line,
    generate_line,
    refused_url,
    wait_for,
)
from tests.server.conftest import sse_events
from tests.server.live import running
from tunesmith.server import ServerSettings, create_app

CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
# The promise: a client that goes away stops the upstream's work within a second.
CANCEL_BOUND_S = 1.0


# Long enough that only a disconnect, never the timeout, can close an upstream connection within the bound.
READ_TIMEOUT_S = 30.0
# What the timeout tests run with (indirect parametrization of `stack`).
SHORT_TIMEOUT = pytest.mark.parametrize("stack", [0.5], indirect=True)


@pytest.fixture
def stack(request):
    """A scriptable fake Ollama and a server over it, both on real sockets; an HTTP client of the server."""
    fake = FaultyOllama()
    read_timeout = getattr(request, "param", READ_TIMEOUT_S)
    with fake.running():
        app = create_app(ServerSettings(ollama=(fake.url,), read_timeout=read_timeout, health_interval=3600))
        with running(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            yield fake, http


def _error(response: httpx.Response, status: int, code: str | None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code, error
    return error


def _serves_normally(http: httpx.Client) -> None:
    answer = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert answer.status_code == 200 and sse_events(answer.text)[-1] == "[DONE]", answer.text
    upstream = http.get("/health").json()["backends"]["ollama"]["upstreams"][0]
    assert upstream["healthy"] and upstream["in_flight"] == 0, upstream


# ---- down -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_that_refuses_connections_is_a_502_naming_it_and_how_to_start_ollama(stream):
    url = refused_url()
    app = create_app(ServerSettings(ollama=(url,), health_interval=3600))
    with running(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        error = _error(http.post("/v1/chat/completions", json={**CHAT, "stream": stream}), 502, "upstream_unavailable")
        assert url in error["message"] and "ollama serve" in error["message"], error
        assert url in _error(http.get("/v1/models"), 502, "upstream_unavailable")["message"]
        health = http.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"


def test_an_upstream_that_exits_after_start_is_a_502_and_serves_again_when_back(stack):
    fake, http = stack
    assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
    fake.stop_listening()
    error = _error(http.post("/v1/chat/completions", json={**CHAT, "stream": True}), 502, "upstream_unavailable")
    assert fake.url in error["message"] and "ollama serve" in error["message"], error
    assert http.get("/health").status_code == 503
    with FaultyOllama(port=int(fake.url.rsplit(":", 1)[1])).running():
        _serves_normally(http)


# ---- slow -------------------------------------------------------------------------------------------------------


async def _silent(exchange: Exchange) -> None:
    await exchange.until_closed()


async def _one_piece_then_silent(exchange: Exchange) -> None:
    await exchange.start_stream()
    await exchange.send_chunk(chat_line("Once"))
    await exchange.until_closed()


@SHORT_TIMEOUT
@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_that_never_answers_is_a_504_after_read_timeout_and_is_hung_up_on(stack, stream):
    fake, http = stack
    fake.handlers["/api/chat"] = _silent
    error = _error(http.post("/v1/chat/completions", json={**CHAT, "stream": stream}), 504, "upstream_timeout")
    assert "0.5 s" in error["message"] and "read_timeout" in error["message"], error
    assert wait_for(lambda: all(c.closed_at for c in fake.connections_to("/api/chat")), CANCEL_BOUND_S)
    fake.heal()
    _serves_normally(http)


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
    _serves_normally(http)


# ---- garbage ----------------------------------------------------------------------------------------------------


def _whole(body: bytes, content_type: str = "application/json"):
    async def handler(exchange: Exchange) -> None:
        await exchange.send(200, body, content_type)

    return handler


def _streamed(*lines: bytes):
    async def handler(exchange: Exchange) -> None:
        await exchange.start_stream()
        for line in lines:
            await exchange.send_chunk(line)
        await exchange.end_stream()

    return handler


async def _not_http(exchange: Exchange) -> None:
    exchange.writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    exchange.keep_alive = False


@pytest.mark.parametrize(
    ("stream", "handler"),
    [
        (False, _whole(b"<html><body>502 Bad Gateway</body></html>", "text/html")),
        (False, _whole(b'{"model": "echo:latest", "done": true}')),
        (False, _whole(b"[1, 2, 3]")),
        (False, _not_http),
        (True, _streamed(b"this is not json\n")),
        (True, _streamed(b'{"unexpected": "shape"}\n')),
        (True, _streamed(b"[1, 2]\n")),
        (True, _streamed(b'"just a string"\n')),
        (True, _not_http),
    ],
    ids=[
        "html",
        "no-message",
        "json-array",
        "not-http",
        "stream-not-json",
        "stream-wrong-object",
        "stream-array",
        "stream-string",
        "stream-not-http",
    ],
)
def test_an_upstream_answering_garbage_is_a_502_not_a_500(stack, stream, handler):
    fake, http = stack
    fake.handlers["/api/chat"] = handler
    error = _error(http.post("/v1/chat/completions", json={**CHAT, "stream": stream}), 502, "upstream_unavailable")
    assert fake.url in error["message"], error
    fake.heal()
    _serves_normally(http)


def test_garbage_after_the_first_piece_ends_the_stream_with_an_error_event(stack):
    fake, http = stack
    fake.handlers["/api/chat"] = _streamed(chat_line("Once"), b"\x00\xff not json\n")
    response = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    events = sse_events(response.text)
    assert response.status_code == 200 and events[0]["choices"][0]["delta"]["content"] == "Once"
    assert "[DONE]" not in events and events[-1]["error"]["code"] == "upstream_unavailable"


# ---- cut short --------------------------------------------------------------------------------------------------

CUT_SHORT = "ended the answer before it finished"


@pytest.mark.parametrize(
    ("path", "upstream_path", "body", "line"),
    [
        ("/v1/chat/completions", "/api/chat", CHAT, chat_line),
        ("/v1/completions", "/api/generate", {"model": "echo", "prompt": "Once"}, generate_line),
    ],
    ids=["chat", "completions"],
)
def test_a_stream_that_ends_cleanly_without_its_done_line_ends_with_an_error_event(
    stack, path, upstream_path, body, line
):
    fake, http = stack
    fake.handlers[upstream_path] = _streamed(line("Once"), line(" upon"))
    response = http.post(path, json={**body, "stream": True})
    assert response.status_code == 200
    events = sse_events(response.text)
    assert "[DONE]" not in events and len(events) == 3, events
    assert all(choice["finish_reason"] is None for event in events[:-1] for choice in event["choices"])
    error = events[-1]["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_unavailable")
    assert CUT_SHORT in error["message"] and fake.url in error["message"], error
    fake.heal()
    _serves_normally(http)


@pytest.mark.parametrize(
    ("path", "upstream_path", "body", "handler"),
    [
        ("/v1/chat/completions", "/api/chat", CHAT, _whole(chat_line("Once"))),
        ("/v1/completions", "/api/generate", {"model": "echo", "prompt": "Once"}, _whole(generate_line(" upon"))),
        ("/v1/chat/completions", "/api/chat", {**CHAT, "stream": True}, _streamed()),
    ],
    ids=["chat-whole", "completions-whole", "chat-stream-empty"],
)
def test_an_answer_that_is_not_done_is_a_502_not_a_complete_answer(stack, path, upstream_path, body, handler):
    fake, http = stack
    fake.handlers[upstream_path] = handler
    error = _error(http.post(path, json=body), 502, "upstream_unavailable")
    assert CUT_SHORT in error["message"] and fake.url in error["message"], error
    fake.heal()
    _serves_normally(http)


@pytest.mark.parametrize(
    "body", [b"<html>oops</html>", b"[1, 2]", b'{"models": 5}', b'{"models": [{"model": 5}]}', b'"models"', b"null"]
)
def test_a_garbage_model_list_is_a_502_and_the_upstream_is_used_again_once_it_answers_well(stack, body):
    fake, http = stack
    fake.handlers["/api/tags"] = _whole(body)
    assert fake.url in _error(http.get("/v1/models"), 502, "upstream_unavailable")["message"]
    health = http.get("/health")
    assert health.status_code == 503
    assert health.json()["backends"]["ollama"]["upstreams"][0]["error"].startswith("unusable answer")
    fake.heal()
    assert [model["id"] for model in http.get("/v1/models").json()["data"]] == ["echo:latest"]
    _serves_normally(http)


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
    _serves_normally(http)


@pytest.mark.parametrize("stream", [False, True])
def test_a_reset_before_the_first_byte_is_a_502(stack, stream):
    fake, http = stack
    fake.handlers["/api/chat"] = _reset_at_once
    _error(http.post("/v1/chat/completions", json={**CHAT, "stream": stream}), 502, "upstream_unavailable")
    fake.heal()
    _serves_normally(http)


# ---- client disconnect ------------------------------------------------------------------------------------------


def _endless(line):
    async def handler(exchange: Exchange) -> None:
        await exchange.start_stream()
        await exchange.send_chunk(line("Once"))
        await exchange.until_closed()

    return handler


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
    fake.handlers[upstream_path] = _endless(line)
    with http.stream("POST", path, json={**body, "stream": True}) as response:
        assert next(response.iter_lines()).startswith("data: ")
    gone = time.monotonic()
    [upstream] = fake.connections_to(upstream_path)
    assert wait_for(lambda: upstream.closed_at is not None, CANCEL_BOUND_S + 1)
    assert upstream.closed_at - gone <= CANCEL_BOUND_S
    fake.heal()
    _serves_normally(http)


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_gone_before_the_first_byte_closes_the_upstream_connection_within_a_second(stack, stream):
    fake, http = stack
    fake.handlers["/api/chat"] = _silent
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
    _serves_normally(http)


# ---- routing ----------------------------------------------------------------------------------------------------


def _chats(fake: FaultyOllama) -> int:
    return sum(connection.paths.count("/api/chat") for connection in fake.connections)


def _in_flight(http: httpx.Client) -> list[int]:
    return [upstream["in_flight"] for upstream in http.get("/health").json()["backends"]["ollama"]["upstreams"]]


async def _streams_held_open(exchange: Exchange) -> None:
    """A stream stays open until the peer leaves; a whole answer comes at once."""
    handler = _endless(chat_line) if exchange.json_body().get("stream", True) else answer_chat
    await handler(exchange)


def test_requests_go_to_the_upstream_with_the_fewest_in_flight_while_a_stream_holds_the_other():
    busy, idle = FaultyOllama(), FaultyOllama()
    busy.handlers["/api/chat"] = _streams_held_open
    with busy.running(), idle.running():
        app = create_app(ServerSettings(ollama=(busy.url, idle.url), read_timeout=READ_TIMEOUT_S, health_interval=3600))
        with running(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as held:
                lines = held.iter_lines()  # kept: an iterator dropped mid-body closes the connection
                assert next(lines).startswith("data: ")
                assert (_chats(busy), _chats(idle)) == (1, 0)
                # Both hold the model and the first upstream is listed first: only its open stream sends these on.
                for _ in range(2):
                    assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
                assert (_chats(busy), _chats(idle)) == (1, 2)
            # The held stream is closed: both are idle again, and the first listed takes the next request.
            assert wait_for(lambda: _in_flight(http) == [0, 0], CANCEL_BOUND_S + 1), _in_flight(http)
            assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
            assert (_chats(busy), _chats(idle)) == (2, 2)
