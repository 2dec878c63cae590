"""One rule for the tokens of a chat prompt, from training to serving.

Ollama and llama.cpp evaluate `[BOS if the GGUF says add_bos_token] + tokens(rendered template)`, and their templates
never write that BOS. So a prompt is always built here the same way: the chat template's text without the BOS it
writes through `bos_token`, then BOS in front exactly when the tokenizer adds one. Training, the quality report, the
Modelfile's template and the embedded server all follow it, so the tokens trained on are the tokens served.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tunesmith.modelfiles.jinja_chat import render_chat_template

__all__ = ["chat_text", "prompt_ids", "strip_template_bos", "tokenizer_adds_bos"]


def strip_template_bos(text: str, chat_template: str | Mapping[str, str], bos_token: str | None) -> str:
    """`text` without the leading BOS that the template (or one of a tokenizer's named templates) writes through
    `bos_token`.

    Only a BOS written through the variable goes: SmolLM2's bos_token is `<|im_start|>`, which its template writes as
    plain text to open every turn.
    """
    sources = chat_template.values() if isinstance(chat_template, Mapping) else [chat_template or ""]
    if bos_token and any("bos_token" in source for source in sources) and text.startswith(bos_token):
        return text[len(bos_token) :]
    return text


def chat_text(
    chat_template: str,
    messages: list[dict[str, Any]],
    *,
    bos_token: str | None,
    eos_token: str | None,
    add_generation_prompt: bool = True,
    tools: list[dict[str, Any]] | None = None,
    enable_thinking: bool | None = None,
) -> str:
    """The template's text for `messages` (and `tools`), as the Modelfile's TEMPLATE must render it (no BOS);
    `enable_thinking`, when set, switches a thinking model's reasoning on or off (Ollama's `think`)."""
    text = render_chat_template(
        chat_template,
        list(messages),
        bos_token=bos_token,
        eos_token=eos_token,
        add_generation_prompt=add_generation_prompt,
        tools=tools,
        enable_thinking=enable_thinking,
    )
    return strip_template_bos(text, chat_template, bos_token)


def prompt_ids(text: str, tokenize: Callable[[str], list[int]], *, add_bos: bool, bos_id: int | None) -> list[int]:
    """The token ids evaluated for `text`: BOS when the model adds one, then `text` with special tokens parsed."""
    return ([bos_id] if add_bos and bos_id is not None and bos_id >= 0 else []) + list(tokenize(text))


def tokenizer_adds_bos(tokenizer: Any) -> bool:
    """Whether a Hugging Face tokenizer puts BOS before what it encodes (what the GGUF's add_bos_token records)."""
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None:
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos_id
