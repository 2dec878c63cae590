"""Turning table rows (CSV, JSONL, Parquet, saved datasets) into records, by a column mapping found once per source.

The mapping is guessed from common column names (question/answer, instruction/input/output, prompt/completion,
messages, text) unless the config names the columns; a wrong guess or a missing column names the columns found.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from tunesmith.errors import DataError
from tunesmith.trainer.chat_messages import read_chat
from tunesmith.trainer.records import Record

__all__ = ["ColumnMapping", "find_mapping", "rows_to_records"]

_CANDIDATES = {
    "messages": ("messages", "conversations", "conversation", "chat"),
    "prompt": ("prompt", "question", "instruction", "query", "input", "q", "user"),
    "response": ("response", "answer", "output", "completion", "reply", "a", "assistant", "chosen"),
    "system": ("system", "system_prompt"),
    "tools": ("tools", "functions"),
    "text": ("text", "content", "body", "document"),
}

ColumnMapping = dict[str, str]


def find_mapping(columns: Sequence[str], configured: dict[str, str], where: str) -> ColumnMapping:
    """Decide which column plays which role (prompt, response, system, input, messages, text)."""
    found = ", ".join(columns) or "(none)"
    if configured:
        unknown_roles = sorted(set(configured) - set(_CANDIDATES) - {"input"})
        if unknown_roles:
            raise DataError(
                f"unknown column role(s) {', '.join(unknown_roles)} in `columns`",
                where=where,
                hint="Roles are prompt, response, input, system, messages, tools and text.",
            )
        missing = [f"{role}: {col!r}" for role, col in configured.items() if col not in columns]
        if missing:
            raise DataError(
                f"column(s) not found: {'; '.join(missing)}; the columns found are: {found}",
                where=where,
                hint="Fix `columns:` in the data source to use the names above.",
            )
        if not (
            {"prompt", "response"} <= set(configured) or {"messages"} & set(configured) or {"text"} & set(configured)
        ):
            raise DataError(
                "`columns` must map prompt and response, or messages (and tools), or text",
                where=where,
                hint="E.g. columns: {prompt: Question, response: Answer}.",
            )
        return dict(configured)
    lower = {c.lower().strip(): c for c in columns}

    def pick(role: str, exclude: Iterable[str] = ()) -> str | None:
        return next((lower[n] for n in _CANDIDATES[role] if n in lower and lower[n] not in exclude), None)

    if (messages := pick("messages")) is not None:
        return {"messages": messages, **({"tools": tools} if (tools := pick("tools")) else {})}
    mapping: ColumnMapping = {}
    if "instruction" in lower and "output" in lower:
        mapping = {"prompt": lower["instruction"], "response": lower["output"]}
        if "input" in lower:
            mapping["input"] = lower["input"]
    else:
        prompt = pick("prompt")
        response = pick("response", exclude=[prompt] if prompt else [])
        if prompt and response:
            mapping = {"prompt": prompt, "response": response}
    if mapping:
        if (system := pick("system")) is not None:
            mapping["system"] = system
        return mapping
    if (text := pick("text")) is not None:
        return {"text": text}
    raise DataError(
        f"cannot tell which columns hold the prompt and the answer (or the text); the columns found are: {found}",
        where=where,
        hint="Name them in the data source, e.g. `columns: {prompt: Question, response: Answer}` "
        "or `columns: {text: body}`.",
    )


def rows_to_records(
    rows: Iterable[tuple[dict[str, Any], str]],
    mapping: ColumnMapping,
    system: str | None = None,
    *,
    tools: Sequence[dict[str, Any]] = (),
    reasoning: Literal["learn", "context", "drop"] = "learn",
    converted: Counter[str] | None = None,
) -> Iterator[Record]:
    """Map (row, origin) pairs to records; a cell of the wrong type names its row and column.

    `tools` apply to chats whose row has none; `reasoning` keeps the assistant's thinking to learn, as context only,
    or drops it; `converted` counts the rows read from another chat format (ShareGPT, Hermes).
    """
    for row, origin in rows:
        if "text" in mapping:
            yield Record("text", origin, text=_cell(row, mapping["text"], origin))
        elif "messages" in mapping:
            row_tools = row.get(mapping["tools"]) if "tools" in mapping else None
            chat = read_chat(
                row.get(mapping["messages"]), origin, tools=row_tools or list(tools) or None, system=system
            )
            messages = chat.messages
            if reasoning == "drop":
                messages = tuple({k: v for k, v in m.items() if k != "reasoning_content"} for m in messages)
            if converted is not None and chat.converted_from:
                converted[chat.converted_from] += 1
            yield Record(
                "chat",
                origin,
                messages=messages,
                tools=chat.tools,
                reasoning="context" if reasoning == "context" else "learn",
            )
        else:
            prompt = _cell(row, mapping["prompt"], origin)
            if "input" in mapping and (extra := _cell(row, mapping["input"], origin).strip()):
                prompt = f"{prompt}\n\n{extra}"
            turns: list[dict[str, Any]] = []
            row_system = _cell(row, mapping["system"], origin) if "system" in mapping else ""
            if row_system or system:
                turns.append({"role": "system", "content": row_system or system})
            turns += [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": _cell(row, mapping["response"], origin)},
            ]
            yield Record("chat", origin, messages=tuple(turns))


def _cell(row: dict[str, Any], column: str, origin: str) -> str:
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise DataError(
            f"column {column!r} holds a {type(value).__name__}, expected text",
            where=origin,
            hint="Map a text column to this role with `columns:`.",
        )
    return value
