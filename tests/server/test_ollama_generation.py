"""Generation over Ollama upstreams answered by pytest-httpx in Ollama's documented NDJSON shapes: chat (OpenAI's
fields mapped to Ollama's, whole and streamed, tool calls both ways), raw-prompt completions and embeddings, each
checked by the exact request the proxy sends and the answer it gives.

Why a fake: each case pins the exact request the proxy sends and the exact upstream answer (tool calls, usage
counts), which a real Ollama cannot be made to give on demand; tests/ollama/test_serve_proxy.py runs the proxy over
the real one.
"""

from __future__ import annotations

import base64
import json
import struct

import pytest

from tests.server.conftest import (
    MODEL,
    UPSTREAM_A,
    chat_part,
    generate_part,
    ndjson,
    sse_events,
)


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
