"""Microsoft's Phi-3 turns (an empty system message is left out)."""

from __future__ import annotations

from tunesmith.modelfiles.families._common import Messages


def phi3(messages: Messages, default_system: str | None) -> str:
    keep = [m for m in messages if m["role"] in ("user", "assistant") or (m["role"] == "system" and m["content"])]
    return "".join(f"<|{m['role']}|>\n{m['content']}<|end|>\n" for m in keep) + "<|assistant|>\n"
