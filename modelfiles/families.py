"""The chat families we know: each one's Ollama Go template (templates/*.gotmpl), stop tokens and default parameters.

Each family also carries `render`, the same layout in Python: choosing a family checks it against the model's own
Jinja template, and the tests check it (and the Go template, through Go) against the real templates of the models.
A family with `tools` renders tool definitions, tool calls and tool results as well (its `render` takes `tools`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

__all__ = ["ChatFamily", "FAMILIES", "detect_family", "matching_families"]

_Messages = list[dict[str, Any]]
_Tools = Sequence[dict[str, Any]] | None


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

    @property
    def template(self) -> str:
        path = resources.files("tunesmith.modelfiles").joinpath("templates", f"{self.name}.gotmpl")
        return path.read_text("utf-8")


def _system(messages: _Messages) -> str:
    # Ollama's `collate`: every system message, joined by a blank line.
    return "\n\n".join(m["content"] for m in messages if m["role"] == "system")


def _llama3(messages: _Messages, default_system: str | None) -> str:
    turns = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in messages)
    return turns + "<|start_header_id|>assistant<|end_header_id|>\n\n"


def _llama31(messages: _Messages, default_system: str | None) -> str:
    header = ("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
              f"Today Date: 26 Jul 2024\n\n{_system(messages)}<|eot_id|>")
    return header + _llama3([m for m in messages if m["role"] != "system"], None)


def _chatml(messages: _Messages, default_system: str | None) -> str:
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    if default_system is not None and not _system(messages):
        text = f"<|im_start|>system\n{default_system}<|im_end|>\n" + text
    return text + "<|im_start|>assistant\n"


_QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
_TOOLS_INTRO = ("\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
                "You are provided with function signatures within <tools></tools> XML tags:\n<tools>")
_TOOLS_OUTRO = ("\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
                "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
                "<args-json-object>}\n</tool_call><|im_end|>\n")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _qwen25(messages: _Messages, default_system: str | None, tools: _Tools = None) -> str:
    """Qwen2.5's layout: tools in the system turn, calls as <tool_call> JSON, results in a user turn."""
    text, skip_first = "", False
    if tools:
        first = messages[0] if messages and messages[0]["role"] == "system" else None
        skip_first = first is not None
        text = ("<|im_start|>system\n" + (first["content"] if first else _QWEN_SYSTEM) + _TOOLS_INTRO
                + "".join("\n" + _json(tool) for tool in tools) + _TOOLS_OUTRO)
    elif not _system(messages):
        text = f"<|im_start|>system\n{_QWEN_SYSTEM}<|im_end|>\n"
    previous = ""
    for index, m in enumerate(messages):
        if previous == "tool" and m["role"] != "tool":
            text += "<|im_end|>\n"
        if skip_first and index == 0:
            pass
        elif m["role"] == "tool":
            opener = "" if previous == "tool" else "<|im_start|>user"
            text += f"{opener}\n<tool_response>\n{m['content']}\n</tool_response>"
        elif m["role"] == "assistant" and m.get("tool_calls"):
            text += "<|im_start|>assistant" + (f"\n{m['content']}" if m.get("content") else "")
            for call in m["tool_calls"]:
                function = call.get("function", call)
                text += (f'\n<tool_call>\n{{"name": "{function["name"]}", "arguments": '
                         f'{_json(function["arguments"])}}}\n</tool_call>')
            text += "<|im_end|>\n"
        else:
            text += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
        previous = m["role"]
    if previous == "tool":
        text += "<|im_end|>\n"
    return text + "<|im_start|>assistant\n"


def _gemma(messages: _Messages, default_system: str | None) -> str:
    system, parts = _system(messages), []
    for m in messages:
        if m["role"] == "user":
            parts.append(f"<start_of_turn>user\n{system + chr(10) * 2 if system else ''}{m['content']}<end_of_turn>\n")
            system = ""
        elif m["role"] == "assistant":
            parts.append(f"<start_of_turn>model\n{m['content']}<end_of_turn>\n")
    return "".join(parts) + "<start_of_turn>model\n"


def _phi3(messages: _Messages, default_system: str | None) -> str:
    keep = [m for m in messages if m["role"] in ("user", "assistant") or (m["role"] == "system" and m["content"])]
    return "".join(f"<|{m['role']}|>\n{m['content']}<|end|>\n" for m in keep) + "<|assistant|>\n"


def _mistral_layout(messages: _Messages, inst: str, reply: str) -> str:
    # The system prompt goes into the last user turn, as Mistral's templates do.
    system = _system(messages)
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    parts = []
    for i, m in enumerate(messages):
        if m["role"] == "user":
            prefix = f"{system}\n\n" if system and i == last_user else ""
            parts.append(f"{inst}{prefix}{m['content']}[/INST]")
        elif m["role"] == "assistant":
            parts.append(f"{reply}{m['content']}</s>")
    return "".join(parts)


def _mistral(messages: _Messages, default_system: str | None) -> str:
    return _mistral_layout(messages, "[INST]", "")


def _mistral_v03(messages: _Messages, default_system: str | None) -> str:
    return _mistral_layout(messages, "[INST] ", " ")


def _llama2(messages: _Messages, default_system: str | None) -> str:
    system, parts = _system(messages), []
    for m in messages:
        if m["role"] == "user":
            block = f"<<SYS>>\n{system}\n<</SYS>>\n\n" if system else ""
            # BOS opens every turn; llama.cpp adds the first one itself.
            parts.append(f"{'<s>' if parts else ''}[INST] {block}{m['content']} [/INST]")
            system = ""
        elif m["role"] == "assistant":
            parts.append(f" {m['content']} </s>")
    return "".join(parts)


# Most specific first: detection takes the first family whose markers all appear.
FAMILIES: tuple[ChatFamily, ...] = (
    ChatFamily("llama3.1", ("<|start_header_id|>", "Cutting Knowledge Date"),
               ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>"),
               {"num_ctx": 8192}, _llama31),
    ChatFamily("llama3", ("<|start_header_id|>", "<|eot_id|>"),
               ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), {"num_ctx": 8192}, _llama3),
    ChatFamily("qwen2.5", ("<|im_start|>", "<tool_call>", "<tools>"), ("<|im_start|>", "<|im_end|>"),
               {"num_ctx": 4096}, _qwen25, tools="hermes"),
    ChatFamily("chatml", ("<|im_start|>",), ("<|im_start|>", "<|im_end|>"), {"num_ctx": 4096}, _chatml,
               default_system_block=("<|im_start|>system\n", "<|im_end|>\n")),
    ChatFamily("gemma", ("<start_of_turn>",), ("<start_of_turn>", "<end_of_turn>"), {"num_ctx": 8192}, _gemma),
    ChatFamily("phi3", ("<|assistant|>", "<|end|>"), ("<|end|>", "<|system|>", "<|user|>", "<|assistant|>"),
               {"num_ctx": 4096}, _phi3),
    ChatFamily("llama2", ("<<SYS>>", "[INST]"), ("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"), {"num_ctx": 4096},
               _llama2),
    ChatFamily("mistral", ("[INST]", "[/INST]"), ("[INST]", "[/INST]", "</s>"), {"num_ctx": 8192}, _mistral),
    ChatFamily("mistral-v0.3", ("[INST] ", "[/INST]"), ("[INST]", "[/INST]", "</s>"), {"num_ctx": 8192},
               _mistral_v03),
)


def detect_family(chat_template: str) -> ChatFamily | None:
    """The first registry family whose markers all appear in a Jinja chat template, or None.

    Markers only suggest a family; `choose_chat_format` tries every matching one and keeps the one that renders.
    """
    return next(iter(matching_families(chat_template)), None)


def matching_families(chat_template: str) -> list[ChatFamily]:
    """Every registry family whose markers all appear in the template, most specific first."""
    return [family for family in FAMILIES if all(marker in chat_template for marker in family.markers)]
