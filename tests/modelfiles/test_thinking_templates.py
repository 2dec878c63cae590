"""Thinking in the Modelfile TEMPLATE: Qwen3's template, rendered by Go's text/template as Ollama hands it messages
with `thinking` and the request's `think` (Think, IsThinkSet), byte for byte what its Jinja template makes of
`apply_chat_template(messages, tools=..., enable_thinking=...)` with `reasoning_content`."""

from __future__ import annotations

import pytest

from tunesmith.modelfiles import choose_chat_format
from tunesmith.modelfiles.check_conversations import THINKING_CHECK_CONVERSATIONS, TOOL_CHECK_CONVERSATIONS
from tunesmith.modelfiles.families import FAMILIES

QWEN3 = "Qwen-Qwen3-0.6B"


def _ollama_message(message: dict) -> dict:
    """A message as Ollama's /api/chat takes it: reasoning as `thinking`, tool call arguments as objects."""
    converted = {key: message[key] for key in ("role", "content", "tool_call_id") if key in message}
    if message.get("reasoning_content"):
        converted["thinking"] = message["reasoning_content"]
    if message.get("tool_calls"):
        converted["tool_calls"] = [{"id": call["id"], "function": call["function"]} for call in message["tool_calls"]]
    return converted


def _hf(tokenizer, chat_template: str, messages: list[dict], tools: list[dict] | None, think: bool | None) -> str:
    extra = {} if think is None else {"enable_thinking": think}
    return tokenizer.apply_chat_template(
        messages, tools=tools, chat_template=chat_template, tokenize=False, add_generation_prompt=True, **extra
    )


@pytest.fixture(scope="module")
def qwen3_template(reference_templates) -> str:
    return (reference_templates / f"{QWEN3}.jinja").read_text()


def test_qwen3_is_chosen_with_tools_and_thinking(qwen3_template):
    chosen = choose_chat_format(qwen3_template, bos_token=None, eos_token="<|im_end|>")
    assert (chosen.family, chosen.source, chosen.tools, chosen.thinking) == (
        "qwen3",
        "registry",
        "hermes",
        "think-tags",
    )
    assert "thinking carried (think-tags format, switched by Ollama's think)" in chosen.note
    assert chosen.stop == ["<|im_start|>", "<|im_end|>"]


@pytest.mark.parametrize("think", [None, True, False], ids=["think-unset", "think-true", "think-false"])
def test_qwen3_template_renders_thinking_in_go_exactly_like_its_jinja(
    think, qwen3_template, go_render, smollm2_tokenizer
):
    chosen = choose_chat_format(qwen3_template, bos_token=None, eos_token="<|im_end|>")
    cases = [(list(messages), list(tools) or None) for messages, tools in THINKING_CHECK_CONVERSATIONS]
    cases += [(list(messages), list(tools)) for messages, tools in TOOL_CHECK_CONVERSATIONS]
    cases += [(list(messages), None) for messages, _ in TOOL_CHECK_CONVERSATIONS[:1]]
    results = go_render(
        [
            {
                "template": chosen.template,
                "messages": [_ollama_message(m) for m in messages],
                "think": think,
                **({"tools": tools} if tools else {}),
            }
            for messages, tools in cases
        ]
    )
    for (messages, tools), result in zip(cases, results):
        assert "error" not in result, result["error"]
        assert result["output"] == _hf(smollm2_tokenizer, qwen3_template, messages, tools, think), messages


def test_qwen3_prompts_end_as_thinking_on_and_off_need(qwen3_template, go_render):
    # Ollama always sets think for a thinking model (true when the request leaves it out); false must close an
    # empty thinking block, as Qwen3's template does for enable_thinking=False, so the model answers at once.
    chosen = choose_chat_format(qwen3_template, bos_token=None, eos_token="<|im_end|>")
    ask = [{"role": "user", "content": "Hi"}]
    on, off = go_render(
        [
            {"template": chosen.template, "messages": ask, "think": True},
            {"template": chosen.template, "messages": ask, "think": False},
        ]
    )
    assert on["output"] == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert off["output"] == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def test_qwen3_history_keeps_reasoning_only_after_the_last_question(qwen3_template, go_render):
    chosen = choose_chat_format(qwen3_template, bos_token=None, eos_token="<|im_end|>")
    messages, tools = THINKING_CHECK_CONVERSATIONS[3]
    [result] = go_render(
        [
            {
                "template": chosen.template,
                "messages": [_ollama_message(m) for m in messages],
                "tools": list(tools),
                "think": True,
            }
        ]
    )
    # The call's reasoning came before the last question ("Thanks!"): it is dropped, as the answer's is.
    assert "<think>" not in result["output"]
    messages, tools = THINKING_CHECK_CONVERSATIONS[2]
    [result] = go_render(
        [
            {
                "template": chosen.template,
                "messages": [_ollama_message(m) for m in messages],
                "tools": list(tools),
                "think": True,
            }
        ]
    )
    assert (
        "<|im_start|>assistant\n<think>\nI need the weather tool.\n</think>\n\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n'
    ) in result["output"]


def test_qwen3_template_names_its_thinking_tags_and_tool_tag_as_ollama_finds_them(qwen3_template, go_render):
    # Ollama finds a template's thinking tags around {{ .Thinking }} in the range over .Messages (the real Ollama
    # test in tests/ollama checks the capability it infers from them); the tool tag is the first text inside the
    # template's first {{ if }} on .ToolCalls.
    chosen = choose_chat_format(qwen3_template, bos_token=None, eos_token="<|im_end|>")
    opening = chosen.template.index("\n<think>\n{{ .Thinking }}\n</think>\n{{ end }}")
    assert chosen.template.count("{{ .Thinking }}") == 1 and opening > chosen.template.index("range $i, $m :=")
    [result] = go_render([{"template": chosen.template, "messages": [], "tool_tag": True}])
    assert result["output"] == "<tool_call>"


def test_only_qwen3_of_the_registry_carries_thinking():
    assert {family.name: family.thinking for family in FAMILIES if family.thinking} == {"qwen3": "think-tags"}


@pytest.mark.parametrize(
    "name",
    [
        "Qwen-QwQ-32B",
        "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B",
        "deepseek-ai-DeepSeek-R1-Distill-Llama-8B",
        "Qwen3.5-4B",
        "HuggingFaceTB-SmolLM3-3B",
    ],
)
def test_other_thinking_templates_are_converted_and_say_their_thinking_is_not_carried(name, reference_templates):
    # Their layouts differ from Qwen3's (QwQ and the R1 distills open <think> in every prompt, Qwen3.5 writes
    # reasoning unstripped, SmolLM3 switches it with /think in the system prompt): converted, without .Thinking.
    chosen = choose_chat_format((reference_templates / f"{name}.jinja").read_text(), bos_token="<s>", eos_token="</s>")
    assert (chosen.source, chosen.thinking) == ("derived", None)
    assert "writes reasoning between <think> tags, but this TEMPLATE has no Ollama thinking" in chosen.note
    assert "{{ .Thinking }}" not in chosen.template


def test_a_template_without_think_tags_says_nothing_of_thinking(reference_templates):
    chosen = choose_chat_format(
        (reference_templates / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text(), bos_token=None, eos_token="<|im_end|>"
    )
    assert "thinking" not in chosen.note
