"""Chat templates a base model can be given (`chat_template:` in the project, `--chat-template` to package), as
axolotl's `chat_template:` and unsloth's `get_chat_template` do: a base whose own template renders no tools (the
embedded SmolLM2) can learn a tool-calling format, and the package then carries that template.

A value is the name of a template shipped in chat_templates/ (chatml, qwen2.5, qwen3) or the path of a Jinja file.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from tunesmith.errors import ConfigError
from tunesmith.user_files import read_text_file

__all__ = ["SHIPPED", "resolve_chat_template"]

SHIPPED = ("chatml", "qwen2.5", "qwen3")


def resolve_chat_template(value: str, where: str = "chat_template") -> str:
    """The Jinja text `value` names; ConfigError saying what is allowed when it names nothing readable."""
    if value in SHIPPED:
        return (resources.files("tunesmith.modelfiles") / "chat_templates" / f"{value}.jinja").read_text("utf-8")
    path = Path(value)
    if not path.is_file():
        raise ConfigError(
            f"{value!r} is neither a chat template tunesmith ships nor a Jinja file",
            where=where,
            hint=f"Use one of {', '.join(SHIPPED)} (qwen2.5 and qwen3 render tools), or the path of a "
            "Jinja chat template file.",
        )
    text = read_text_file(path, what="the chat template file", error=ConfigError, hint="Pass a readable Jinja file.")
    if "{%" not in text and ("{{" not in text or re.search(r"\{\{-?\s*(\.|range |if )", text)):
        raise ConfigError(
            "the chat template file is not a Jinja chat template (it holds no Jinja statements, or "
            "Go template actions such as {{ .Prompt }})",
            where=str(path),
            hint="Pass a Hugging Face chat template (Jinja), not an Ollama Go template: a Go "
            "TEMPLATE goes to `package.template`.",
        )
    return text
