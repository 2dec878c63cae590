"""Reading what users give (folders, text, YAML and JSON files, JSON fields of a row) with errors that say where it
broke.

Python's own errors name a byte offset, a line and column, or an errno. These turn them into tunesmith's error of
the caller's kind (ConfigError for flags and project files, DataError for data, ModelError for model folders...),
pointing at the file and its line and column, or at the row and field the text came from, with what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tunesmith.errors import DataError, TunesmithError

__all__ = [
    "existing_folder",
    "parse_json_field",
    "parse_json_text",
    "read_json_file",
    "read_text_file",
    "read_yaml_file",
]


def existing_folder(path: str | Path, *, what: str, error: type[TunesmithError], hint: str) -> Path:
    """`path`, checked to be a folder; `error` saying that `what` (e.g. "adapter folder") does not exist, or is a
    file."""
    folder = Path(path)
    if not folder.is_dir():
        problem = "does not exist" if not folder.exists() else "is a file, not a folder"
        raise error(f"{what} {problem}", where=str(folder), hint=hint)
    return folder


def read_text_file(path: Path, *, what: str, error: type[TunesmithError], hint: str, newline: str | None = None) -> str:
    """The UTF-8 text of `path`, `what` to the user (e.g. "the --template file"); `error` with `hint` where it cannot
    be read, or naming the first byte that is not UTF-8. `newline=""` keeps \\r as written."""
    try:
        with Path(path).open(encoding="utf-8", newline=newline) as handle:
            return handle.read()
    except UnicodeDecodeError as err:
        raise error(
            f"{what} is not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start})",
            where=str(path),
            hint="Re-save it as UTF-8.",
        ) from err
    except OSError as err:
        raise error(f"cannot read {what}: {err.strerror or err}", where=str(path), hint=hint) from err


def read_yaml_file(path: Path, *, what: str, error: type[TunesmithError]) -> Any:
    """The YAML value `path` holds (None for an empty file); `error` at path:line where it is not UTF-8 YAML."""
    text = read_text_file(path, what=what, error=error, hint="Pass a readable YAML file.")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise error(
            f"invalid YAML: {getattr(err, 'problem', err)}",
            where=f"{path}{line}",
            hint="Fix the YAML syntax at that line.",
        ) from err


def read_json_file(path: Path, *, error: type[TunesmithError], hint: str) -> Any:
    """The JSON value `path` holds; `error` at path:line:column where it is not UTF-8 JSON."""
    text = read_text_file(path, what="the file", error=error, hint="Pass a readable JSON file.")
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
