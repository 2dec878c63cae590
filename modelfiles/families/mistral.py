"""Mistral's [INST] layouts: Nemo's (no spaces) and v0.3's."""

from __future__ import annotations

from tunesmith.modelfiles.families._common import Messages, system_prompt


def _layout(messages: Messages, inst: str, reply: str) -> str:
    # The system prompt goes into the last user turn, as Mistral's templates do.
    system = system_prompt(messages)
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    parts = []
    for i, m in enumerate(messages):
        if m["role"] == "user":
            prefix = f"{system}\n\n" if system and i == last_user else ""
            parts.append(f"{inst}{prefix}{m['content']}[/INST]")
        elif m["role"] == "assistant":
            parts.append(f"{reply}{m['content']}</s>")
    return "".join(parts)


def mistral(messages: Messages, default_system: str | None) -> str:
    return _layout(messages, "[INST]", "")


def mistral_v03(messages: Messages, default_system: str | None) -> str:
    return _layout(messages, "[INST] ", " ")
