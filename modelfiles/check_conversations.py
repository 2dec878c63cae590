"""The conversations a chat family's layout must render exactly as the model's own Jinja template does, beyond the
plain chats of derive.CHECK_CONVERSATIONS: with tools (a call, its result, an answer, two calls at once) and with
thinking (reasoning kept after the last user message, dropped before it). `choose_chat_format` checks a family on
them, and the tests render them through Go and the real Ollama.
"""

from __future__ import annotations

from typing import Any

__all__ = ["THINKING_CHECK_CONVERSATIONS", "TOOL_CHECK_CONVERSATIONS"]

_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
_ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
}
_ASK = {"role": "user", "content": "What is the weather in Paris?"}
_CALL: dict[str, Any] = {
    "role": "assistant",
    "content": "",
    "tool_calls": [
        {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    ],
}
_TWO_CALLS = {
    "role": "assistant",
    "content": "Let me check both.",
    "tool_calls": [
        {"id": "call00001", "type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}},
        {
            "id": "call00002",
            "type": "function",
            "function": {"name": "get_weather", "arguments": {"city": "Rome", "unit": "celsius"}},
        },
    ],
}
# Conversations with tools that a tools family must render exactly as the model's template: a tools list, a call, a
# result, an answer and a next user turn; two calls at once with their results; a system prompt beside the tools.
# (Ollama hands objects to templates as Go maps, in sorted key order: the keys here are sorted. Call ids have
# nine letters and digits, as Mistral's templates demand.)
TOOL_CHECK_CONVERSATIONS: tuple[tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]], ...] = (
    ((_ASK,), (_WEATHER,)),
    (
        (
            _ASK,
            _CALL,
            {"role": "tool", "tool_call_id": "call00001", "content": '{"temperature": 21}'},
            {"role": "assistant", "content": "It is 21 degrees in Paris."},
            {"role": "user", "content": "Thanks!"},
        ),
        (_WEATHER, _ADD),
    ),
    (
        (
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "2+3, and Rome's weather?"},
            _TWO_CALLS,
            {"role": "tool", "tool_call_id": "call00001", "content": "5"},
            {"role": "tool", "tool_call_id": "call00002", "content": "sunny"},
        ),
        (_ADD, _WEATHER),
    ),
)


_THOUGHT = {
    "role": "assistant",
    "content": "It is 21 degrees in Paris.",
    "reasoning_content": "The tool said 21, so it is mild.",
}
_CALL_AFTER_THOUGHT = {**_CALL, "reasoning_content": "I need the weather tool."}
_RESULT = {"role": "tool", "tool_call_id": _CALL["tool_calls"][0]["id"], "content": '{"temperature": 21}'}
# Conversations a thinking family must render exactly as the model's template, with thinking unset, on and off
# (`enable_thinking`): reasoning in the history, kept only after the last user message (a tool round) and dropped
# before it, and a question after an answer. (Reasoning as transformers takes it, `reasoning_content`.)
THINKING_CHECK_CONVERSATIONS: tuple[tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]], ...] = (
    ((_ASK,), ()),
    ((_ASK, _THOUGHT, {"role": "user", "content": "And in Rome?"}), ()),
    ((_ASK, _CALL_AFTER_THOUGHT, _RESULT), (_WEATHER,)),
    (
        (
            {"role": "system", "content": "Answer briefly."},
            _ASK,
            _CALL_AFTER_THOUGHT,
            _RESULT,
            _THOUGHT,
            {"role": "user", "content": "Thanks!"},
        ),
        (_WEATHER,),
    ),
)
