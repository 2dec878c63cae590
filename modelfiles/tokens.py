"""What looks like a special token in chat-template text (`<|im_end|>`, `</s>`, `<turn|>`, `[INST]`), for stop lists.

A pattern, not a vocabulary: the templates are all we have when choosing stops, and their control tokens are
spelled in these few shapes.
"""

from __future__ import annotations

import re

__all__ = ["special_tokens", "turn_enders"]

_TOKEN = r"<[^<>\s{}\"'=]{1,40}>|\[/?[A-Z_]{2,30}\]"
_SPECIAL = re.compile(_TOKEN)
_AFTER_CONTENT = re.compile(r"\.Content\s*-?}}(" + _TOKEN + ")")


def special_tokens(text: str) -> list[str]:
    """The special-looking tokens in `text`, in order, without repeats."""
    return list(dict.fromkeys(_SPECIAL.findall(text)))


def turn_enders(go_template: str) -> list[str]:
    """Tokens a Go template writes right after a message's text: what ends a turn, so what must stop a reply."""
    return list(dict.fromkeys(_AFTER_CONTENT.findall(go_template)))
