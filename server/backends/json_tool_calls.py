"""Tool calls written as bare JSON, for the embedded backend: Llama 3.1-3.3's and Mistral's formats.

Llama 3 answers a call with nothing but `{"name": ..., "parameters": {...}}`, sometimes after `<|python_tag|>`: the
reply is a call only when it starts as one, so a plain answer streams through once its first character says so.
Mistral writes `[TOOL_CALLS][{"name": ..., "arguments": {...}, "id": "a1B2c3D4e"}, ...]`, possibly after some text;
[TOOL_CALLS] is a control token, which llama-cpp-python's streamed text leaves out, so a reply that opens with the list
is read as calls too.
Both hold back only what may still become a call, and give back a call that does not parse as the text it was.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from typing import Any

from tunesmith.server.backends.call_json import call_from_json, function_call, json_end, split_at_tag

__all__ = ["Llama3JsonToolCallParser", "MistralToolCallParser", "mistral_call_id"]

_PYTHON_TAG = "<|python_tag|>"
_TOOL_CALLS = "[TOOL_CALLS]"
_MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")


def mistral_call_id() -> str:
    """A call id Mistral's chat templates accept: nine letters and digits."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(9))


class Llama3JsonToolCallParser:
    """Feed Llama 3's reply piece by piece; get back (text for the client, finished calls in Ollama's shape)."""

    def __init__(self) -> None:
        self._pending = ""  # what may still be a call: leading blanks, the python tag, an open JSON object
        self._mode = "start"  # start: undecided; calls: the reply is calls so far; text: a plain answer

    def feed(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        if self._mode == "text":
            return text, []
        self._pending += text
        calls: list[dict[str, Any]] = []
        if self._mode == "start":
            head = self._pending.lstrip()
            if head.startswith(_PYTHON_TAG):
                head = head[len(_PYTHON_TAG) :].lstrip()
            elif _PYTHON_TAG.startswith(head):  # blank so far, or the tag is arriving
                return "", []
            if not head:
                return "", []
            if not head.startswith("{"):
                return self._give_up(), []
            self._mode, self._pending = "calls", head
        while self._mode == "calls":
            body = self._pending.lstrip(" \t\n;")
            if not body:
                break
            if not body.startswith("{"):  # after the calls, something else: the client gets it as text
                self._mode, self._pending = "text", ""
                return body, calls
            end = json_end(body, 0)
            if end is None:
                break
            call = call_from_json(body[:end], ("parameters", "arguments"))
            if call is None:  # not a call after all: the client gets what the model wrote
                self._mode, self._pending = "text", ""
                return body, calls
            calls.append(call)
            self._pending = body[end:]
        return "", calls

    def _give_up(self) -> str:
        text, self._pending, self._mode = self._pending, "", "text"
        return text

    def finish(self) -> str:
        """What is held back when the model stops: an unclosed call or a partial tag, as the text it was."""
        text, self._pending = self._pending, ""
        return text if text.strip(" \t\n;") else ""


class MistralToolCallParser:
    """Feed Mistral's reply piece by piece; get back (text for the client, finished calls, each with an id)."""

    def __init__(self) -> None:
        self._pending = ""  # text not yet released: a possible tag start, or the calls after [TOOL_CALLS]
        self._in_calls = False
        self._tag = ""  # what opened the calls: the tag, or nothing when the reply opened with the list
        self._started = False

    def feed(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        self._pending += text
        released: list[str] = []
        calls: list[dict[str, Any]] = []
        if not self._started:
            head = self._pending.lstrip()
            if not head or (_TOOL_CALLS.startswith(head) and head != _TOOL_CALLS):
                return "", []
            self._started = True
            if head.startswith("[") and not head.startswith(_TOOL_CALLS):
                self._in_calls, self._tag = True, ""
        while True:
            if self._in_calls:
                body = self._pending.lstrip()
                if not body:
                    break
                end = json_end(body, 0) if body[0] in "[{" else len(body)
                if end is None:
                    break
                found = _mistral_calls(body[:end])
                if found is None:  # not calls after all: the client gets what the model wrote
                    released.append(self._tag + self._pending[: len(self._pending) - len(body) + end])
                else:
                    calls += found
                self._pending, self._in_calls = body[end:], False
                continue
            text, self._pending, found_tag = split_at_tag(self._pending, _TOOL_CALLS)
            released.append(text)
            if not found_tag:
                break
            self._in_calls, self._tag = True, _TOOL_CALLS
        return "".join(released), calls

    def finish(self) -> str:
        """What is left when the model stops: unclosed calls or a partial tag, as the text it was."""
        text = (self._tag if self._in_calls else "") + self._pending
        self._pending, self._in_calls = "", False
        return text


def _mistral_calls(body: str) -> list[dict[str, Any]] | None:
    """The calls of a `[...]` list (or one `{...}`), each with the model's id, or a new one where it has none that
    Mistral's templates accept (the client sends it back with the call's result); None if any is not a call."""
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    calls = []
    for item in value if isinstance(value, list) else [value]:
        call = function_call(item)
        if call is None:
            return None
        calls.append(call)
    if not calls:
        return None
    for call in calls:
        if not _MISTRAL_ID.fullmatch(call.get("id", "")):
            call["id"] = mistral_call_id()
    return calls
