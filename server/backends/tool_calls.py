"""Tool calls out of a model's streamed text, for the embedded backend (Ollama parses its own).

Hermes/Qwen2.5 models write each call as `<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`. The parser
passes ordinary text through as it comes, holds back only what may be the start of a tag, and turns each complete
call into Ollama's shape (`{"function": {"name", "arguments"}}`). A call that never closes, or whose JSON does not
parse, goes back to the client as the text the model wrote: a malformed answer is an answer, not a server error.
Hand-written: llama-cpp-python parses tool calls only through its own fixed chat handlers, not a GGUF's template.
Llama 3's and Mistral's formats are parsed in json_tool_calls; TOOL_CALL_PARSERS names each format's parser.
"""

from __future__ import annotations

from typing import Any, Protocol

from tunesmith.server.backends.call_json import call_from_json, split_at_tag
from tunesmith.server.backends.json_tool_calls import Llama3JsonToolCallParser, MistralToolCallParser

__all__ = ["TOOL_CALL_PARSERS", "HermesToolCallParser", "ToolCallParser"]

_OPEN, _CLOSE = "<tool_call>", "</tool_call>"


class ToolCallParser(Protocol):
    """Feed the model's text piece by piece; get back (text for the client, finished calls in Ollama's shape)."""

    def feed(self, text: str) -> tuple[str, list[dict[str, Any]]]: ...

    def finish(self) -> str: ...


class HermesToolCallParser:
    """Feed the model's text piece by piece; get back (text for the client, finished tool calls)."""

    def __init__(self) -> None:
        self._pending = ""  # text not yet released: a possible tag start, or an open call's body
        self._in_call = False

    def feed(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        self._pending += text
        released, calls = [], []
        while True:
            if self._in_call:
                body, found, rest = self._pending.partition(_CLOSE)
                if not found:
                    break
                call = call_from_json(body.strip())
                if call is None:  # not a call after all: the client gets what the model wrote
                    released.append(_OPEN + body + _CLOSE)
                else:
                    calls.append(call)
                self._pending, self._in_call = rest, False
                continue
            text, self._pending, self._in_call = split_at_tag(self._pending, _OPEN)
            released.append(text)
            if not self._in_call:
                break
        return "".join(released), calls

    def finish(self) -> str:
        """What is left when the model stops: an unclosed call or a partial tag, as the text it was."""
        text = (_OPEN if self._in_call else "") + self._pending
        self._pending, self._in_call = "", False
        return text


# ChatFormat.tools -> the parser of that format's calls.
TOOL_CALL_PARSERS: dict[str, type[ToolCallParser]] = {
    "hermes": HermesToolCallParser,
    "llama3-json": Llama3JsonToolCallParser,
    "mistral": MistralToolCallParser,
}
