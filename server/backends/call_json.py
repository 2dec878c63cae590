"""What the tool-call parsers share: tags that may be arriving piece by piece, JSON values that may not be complete
yet, and a call object turned into Ollama's shape (`{"function": {"name", "arguments"}}`, with the model's `id`).

Hand-written: the stream arrives a few characters at a time, and `json.JSONDecoder.raw_decode` cannot tell a value
that is not finished from one that is wrong; counting brackets outside strings can.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["call_from_json", "function_call", "held_back", "json_end", "split_at_tag"]


def held_back(text: str, tag: str) -> int:
    """How many characters at the end of `text` could begin `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def split_at_tag(pending: str, tag: str) -> tuple[str, str, bool]:
    """(text to release, text to keep, whether `tag` came): the text before `tag` and what follows it; with no tag
    yet, all but a tail that may be the tag's start, kept until more text comes."""
    before, found, rest = pending.partition(tag)
    if found:
        return before, rest, True
    keep = held_back(pending, tag)
    return pending[: len(pending) - keep], pending[len(pending) - keep :], False


def json_end(text: str, start: int) -> int | None:
    """Where the JSON object or array opening at `text[start]` ends (the index after it), or None while it is open.

    Brackets count only outside strings; whether the value is valid JSON is for `json.loads` to say.
    """
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def call_from_json(body: str, arguments_keys: tuple[str, ...] = ("arguments",)) -> dict[str, Any] | None:
    """The call that the JSON text `body` holds, in Ollama's shape; None when it is not JSON or not a call."""
    try:
        return function_call(json.loads(body), arguments_keys)
    except json.JSONDecodeError:
        return None


def function_call(value: Any, arguments_keys: tuple[str, ...] = ("arguments",)) -> dict[str, Any] | None:
    """A call object (`{"name": ..., "<arguments key>": {...}}`) in Ollama's shape, or None when it is not one.

    Arguments may come as an object or as a JSON string of one; a string `id` the model wrote is kept.
    """
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    key = next((key for key in arguments_keys if key in value), None)
    arguments = value[key] if key else {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            return None
    if not isinstance(arguments, dict):
        return None
    call: dict[str, Any] = {"function": {"name": value["name"], "arguments": arguments}}
    if isinstance(value.get("id"), str):
        call["id"] = value["id"]
    return call
