"""tool_choice "required" and a named function, enforced by the embedded backend with a grammar of the package's
tool-call format: even a tiny random model answers with a valid call of the right function."""

from __future__ import annotations

import json

import pytest
from litestar.testing import TestClient

from tunesmith.packager.package import PackageSpec, build_package
from tunesmith.server import ServerSettings, create_app

ASK = [{"role": "user", "content": "Should I say celsius or fahrenheit?"}]
# Enums keep a random model's arguments short: the grammar leaves it a choice of words, not free text.
SET_UNIT = {
    "type": "function",
    "function": {
        "name": "set_unit",
        "parameters": {
            "type": "object",
            "properties": {"unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["unit"],
        },
    },
}
SET_MODE = {
    "type": "function",
    "function": {
        "name": "set_mode",
        "parameters": {
            "type": "object",
            "properties": {"mode": {"enum": ["day", "night"]}, "strict": {"type": "boolean"}},
            "required": ["mode", "strict"],
        },
    },
}
# Tiny random models (tests/fixtures/tiny_models.py) whose chat templates carry tools, by tool-call format.
FORMATS = {"hermes": "qwen2", "llama3-json": "llama3.1", "mistral": "mistral-nemo"}


@pytest.fixture(scope="module")
def client(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("tool-choice")
    folders = [
        build_package(
            PackageSpec(
                base=tiny_model(model), out=root / f"random-{form}", quants=("Q8_0",), parameters={"num_ctx": 1024}
            )
        ).path
        for form, model in FORMATS.items()
    ]
    with TestClient(create_app(ServerSettings(models=tuple(map(str, folders)), threads=1)), timeout=120) as client:
        yield client


def _ask(client, form: str, **body) -> dict:
    response = client.post(
        "/v1/chat/completions",
        json={"model": f"random-{form}", "messages": ASK, "tools": [SET_UNIT, SET_MODE], "max_tokens": 120, **body},
    )
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]


@pytest.mark.parametrize("form", list(FORMATS))
def test_a_named_function_is_called_with_arguments_of_its_schema(client, form):
    choice = _ask(
        client, form, tool_choice={"type": "function", "function": {"name": "set_mode"}}, parallel_tool_calls=False
    )
    assert choice["finish_reason"] == "tool_calls" and not choice["message"]["content"]
    [call] = choice["message"]["tool_calls"]
    arguments = json.loads(call["function"]["arguments"])
    assert call["function"]["name"] == "set_mode"
    assert arguments["mode"] in ("day", "night") and isinstance(arguments["strict"], bool)


@pytest.mark.parametrize("form", list(FORMATS))
def test_required_calls_one_of_the_tools(client, form):
    choice = _ask(client, form, tool_choice="required", parallel_tool_calls=False)
    assert choice["finish_reason"] == "tool_calls" and not choice["message"]["content"]
    [call] = choice["message"]["tool_calls"]
    arguments = json.loads(call["function"]["arguments"])
    assert (call["function"]["name"], set(arguments)) in (("set_unit", {"unit"}), ("set_mode", {"mode", "strict"}))


@pytest.mark.parametrize("form", list(FORMATS))
def test_without_tool_choice_the_random_model_answers_no_call(client, form):
    """The control: the same request left to the model gives no call, so the calls above are the grammar's doing."""
    choice = _ask(client, form, max_tokens=20)
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "length"


def test_a_parameters_schema_no_grammar_can_hold_is_a_400_naming_the_tool(client):
    remote = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"key": {"$ref": "https://example.com/key.json"}}},
        },
    }
    response = client.post(
        "/v1/chat/completions",
        json={"model": "random-hermes", "messages": ASK, "tools": [SET_UNIT, remote], "tool_choice": "required"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "tools[1].function.parameters" and "remote schemas" in error["message"]
