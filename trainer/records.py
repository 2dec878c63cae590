"""The unit of training data between the steps of `prepare`: a chat (messages, and tools) or a raw text document.

Records are what ingest yields, cleaning and dedup filter, split assigns, and data/train.jsonl stores one per line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from tunesmith.errors import DataError

__all__ = ["Record", "record_from_json", "record_to_json"]


@dataclass(frozen=True)
class Record:
    """A chat (`messages` in the shape chat templates take, see chat_messages) or a text document (`text`).

    `origin` is `file:line`; `tools` are the tool definitions a chat's template renders; `reasoning` says whether the
    assistant's thinking is learned or only read as context.
    """

    kind: Literal["chat", "text"]
    origin: str
    messages: tuple[dict[str, Any], ...] = ()
    text: str = ""
    tools: tuple[dict[str, Any], ...] = ()
    reasoning: Literal["learn", "context"] = "learn"
    group: str = ""  # records of one group (a document's chunks, near-duplicates) land on the same side of the split
    ends_document: bool = True  # False for a chunk that a later chunk of the same document continues

    @property
    def split_group(self) -> str:
        """What the split keeps on one side: the record's group, or the record alone when it has none."""
        return self.group or self.origin

    @property
    def content(self) -> str:
        """The text that cleaning measures and dedup compares."""
        if self.kind == "text":
            return self.text
        parts = []
        for message in self.messages:
            parts += [message.get("reasoning_content", ""), message["content"]]
            parts += [json.dumps(call["function"], sort_keys=True) for call in message.get("tool_calls", ())]
        return "\n".join(part for part in parts if part)

    def map_text(self, fn: Callable[[str], str]) -> Record:
        """A copy with `fn` applied to the text, or to every message's content and thinking (not to tool calls)."""
        if self.kind == "text":
            return replace(self, text=fn(self.text))
        return replace(
            self,
            messages=tuple(
                {
                    **m,
                    "content": fn(m["content"]),
                    **({"reasoning_content": fn(m["reasoning_content"])} if "reasoning_content" in m else {}),
                }
                for m in self.messages
            ),
        )


def record_to_json(record: Record) -> dict[str, Any]:
    body: dict[str, Any] = {"text": record.text} if record.kind == "text" else {"messages": list(record.messages)}
    if record.tools:
        body["tools"] = list(record.tools)
    if record.reasoning != "learn":
        body["reasoning"] = record.reasoning
    if not record.ends_document:
        body["continues"] = True
    return {**body, "origin": record.origin, "group": record.group}


def record_from_json(row: Any, where: str) -> Record:
    """Read back one line of data/train.jsonl (written by `prepare`)."""
    if isinstance(row, dict) and isinstance(row.get("text"), str):
        return Record(
            "text",
            row.get("origin", where),
            text=row["text"],
            group=row.get("group", ""),
            ends_document=not row.get("continues", False),
        )
    if isinstance(row, dict) and isinstance(row.get("messages"), list):
        return Record(
            "chat",
            row.get("origin", where),
            messages=tuple(row["messages"]),
            group=row.get("group", ""),
            tools=tuple(row.get("tools", ())),
            reasoning=row.get("reasoning", "learn"),
        )
    raise DataError(
        "a prepared row holds neither `text` nor `messages`",
        where=where,
        hint="Run `tunesmith prepare` again to rebuild the data folder.",
    )
