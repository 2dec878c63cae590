"""Fuzz the server through its own OpenAPI schema with schemathesis, over an Ollama stand-in that answers anything.

Whatever the generated request (valid bodies, invalid ones, odd paths and parameters), the server answers without a
5xx, as its schema documents (status, content type, body), and every error is OpenAI's body
`{"error": {"message", "type", "param", "code"}}`, also as an SSE error event. Bounded and derandomized: a few
seconds, and the same cases every run.

Why a fake: thousands of generated requests need an upstream that answers in microseconds and never runs a model;
the real Ollama is exercised in tests/ollama/.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.reliability.fault_upstream import FaultyOllama
from tests.server.live import running
from tunesmith.server import ServerSettings, create_app
from tunesmith.server.jobs import PublishJobs

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ERROR_KEYS = {"message", "type", "param", "code"}


def _never_publish(*args, **kwargs):
    raise AssertionError("a fuzzed request started a publish job")


def _app(upstream: str):
    return create_app(
        ServerSettings(ollama=(upstream,), health_interval=3600), publish_jobs=PublishJobs(runner=_never_publish)
    )


def _served_schema() -> dict:
    # Read at import time, as schemathesis parametrizes at collection; the app under test serves the same one.
    with TestClient(_app("http://127.0.0.1:9")) as client:
        return client.get("/schema/openapi.json").json()


schema = schemathesis.openapi.from_dict(_served_schema())


@pytest.fixture(scope="module")
def base_url():
    with FaultyOllama().running() as fake, running(_app(fake.url)) as base:
        yield base


def _assert_openai_error(error: object, where: str) -> None:
    assert isinstance(error, dict) and set(error) == ERROR_KEYS, f"{where}: not an OpenAI error: {error!r}"
    assert isinstance(error["message"], str) and error["message"], where
    assert isinstance(error["type"], str) and error["type"] != "server_error", f"{where}: {error!r}"


@schema.parametrize()
@settings(max_examples=25, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_documented_answers_and_openai_errors(case, base_url):
    # Most generated model names are unknown (a 404 at once); the served one takes the request all the way upstream.
    if isinstance(case.body, dict) and isinstance(case.body.get("model"), str):
        case.body["model"] = "echo"
    response = case.call(base_url=base_url)
    case.validate_response(response, checks=CHECKS)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    if response.status_code >= 400:
        _assert_openai_error(response.json().get("error"), where)
    elif response.headers.get("content-type", [""])[0].startswith("text/event-stream"):
        events = [block[len("data: ") :] for block in response.text.split("\n\n") if block.startswith("data: ")]
        assert events and events[-1] == "[DONE]", f"{where}: the stream did not end with [DONE]: {response.text!r}"
        for event in events[:-1]:
            payload = json.loads(event)
            if "error" in payload:
                _assert_openai_error(payload["error"], where)
