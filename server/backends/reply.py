"""A model's streamed reply split into what the client gets: answer text and tool calls, by the package's chat format.

The embedded backend feeds each piece of text as llama.cpp samples it; Ollama does the same split on its side.
"""

from __future__ import annotations

from tunesmith.modelfiles import ChatFormat
from tunesmith.server.backends.base import Delta
from tunesmith.server.backends.tool_calls import TOOL_CALL_PARSERS, ToolCallParser

__all__ = ["ReplyParser", "takes_tools"]


def takes_tools(chat_format: ChatFormat | None) -> bool:
    """Whether requests with tools can be served: the template renders them and their calls can be parsed."""
    return chat_format is not None and chat_format.tools in TOOL_CALL_PARSERS


class ReplyParser:
    """Feed the model's text; get back Deltas of answer text and finished tool calls."""

    def __init__(self, chat_format: ChatFormat | None, *, tools: bool) -> None:
        parser = TOOL_CALL_PARSERS.get(chat_format.tools or "") if tools and chat_format else None
        self._tools: ToolCallParser | None = parser() if parser else None
        self._called = False

    def feed(self, text: str) -> Delta:
        calls = []
        if self._tools is not None:
            text, calls = self._tools.feed(text)
        if self._called and text.isspace():  # the blank lines between and after calls are no answer
            text = ""
        self._called = self._called or bool(calls)
        return Delta(content=text, tool_calls=calls or None)

    def finish(self) -> Delta:
        """What is held back when the model stops: an unclosed call or a partial tag, as the text it was."""
        return Delta(content=self._tools.finish() if self._tools is not None else "")
