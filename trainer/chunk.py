"""Chunking raw text for continued pre-training: windows of at most N tokens of the base tokenizer, cut on paragraph
and sentence boundaries, with a tail of the previous chunk repeated as overlap.

Hand-written because text splitters in the libraries count characters or need their own tokenizer; ours must count
the exact tokens the model will see. Only a sentence longer than a whole window is cut mid-sentence. The text keeps
its layout: line breaks and indentation (verse, code) and closing quotes stay as they were.

A long document's chunks are grouped in blocks of `_BLOCK` for the split, rather than the whole document in one
group: a corpus of three books then still has a validation split of about the asked fraction, where whole-book
groups would give it none or a third of the data. Overlap would leak text across blocks that land on different
sides, so the first chunk of every block starts where the previous chunk ended, with no overlap; only one join in
`_BLOCK` loses its overlap. Near-identical documents (two editions of a book, which dedup put in one group) are not
cut into blocks: their chunks fall at shifted places, so a block of one would share text with two blocks of the
other; the whole family keeps one group. Near-duplicate chunks of otherwise different documents are put in one
group afterwards by `dedup.group_near_duplicate_chunks`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from typing import Any

from tunesmith.trainer.records import Record

__all__ = ["chunk_records", "chunk_text"]

_PARAGRAPH = re.compile(r"\n\s*\n")
_BLOCK = 8
_PARAGRAPH_FILL = 0.75
# A sentence ends at its punctuation and any closing quotes or brackets; the whitespace after it is the separator.
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*(\s+)")


def _count(tokenizer: Any, texts: list[str]) -> list[int]:
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _sentences(paragraph: str) -> list[tuple[str, str]]:
    """(separator-before, sentence) pairs; indentation after a line break belongs to the sentence it starts."""
    pieces: list[tuple[str, str]] = []
    sep, start = "", 0
    for match in _SENTENCE_END.finditer(paragraph):
        space = match.group(1)
        newline = space.rfind("\n") + 1
        pieces.append((sep, paragraph[start : match.start(1)]))
        sep, start = space[:newline] or space, match.start(1) + (newline or len(space))
    pieces.append((sep, paragraph[start:]))
    return [(sep, sentence) for sep, sentence in pieces if sentence.strip()]


def _units(text: str, tokenizer: Any, max_tokens: int) -> list[tuple[str, str, int]]:
    """Split text into sentence units (separator-before, sentence, tokens) that each fit in a window."""
    pieces: list[tuple[str, str]] = []
    paragraphs = [p.rstrip() for p in _PARAGRAPH.split(text) if p.strip()]
    for p_index, paragraph in enumerate(paragraphs):
        sentences = _sentences(paragraph)
        pieces += [("\n\n" if p_index and s_index == 0 else sep, s) for s_index, (sep, s) in enumerate(sentences)]
    units: list[tuple[str, str, int]] = []
    for (sep, sentence), size in zip(pieces, _count(tokenizer, [s for _, s in pieces])):
        if size <= max_tokens:
            units.append((sep, sentence, size))
            continue
        ids = tokenizer(sentence, add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids), max_tokens):
            window = ids[start : start + max_tokens]
            units.append((sep if start == 0 else "", tokenizer.decode(window), len(window)))
    return units


def chunk_text(text: str, tokenizer: Any, max_tokens: int, overlap_tokens: int = 0, block: int = 0) -> list[str]:
    """Cut `text` into chunks of at most `max_tokens` tokens; consecutive chunks share up to `overlap_tokens`,
    except that with `block`, every `block`-th chunk starts where the previous one ended."""
    units = _units(text, tokenizer, max_tokens)
    chunks: list[str] = []
    start = 0
    while start < len(units):
        end = start
        total = 0
        while end < len(units) and total + units[end][2] + (1 if end > start else 0) <= max_tokens:
            total += units[end][2] + (1 if end > start else 0)
            end += 1
        end = max(end, start + 1)
        if end < len(units) and units[end][0] != "\n\n":
            end = _paragraph_end(units, start, end, max_tokens)
        chunk = _join(units[start:end])
        # Token counts of pieces do not always add up at the joins; re-count and shrink until the window fits.
        while end > start + 1 and _count(tokenizer, [chunk])[0] > max_tokens:
            end -= 1
            chunk = _join(units[start:end])
        chunks.append(chunk)
        if end >= len(units):
            break
        if block and len(chunks) % block == 0:
            start = end
            continue
        next_start = end
        carried = 0
        while next_start - 1 > start and carried + units[next_start - 1][2] <= overlap_tokens:
            next_start -= 1
            carried += units[next_start][2]
        start = next_start
    return chunks


def _paragraph_end(units: list[tuple[str, str, int]], start: int, end: int, max_tokens: int) -> int:
    """Move the cut back to the last paragraph break when that still fills the window to `_PARAGRAPH_FILL`."""
    filled = 0
    best = end
    for k in range(start + 1, end):
        filled += units[k - 1][2] + 1
        if units[k][0] == "\n\n" and filled >= _PARAGRAPH_FILL * max_tokens:
            best = k
    return best


def _join(units: list[tuple[str, str, int]]) -> str:
    return "".join((sep if i else "") + piece for i, (sep, piece, _) in enumerate(units))


def chunk_records(records: list[Record], tokenizer: Any, max_tokens: int, overlap_tokens: int) -> list[Record]:
    """Replace each text record by its chunks (chat records pass through).

    A long document's chunks form groups of `_BLOCK` consecutive chunks, and blocks share no text, so one book can
    be split between training and validation without leaking text across; the chunks of near-identical documents
    (records sharing a group) keep that one group (see the module docstring).
    """
    out: list[Record] = []
    family = Counter(record.group for record in records if record.kind == "text" and record.group)
    for record in records:
        if record.kind != "text":
            out.append(record)
            continue
        pieces = chunk_text(record.text, tokenizer, max_tokens, overlap_tokens, _BLOCK)
        blocks = len(pieces) > _BLOCK and family[record.group] < 2
        for index, piece in enumerate(pieces):
            origin = record.origin if len(pieces) == 1 else f"{record.origin}#chunk{index + 1}"
            group = f"{record.group}:{index // _BLOCK}" if blocks else record.group
            out.append(
                replace(
                    record,
                    text=piece,
                    origin=origin,
                    group=group,
                    ends_document=record.ends_document and index == len(pieces) - 1,
                )
            )
    return out
