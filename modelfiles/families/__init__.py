"""The chat families we know: each one's Ollama Go template (templates/*.gotmpl), stop tokens and default parameters.

Each family also carries `render`, the same layout in Python (one module per maker: chatml, llama, mistral, gemma,
phi, qwen): choosing a family checks it against the model's own Jinja template, and the tests check it (and the Go
template, through Go) against the real templates of the models. A family with `tools` renders tool definitions, tool
calls and tool results as well (its `render` takes `tools`); one with `thinking` renders reasoning and switches it on
or off (its `render` takes `enable_thinking`, as Ollama's `think` reaches its template).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from tunesmith.modelfiles.families.chatml import chatml
from tunesmith.modelfiles.families.gemma import gemma
from tunesmith.modelfiles.families.llama import llama2, llama3, llama31, llama32
from tunesmith.modelfiles.families.mistral import mistral, mistral_v03
from tunesmith.modelfiles.families.phi import phi3
from tunesmith.modelfiles.families.qwen import qwen3, qwen25

__all__ = ["FAMILIES", "ChatFamily", "detect_family", "matching_families"]


@dataclass(frozen=True)
class ChatFamily:
    """One chat format: `markers` all appear in its Jinja templates; `render(messages, default_system)` is Python's
    view of `template` (Ollama's Go template), ending with the prompt for the assistant's turn."""

    name: str
    markers: tuple[str, ...]
    stop: tuple[str, ...]
    parameters: dict[str, Any]
    render: Callable[..., str] = field(repr=False)
    # Families whose Jinja templates may write a default system prompt when there is none (SmolLM2, Qwen2.5).
    default_system_block: tuple[str, str] | None = None
    # The tool-call format its template renders (`render(messages, default_system, tools)`), or None.
    tools: str | None = None
    # A family with tools may also match chat templates that render none (or render them otherwise): those get this
    # tool-less template (templates/NAME.gotmpl), so Ollama does not offer tools in a format the model never saw.
    without_tools: str | None = None
    # How its template writes reasoning (`think-tags`: between <think> and </think>), or None.
    thinking: str | None = None

    @property
    def template(self) -> str:
        return _template_text(self.name)

    @property
    def plain_template(self) -> str:
        """The template for a model whose chat template carries no tools of this family's format."""
        return _template_text(self.without_tools or self.name)


def _template_text(name: str) -> str:
    return (resources.files("tunesmith.modelfiles") / "templates" / f"{name}.gotmpl").read_text("utf-8")


# Most specific first: detection takes the first family whose markers all appear.
FAMILIES: tuple[ChatFamily, ...] = (
    # Llama 3.2 writes today's date (strftime_now); its TEMPLATE computes it per request with currentDate.
    ChatFamily(
        "llama3.2",
        ("<|start_header_id|>", "Cutting Knowledge Date", "strftime_now"),
        ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>"),
        {"num_ctx": 8192},
        llama32,
        tools="llama3-json",
    ),
    ChatFamily(
        "llama3.1",
        ("<|start_header_id|>", "Cutting Knowledge Date"),
        ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>"),
        {"num_ctx": 8192},
        llama31,
        tools="llama3-json",
        without_tools="llama3.1-plain",
    ),
    ChatFamily(
        "llama3",
        ("<|start_header_id|>", "<|eot_id|>"),
        ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        {"num_ctx": 8192},
        llama3,
    ),
    ChatFamily(
        "qwen3",
        ("<|im_start|>", "<tool_call>", "<think>", "reasoning_content"),
        ("<|im_start|>", "<|im_end|>"),
        {"num_ctx": 4096},
        qwen3,
        tools="hermes",
        thinking="think-tags",
    ),
    ChatFamily(
        "qwen2.5",
        ("<|im_start|>", "<tool_call>", "<tools>"),
        ("<|im_start|>", "<|im_end|>"),
        {"num_ctx": 4096},
        qwen25,
        tools="hermes",
    ),
    ChatFamily(
        "chatml",
        ("<|im_start|>",),
        ("<|im_start|>", "<|im_end|>"),
        {"num_ctx": 4096},
        chatml,
        default_system_block=("<|im_start|>system\n", "<|im_end|>\n"),
    ),
    ChatFamily("gemma", ("<start_of_turn>",), ("<start_of_turn>", "<end_of_turn>"), {"num_ctx": 8192}, gemma),
    ChatFamily(
        "phi3",
        ("<|assistant|>", "<|end|>"),
        ("<|end|>", "<|system|>", "<|user|>", "<|assistant|>"),
        {"num_ctx": 4096},
        phi3,
    ),
    ChatFamily(
        "llama2", ("<<SYS>>", "[INST]"), ("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"), {"num_ctx": 4096}, llama2
    ),
    ChatFamily(
        "mistral",
        ("[INST]", "[/INST]"),
        ("[INST]", "[/INST]", "</s>"),
        {"num_ctx": 8192},
        mistral,
        tools="mistral",
        without_tools="mistral-plain",
    ),
    ChatFamily(
        "mistral-v0.3",
        ("[INST] ", "[/INST]"),
        ("[INST]", "[/INST]", "</s>"),
        {"num_ctx": 8192},
        mistral_v03,
        tools="mistral",
        without_tools="mistral-v0.3-plain",
    ),
)


def detect_family(chat_template: str) -> ChatFamily | None:
    """The first registry family whose markers all appear in a Jinja chat template, or None.

    Markers only suggest a family; `choose_chat_format` tries every matching one and keeps the one that renders.
    """
    return next(iter(matching_families(chat_template)), None)


def matching_families(chat_template: str) -> list[ChatFamily]:
    """Every registry family whose markers all appear in the template, most specific first."""
    return [family for family in FAMILIES if all(marker in chat_template for marker in family.markers)]
