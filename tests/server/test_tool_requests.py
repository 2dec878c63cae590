"""Tool definitions and tool_choice checked before any backend: OpenAI 400 bodies naming the bad field.

Why a fake Ollama: these checks are the server's own and answer before any upstream is asked.
"""

from __future__ import annotations

import pytest

from tests.server.conftest import UPSTREAM_A

MODEL = "qwen2.5:latest"
USER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}

CASES = {
    "a tool that is not an object": ([WEATHER, "get_time"], None, "tools[1]", "Expected `object`"),
    "type not function": ([WEATHER, {"type": "code_interpreter"}], None, "tools[1].type", '"code_interpreter"'),
    "no function": ([{"type": "function"}], None, "tools[0].function", "missing"),
    "name missing": (
        [WEATHER, {"type": "function", "function": {"parameters": {"type": "object"}}}],
        None,
        "tools[1].function.name",
        "missing",
    ),
    "name with spaces": (
        [{"type": "function", "function": {"name": "get weather"}}],
        None,
        "tools[0].function.name",
        "not a valid name",
    ),
    "duplicate names": (
        [WEATHER, {"type": "function", "function": {"name": "get_weather"}}],
        None,
        "tools[1].function.name",
        "already the name of tools[0]",
    ),
    "parameters not an object schema": (
        [{"type": "function", "function": {"name": "f", "parameters": ["city"]}}],
        None,
        "tools[0].function.parameters",
        "JSON Schema object",
    ),
    "parameters of type string": (
        [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}],
        None,
        "tools[0].function.parameters",
        "JSON Schema object",
    ),
    "description not text": (
        [{"type": "function", "function": {"name": "f", "description": 3}}],
        None,
        "tools[0].function.description",
        "must be a string",
    ),
    "an unknown tool_choice": ([WEATHER], "always", "tool_choice", "not one of"),
    "a named function not in tools": (
        [WEATHER],
        {"type": "function", "function": {"name": "get_time"}},
        "tool_choice",
        "'get_time', which is not in tools ('get_weather')",
    ),
    "a named choice without a name": ([WEATHER], {"type": "function"}, "tool_choice", "names no function"),
    "required without tools": (None, "required", "tool_choice", "needs tools"),
}


@pytest.mark.parametrize(("tools", "choice", "param", "words"), CASES.values(), ids=CASES.keys())
def test_bad_tools_and_tool_choices_are_400_naming_the_field(serve_ollama, tools, choice, param, words):
    client = serve_ollama({UPSTREAM_A: [MODEL]})
    body = {
        "model": MODEL,
        "messages": USER,
        **({"tools": tools} if tools else {}),
        **({"tool_choice": choice} if choice else {}),
    }
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert words in error["message"]
