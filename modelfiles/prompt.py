"""One rule for the tokens of a chat prompt, from training to serving.

Ollama and llama.cpp evaluate `[BOS if the GGUF says add_bos_token] + tokens(rendered template)`, and their templates
never write that BOS. So a prompt is always built here the same way: the chat template's text without the BOS it
writes through `bos_token`, then BOS in front exactly when the tokenizer adds one. Training, the quality report, the
Modelfile's template and the embedded server all follow it, so the tokens trained on are the tokens served.

The same holds for tools: Ollama hands a tool's parameters and a call's arguments to templates as Go maps, so its
TEMPLATEs write them in sorted key order whatever order the client sent. `in_ollama_order` puts tools and calls in
that order, and training and the embedded server render them so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from typing_extensions import Unpack

from tunesmith.modelfiles.jinja_chat import RenderOptions, render_chat_template

__all__ = ["chat_text", "in_ollama_order", "prompt_ids", "strip_template_bos", "tokenizer_adds_bos"]


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


def _first(value: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: value[key] for key in keys if key in value} | {k: v for k, v in value.items() if k not in keys}


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    return [_sorted_keys(item) for item in value] if isinstance(value, list) else value


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function")
    if not isinstance(function, dict):
        return tool
    parameters = function.get("parameters")
    if isinstance(parameters, dict) and isinstance(parameters.get("properties"), dict):
        properties = {
            name: _first(spec, ("type", "description", "enum")) if isinstance(spec, dict) else spec
            for name, spec in sorted(parameters["properties"].items())
        }
        parameters = _first({**parameters, "properties": properties}, ("type", "properties", "required"))
        function = {**function, "parameters": parameters}
    return _first({**tool, "function": _first(function, ("name", "description", "parameters"))}, ("type", "function"))


def in_ollama_order(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """Messages and tools in the order Ollama's templates write them: each tool's keys as its TEMPLATE writes them
    (type, function; name, description, parameters; type, properties, required) with the properties by name, and
    every call's arguments with their keys sorted."""

    def message(item: dict[str, Any]) -> dict[str, Any]:
        calls = item.get("tool_calls")
        if not calls:
            return item
        ordered = []
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), dict):
                call = {**call, "function": {**function, "arguments": _sorted_keys(function["arguments"])}}
            ordered.append(call)
        return {**item, "tool_calls": ordered}

    return [message(item) for item in messages], [_tool(tool) for tool in tools] if tools else tools


def chat_text(chat_template: str, messages: list[dict[str, Any]], **options: Unpack[RenderOptions]) -> str:
    """The template's text for `messages` (and `tools`), as the Modelfile's TEMPLATE must render it (no BOS);
    `enable_thinking`, when set, switches a thinking model's reasoning on or off (Ollama's `think`). Tools and calls
    are written in Ollama's order (`in_ollama_order`)."""
    messages, options["tools"] = in_ollama_order(list(messages), options.get("tools"))
    text = render_chat_template(chat_template, messages, **options)
    return strip_template_bos(text, chat_template, options["bos_token"])


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
