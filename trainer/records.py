"""The unit of training data between the steps of `prepare`: a chat (messages) or a raw text document.

Records are what ingest yields, cleaning and dedup filter, split assigns, and data/train.jsonl stores one per line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from tunesmith.errors import DataError

__all__ = ["Record", "record_from_json", "record_to_json"]

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Record:
    """A chat (`messages`, each {"role", "content"}) or a text document (`text`); `origin` is `file:line`."""

    kind: Literal["chat", "text"]
    origin: str
    messages: tuple[dict[str, str], ...] = ()
    text: str = ""
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
        return "\n".join(message["content"] for message in self.messages)

    def map_text(self, fn: Callable[[str], str]) -> Record:
        """A copy with `fn` applied to the text, or to every message's content."""
        if self.kind == "text":
            return replace(self, text=fn(self.text))
        return replace(self, messages=tuple({**m, "content": fn(m["content"])} for m in self.messages))


def record_to_json(record: Record) -> dict[str, Any]:
    body: dict[str, Any] = {"text": record.text} if record.kind == "text" else {"messages": list(record.messages)}
    if not record.ends_document:
        body["continues"] = True
    return {**body, "origin": record.origin, "group": record.group}


def record_from_json(row: Any, where: str) -> Record:
    """Read back one line of data/train.jsonl (written by `prepare`)."""
    if isinstance(row, dict) and isinstance(row.get("text"), str):
        return Record("text", row.get("origin", where), text=row["text"], group=row.get("group", ""),
                      ends_document=not row.get("continues", False))
    if isinstance(row, dict) and isinstance(row.get("messages"), list):
        return Record("chat", row.get("origin", where), messages=tuple(row["messages"]), group=row.get("group", ""))
    raise DataError("a prepared row holds neither `text` nor `messages`", where=where,
                    hint="Run `tunesmith prepare` again to rebuild the data folder.")
