"""Several Ollama upstreams behind one server, answered by pytest-httpx: /v1/models merges their models and reads a
model's details from the upstream that has it, requests go to that upstream, a connection failure before the first
byte fails over to another, and an unhealthy upstream is retried in the background.

Why a fake: failing over and recovering needs upstreams that refuse or answer on demand, which real Ollamas cannot be
made to do; tests/ollama/test_serve_proxy.py runs the proxy over the real one.
"""

from __future__ import annotations

import httpx

from tests.server.conftest import (
    MODEL,
    UPSTREAM_A,
    UPSTREAM_B,
    chat_part,
    ndjson,
    sse_events,
)


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
