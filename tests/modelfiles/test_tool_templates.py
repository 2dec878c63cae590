"""Tools in the Modelfile TEMPLATE: rendered by Go's text/template as Ollama hands tools and tool calls to templates,
byte for byte what the model's own Jinja template makes of `apply_chat_template(messages, tools=...)`; and for every
reference template that renders tools, either that parity or a note saying the tools are not carried."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.errors import ModelfileError
from tunesmith.modelfiles import choose_chat_format
from tunesmith.modelfiles.check_conversations import TOOL_CHECK_CONVERSATIONS

REFERENCE = sorted(
    (Path(__file__).resolve().parents[2] / ".cache" / "reference" / "llama.cpp" / "models" / "templates").glob(
        "*.jinja"
    )
)
# Reference templates whose tool format a registry TEMPLATE carries, and that format.
CARRIED = {
    "Qwen-Qwen2.5-7B-Instruct": "hermes",
    "meta-llama-Llama-3.1-8B-Instruct": "llama3-json",
    "meta-llama-Llama-3.2-3B-Instruct": "llama3-json",
    "meta-llama-Llama-3.3-70B-Instruct": "llama3-json",
    "mistralai-Mistral-Nemo-Instruct-2407": "mistral",
    "Qwen-Qwen3-0.6B": "hermes",
}


def _ollama_message(message: dict) -> dict:
    """A message as Ollama's /api/chat takes it: tool call arguments as objects, the call's id kept."""
    converted = {key: message[key] for key in ("role", "content", "tool_call_id") if key in message}
    if message.get("tool_calls"):
        converted["tool_calls"] = [{"id": call["id"], "function": call["function"]} for call in message["tool_calls"]]
    return converted


def _hf(tokenizer, chat_template: str, messages: list[dict], tools: list[dict] | None) -> str:
    return tokenizer.apply_chat_template(
        messages, tools=tools, chat_template=chat_template, tokenize=False, add_generation_prompt=True
    )


@pytest.mark.parametrize(("name", "family"), [("Qwen-Qwen2.5-7B-Instruct", "qwen2.5"), ("Qwen-Qwen3-0.6B", "qwen3")])
def test_qwen_templates_render_tools_calls_and_results_in_go_exactly_like_their_jinja(
    name, family, go_render, reference_templates, smollm2_tokenizer
):
    chat_template = (reference_templates / f"{name}.jinja").read_text()
    chosen = choose_chat_format(chat_template, bos_token=None, eos_token="<|im_end|>")
    assert (chosen.family, chosen.tools) == (family, "hermes")
    assert "tools, tool calls (hermes format) and tool results carried" in chosen.note
    cases = [(list(messages), list(tools)) for messages, tools in TOOL_CHECK_CONVERSATIONS]
    # The same conversations without tools render as the plain chat template does.
    cases += [
        (list(messages), None)
        for messages, _ in TOOL_CHECK_CONVERSATIONS
        if not any(m.get("tool_calls") or m["role"] == "tool" for m in messages)
    ]
    results = go_render(
        [
            {
                "template": chosen.template,
                "messages": [_ollama_message(m) for m in messages],
                **({"tools": tools} if tools else {}),
            }
            for messages, tools in cases
        ]
    )
    for (messages, tools), result in zip(cases, results):
        assert "error" not in result, result["error"]
        assert result["output"] == _hf(smollm2_tokenizer, chat_template, messages, tools), messages


@pytest.mark.parametrize("name", ["Qwen-Qwen2.5-7B-Instruct", "Qwen-Qwen3-0.6B"])
def test_ollama_finds_tool_calls_by_the_tag_the_template_writes(name, go_render, reference_templates):
    # Ollama parses tool calls out of the model's output by the first text inside the template's first
    # {{ if }} on .ToolCalls; the harness reads it the same way.
    chosen = choose_chat_format(
        (reference_templates / f"{name}.jinja").read_text(), bos_token=None, eos_token="<|im_end|>"
    )
    [result] = go_render([{"template": chosen.template, "messages": [], "tool_tag": True}])
    assert result["output"] == "<tool_call>"


def _renders_tools(tokenizer, chat_template: str) -> bool:
    messages, tools = TOOL_CHECK_CONVERSATIONS[0]
    try:
        return _hf(tokenizer, chat_template, list(messages), list(tools)) != _hf(
            tokenizer, chat_template, list(messages), None
        )
    except Exception:  # noqa: BLE001 (the template needs what this conversation lacks; the plain-chat table covers it)
        return False


@pytest.mark.parametrize("path", REFERENCE, ids=[p.stem for p in REFERENCE])
def test_every_reference_template_that_renders_tools_carries_them_or_says_it_does_not(path, smollm2_tokenizer):
    chat_template = path.read_text()
    if not _renders_tools(smollm2_tokenizer, chat_template):
        assert path.stem not in CARRIED
        return
    try:
        chosen = choose_chat_format(chat_template, bos_token="<s>", eos_token="</s>")
    except ModelfileError as err:  # refused outright: the plain-chat table names why
        assert "--template FILE" in str(err)
        return
    assert chosen.tools == CARRIED.get(path.stem)
    if chosen.tools is None:
        assert "does not carry" in chosen.note or "do not carry" in chosen.note
        assert "--template FILE" in chosen.note


@pytest.mark.parametrize(
    ("tool_use", "family", "tools"),
    [
        ("Qwen-Qwen2.5-7B-Instruct", "qwen2.5", "hermes"),  # its tools are carried: that named template is used
        ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "chatml", None),  # refused on plain chats: `default` is used
    ],
)
def test_a_tokenizer_with_named_templates_gets_the_one_whose_tools_are_carried(
    tool_use, family, tools, reference_templates, smollm2_tokenizer
):
    named = {
        "default": smollm2_tokenizer.chat_template,
        "tool_use": (reference_templates / f"{tool_use}.jinja").read_text(),
    }
    chosen = choose_chat_format(named, bos_token="<|begin_of_text|>", eos_token="<|im_end|>")
    assert (chosen.family, chosen.tools) == (family, tools)
    assert chosen.note.startswith(
        f"named chat template {'tool_use' if tools else 'default'!r} of ['default', 'tool_use']"
    )
