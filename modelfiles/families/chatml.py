"""The plain ChatML layout (SmolLM2 and most community models); Qwen's own ChatML layouts are in qwen.py."""

from __future__ import annotations

from tunesmith.modelfiles.families._common import Messages, system_prompt


def chatml(messages: Messages, default_system: str | None) -> str:
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    if default_system is not None and not system_prompt(messages):
        text = f"<|im_start|>system\n{default_system}<|im_end|>\n" + text
    return text + "<|im_start|>assistant\n"
