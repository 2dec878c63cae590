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

__all__ = ["ChatRow", "read_chat", "read_tools"]

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


def read_tools(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    """A tools list (or its JSON text) as OpenAI tool definitions; bare function objects are wrapped."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as err:
            raise DataError(
                f"`tools` is not valid JSON: {err.msg}",
                where=where,
                hint='Write tools as a JSON list of {"type": "function", "function": {...}}.',
            ) from err
    if value is None:
        return ()
    if not isinstance(value, list):
        raise DataError(
            f"`tools` must be a list of tool definitions, got {type(value).__name__}",
            where=where,
            hint='Write tools as a JSON list of {"type": "function", "function": {...}}.',
        )
    tools, names = [], set()
    for index, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) and "function" in tool else tool
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise DataError(
                f"tools[{index}] has no function name",
                where=where,
                hint='Each tool is {"type": "function", "function": {"name": ..., "description": ..., '
                '"parameters": {JSON schema}}}.',
            )
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, dict):
            raise DataError(
                f"tools[{index}].function.parameters must be a JSON schema object",
                where=where,
                hint='E.g. {"type": "object", "properties": {"city": {"type": "string"}}}.',
            )
        if function["name"] in names:
            raise DataError(
                f"two tools are named {function['name']!r} (tools[{index}])",
                where=where,
                hint="Give each tool its own name.",
            )
        names.add(function["name"])
        tools.append({"type": "function", "function": {**function, "parameters": parameters}})
    return tuple(tools)


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
                    "tool_calls": _calls(_json(content, origin, f"{field}.value"), origin, field),
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
            try:
                tool_list = list(read_tools(f"[{','.join(_hermes_tools(listed[0]))}]", origin))
            except json.JSONDecodeError as err:
                raise DataError(
                    f"{field}: the tools listed in <tools> are not JSON: {err.msg}",
                    where=origin,
                    hint="Write one JSON tool definition per line between <tools> and </tools>.",
                ) from err
            converted = "hermes"
            continue
        if role == "assistant":
            calls = item.get("tool_calls")
            if calls is None and _TOOL_CALL.search(message["content"]):
                calls = [_json(body, origin, f"{field}.content") for body in _TOOL_CALL.findall(message["content"])]
                message["content"] = _TOOL_CALL.sub("", message["content"]).strip()
                converted = converted or "hermes"
            if calls:
                message["tool_calls"] = _calls(calls, origin, field)
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
    _check_calls(messages, tool_list, origin)
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError(
            "the chat has no assistant message, so there is nothing to learn",
            where=origin,
            hint="Every chat needs at least one assistant reply.",
        )
    return ChatRow(tuple(messages), tuple(tool_list), converted)


def _hermes_tools(text: str) -> list[str]:
    # Hermes prompts list one JSON object per tool between the tags, separated by newlines or written as a list.
    text = text.strip()
    if text.startswith("["):
        return [json.dumps(tool) for tool in json.loads(text)]
    decoder, tools, position = json.JSONDecoder(), [], 0
    while position < len(text):
        tool, position = decoder.raw_decode(text, position)
        tools.append(json.dumps(tool))
        while position < len(text) and text[position] in " \n\r\t,":
            position += 1
    return tools


def _json(text: Any, origin: str, field: str) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{field} is not valid JSON: {err.msg} at column {err.colno}",
            where=origin,
            hint='Write the tool call as JSON: {"name": ..., "arguments": {...}}.',
        ) from err


def _calls(value: Any, origin: str, field: str) -> list[dict[str, Any]]:
    calls = value if isinstance(value, list) else [value]
    out = []
    for index, call in enumerate(calls):
        where = f"{field}.tool_calls[{index}]"
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise DataError(f"{where} has no function name", where=origin, hint=_FORMAT_HINT)
        arguments = function.get("arguments", function.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as err:
                raise DataError(
                    f"{where}.function.arguments is not valid JSON: {err.msg} at column {err.colno}",
                    where=origin,
                    hint="Write the arguments as a JSON object (or its JSON text).",
                ) from err
        if not isinstance(arguments, dict):
            raise DataError(
                f"{where}.function.arguments must be a JSON object, got {type(arguments).__name__}",
                where=origin,
                hint="Write the arguments as a JSON object (or its JSON text).",
            )
        entry = {"type": "function", "function": {"name": function["name"], "arguments": arguments}}
        if isinstance(call, dict) and isinstance(call.get("id"), str) and call["id"]:
            entry = {"id": call["id"], **entry}
        out.append(entry)
    return out


def _check_calls(messages: list[dict[str, Any]], tools: list[dict[str, Any]], origin: str) -> None:
    """Every call names a known tool; every result answers an open call; no call is left open before a user turn.

    Calls without an id get one (`call00001`...: nine letters and digits, which every template accepts), and results
    without a `tool_call_id` answer the open calls in order, so templates that print ids render them.
    """
    names = {tool["function"]["name"] for tool in tools}
    open_calls: list[dict[str, Any]] = []
    counter = 0
    for index, message in enumerate(messages):
        field = f"messages[{index}]"
        if message["role"] == "user" and open_calls:
            raise DataError(
                f"tool call {open_calls[0]['id']!r} ({open_calls[0]['function']['name']}) gets no result "
                f"before the next user turn at {field}",
                where=origin,
                hint="Add a tool message with its result after the assistant's call.",
            )
        for call_index, call in enumerate(message.get("tool_calls", ())):
            name = call["function"]["name"]
            if not tools:
                raise DataError(
                    f"{field} calls the tool {name!r} but the row has no `tools`",
                    where=origin,
                    hint="List the tools in the row's `tools` field, or in the data source's `tools:` "
                    "(a JSON file of tool definitions).",
                )
            if name not in names:
                raise DataError(
                    f"{field}.tool_calls[{call_index}] calls {name!r}, which is not in `tools` "
                    f"({', '.join(sorted(names))})",
                    where=origin,
                    hint="Add the tool's definition to `tools`, or fix the call's name.",
                )
            counter += 1
            call.setdefault("id", f"call{counter:05d}")
            open_calls.append(call)
        if message["role"] == "tool":
            wanted = message.get("tool_call_id")
            match = (
                next((c for c in open_calls if c["id"] == wanted), None)
                if wanted
                else (
                    next((c for c in open_calls if c["function"]["name"] == message.get("name")), None)
                    or (open_calls[0] if open_calls else None)
                )
            )
            if match is None:
                said = f"tool_call_id {wanted!r}" if wanted else "a result"
                raise DataError(
                    f"{field} gives {said} that answers no open tool call",
                    where=origin,
                    hint="Each tool result follows the assistant's call and names it by tool_call_id.",
                )
            open_calls.remove(match)
            message["tool_call_id"] = match["id"]
            message.setdefault("name", match["function"]["name"])
