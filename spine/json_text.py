"""JSON from a user's files and fields, read with errors that say where it broke.

`json.JSONDecodeError` names a line and column of the text it was given. These turn it into tunesmith's error of
the caller's kind (DataError for data, ModelError for model folders), pointing at the file's line and column, or at
the row and field the text came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunesmith.errors import DataError, TunesmithError

__all__ = ["parse_json_field", "parse_json_text", "read_json_file"]


def read_json_file(path: Path, *, error: type[TunesmithError], hint: str) -> Any:
    """The JSON value `path` holds; `error` at path:line:column where it is not UTF-8 JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise error("file is not UTF-8 text", where=str(path), hint="Re-save it as UTF-8 JSON.") from err
    return parse_json_text(text, source=str(path), error=error, hint=hint)


def parse_json_text(text: str, *, source: str, error: type[TunesmithError], hint: str) -> Any:
    """The JSON value of a whole file's `text`; `error` at source:line:column where it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"invalid JSON: {err.msg}", where=f"{source}:{err.lineno}:{err.colno}", hint=hint) from err


def parse_json_field(text: str, *, field: str, where: str, hint: str, error: type[TunesmithError] = DataError) -> Any:
    """The value of a field's JSON text (a cell, a line, a tool call's arguments); `error` naming the field and the
    column where it is not JSON, at `where` (the row)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{field} is not valid JSON: {err.msg} at column {err.colno}", where=where, hint=hint) from err
