"""Cleaning records: unicode normalisation, line ends and control characters, boilerplate, length and phrase filters.

Each record is either kept (cleaned) or dropped with a named reason, so the data report can say what was lost and why.
Layout inside a line is data, not noise: the indentation of code, the columns of a markdown table and the spacing of
verse are kept, in replies and raw text alike, because the model learns to write what it reads. Dedup compares texts
with whitespace normalised (dedup.content_key), so copies that differ only in spacing still count as duplicates.
The Project Gutenberg markers are matched by hand: no maintained library strips them without pulling in a corpus tool.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from tunesmith.config import Clean
from tunesmith.trainer.records import Record

__all__ = ["CleanResult", "clean_records", "clean_text", "strip_boilerplate"]

# Control characters except tab and newline; also the zero-width and BOM characters that sneak in from the web.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
_TRAILING_SPACE = re.compile(r"[^\S\n]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")
_GUTENBERG_START = re.compile(
    r"^\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG EBOOK.*?\*{3}\s*$", re.IGNORECASE | re.MULTILINE
)
_GUTENBERG_END = re.compile(r"^\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG EBOOK.*$", re.IGNORECASE | re.MULTILINE)


@dataclass
class CleanResult:
    kept: list[Record]
    dropped: Counter[str] = field(default_factory=Counter)


def clean_text(text: str, unicode_form: Literal["NFC", "NFKC", "none"] = "NFC") -> str:
    """Normalise unicode and line ends, drop control characters, strip the trailing whitespace of every line, collapse
    runs of blank lines into one, and trim the text.

    Leading indentation, tabs and runs of spaces inside a line are kept as they are. Trimming drops blank lines at
    both ends and the margin that every line shares (so a lone line loses its leading spaces, and a block indented
    as a whole keeps its relative indentation).
    """
    if unicode_form != "none":
        text = unicodedata.normalize(unicode_form, text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _TRAILING_SPACE.sub("", text)
    return textwrap.dedent(_BLANK_LINES.sub("\n\n", text).strip("\n"))


def strip_boilerplate(text: str) -> str:
    """Keep only the body between Project Gutenberg's START and END markers (text without them is unchanged)."""
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return text


def clean_records(records: list[Record], config: Clean) -> CleanResult:
    """Clean every record and drop those that end up empty, too short, too long or holding a banned phrase."""
    result = CleanResult(kept=[])
    banned = [phrase.lower() for phrase in config.banned_phrases if phrase.strip()]
    for record in records:
        if config.strip_boilerplate and record.kind == "text":
            record = record.map_text(strip_boilerplate)
        record = record.map_text(lambda t: clean_text(t, config.unicode))
        reason = _drop_reason(record, config, banned)
        if reason:
            result.dropped[reason] += 1
        else:
            result.kept.append(record)
    return result


def _drop_reason(record: Record, config: Clean, banned: list[str]) -> str | None:
    if record.kind == "chat":
        if any(not m["content"] and not m.get("tool_calls") for m in record.messages if m["role"] != "system"):
            return "empty"
    elif not record.text:
        return "empty"
    length = len(record.content)
    if length < config.min_chars:
        return "too_short"
    if config.max_chars is not None and length > config.max_chars:
        return "too_long"
    if banned:
        # Over-used phrases matter in what the model learns to say: replies and raw text, not the user's questions.
        said = (
            record.text
            if record.kind == "text"
            else "\n".join(m["content"] for m in record.messages if m["role"] == "assistant")
        )
        said = said.lower()
        if any(phrase in said for phrase in banned):
            return "banned_phrase"
    return None
