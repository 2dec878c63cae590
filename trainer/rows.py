"""Turning table rows (CSV, JSONL, Parquet, saved datasets) into records, by a column mapping found once per source.

The mapping is guessed from common column names (question/answer, instruction/input/output, prompt/completion,
messages, text) unless the config names the columns; a wrong guess or a missing column names the columns found.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from tunesmith.trainer.records import ROLES, Record

from tunesmith.errors import DataError

__all__ = ["ColumnMapping", "find_mapping", "rows_to_records"]

_CANDIDATES = {
    "messages": ("messages", "conversations", "conversation", "chat"),
    "prompt": ("prompt", "question", "instruction", "query", "input", "q", "user"),
    "response": ("response", "answer", "output", "completion", "reply", "a", "assistant", "chosen"),
    "system": ("system", "system_prompt"),
    "text": ("text", "content", "body", "document"),
}
_ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant", "user": "user",
                 "assistant": "assistant", "system": "system"}

ColumnMapping = dict[str, str]


def find_mapping(columns: Sequence[str], configured: dict[str, str], where: str) -> ColumnMapping:
    """Decide which column plays which role (prompt, response, system, input, messages, text)."""
    found = ", ".join(columns) or "(none)"
    if configured:
        unknown_roles = sorted(set(configured) - set(_CANDIDATES) - {"input"})
        if unknown_roles:
            raise DataError(f"unknown column role(s) {', '.join(unknown_roles)} in `columns`", where=where,
                            hint="Roles are prompt, response, input, system, messages and text.")
        missing = [f"{role}: {col!r}" for role, col in configured.items() if col not in columns]
        if missing:
            raise DataError(f"column(s) not found: {'; '.join(missing)}; the columns found are: {found}",
                            where=where, hint="Fix `columns:` in the data source to use the names above.")
        if not ({"prompt", "response"} <= set(configured) or {"messages"} & set(configured)
                or {"text"} & set(configured)):
            raise DataError("`columns` must map prompt and response, or messages, or text", where=where,
                            hint="E.g. columns: {prompt: Question, response: Answer}.")
        return dict(configured)
    lower = {c.lower().strip(): c for c in columns}

    def pick(role: str, exclude: Iterable[str] = ()) -> str | None:
        return next((lower[n] for n in _CANDIDATES[role] if n in lower and lower[n] not in exclude), None)

    if (messages := pick("messages")) is not None:
        return {"messages": messages}
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
    raise DataError(f"cannot tell which columns hold the prompt and the answer (or the text); the columns found "
                    f"are: {found}", where=where,
                    hint="Name them in the data source, e.g. `columns: {prompt: Question, response: Answer}` "
                         "or `columns: {text: body}`.")


def rows_to_records(rows: Iterable[tuple[dict[str, Any], str]], mapping: ColumnMapping,
                    system: str | None = None) -> Iterator[Record]:
    """Map (row, origin) pairs to records; a cell of the wrong type names its row and column."""
    for row, origin in rows:
        if "text" in mapping:
            yield Record("text", origin, text=_cell(row, mapping["text"], origin))
        elif "messages" in mapping:
            yield Record("chat", origin, messages=_messages(row.get(mapping["messages"]), origin, system))
        else:
            prompt = _cell(row, mapping["prompt"], origin)
            if "input" in mapping and (extra := _cell(row, mapping["input"], origin).strip()):
                prompt = f"{prompt}\n\n{extra}"
            messages = []
            row_system = _cell(row, mapping["system"], origin) if "system" in mapping else ""
            if row_system or system:
                messages.append({"role": "system", "content": row_system or system})
            messages += [{"role": "user", "content": prompt},
                         {"role": "assistant", "content": _cell(row, mapping["response"], origin)}]
            yield Record("chat", origin, messages=tuple(messages))


def _cell(row: dict[str, Any], column: str, origin: str) -> str:
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise DataError(f"column {column!r} holds a {type(value).__name__}, expected text", where=origin,
                        hint="Map a text column to this role with `columns:`.")
    return value


def _messages(value: Any, origin: str, system: str | None) -> tuple[dict[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise DataError("`messages` must be a non-empty list of {role, content} objects", where=origin,
                        hint='Write e.g. [{"role": "user", "content": "Hi"}, {"role": "assistant", ...}].')
    messages = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise DataError(f"message {index} is not an object", where=origin, hint="Each message is {role, content}.")
        role = item.get("role", item.get("from"))
        content = item.get("content", item.get("value"))
        role = _ROLE_ALIASES.get(str(role).lower()) if role is not None else None
        if role not in ROLES or not isinstance(content, str):
            raise DataError(f"message {index} needs a role ({', '.join(ROLES)}) and text content, got keys "
                            f"{', '.join(map(str, item))}", where=origin,
                            hint='Write each message as {"role": "user", "content": "..."}.')
        messages.append({"role": role, "content": content})
    if system and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError("the chat has no assistant message, so there is nothing to learn", where=origin,
                        hint="Every chat needs at least one assistant reply.")
    return tuple(messages)
