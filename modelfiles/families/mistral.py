"""Mistral's [INST] layouts, Nemo's (no spaces) and v0.3's, with tools: [AVAILABLE_TOOLS] before the last user turn,
calls as [TOOL_CALLS] JSON with their ids, results as [TOOL_RESULTS]."""

from __future__ import annotations

from typing import Any

from tunesmith.modelfiles.families._common import Messages, Tools, system_prompt, to_json


def _tool(tool: dict[str, Any]) -> str:
    # Mistral's templates write a function's string fields as they are, between quotes, and the others as JSON.
    fields = [
        f'"{key}": "{value}"' if isinstance(value, str) else f'"{key}": {to_json(value)}'
        for key, value in tool["function"].items()
        if key != "return"
    ]
    return '{"type": "function", "function": {' + ", ".join(fields) + "}}"


def _layout(messages: Messages, tools: Tools, space: str) -> str:
    """`space` is v0.3's: after [INST], [AVAILABLE_TOOLS], [TOOL_CALLS] and [TOOL_RESULTS], and before an answer."""
    # The system prompt joins the user turn only when that turn ends the conversation, as Mistral's templates do.
    system = system_prompt(messages)
    turns = [m for m in messages if m["role"] != "system"]
    last_user = max((i for i, m in enumerate(turns) if m["role"] == "user"), default=-1)
    parts = []
    for i, m in enumerate(turns):
        if m["role"] == "user":
            if tools and i == last_user:
                parts.append(
                    f"[AVAILABLE_TOOLS]{space}[" + ", ".join(_tool(tool) for tool in tools) + "][/AVAILABLE_TOOLS]"
                )
            prefix = f"{system}\n\n" if system and i == len(turns) - 1 else ""
            parts.append(f"[INST]{space}{prefix}{m['content']}[/INST]")
        elif m.get("tool_calls"):
            calls = [to_json(call["function"])[:-1] + f', "id": "{call["id"]}"}}' for call in m["tool_calls"]]
            parts.append(f"[TOOL_CALLS]{space}[" + ", ".join(calls) + "]</s>")
        elif m["role"] == "assistant":
            parts.append(f"{space}{m['content']}</s>")
        elif m["role"] == "tool":
            parts.append(
                f'[TOOL_RESULTS]{space}{{"content": {m["content"]}, "call_id": "{m["tool_call_id"]}"}}[/TOOL_RESULTS]'
            )
    return "".join(parts)


def mistral(messages: Messages, default_system: str | None, tools: Tools = None) -> str:
    return _layout(messages, tools, "")


def mistral_v03(messages: Messages, default_system: str | None, tools: Tools = None) -> str:
    return _layout(messages, tools, " ")
