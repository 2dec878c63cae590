"""A model's streamed reply split into what the client gets: reasoning, answer text and tool calls, by the package's
chat format.

The embedded backend feeds each piece of text as llama.cpp samples it; Ollama does the same split on its side.
"""

from __future__ import annotations

from typing import Any

from tunesmith.modelfiles import ChatFormat
from tunesmith.server.backends.base import Delta
from tunesmith.server.backends.thinking import ThinkTagSplitter
from tunesmith.server.backends.tool_calls import TOOL_CALL_PARSERS, ToolCallParser

__all__ = ["ReplyParser", "takes_thinking", "takes_tools"]


def takes_tools(chat_format: ChatFormat | None) -> bool:
    """Whether requests with tools can be served: the template renders them and their calls can be parsed."""
    return chat_format is not None and chat_format.tools in TOOL_CALL_PARSERS


def takes_thinking(chat_format: ChatFormat | None) -> bool:
    """Whether reasoning can be switched on and off: the template carries thinking in a format split here."""
    return chat_format is not None and chat_format.thinking == "think-tags"


class ReplyParser:
    """Feed the model's text; get back Deltas of reasoning, answer text and finished tool calls.

    `thinking`: split <think> reasoning out (a thinking format with thinking on); `in_thinking`: the prompt already
    opened the <think> block, so the reply starts in the reasoning.
    """

    def __init__(
        self, chat_format: ChatFormat | None, *, tools: bool, thinking: bool = False, in_thinking: bool = False
    ) -> None:
        parser = TOOL_CALL_PARSERS.get(chat_format.tools or "") if tools and chat_format else None
        self._tools: ToolCallParser | None = parser() if parser else None
        self._thinking = ThinkTagSplitter(in_thinking=in_thinking) if thinking or in_thinking else None
        self._called = False

    def feed(self, text: str) -> Delta:
        reasoning = ""
        if self._thinking is not None:
            reasoning, text = self._thinking.feed(text)
        return self._answer(text, reasoning)

    def _answer(self, text: str, reasoning: str) -> Delta:
        calls: list[dict[str, Any]] = []
        if self._tools is not None:
            text, calls = self._tools.feed(text)
        if (self._called or calls) and text.isspace():  # the blank lines between and after calls are no answer
            text = ""
        self._called = self._called or bool(calls)
        return Delta(content=text, thinking=reasoning, tool_calls=calls or None)

    def finish(self) -> Delta:
        """What is held back when the model stops: an unclosed call or a partial tag, as the text it was."""
        reasoning, text = self._thinking.finish() if self._thinking is not None else ("", "")
        delta = self._answer(text, reasoning) if text or reasoning else Delta()
        if self._tools is not None:
            delta.content += self._tools.finish()
        return delta
