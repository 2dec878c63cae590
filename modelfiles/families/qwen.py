"""Qwen's ChatML layouts with tools in the system turn: Qwen2.5's (a default system prompt) and Qwen3's (reasoning
between <think> tags, and an empty thinking block when thinking is switched off)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tunesmith.modelfiles.families._common import Messages, Tools, system_prompt, to_json

QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
TOOLS_INTRO = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
TOOLS_OUTRO = (
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": '
    "<args-json-object>}\n</tool_call><|im_end|>\n"
)
# What Qwen3 writes after the assistant's opener when thinking is switched off (`enable_thinking=False`).
NO_THINKING = "<think>\n\n</think>\n\n"


def _tools_block(system: str | None, tools: Tools) -> str:
    """The system turn with the tools' signatures, after the system prompt and a blank line if there is one."""
    return (
        "<|im_start|>system\n"
        + (system + "\n\n" if system is not None else "")
        + TOOLS_INTRO
        + "".join("\n" + to_json(tool) for tool in tools or ())
        + TOOLS_OUTRO
    )


def _calls(calls: list[dict[str, Any]]) -> str:
    """Hermes tool calls, each on its own line after what came before."""
    text = ""
    for call in calls:
        function = call.get("function", call)
        text += (
            f'\n<tool_call>\n{{"name": "{function["name"]}", "arguments": '
            f"{to_json(function['arguments'])}}}\n</tool_call>"
        )
    return text


def _tool_result(m: dict[str, Any], previous: str) -> str:
    # Consecutive results share one user turn; the turn is closed by whatever comes next.
    opener = "" if previous == "tool" else "<|im_start|>user"
    return f"{opener}\n<tool_response>\n{m['content']}\n</tool_response>"


def _turns(
    messages: Messages, tools: Tools, default_system: str | None, assistant: Callable[[int, dict[str, Any]], str]
) -> str:
    """The ChatML both layouts share: the tools' system turn (holding the first system message, else
    `default_system`), or `default_system`'s own turn when there are no tools and no system message; consecutive tool
    results in one user turn; each assistant turn as `assistant(index, message)` writes it; then the reply's opener."""
    text, skip_first = "", False
    if tools:
        first = messages[0] if messages and messages[0]["role"] == "system" else None
        skip_first = first is not None
        text = _tools_block(first["content"] if first else default_system, tools)
    elif default_system is not None and not system_prompt(messages):
        text = f"<|im_start|>system\n{default_system}<|im_end|>\n"
    previous = ""
    for index, m in enumerate(messages):
        if previous == "tool" and m["role"] != "tool":
            text += "<|im_end|>\n"
        if skip_first and index == 0:
            pass
        elif m["role"] == "tool":
            text += _tool_result(m, previous)
        elif m["role"] == "assistant":
            text += assistant(index, m)
        else:
            text += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
        previous = m["role"]
    if previous == "tool":
        text += "<|im_end|>\n"
    return text + "<|im_start|>assistant\n"


def qwen25(messages: Messages, default_system: str | None, tools: Tools = None) -> str:
    """Qwen2.5's layout: tools in the system turn, calls as <tool_call> JSON, results in a user turn."""

    def assistant(index: int, m: dict[str, Any]) -> str:
        if not m.get("tool_calls"):
            return f"<|im_start|>assistant\n{m['content']}<|im_end|>\n"
        content = f"\n{m['content']}" if m.get("content") else ""
        return "<|im_start|>assistant" + content + _calls(m["tool_calls"]) + "<|im_end|>\n"

    return _turns(messages, tools, QWEN_SYSTEM, assistant)


def qwen3(
    messages: Messages, default_system: str | None, tools: Tools = None, *, enable_thinking: bool | None = None
) -> str:
    """Qwen3's layout: Qwen2.5's tools without its default system prompt; an assistant turn after the last user
    message (a tool-calling round, or the last message) shows its reasoning (`reasoning_content`) in <think> tags;
    `enable_thinking=False` ends the prompt with an empty thinking block.

    Like the Go template, which cannot trim or split strings, this does not strip newlines around reasoning and
    content, split `</think>` out of content, or tell a user message holding a `<tool_response>` from a user query,
    as the Jinja template does: reasoning reaches templates in its own field (Ollama's `thinking`), already trimmed.
    """
    last_query = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=len(messages))

    def assistant(index: int, m: dict[str, Any]) -> str:
        reasoning = m.get("reasoning_content") or ""
        text = "<|im_start|>assistant\n"
        if index > last_query and (index == len(messages) - 1 or reasoning):
            text += f"<think>\n{reasoning}\n</think>\n\n"
        return text + m["content"] + _calls(m.get("tool_calls") or [])[0 if m["content"] else 1 :] + "<|im_end|>\n"

    return _turns(messages, tools, None, assistant) + ("" if enable_thinking is not False else NO_THINKING)
