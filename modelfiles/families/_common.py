"""What the families' Python layouts share: message and tool types, Ollama's system-prompt collation, JSON as
the Jinja templates write it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Messages = list[dict[str, Any]]
Tools = Sequence[dict[str, Any]] | None


def system_prompt(messages: Messages) -> str:
    """Ollama's `collate`: every system message, joined by a blank line."""
    return "\n\n".join(m["content"] for m in messages if m["role"] == "system")


def to_json(value: Any) -> str:
    """`tojson` as transformers' templates use it: no ASCII escaping, `, ` and `: ` separators."""
    return json.dumps(value, ensure_ascii=False)
