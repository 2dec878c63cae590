"""Request checks every route shares: bad bodies (400 naming the field), API keys (401), size limit (413),
the OpenAPI schema, the metrics and the request log.

Why a fake: these checks are the server's own (keys, limits, schema), before any upstream answers.
"""

from __future__ import annotations

import json
import logging

import pytest

from tests.server.conftest import UPSTREAM_A, chat_part

MODEL = "llama3.2:latest"
USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": MODEL, "messages": USER, "n": 2}, "n", "n=2 is not supported"),
        ({"model": MODEL}, "messages", "messages"),
        ({"messages": USER}, "model", "model"),
        ({"model": MODEL, "messages": [{"role": "user", "content": 5}]}, "messages[0].content", "Expected"),
        ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "robot"),
        (
            {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0].type",
            "image_url",
        ),
        ({"model": MODEL, "messages": USER, "temperature": "hot"}, "temperature", "Expected"),
        ({"model": MODEL, "messages": USER, "max_tokens": 0}, "max_tokens", "at least 1"),
        ({"model": MODEL, "messages": [], "stream": True}, "messages", "at least one"),
        (
            {"model": MODEL, "messages": USER, "response_format": {"type": "json_schema"}},
            "response_format.json_schema.schema",
            "schema",
        ),
        (
            {
                "model": MODEL,
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
                        ],
                    }
                ],
            },
            "messages[0].tool_calls[0].function.arguments",
            "not valid JSON",
        ),
    ],
)
def test_bad_chat_bodies_are_400_naming_the_field(serve_ollama, body, param, words):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert words in error["message"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/completions", {"model": MODEL, "prompt": ["a", "b"]}, "prompt"),
        ("/v1/completions", {"model": MODEL, "prompt": "a", "n": 3}, "n"),
        ("/v1/embeddings", {"model": MODEL, "input": []}, "input"),
        ("/v1/embeddings", {"model": MODEL, "input": "x", "encoding_format": "int8"}, "encoding_format"),
    ],
)
def test_bad_bodies_of_other_routes(serve_ollama, path, body, param):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    response = client.post(path, json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_invalid_json_is_a_400(serve_ollama):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    response = client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/publish"])
def test_a_request_without_a_body_is_a_400_that_says_so(serve_ollama, path):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    response = client.post(path)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"].startswith("invalid request body: the request has no body") and error["param"] is None


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        ("Basic sk-one", 401),
        ("Bearer sk-two", 200),
        ("Bearer sk-one", 200),
    ],
)
def test_api_keys_guard_v1_routes(serve_ollama, httpx_mock, header, status):
    client = serve_ollama({UPSTREAM_A: [MODEL]}, api_keys=("sk-one", "sk-two"))
    headers = {"authorization": header} if header else {}
    response = client.get("/v1/models", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert "sk-" not in response.text
    assert client.get("/health").status_code == 200


def test_body_over_the_limit_is_413(serve_ollama):
    client = serve_ollama({UPSTREAM_A: [MODEL]}, max_body_bytes=2048)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x" * 4096}]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_unknown_route_is_an_openai_404(serve_ollama):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    response = client.get("/v1/nothing")
    assert response.status_code == 404 and set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_openapi_schema_describes_routes_bodies_and_errors(serve_ollama):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    schema = client.get("/schema/openapi.json").json()
    assert {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/v1/models/{model_id}",
        "/health",
        "/metrics",
    } <= set(schema["paths"])
    chat = schema["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ChatCompletionRequest")
    assert {"200", "400", "401", "404", "413", "502", "504"} <= set(chat["responses"])
    assert chat["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ChatCompletion")
    assert "text/event-stream" in chat["description"] and "SSE" in chat["responses"]["200"]["description"]
    components = schema["components"]["schemas"]
    assert {"model", "messages", "stream", "max_completion_tokens", "tools"} <= set(
        components["ChatCompletionRequest"]["properties"]
    )
    assert components["ChatCompletionRequest"]["required"] == ["messages", "model"]
    assert set(components["ErrorDetail"]["properties"]) == {"message", "type", "param", "code"}


def test_metrics_and_request_log_count_tokens_without_prompt_text(serve_ollama, httpx_mock, caplog):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    httpx_mock.add_response(
        url=f"{UPSTREAM_A}/api/chat",
        json=chat_part(MODEL, "hello", done_reason="stop", prompt_eval_count=12, eval_count=4),
    )
    with caplog.at_level(logging.INFO, logger="tunesmith.server.access"):
        client.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "secret prompt text"}]},
        )
    [line] = [json.loads(record.message) for record in caplog.records if "chat/completions" in record.message]
    assert line["status"] == 200 and line["model"] == MODEL and line["latency_ms"] > 0
    assert (line["prompt_tokens"], line["completion_tokens"]) == (12, 4)
    assert "secret prompt text" not in caplog.text
    text = client.get("/metrics").text
    assert 'tunesmith_tokens_total{kind="prompt",model="llama3.2:latest"} 12.0' in text
    assert 'tunesmith_tokens_total{kind="completion",model="llama3.2:latest"} 4.0' in text
    assert 'tunesmith_requests_total{model="llama3.2:latest",route="/v1/chat/completions",status="200"} 1.0' in text
    assert f'tunesmith_upstream_up{{backend="ollama",upstream="{UPSTREAM_A}"}} 1.0' in text


def test_prompts_are_logged_only_when_asked(serve_ollama, httpx_mock, caplog):
    client = serve_ollama({UPSTREAM_A: [MODEL]}, log_prompts=True)
    httpx_mock.add_response(
        url=f"{UPSTREAM_A}/api/chat",
        json=chat_part(MODEL, "hello", done_reason="stop", prompt_eval_count=1, eval_count=1),
    )
    with caplog.at_level(logging.INFO, logger="tunesmith.server.access"):
        client.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "tell"}]})
    assert "tell" in caplog.text


def test_failed_requests_are_logged_with_their_error(serve_ollama, caplog):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    with caplog.at_level(logging.INFO, logger="tunesmith.server.access"):
        client.post("/v1/chat/completions", json={"model": "ghost", "messages": USER})
    [line] = [json.loads(record.message) for record in caplog.records if "chat/completions" in record.message]
    assert line["status"] == 404 and "'ghost' is not served here" in line["error"] and line["model"] == "ghost"


@pytest.mark.parametrize(
    ("method", "path", "status", "route"),
    [
        ("POST", "/v1/publish", 400, "/v1/publish"),
        ("GET", "/v1/publish/pub_123abc", 404, "/v1/publish/{job_id}"),
        ("GET", "/v1/models/llama3.2:latest", 200, "/v1/models/{model}"),
        ("GET", "/v1/models/library/llama3.2", 404, "/v1/models/{model}"),
    ],
    ids=["publish", "publish job", "model", "model id with a slash"],
)
def test_metrics_label_each_request_with_its_route_template(serve_ollama, httpx_mock, method, path, status, route):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    if status == 200:  # a served model is described from Ollama's /api/show
        show = {"modelfile": "FROM llama3.2\n", "template": "{{ .Prompt }}", "model_info": {}}
        httpx_mock.add_response(url=f"{UPSTREAM_A}/api/show", json={**show, "capabilities": ["completion"]})
    body = {"json": {"package": "/nowhere"}} if method == "POST" else {}
    assert client.request(method, path, **body).status_code == status
    [line] = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("tunesmith_requests_total{") and 'route="/metrics"' not in line
    ]
    assert f'route="{route}",status="{status}"' in line, line
