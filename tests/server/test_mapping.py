"""OpenAI bodies to generation requests and finished generations back to OpenAI bodies (no network, no model)."""

from __future__ import annotations

import json

import msgspec
import pytest

from tunesmith.server.backends import Delta
from tunesmith.server.errors import BadRequestError
from tunesmith.server.mapping import (
    chat_completion_body,
    chat_to_generate,
    completion_to_generate,
    finish_reason,
    openai_tool_calls,
)
from tunesmith.server.schemas import ChatCompletionRequest, CompletionRequest

USER = {"role": "user", "content": "hi"}


def _chat(**body) -> ChatCompletionRequest:
    return msgspec.convert({"model": "m", "messages": [USER], **body}, ChatCompletionRequest)


@pytest.mark.parametrize(
    ("name", "body", "options", "fmt"),
    [
        ("nothing set leaves the model's defaults", {}, {}, None),
        ("max_tokens is num_predict", {"max_tokens": 9}, {"num_predict": 9}, None),
        (
            "max_completion_tokens wins over max_tokens",
            {"max_tokens": 9, "max_completion_tokens": 3},
            {"num_predict": 3},
            None,
        ),
        ("stop string becomes a list", {"stop": "END"}, {"stop": ["END"]}, None),
        ("stop list stays", {"stop": ["a", "b"]}, {"stop": ["a", "b"]}, None),
        (
            "sampling passes through",
            {"temperature": 0.0, "top_p": 1.0, "seed": 1},
            {"temperature": 0.0, "top_p": 1.0, "seed": 1},
            None,
        ),
        (
            "penalties pass through",
            {"presence_penalty": 0.5, "frequency_penalty": -0.5},
            {"presence_penalty": 0.5, "frequency_penalty": -0.5},
            None,
        ),
        ("json_object is format json", {"response_format": {"type": "json_object"}}, {}, "json"),
        ("text format is no format", {"response_format": {"type": "text"}}, {}, None),
        (
            "json_schema passes its schema",
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}},
            {},
            {"type": "object"},
        ),
    ],
)
def test_chat_options(name, body, options, fmt):
    request = chat_to_generate(_chat(**body))
    assert request.options == options and request.format == fmt and request.prompt is None


@pytest.mark.parametrize(
    ("name", "messages", "expected"),
    [
        ("developer is system", [{"role": "developer", "content": "rules"}], [{"role": "system", "content": "rules"}]),
        (
            "text parts join",
            [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
            [{"role": "user", "content": "ab"}],
        ),
        ("null content is empty", [{"role": "assistant", "content": None}], [{"role": "assistant", "content": ""}]),
        (
            "tool result keeps its call id and gets the tool's name",
            [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c9", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c9", "content": "2"},
            ],
            [
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"id": "c9", "function": {"name": "add", "arguments": {"a": 1}}}],
                },
                {"role": "tool", "content": "2", "tool_call_id": "c9", "tool_name": "add"},
            ],
        ),
        (
            "a call without id and a result without id",
            [
                {
                    "role": "assistant",
                    "tool_calls": [{"type": "function", "function": {"name": "add", "arguments": "{}"}}],
                },
                {"role": "tool", "content": "2"},
            ],
            [
                {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "add", "arguments": {}}}]},
                {"role": "tool", "content": "2"},
            ],
        ),
    ],
)
def test_chat_messages(name, messages, expected):
    assert chat_to_generate(_chat(messages=messages)).messages == expected


TOOLS = [{"type": "function", "function": {"name": "f"}}]


@pytest.mark.parametrize(
    ("name", "body", "tools"),
    [
        ("no tool_choice offers the tools", {"tools": TOOLS}, TOOLS),
        ("auto offers the tools", {"tools": TOOLS, "tool_choice": "auto"}, TOOLS),
        ("none sends no tools", {"tools": TOOLS, "tool_choice": "none"}, None),
        ("auto without tools sends none", {"tool_choice": "auto"}, None),
    ],
)
def test_tool_choice_the_backends_can_honour(name, body, tools):
    assert chat_to_generate(_chat(**body)).tools == tools


@pytest.mark.parametrize(
    ("name", "body", "choice", "parallel"),
    [
        ("required", {"tool_choice": "required"}, "required", True),
        (
            "a named function, one call",
            {"tool_choice": {"type": "function", "function": {"name": "f"}}, "parallel_tool_calls": False},
            {"type": "function", "function": {"name": "f"}},
            False,
        ),
        ("left out", {}, None, True),
    ],
)
def test_tool_choice_and_parallel_calls_reach_the_backend_which_enforces_or_refuses_them(name, body, choice, parallel):
    generate = chat_to_generate(_chat(tools=TOOLS, **body))
    assert (generate.tool_choice, generate.parallel_tool_calls) == (choice, parallel)


def test_a_tool_result_answering_no_call_is_refused_naming_the_message():
    messages = [
        {"role": "user", "content": "2+2?"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c2", "content": "4"},
    ]
    with pytest.raises(BadRequestError) as caught:
        chat_to_generate(_chat(messages=messages))
    assert caught.value.param == "messages[2].tool_call_id"
    assert "'c2' answers no tool call" in caught.value.message


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 2}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0].content[0].type"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format.json_schema.schema",
        ),
    ],
)
def test_chat_requests_that_cannot_be_honoured(body, param):
    with pytest.raises(BadRequestError) as caught:
        chat_to_generate(_chat(**body))
    assert caught.value.param == param


@pytest.mark.parametrize(("prompt", "error"), [("a", None), (["a"], None), (["a", "b"], "prompt"), ([], "prompt")])
def test_completion_prompts(prompt, error):
    body = msgspec.convert({"model": "m", "prompt": prompt}, CompletionRequest)
    if error:
        with pytest.raises(BadRequestError):
            completion_to_generate(body)
    else:
        assert completion_to_generate(body).prompt == "a"


@pytest.mark.parametrize(
    ("delta", "saw_tools", "reason"),
    [
        (Delta(done=True, done_reason="stop"), False, "stop"),
        (Delta(done=True, done_reason="length"), False, "length"),
        (Delta(done=True, done_reason="load"), False, "stop"),
        (Delta(done=True, done_reason=None), False, "stop"),
        (Delta(done=True, done_reason="stop"), True, "tool_calls"),
        (
            Delta(done=True, done_reason="stop", tool_calls=[{"function": {"name": "f", "arguments": {}}}]),
            False,
            "tool_calls",
        ),
    ],
)
def test_finish_reason(delta, saw_tools, reason):
    assert finish_reason(delta, saw_tools) == reason


def test_tool_calls_out_have_ids_string_arguments_and_stream_indexes():
    calls = openai_tool_calls(
        [
            {"function": {"name": "f", "arguments": {"x": [1, "é"]}}},
            {"id": "keep", "function": {"name": "g", "arguments": "{}"}},
        ],
        3,
        streaming=True,
    )
    assert [call["index"] for call in calls] == [3, 4] and calls[1]["id"] == "keep"
    assert json.loads(calls[0]["function"]["arguments"]) == {"x": [1, "é"]}
    assert calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"


def test_chat_completion_body_shape():
    body = msgspec.to_builtins(
        chat_completion_body(
            "chatcmpl-1",
            5,
            "m",
            Delta(content="hey", done=True, done_reason="length", prompt_tokens=3, completion_tokens=2),
        )
    )
    assert body == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 5,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hey"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        "system_fingerprint": "fp_tunesmith",
    }
