"""The OpenAI API over Ollama upstreams answered by pytest-httpx in Ollama's documented NDJSON shapes.

Why a fake: each case pins the exact request the proxy sends and the exact upstream answer (tool calls, cut streams,
several upstreams failing over), which a real Ollama cannot be made to give on demand;
tests/ollama/test_serve_proxy.py runs the proxy over the real one.
"""

from __future__ import annotations

import base64
import json
import struct

import httpx
import pytest

from tests.server.conftest import (
    UPSTREAM_A,
    UPSTREAM_B,
    CutStream,
    chat_part,
    generate_part,
    ndjson,
    sse_events,
)

MODEL = "llama3.2:latest"


def _sent(httpx_mock, path: str) -> list[dict]:
    return [json.loads(request.content) for request in httpx_mock.get_requests() if request.url.path == path]


def test_chat_maps_openai_fields_to_ollama_and_answers_with_usage(serve_ollama, httpx_mock):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    httpx_mock.add_response(
        url=f"{UPSTREAM_A}/api/chat",
        json=chat_part(MODEL, "Paris.", done_reason="stop", prompt_eval_count=26, eval_count=3),
    )
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "llama3.2",
            "temperature": 0.2,
            "top_p": 0.5,
            "max_completion_tokens": 12,
            "stop": "\n",
            "seed": 7,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.3,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Capital of "}, {"type": "text", "text": "France?"}],
                },
            ],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
    ]
    assert body["usage"] == {"prompt_tokens": 26, "completion_tokens": 3, "total_tokens": 29}
    [sent] = _sent(httpx_mock, "/api/chat")
    assert sent["model"] == "llama3.2" and sent["stream"] is False and sent["format"] == "json"
    assert sent["options"] == {
        "temperature": 0.2,
        "top_p": 0.5,
        "num_predict": 12,
        "stop": ["\n"],
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.3,
    }
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]


def test_chat_stream_sends_role_then_pieces_finish_reason_usage_and_done(serve_ollama, httpx_mock):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    httpx_mock.add_response(
        url=f"{UPSTREAM_A}/api/chat",
        content=ndjson(
            chat_part(MODEL, "The"),
            chat_part(MODEL, " sky"),
            chat_part(MODEL, "", done_reason="length", prompt_eval_count=11, eval_count=2),
        ),
    )
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": MODEL,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 2,
            "messages": [{"role": "user", "content": "Why is the sky blue?"}],
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    deltas = [event["choices"][0]["delta"] for event in events[:-2]]
    assert deltas == [{"role": "assistant", "content": "The"}, {"content": " sky"}, {}]
    assert [event["choices"][0]["finish_reason"] for event in events[:-2]] == [None, None, "length"]
    assert all(event["usage"] is None for event in events[:-2])
    assert events[-2]["choices"] == [] and events[-2]["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 2,
        "total_tokens": 13,
    }
    assert len({event["id"] for event in events[:-1]}) == 1
    [sent] = _sent(httpx_mock, "/api/chat")
    assert sent["stream"] is True and sent["options"] == {"num_predict": 2}


def test_tool_calls_pass_through_both_ways(serve_ollama, httpx_mock):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    call = {"function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}
    final = chat_part(MODEL, "", done_reason="stop", prompt_eval_count=5, eval_count=9)
    final["message"]["tool_calls"] = [call]
    httpx_mock.add_response(url=f"{UPSTREAM_A}/api/chat", json=final)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": MODEL,
            "tools": tools,
            "messages": [
                {"role": "user", "content": "Weather in Paris and Tokyo?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
        },
    )
    body = response.json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [out] = choice["message"]["tool_calls"]
    assert out["type"] == "function" and out["id"].startswith("call_")
    assert out["function"] == {"name": "get_weather", "arguments": '{"city": "Tokyo"}'}
    [sent] = _sent(httpx_mock, "/api/chat")
    assert sent["tools"] == tools  # as the client sent them, every key of the schema kept
    # The call id and the result's tool_call_id reach Ollama, whose templates may print them (Mistral).
    assert sent["messages"][1]["tool_calls"] == [
        {"id": "call_1", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    ]
    assert sent["messages"][2] == {
        "role": "tool",
        "content": "sunny",
        "tool_call_id": "call_1",
        "tool_name": "get_weather",
    }


def test_streamed_tool_calls_are_indexed_and_finish_with_tool_calls(serve_ollama, httpx_mock):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    part = chat_part(MODEL, "")
    part["message"]["tool_calls"] = [
        {"function": {"name": "f", "arguments": {"x": 1}}},
        {"function": {"name": "g", "arguments": {}}},
    ]
    httpx_mock.add_response(
        url=f"{UPSTREAM_A}/api/chat",
        content=ndjson(part, chat_part(MODEL, "", done_reason="stop", prompt_eval_count=1, eval_count=1)),
    )
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": MODEL,
            "stream": True,
            "messages": [{"role": "user", "content": "go"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
    )
    events = sse_events(response.text)
    calls = events[0]["choices"][0]["delta"]["tool_calls"]
    assert [(call["index"], call["function"]["name"], call["function"]["arguments"]) for call in calls] == [
        (0, "f", '{"x": 1}'),
        (1, "g", "{}"),
    ]
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_completions_send_the_raw_prompt_to_generate(serve_ollama, httpx_mock):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    httpx_mock.add_response(
        url=f"{UPSTREAM_A}/api/generate",
        content=ndjson(
            generate_part(MODEL, "4"), generate_part(MODEL, "", done_reason="stop", prompt_eval_count=6, eval_count=1)
        ),
    )
    response = client.post(
        "/v1/completions", json={"model": MODEL, "prompt": "2+2=", "stream": True, "stop": ["\n", "."]}
    )
    events = sse_events(response.text)
    assert [event["choices"][0]["text"] for event in events[:-1]] == ["4", ""]
    assert events[-2]["choices"][0]["finish_reason"] == "stop" and events[-1] == "[DONE]"
    [sent] = _sent(httpx_mock, "/api/generate")
    assert sent["prompt"] == "2+2=" and sent["raw"] is True and sent["options"] == {"stop": ["\n", "."]}


def test_completions_whole(serve_ollama, httpx_mock):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    httpx_mock.add_response(
        url=f"{UPSTREAM_A}/api/generate",
        json=generate_part(MODEL, "blue", done_reason="length", prompt_eval_count=4, eval_count=1),
    )
    body = client.post("/v1/completions", json={"model": MODEL, "prompt": ["The sky is"], "max_tokens": 1}).json()
    assert body["object"] == "text_completion"
    assert body["choices"] == [{"index": 0, "text": "blue", "finish_reason": "length", "logprobs": None}]
    assert body["usage"]["total_tokens"] == 5


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings_as_floats_or_base64_float32(serve_ollama, httpx_mock, encoding):
    client = serve_ollama({UPSTREAM_A: ["all-minilm:latest"]})
    vectors = [[0.5, -0.25, 1.0], [0.125, 0.0, -2.0]]
    httpx_mock.add_response(
        url=f"{UPSTREAM_A}/api/embed",
        json={
            "model": "all-minilm",
            "embeddings": vectors,
            "total_duration": 14143917,
            "load_duration": 1019500,
            "prompt_eval_count": 8,
        },
    )
    body = client.post(
        "/v1/embeddings", json={"model": "all-minilm", "input": ["a", "b"], "encoding_format": encoding}
    ).json()
    got = [item["embedding"] for item in body["data"]]
    if encoding == "base64":
        got = [list(struct.unpack("<3f", base64.b64decode(item))) for item in got]
    assert got == vectors
    assert [item["index"] for item in body["data"]] == [0, 1] and body["usage"]["prompt_tokens"] == 8
    assert _sent(httpx_mock, "/api/embed")[0]["input"] == ["a", "b"]


def test_models_merge_every_upstream(serve_ollama, httpx_mock):
    client = serve_ollama({UPSTREAM_A: [MODEL, "qwen3:8b"], UPSTREAM_B: [MODEL, "gemma3:1b"]})
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert sorted(model["id"] for model in body["data"]) == ["gemma3:1b", "llama3.2:latest", "qwen3:8b"]
    # /api/show as Ollama documents it: the Modelfile, the parameters as text, the template, the capabilities.
    httpx_mock.add_response(
        url=f"{UPSTREAM_B}/api/show",
        json={
            "modelfile": 'FROM /blobs/sha256-abc\nTEMPLATE "{{ .Prompt }}"\nSYSTEM "Be brief."\n'
            "PARAMETER temperature 0.2\nPARAMETER stop <end_of_turn>\n",
            "parameters": 'temperature 0.2\nstop "<end_of_turn>"',
            "template": "{{ .Prompt }}",
            "details": {"format": "gguf", "family": "gemma3"},
            "model_info": {"general.architecture": "gemma3"},
            "capabilities": ["completion", "vision"],
            "modified_at": "2025-05-10T08:06:48.639712648-07:00",
        },
    )
    gemma = client.get("/v1/models/gemma3:1b").json()
    assert gemma["id"] == "gemma3:1b"
    assert gemma["tunesmith"] == {
        "backend": "ollama",
        "system": "Be brief.",
        "parameters": {"temperature": 0.2, "stop": ["<end_of_turn>"]},
        "capabilities": ["completion", "vision"],
        "run": None,
        "file": None,
    }
    httpx_mock.add_response(
        url=f"{UPSTREAM_A}/api/show", json={"modelfile": "FROM x\n", "model_info": {}}, is_reusable=True
    )
    httpx_mock.add_response(
        url=f"{UPSTREAM_B}/api/show", json={"modelfile": "FROM x\n", "model_info": {}}, is_optional=True
    )
    assert client.get("/v1/models/llama3.2").json()["id"] == MODEL
    missing = client.get("/v1/models/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_requests_go_to_the_upstream_that_has_the_model(serve_ollama, httpx_mock):
    client = serve_ollama({UPSTREAM_A: [MODEL], UPSTREAM_B: ["gemma3:1b"]})
    httpx_mock.add_response(
        url=f"{UPSTREAM_B}/api/chat",
        json=chat_part("gemma3:1b", "hi", done_reason="stop", prompt_eval_count=1, eval_count=1),
    )
    response = client.post(
        "/v1/chat/completions", json={"model": "gemma3:1b", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200
    assert [request.url.host for request in httpx_mock.get_requests() if request.url.path == "/api/chat"] == [
        "ollama-b"
    ]


def test_connection_failure_before_the_first_byte_fails_over(serve_ollama, httpx_mock):
    client = serve_ollama({UPSTREAM_A: [MODEL], UPSTREAM_B: [MODEL]})
    httpx_mock.add_exception(httpx.ConnectError("connection refused"), url=f"{UPSTREAM_A}/api/chat")
    httpx_mock.add_response(
        url=f"{UPSTREAM_B}/api/chat",
        content=ndjson(chat_part(MODEL, "ok", done_reason="stop", prompt_eval_count=1, eval_count=1)),
    )
    response = client.post(
        "/v1/chat/completions", json={"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert sse_events(response.text)[0]["choices"][0]["delta"]["content"] == "ok"
    health = client.get("/health").json()
    upstreams = {item["url"]: item["healthy"] for item in health["backends"]["ollama"]["upstreams"]}
    assert upstreams == {UPSTREAM_A: False, UPSTREAM_B: True} and health["status"] == "ok"


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


def test_an_unhealthy_upstream_is_retried_in_the_background(httpx_mock):
    import time

    from litestar.testing import TestClient

    from tests.server.conftest import tags
    from tunesmith.server import ServerSettings, create_app

    httpx_mock.add_exception(httpx.ConnectError("connection refused"), url=f"{UPSTREAM_A}/api/tags")
    httpx_mock.add_response(url=f"{UPSTREAM_A}/api/tags", json=tags(MODEL), is_reusable=True)
    app = create_app(ServerSettings(ollama=(UPSTREAM_A,), health_interval=0.05))
    with TestClient(app) as client:
        first = client.get("/health")
        deadline = time.monotonic() + 5
        while client.get("/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.status_code == 503 and first.json()["status"] == "unavailable"
        assert first.json()["backends"]["ollama"]["upstreams"][0]["error"] == "unreachable: the connection failed"
        assert client.get("/health").json()["backends"]["ollama"]["upstreams"][0]["healthy"] is True
        assert [model["id"] for model in client.get("/v1/models").json()["data"]] == [MODEL]


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
