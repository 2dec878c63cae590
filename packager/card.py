"""The model card (README.md of a package): Hub metadata, how to run the model, its parameters and quality table.

Built only from the package's own values (names, files, Modelfile, quality report), so nothing from the environment,
tokens included, can reach it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from tunesmith.packager.quantize import QuantizeResult

__all__ = ["CardContent", "CardFile", "card_file", "render_model_card"]


@dataclass(frozen=True)
class CardFile:
    """One GGUF file of the package as the card lists it."""

    name: str
    quant: str
    size_bytes: int
    # For a quantized file: tensors per storage type as llama.cpp wrote them, and how many it stored in another
    # type than `quant` asks for (rows its blocks do not divide).
    tensor_types: Mapping[str, int] | None = None
    fallbacks: int = 0


@dataclass(frozen=True)
class CardContent:
    """Everything the model card (the package's README.md) says; `render_model_card` turns it into markdown with
    YAML front matter."""

    name: str
    files: Sequence[CardFile]
    family: str
    parameters: Mapping[str, Any]
    base_model: str | None = None
    license: str | None = None
    adapter: str | None = None
    system: str | None = None
    quality_markdown: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)
    # The GGUF LoRA adapter, when the package keeps it separate from the base files in `files`.
    adapter_file: CardFile | None = None
    # The tool-call format the Modelfile's TEMPLATE carries (e.g. `hermes`), or None when it carries no tools.
    tools: str | None = None
    # How the TEMPLATE carries reasoning (`think-tags`), or None when the model does not think.
    thinking: str | None = None


_THINKING = {"think-tags": "reasoning between <think> and </think>"}


def render_model_card(card: CardContent) -> str:
    """Markdown with Hub front matter (base_model, license, tags) and usage for Ollama and llama.cpp."""
    front: dict[str, Any] = {}
    if card.base_model:
        front["base_model"] = card.base_model
        front["base_model_relation"] = "adapter" if card.adapter_file else "finetune" if card.adapter else "quantized"
    if card.license:
        front["license"] = card.license
    front["library_name"] = "gguf"
    front["pipeline_tag"] = "text-generation"
    front["tags"] = list(dict.fromkeys(["gguf", "ollama", "llama.cpp", "tunesmith", card.family, *card.tags]))
    default = card.files[0]
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# {card.name}",
        "",
        _summary(card),
        "",
        "## Files",
        "",
        "| file | type | size |",
        "|---|---|---|",
        *(f"| `{f.name}` | {f.quant} | {_size(f.size_bytes)} |" for f in card.files),
        *([f"| `{a.name}` | LoRA adapter ({a.quant}) | {_size(a.size_bytes)} |"] if (a := card.adapter_file) else []),
        "",
        "## Run it",
        "",
        "With Ollama, from this folder (the Modelfile carries the chat template, stop tokens and parameters):",
        "",
        "```sh",
        f"ollama create {card.name} -f Modelfile",
        f"ollama run {card.name}",
        "```",
        "",
    ]
    if card.adapter_file is None:
        lines += [
            "From the Hugging Face Hub, once published there:",
            "",
            "```sh",
            f"ollama run hf.co/USER/{card.name}:{default.quant}",
            "```",
            "",
        ]
    lora = f" --lora {card.adapter_file.name}" if card.adapter_file else ""
    lines += [
        "With llama.cpp:",
        "",
        "```sh",
        f"llama-cli -m {default.name}{lora} -cnv",
        "```",
        "",
        "## Parameters",
        "",
        "| parameter | value |",
        "|---|---|",
        *(f"| {name} | {_cell(value)} |" for name, value in card.parameters.items()),
        "",
    ]
    if card.system:
        lines += ["System prompt:", "", "```text", card.system, "```", ""]
    lines += [
        "## Chat format",
        "",
        f"Chat template: {card.family}. Tools: "
        + (
            f"carried (tool calls in the {card.tools} format; `tools` work through Ollama and "
            "OpenAI-compatible clients)."
            if card.tools
            else "not carried by the Modelfile's template."
        )
        + (
            f" Thinking: carried ({_THINKING.get(card.thinking, card.thinking)}; Ollama's `think` and the "
            "OpenAI `reasoning_effort` switch it, answers carry it as `thinking` / `reasoning_content`)."
            if card.thinking
            else ""
        ),
        "",
    ]
    quantized = [f for f in card.files if f.tensor_types]
    if card.quality_markdown or quantized:
        lines += ["## Quality", ""]
        if card.quality_markdown:
            lines += [card.quality_markdown.rstrip(), ""]
        if quantized:
            lines += [
                "Tensor types llama.cpp stored in each quantized file:",
                "",
                "| file | tensors per type | stored in another type than asked |",
                "|---|---|---|",
                *(f"| `{f.name}` | {_types(f)} | {_fallbacks(f)} |" for f in quantized),
                "",
            ]
    lines += ["Packaged with [tunesmith](https://github.com/tunesmith-ai/tunesmith).", ""]
    return "\n".join(lines)


def _summary(card: CardContent) -> str:
    base = f"`{card.base_model}`" if card.base_model else "its base model"
    if card.adapter_file:
        return (
            f"{base} converted to GGUF and quantized for llama.cpp and Ollama, with its LoRA fine-tune as a "
            f"separate GGUF adapter that both apply when they load the model ({card.family} chat template)."
        )
    what = f"{base} fine-tuned with a LoRA adapter, merged" if card.adapter else base
    return f"{what}, converted to GGUF and quantized for llama.cpp and Ollama ({card.family} chat template)."


def _types(file: CardFile) -> str:
    return ", ".join(f"{count} × {kind}" for kind, count in (file.tensor_types or {}).items())


def _fallbacks(file: CardFile) -> str:
    if not file.fallbacks:
        return "none"
    return f"{file.fallbacks} (rows not a multiple of {file.quant}'s block size)"


def _size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def _cell(value: Any) -> str:
    items = value if isinstance(value, list) else [value]
    return ", ".join(f"`{item!r}`" if isinstance(item, str) else f"`{item}`" for item in items).replace("|", "\\|")


def card_file(path: Path, quant: str, quantized: QuantizeResult | None = None) -> CardFile:
    """The card's entry for `path`; `quantized` is what `quantize_gguf` reported when it wrote the file."""
    if quantized is None:
        return CardFile(path.name, quant, path.stat().st_size)
    return CardFile(path.name, quant, path.stat().st_size, dict(quantized.tensor_types), quantized.fallbacks)
