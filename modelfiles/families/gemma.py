"""Google's Gemma turns: no system role, the system prompt joins the first user turn."""

from __future__ import annotations

from tunesmith.modelfiles.families._common import Messages, system_prompt


def gemma(messages: Messages, default_system: str | None) -> str:
    system, parts = system_prompt(messages), []
    for m in messages:
        if m["role"] == "user":
            parts.append(f"<start_of_turn>user\n{system + chr(10) * 2 if system else ''}{m['content']}<end_of_turn>\n")
            system = ""
        elif m["role"] == "assistant":
            parts.append(f"<start_of_turn>model\n{m['content']}<end_of_turn>\n")
    return "".join(parts) + "<start_of_turn>model\n"
