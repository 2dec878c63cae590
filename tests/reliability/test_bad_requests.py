"""Bad API bodies: each is a 4xx with the OpenAI error body naming the field, the problem and the fix.

The server routes to a fake Ollama (pytest-httpx, its documented /api/tags) and may publish release/pkg, an earlier
package; no bad request may reach the upstream, start a publish job or touch the package.

Why a fake: these bodies are refused before any upstream is asked; the fake only lists models (the real Ollama is
exercised in tests/ollama/).
"""

from __future__ import annotations

import json

import pytest

from tests.publish.test_ollama_registry import DAEMON
from tests.reliability.conftest import snapshot
from tests.server.conftest import UPSTREAM_A, serve_ollama  # noqa: F401  (the app over a fake Ollama)
from tunesmith.server.jobs import PublishJobs

KEY = "sk-reliability-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "llama3.2:latest"
USER = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]

# (id, path, JSON body (bytes: sent as is), status, param, words the message must hold)
CASES = [
    ("missing messages", CHAT, {"model": MODEL}, 400, "messages", ["missing required field `messages`"]),
    ("missing model", CHAT, {"messages": USER}, 400, "model", ["missing required field `model`"]),
    (
        "messages not a list",
        CHAT,
        {"model": MODEL, "messages": "hi"},
        400,
        "messages",
        ["Expected `array`, got `str`", "at `messages`"],
    ),
    (
        "empty messages",
        CHAT,
        {"model": MODEL, "messages": []},
        400,
        "messages",
        ["messages must hold at least one message"],
    ),
    ("model not a string", CHAT, {"model": 7, "messages": USER}, 400, "model", ["Expected `str`, got `int`"]),
    (
        "unknown role",
        CHAT,
        {"model": MODEL, "messages": [{"role": "robot", "content": "hi"}]},
        400,
        "messages[0].role",
        ["Invalid enum value 'robot'", "at `messages[0].role`"],
    ),
    (
        "content not text",
        CHAT,
        {"model": MODEL, "messages": [{"role": "user", "content": 5}]},
        400,
        "messages[0].content",
        ["Expected `str | array | null`, got `int`"],
    ),
    (
        "image content part",
        CHAT,
        {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
        400,
        "messages[0].content[0].type",
        ["'image_url' is not supported"],
    ),
    (
        "temperature not a number",
        CHAT,
        {"model": MODEL, "messages": USER, "temperature": "hot"},
        400,
        "temperature",
        ["Expected `float | null`, got `str`", "at `temperature`"],
    ),
    (
        "temperature above 2",
        CHAT,
        {"model": MODEL, "messages": USER, "temperature": 7},
        400,
        "temperature",
        ["temperature must be between 0 and 2, got 7", "Send a temperature from 0 to 2"],
    ),
    (
        "negative temperature",
        CHAT,
        {"model": MODEL, "messages": USER, "temperature": -0.5},
        400,
        "temperature",
        ["temperature must be between 0 and 2, got -0.5"],
    ),
    (
        "top_p above 1",
        CHAT,
        {"model": MODEL, "messages": USER, "top_p": 1.5},
        400,
        "top_p",
        ["top_p must be between 0 and 1, got 1.5"],
    ),
    (
        "penalty out of range",
        CHAT,
        {"model": MODEL, "messages": USER, "presence_penalty": 3},
        400,
        "presence_penalty",
        ["presence_penalty must be between -2 and 2, got 3"],
    ),
    (
        "max_tokens zero",
        CHAT,
        {"model": MODEL, "messages": USER, "max_tokens": 0},
        400,
        "max_tokens",
        ["max_tokens must be at least 1, got 0"],
    ),
    (
        "several choices",
        CHAT,
        {"model": MODEL, "messages": USER, "n": 2},
        400,
        "n",
        ["n=2 is not supported", "Send n=1"],
    ),
    (
        "stream not a bool",
        CHAT,
        {"model": MODEL, "messages": USER, "stream": "yes"},
        400,
        "stream",
        ["Expected `bool`, got `str`"],
    ),
    (
        "tool_choice required",
        CHAT,
        {"model": MODEL, "messages": USER, "tools": TOOLS, "tool_choice": "required"},
        400,
        "tool_choice",
        [
            'tool_choice "required" cannot be enforced through Ollama',
            'Send tool_choice "auto"',
            "serve the package with --model",
        ],
    ),
    (
        "tool_choice names a function",
        CHAT,
        {
            "model": MODEL,
            "messages": USER,
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        400,
        "tool_choice",
        ['"name": "get_weather"', "cannot force a tool call", "send only the tool you want called"],
    ),
    ("body is a list", CHAT, [USER], 400, None, ["Expected `object`, got `array`"]),
    (
        "invalid JSON",
        CHAT,
        b'{"model": "llama3.2", "messages": [',
        400,
        None,
        ["invalid JSON body", "Send one JSON object", "Content-Type: application/json"],
    ),
    (
        "unknown model",
        CHAT,
        {"model": "no-such-model", "messages": USER},
        404,
        None,
        ["model 'no-such-model' is not served here", "GET /v1/models"],
    ),
    (
        "completion without prompt",
        "/v1/completions",
        {"model": MODEL},
        400,
        "prompt",
        ["missing required field `prompt`"],
    ),
    (
        "completion temperature above 2",
        "/v1/completions",
        {"model": MODEL, "prompt": "a", "temperature": 2.5},
        400,
        "temperature",
        ["temperature must be between 0 and 2, got 2.5"],
    ),
    ("embedding without input", "/v1/embeddings", {"model": MODEL}, 400, "input", ["missing required field `input`"]),
    ("publish nowhere", "/v1/publish", {"package": "{package}"}, 400, None, ["nothing to publish to"]),
    (
        "publish a package not served",
        "/v1/publish",
        {"package": "/elsewhere/pkg", "hf": "alice/x"},
        400,
        None,
        ["'/elsewhere/pkg' is not a package this server serves", "--model PACKAGE_DIR"],
    ),
    (
        "publish with an unknown field",
        "/v1/publish",
        {"package": "{package}", "ollama": "alice/x", "force": True},
        400,
        "force",
        ["unknown field `force`"],
    ),
]


@pytest.fixture
def client(serve_ollama, release):  # noqa: F811
    jobs = PublishJobs((str(release / "pkg"),), ollama_host=DAEMON)
    return serve_ollama({UPSTREAM_A: [MODEL]}, api_keys=(KEY,), publish_jobs=jobs)


def _assert_openai_error(response, status: int, type_: str, param: str | None, words: list[str]) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    error = body["error"]
    assert error["type"] == type_ and error["param"] == param
    for word in words:
        assert word in error["message"], error["message"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return error


def _upstream_calls(httpx_mock) -> list[str]:
    return [
        f"{request.method} {request.url}" for request in httpx_mock.get_requests() if request.url.path != "/api/tags"
    ]


@pytest.mark.parametrize(
    ("path", "body", "status", "param", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_bodies_are_4xx_openai_errors_that_reach_nothing(
    client, release, httpx_mock, path, body, status, param, words
):
    before = snapshot(release)
    if isinstance(body, bytes):
        response = client.post(path, content=body, headers={**AUTH, "content-type": "application/json"})
    else:
        text = json.dumps(body).replace("{package}", str(release / "pkg"))
        response = client.post(path, content=text, headers={**AUTH, "content-type": "application/json"})
    _assert_openai_error(response, status, "invalid_request_error", param, words)
    assert _upstream_calls(httpx_mock) == []
    assert snapshot(release) == before


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({}, ["no API key given", "Authorization: Bearer <key>"]),
        ({"Authorization": "Bearer sk-wrong"}, ["unknown API key", "keys the server was started with"]),
        ({"Authorization": KEY}, ["Authorization: Bearer <key>"]),
    ],
    ids=["no key", "wrong key", "key without Bearer"],
)
@pytest.mark.parametrize("path", ["/v1/publish", CHAT])
def test_without_the_api_key_nothing_is_done_and_no_key_is_echoed(client, release, httpx_mock, headers, words, path):
    before = snapshot(release)
    body = (
        {"package": str(release / "pkg"), "ollama": "alice/demo"}
        if path == "/v1/publish"
        else {"model": MODEL, "messages": USER}
    )
    response = client.post(path, json=body, headers=headers)
    error = _assert_openai_error(response, 401, "authentication_error", None, words)
    assert error["code"] == "invalid_api_key"
    assert KEY not in response.text and "sk-wrong" not in response.text
    assert _upstream_calls(httpx_mock) == []
    assert snapshot(release) == before
