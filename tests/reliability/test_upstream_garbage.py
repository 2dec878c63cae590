"""The server over an Ollama that answers garbage or cuts its answer short, over sockets: HTML, JSON of the wrong
shape, bytes that are not HTTP, a stream that ends without its done line, a model list that cannot be read. Each is
a 502 OpenAI error naming the upstream (or an error event once the stream began), never a 500, and never a complete
answer; the server serves the next request as if nothing had happened.

tests/server/test_ollama_errors.py checks the same mappings with pytest-httpx in place of the network; here the
bytes are real.

Why a fake: a real Ollama cannot be made to send garbage or cut its answer short on demand.
"""

from __future__ import annotations

import pytest

from tests.reliability.fault_stack import CHAT, openai_error, serves_normally
from tests.reliability.fault_upstream import Exchange, chat_line, generate_line
from tests.server.conftest import sse_events

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
    error = openai_error(
        http.post("/v1/chat/completions", json={**CHAT, "stream": stream}), 502, "upstream_unavailable"
    )
    assert fake.url in error["message"], error
    fake.heal()
    serves_normally(http)


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
    serves_normally(http)


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
    error = openai_error(http.post(path, json=body), 502, "upstream_unavailable")
    assert CUT_SHORT in error["message"] and fake.url in error["message"], error
    fake.heal()
    serves_normally(http)


@pytest.mark.parametrize(
    "body", [b"<html>oops</html>", b"[1, 2]", b'{"models": 5}', b'{"models": [{"model": 5}]}', b'"models"', b"null"]
)
def test_a_garbage_model_list_is_a_502_and_the_upstream_is_used_again_once_it_answers_well(stack, body):
    fake, http = stack
    fake.handlers["/api/tags"] = _whole(body)
    assert fake.url in openai_error(http.get("/v1/models"), 502, "upstream_unavailable")["message"]
    health = http.get("/health")
    assert health.status_code == 503
    assert health.json()["backends"]["ollama"]["upstreams"][0]["error"].startswith("unusable answer")
    fake.heal()
    assert [model["id"] for model in http.get("/v1/models").json()["data"]] == ["echo:latest"]
    serves_normally(http)
