"""A chat row's messages, tools, tool calls and reasoning, read into one shape and checked before anything trains.

The shape is OpenAI's chat format as chat templates take it: `tool_calls` with `function.arguments` as objects,
`tool` messages with `tool_call_id` (and `name`), the assistant's thinking as `reasoning_content`. Rows in the other
open formats are converted on the way in and counted by the format they came from:
- ShareGPT (`from`/`value`, LLaMA-Factory's `function_call` and `observation` turns, tools in a `tools` cell);
- Hermes function-calling rows (`<tools>` in the system prompt, `<tool_call>` JSON in the reply, `<tool_response>`
  in the tool turn): the tools are read out of the system prompt, which is dropped, since the base model's own chat
  template writes its own tool instructions.
Hand-written: no library reads these variants into the shape chat templates take, with errors naming row and field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tunesmith.errors import DataError
from tunesmith.trainer.chat_tools import check_calls, read_calls, read_tools
from tunesmith.user_files import parse_json_field

__all__ = ["ChatRow", "read_chat"]

_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "assistant": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
    "ipython": "tool",
    "function_call": "function_call",
}
_TOOLS = re.compile(r"<tools>(.*?)</tools>", re.DOTALL)
_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_TOOL_RESPONSE = re.compile(r"^\s*<tool_response>\s*(.*?)\s*</tool_response>\s*$", re.DOTALL)
_FORMAT_HINT = (
    'Write each message as {"role": "user", "content": "Hi"} (roles: system, user, assistant, tool); an assistant tool call as {"role": "assistant", '
    '"tool_calls": [{"id": "call00001", "type": "function", "function": {"name": ..., "arguments": '
    '{...}}}]}; its result as {"role": "tool", "tool_call_id": "call00001", "content": ...}.'
)


@dataclass(frozen=True)
class ChatRow:
    """Messages in the shape chat templates take, the tools they may call, and the format they were converted from."""

    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...] = ()
    converted_from: str = ""  # "", "sharegpt" or "hermes"


def read_chat(value: Any, origin: str, *, tools: Any = None, system: str | None = None) -> ChatRow:
    """Read one row's messages (OpenAI, ShareGPT or Hermes style) and its tools; DataError names row and field."""
    if not isinstance(value, list) or not value:
        raise DataError(
            "`messages` must be a non-empty list of {role, content} objects", where=origin, hint=_FORMAT_HINT
        )
    tool_list = list(read_tools(tools, origin))
    converted = ""
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        field = f"messages[{index}]"
        if not isinstance(item, dict):
            raise DataError(f"{field} is not an object", where=origin, hint=_FORMAT_HINT)
        raw_role = item.get("role", item.get("from"))
        role = _ROLES.get(str(raw_role).lower()) if raw_role is not None else None
        content = item.get("content", item.get("value"))
        if "from" in item and "role" not in item:
            converted = converted or "sharegpt"
        if role is None:
            raise DataError(
                f"{field} needs a role (system, user, assistant or tool), got keys {', '.join(map(str, item))}",
                where=origin,
                hint=_FORMAT_HINT,
            )
        if role == "function_call":  # LLaMA-Factory's ShareGPT: the call's JSON is the turn's value
            messages.append(
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": read_calls(_call_json(content, origin, f"{field}.value"), origin, field),
                }
            )
            continue
        if content is not None and not isinstance(content, str):
            if role != "tool":
                raise DataError(
                    f"{field}.content must be text, got {type(content).__name__}", where=origin, hint=_FORMAT_HINT
                )
            content = json.dumps(content, ensure_ascii=False)
        message: dict[str, Any] = {"role": role, "content": content or ""}
        listed = [m.group(1) for m in _TOOLS.finditer(message["content"]) if m.group(1).strip()]
        if role == "system" and not tool_list and listed:  # (the prompt may name the tags empty before the list)
            tool_list = list(read_tools(_hermes_tools(listed[0], origin, field), origin))
            converted = "hermes"
            continue
        if role == "assistant":
            calls = item.get("tool_calls")
            if calls is None and _TOOL_CALL.search(message["content"]):
                calls = [
                    _call_json(body, origin, f"{field}.content") for body in _TOOL_CALL.findall(message["content"])
                ]
                message["content"] = _TOOL_CALL.sub("", message["content"]).strip()
                converted = converted or "hermes"
            if calls:
                message["tool_calls"] = read_calls(calls, origin, field)
            reasoning = next(
                (item[key] for key in ("reasoning_content", "thinking", "reasoning") if item.get(key)), None
            )
            if reasoning is not None:
                if not isinstance(reasoning, str):
                    raise DataError(f"{field}.reasoning_content must be text", where=origin, hint=_FORMAT_HINT)
                message["reasoning_content"] = reasoning
        if role == "tool":
            if (wrapped := _TOOL_RESPONSE.match(message["content"])) is not None:
                message["content"] = wrapped.group(1)
                converted = converted or "hermes"
            for key in ("tool_call_id", "name"):
                if isinstance(item.get(key), str) and item[key]:
                    message[key] = item[key]
        messages.append(message)
    if system and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system})
    check_calls(messages, tool_list, origin)
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError(
            "the chat has no assistant message, so there is nothing to learn",
            where=origin,
            hint="Every chat needs at least one assistant reply.",
        )
    return ChatRow(tuple(messages), tuple(tool_list), converted)


def _hermes_tools(text: str, origin: str, field: str) -> list[Any]:
    # Hermes prompts list one JSON object per tool between the tags, separated by newlines or written as a list.
    text = text.strip()
    decoder, tools, position = json.JSONDecoder(), [], 0
    try:
        if text.startswith("["):
            return list(json.loads(text))
        while position < len(text):
            tool, position = decoder.raw_decode(text, position)
            tools.append(tool)
            while position < len(text) and text[position] in " \n\r\t,":
                position += 1
    except json.JSONDecodeError as err:
        raise DataError(
            f"{field}: the tools listed in <tools> are not JSON: {err.msg}",
            where=origin,
            hint="Write one JSON tool definition per line between <tools> and </tools>.",
        ) from err
    return tools


def _call_json(text: Any, origin: str, field: str) -> Any:
    if not isinstance(text, str):
        return text
    hint = 'Write the tool call as JSON: {"name": ..., "arguments": {...}}.'
    return parse_json_field(text, field=field, where=origin, hint=hint)
