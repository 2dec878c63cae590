"""How Ollama upstreams failing, answered by pytest-httpx, reach the OpenAI client: unknown models, unreachable or
failing upstreams, bodies that are not JSON and slow answers become OpenAI errors (404/400/502/504); a failure once a
stream began, or an answer that ends without its done line, ends with an error event, never `[DONE]`; and a bug of
our own is a logged 500, not an upstream failure.

Why a fake: each case pins the exact upstream answer (an error status, a cut stream, a late answer), which a real
Ollama cannot be made to give on demand; tests/reliability/ breaks real sockets instead.
"""

from __future__ import annotations

import httpx
import pytest

from tests.server.conftest import (
    MODEL,
    UPSTREAM_A,
    CutStream,
    chat_part,
    generate_part,
    ndjson,
    sse_events,
)


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("unknown model", 404, "model_not_found"),
        ("all upstreams unreachable", 502, "upstream_unavailable"),
        ("upstream 500", 502, "upstream_unavailable"),
        ("upstream says model not found", 404, "model_not_found"),
        ("upstream rejects the request", 400, None),
        ("upstream body is not JSON", 502, "upstream_unavailable"),
    ],
)
def test_upstream_failures_become_openai_errors(serve_ollama, httpx_mock, case, status, code):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    chat = f"{UPSTREAM_A}/api/chat"
    model = MODEL
    if case == "unknown model":
        model = "nope"
    elif case == "all upstreams unreachable":
        httpx_mock.add_exception(httpx.ConnectError("connection refused"), url=chat)
    elif case == "upstream 500":
        httpx_mock.add_response(url=chat, status_code=500, json={"error": "llama runner process has terminated"})
    elif case == "upstream says model not found":
        httpx_mock.add_response(url=chat, status_code=404, json={"error": f"model '{MODEL}' not found"})
    elif case == "upstream rejects the request":
        httpx_mock.add_response(url=chat, status_code=400, json={"error": "invalid options: num_predict"})
    else:
        httpx_mock.add_response(url=chat, content=b"<html>bad gateway</html>")
    response = client.post(
        "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code and error["message"]


def test_slow_upstream_is_a_504(serve_ollama, httpx_mock):
    client = serve_ollama({UPSTREAM_A: [MODEL]}, read_timeout=0.3)

    async def slow(request: httpx.Request) -> httpx.Response:
        import asyncio

        await asyncio.sleep(2)
        return httpx.Response(200, json=chat_part(MODEL, "late", done_reason="stop"))

    httpx_mock.add_callback(slow, url=f"{UPSTREAM_A}/api/chat")
    response = client.post(
        "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout" and "0.3 s" in response.json()["error"]["message"]


@pytest.mark.parametrize("failure", ["connection cut", "error line"])
def test_failure_after_streaming_began_ends_with_an_error_event(serve_ollama, httpx_mock, failure):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    if failure == "connection cut":
        httpx_mock.add_response(url=f"{UPSTREAM_A}/api/chat", stream=CutStream(chat_part(MODEL, "Once")))
    else:
        httpx_mock.add_response(
            url=f"{UPSTREAM_A}/api/chat",
            content=ndjson(
                chat_part(MODEL, "Once"), {"error": "an error was encountered while running the model: out of memory"}
            ),
        )
    response = client.post(
        "/v1/chat/completions",
        json={"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "story"}]},
    )
    assert response.status_code == 200
    events = sse_events(response.text)
    assert events[0]["choices"][0]["delta"]["content"] == "Once"
    assert "[DONE]" not in events
    error = events[-1]["error"]
    assert error["type"] == "upstream_error" and error["code"] == "upstream_unavailable"
    assert ("out of memory" in error["message"]) == (failure == "error line")


_CUT_SHORT = "ended the answer before it finished"


@pytest.mark.parametrize(
    ("path", "upstream_path", "body", "lines"),
    [
        (
            "/v1/chat/completions",
            "/api/chat",
            {"messages": [{"role": "user", "content": "story"}]},
            [chat_part(MODEL, "Once"), chat_part(MODEL, " upon")],
        ),
        (
            "/v1/completions",
            "/api/generate",
            {"prompt": "Once"},
            [generate_part(MODEL, " upon"), generate_part(MODEL, " a")],
        ),
    ],
    ids=["chat", "completions"],
)
def test_a_stream_that_ends_without_its_done_line_ends_with_an_error_event_not_done(
    serve_ollama, httpx_mock, path, upstream_path, body, lines
):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    httpx_mock.add_response(url=f"{UPSTREAM_A}{upstream_path}", content=ndjson(*lines))
    response = client.post(path, json={"model": MODEL, "stream": True, **body})
    assert response.status_code == 200
    events = sse_events(response.text)
    assert "[DONE]" not in events
    assert all(choice["finish_reason"] is None for event in events[:-1] for choice in event["choices"])
    assert len(events) == len(lines) + 1
    error = events[-1]["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_unavailable")
    assert _CUT_SHORT in error["message"] and UPSTREAM_A in error["message"], error


@pytest.mark.parametrize(
    ("path", "upstream_path", "body", "answer"),
    [
        (
            "/v1/chat/completions",
            "/api/chat",
            {"messages": [{"role": "user", "content": "story"}], "stream": False},
            chat_part(MODEL, "Once"),
        ),
        ("/v1/completions", "/api/generate", {"prompt": "Once", "stream": False}, generate_part(MODEL, " upon")),
        (
            "/v1/chat/completions",
            "/api/chat",
            {"messages": [{"role": "user", "content": "story"}], "stream": True},
            None,
        ),
        ("/v1/completions", "/api/generate", {"prompt": "Once", "stream": True}, None),
    ],
    ids=["chat-whole-not-done", "completions-whole-not-done", "chat-stream-empty", "completions-stream-empty"],
)
def test_an_answer_that_is_not_done_is_a_502_not_a_complete_answer(
    serve_ollama, httpx_mock, path, upstream_path, body, answer
):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    if answer is None:
        httpx_mock.add_response(url=f"{UPSTREAM_A}{upstream_path}", content=b"")
    else:
        httpx_mock.add_response(url=f"{UPSTREAM_A}{upstream_path}", json=answer)
    response = client.post(path, json={"model": MODEL, **body})
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_unavailable")
    assert _CUT_SHORT in error["message"] and UPSTREAM_A in error["message"], error


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_bug_of_ours_is_a_logged_500_not_an_upstream_failure(serve_ollama, httpx_mock, monkeypatch, caplog, stream):
    from tunesmith.server.backends import OllamaBackend

    client = serve_ollama({UPSTREAM_A: [MODEL]})
    done = chat_part(MODEL, "Once", done_reason="stop")
    httpx_mock.add_response(
        url=f"{UPSTREAM_A}/api/chat", content=ndjson(done) if stream else None, json=None if stream else done
    )

    def broken(*args, **kwargs):
        raise KeyError("a field our own code forgot")

    monkeypatch.setattr(OllamaBackend, "_delta", staticmethod(broken))
    response = client.post(
        "/v1/chat/completions",
        json={"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": "story"}]},
    )
    # The first piece is read before the answer starts, so a stream fails with a status too.
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert (error["type"], error["message"]) == ("server_error", "internal server error")
    assert "broke off" not in response.text
    assert any(record.exc_info and isinstance(record.exc_info[1], KeyError) for record in caplog.records)
