"""A chat request's `tools` and `tool_choice`, checked before any backend sees them, with the bad field named.

OpenAI answers a malformed tool definition with a 400 naming `tools[i].function.name` and the like; so does this
server, rather than letting a template render a nameless tool or a grammar fail deep inside llama.cpp.
Hand-written: the request schema types `tools` loosely (the openai client sends plain dicts), so their rules are here.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeGuard

from tunesmith.server.errors import BadRequestError

__all__ = ["check_tool_choice", "check_tools", "forced_tool_choice"]

# OpenAI's rule for function names.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CHOICES = ("none", "auto", "required")


def check_tools(tools: list[Any] | None) -> None:
    """Raise `BadRequestError` naming the first bad field of `tools`: type, function, name, parameters, duplicates."""
    seen: dict[str, int] = {}
    for index, tool in enumerate(tools or []):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise BadRequestError(
                f"{where} must be an object",
                param=where,
                hint='Send each tool as {"type": "function", "function": {"name": ...}}.',
            )
        if tool.get("type") != "function":
            raise BadRequestError(
                f'{where}.type must be "function", got {json.dumps(tool.get("type"))}',
                param=f"{where}.type",
                hint="Only function tools are supported.",
            )
        function = tool.get("function")
        if not isinstance(function, dict):
            raise BadRequestError(
                f"{where}.function is missing or not an object",
                param=f"{where}.function",
                hint='Describe the tool as "function": {"name": ..., "parameters": {...}}.',
            )
        name = function.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            shown = "missing" if name is None else f"{json.dumps(name)}, not a valid name"
            raise BadRequestError(
                f"{where}.function.name is {shown}",
                param=f"{where}.function.name",
                hint="Name the function with 1 to 64 letters, digits, underscores or dashes.",
            )
        if name in seen:
            raise BadRequestError(
                f"{where}.function.name {name!r} is already the name of tools[{seen[name]}]",
                param=f"{where}.function.name",
                hint="Give each tool its own name.",
            )
        seen[name] = index
        if "description" in function and not isinstance(function["description"], str):
            raise BadRequestError(
                f"{where}.function.description must be a string", param=f"{where}.function.description"
            )
        parameters = function.get("parameters")
        if parameters is not None and not (
            isinstance(parameters, dict) and parameters.get("type", "object") == "object"
        ):
            raise BadRequestError(
                f"{where}.function.parameters must be a JSON Schema object "
                f'({{"type": "object", "properties": ...}}), got {json.dumps(parameters)}',
                param=f"{where}.function.parameters",
                hint="Describe the arguments as an object schema, or leave parameters out for a "
                "function that takes none.",
            )


def check_tool_choice(choice: str | dict[str, Any] | None, tools: list[dict[str, Any]] | None) -> str | dict | None:
    """The request's tool_choice, checked against its tools: "none", "auto", "required", or a named function in
    OpenAI's shape; None when left out. Raises `BadRequestError` naming tool_choice."""
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in _CHOICES:
            raise BadRequestError(
                f"tool_choice {choice!r} is not one of {', '.join(map(repr, _CHOICES))}",
                param="tool_choice",
                hint='Send "auto", "none", "required" or {"type": "function", "function": {"name": ...}}.',
            )
        if choice == "required" and not tools:
            raise BadRequestError(
                'tool_choice "required" needs tools, and the request has none',
                param="tool_choice",
                hint="Send the tools the model may call, or leave tool_choice out.",
            )
        return choice
    function = choice.get("function") if choice.get("type") == "function" else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise BadRequestError(
            f"tool_choice {json.dumps(choice)} names no function",
            param="tool_choice",
            hint='Name the function as {"type": "function", "function": {"name": ...}}.',
        )
    names = [tool["function"]["name"] for tool in tools or []]
    if name not in names:
        raise BadRequestError(
            f"tool_choice names the function {name!r}, which is not in tools ({', '.join(map(repr, names)) or 'none'})",
            param="tool_choice",
            hint="Name one of the request's tools, or add the function to `tools`.",
        )
    return choice


def forced_tool_choice(choice: str | dict[str, Any] | None) -> TypeGuard[str | dict[str, Any]]:
    """Whether tool_choice makes the model call a tool ("required", or a named function)."""
    return choice == "required" or isinstance(choice, dict)
