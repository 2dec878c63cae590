"""The tools of a chat row and its calls of them: tool definitions read into OpenAI's shape, each call's function
and arguments read and checked, and every call matched with its result before anything trains.

Hand-written for the same reason as chat_messages.py: errors name the row and field, which no library's reader does.
"""

from __future__ import annotations

from typing import Any

from tunesmith.errors import DataError
from tunesmith.user_files import parse_json_field

__all__ = ["check_calls", "read_calls", "read_tools"]

_TOOLS_HINT = 'Write tools as a JSON list of {"type": "function", "function": {...}}.'
_ARGS_HINT = "Write the arguments as a JSON object (or its JSON text)."
_CALL_HINT = (
    'Write a tool call as {"role": "assistant", "tool_calls": [{"id": "call00001", "type": "function", '
    '"function": {"name": ..., "arguments": {...}}}]}.'
)


def read_tools(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    """A tools list (or its JSON text) as OpenAI tool definitions; bare function objects are wrapped."""
    if isinstance(value, str):
        value = parse_json_field(value, field="`tools`", where=where, hint=_TOOLS_HINT) if value.strip() else []
    if value is None:
        return ()
    if not isinstance(value, list):
        raise DataError(
            f"`tools` must be a list of tool definitions, got {type(value).__name__}",
            where=where,
            hint=_TOOLS_HINT,
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


def read_calls(value: Any, origin: str, field: str) -> list[dict[str, Any]]:
    """An assistant turn's tool calls (one or a list, OpenAI or bare {name, arguments}) in OpenAI's shape, with the
    arguments as an object."""
    calls = value if isinstance(value, list) else [value]
    out = []
    for index, call in enumerate(calls):
        where = f"{field}.tool_calls[{index}]"
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise DataError(f"{where} has no function name", where=origin, hint=_CALL_HINT)
        arguments = function.get("arguments", function.get("parameters", {}))
        if isinstance(arguments, str) and arguments.strip():
            arguments = parse_json_field(arguments, field=f"{where}.function.arguments", where=origin, hint=_ARGS_HINT)
        elif isinstance(arguments, str):
            arguments = {}
        if not isinstance(arguments, dict):
            raise DataError(
                f"{where}.function.arguments must be a JSON object, got {type(arguments).__name__}",
                where=origin,
                hint=_ARGS_HINT,
            )
        entry = {"type": "function", "function": {"name": function["name"], "arguments": arguments}}
        if isinstance(call, dict) and isinstance(call.get("id"), str) and call["id"]:
            entry = {"id": call["id"], **entry}
        out.append(entry)
    return out


def check_calls(messages: list[dict[str, Any]], tools: list[dict[str, Any]], origin: str) -> None:
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
