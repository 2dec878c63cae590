"""Llama 3.1-3.3's and Mistral's tools in the Modelfile TEMPLATE: rendered by Go's text/template as Ollama hands tools
and tool calls to templates, byte for byte what the model's own Jinja template makes of them through transformers;
the tag Ollama's tool parser looks for; Llama 3.2's date, computed when Ollama renders the prompt.

Conventions: Llama 3.1's template refuses two calls in one message, so that check conversation is compared only where
the template accepts it; Go templates cannot trim, and Meta's template trims message text, so the texts are trimmed.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import jinja2
import pytest

from tunesmith.modelfiles import choose_chat_format
from tunesmith.modelfiles.check_conversations import TOOL_CHECK_CONVERSATIONS
from tunesmith.modelfiles.derive import CHECK_CONVERSATIONS
from tunesmith.modelfiles.families import FAMILIES

PUBLISHED = Path(__file__).with_name("published")
LLAMA = ("<|begin_of_text|>", "<|eot_id|>")
MISTRAL = ("<s>", "</s>")
# template (llama.cpp's reference set, or published/) -> (bos, eos, family, tool format, Ollama's tool tag)
TOOL_TEMPLATES = {
    "meta-llama-Llama-3.1-8B-Instruct": (*LLAMA, "llama3.1", "llama3-json", "{"),
    "meta-llama-Llama-3.3-70B-Instruct": (*LLAMA, "llama3.1", "llama3-json", "{"),
    "meta-llama-Llama-3.2-3B-Instruct": (*LLAMA, "llama3.2", "llama3-json", "{"),
    "mistralai-Mistral-Nemo-Instruct-2407": (*MISTRAL, "mistral", "mistral", "[TOOL_CALLS]"),
    "published/Mistral-7B-Instruct-v0.3": (*MISTRAL, "mistral-v0.3", "mistral", "[TOOL_CALLS]"),
}


def _chat_template(name: str, reference_templates: Path) -> str:
    folder, _, stem = name.rpartition("/")
    return ((PUBLISHED if folder else reference_templates) / f"{stem}.jinja").read_text()


def _ollama_message(message: dict) -> dict:
    """A message as Ollama's /api/chat takes it: tool call arguments as objects, the call's id kept."""
    converted = {key: message[key] for key in ("role", "content", "tool_call_id") if key in message}
    if message.get("tool_calls"):
        converted["tool_calls"] = [{"id": call["id"], "function": call["function"]} for call in message["tool_calls"]]
    return converted


def _hf(tokenizer, chat_template: str, messages: list[dict], tools: list[dict] | None, bos: str, eos: str) -> str:
    text = tokenizer.apply_chat_template(
        messages,
        tools=tools,
        chat_template=chat_template,
        tokenize=False,
        add_generation_prompt=True,
        bos_token=bos,
        eos_token=eos,
    )
    return text.removeprefix(bos)  # llama.cpp and Ollama add BOS themselves


@pytest.mark.parametrize("name", TOOL_TEMPLATES)
def test_tools_calls_and_results_render_in_go_exactly_like_the_models_jinja(
    name, go_render, reference_templates, smollm2_tokenizer
):
    bos, eos, family, tools_format, _ = TOOL_TEMPLATES[name]
    chat_template = _chat_template(name, reference_templates)
    chosen = choose_chat_format(chat_template, bos_token=bos, eos_token=eos)
    assert (chosen.family, chosen.source, chosen.tools) == (family, "registry", tools_format)
    assert f"tools, tool calls ({tools_format} format) and tool results carried" in chosen.note
    cases = []
    for messages, tools in TOOL_CHECK_CONVERSATIONS:
        try:
            expected = _hf(smollm2_tokenizer, chat_template, list(messages), list(tools), bos, eos)
        except jinja2.TemplateError as err:  # Llama 3.1-3.3 take one call per message
            assert "single tool-calls" in str(err) and family.startswith("llama")
            continue
        cases.append((list(messages), list(tools), expected))
        if not any(m.get("tool_calls") or m["role"] == "tool" for m in messages):  # and again without tools
            cases.append((list(messages), None, _hf(smollm2_tokenizer, chat_template, list(messages), None, bos, eos)))
    assert len(cases) >= 3
    results = go_render(
        [
            {
                "template": chosen.template,
                "messages": [_ollama_message(m) for m in messages],
                **({"tools": tools} if tools else {}),
            }
            for messages, tools, _ in cases
        ]
    )
    for (messages, tools, expected), result in zip(cases, results):
        assert "error" not in result, result["error"]
        assert result["output"] == expected, (messages, tools)


@pytest.mark.parametrize("name", TOOL_TEMPLATES)
def test_ollama_finds_the_calls_by_the_tag_the_model_writes_first(name, go_render, reference_templates):
    # Ollama's tool parser looks for the first text of the template's first {{ if }} on .ToolCalls ("{" when it is
    # JSON from the start): Llama 3 answers a call with its JSON, Mistral opens its list with [TOOL_CALLS].
    bos, eos, *_, tag = TOOL_TEMPLATES[name]
    chosen = choose_chat_format(_chat_template(name, reference_templates), bos_token=bos, eos_token=eos)
    [result] = go_render([{"template": chosen.template, "messages": [], "tool_tag": True}])
    assert result["output"] == tag


def test_llama32_writes_the_day_ollama_renders_the_prompt_not_the_day_it_was_packaged(go_render, reference_templates):
    chosen = choose_chat_format(
        (reference_templates / "meta-llama-Llama-3.2-3B-Instruct.jinja").read_text(),
        bos_token=LLAMA[0],
        eos_token=LLAMA[1],
    )
    assert "currentDate" in chosen.template
    # currentDate gives YYYY-MM-DD; every month must come out as strftime's %b: swap in fixed days to check them all.
    days = [
        f"2026-{month:02d}-{day:02d}" for month, day in zip(range(1, 13), (1, 9, 10, 15, 28, 30, 31, 2, 3, 4, 5, 7))
    ]
    results = go_render(
        [
            {
                "template": chosen.template.replace("currentDate", f'"{day}"'),
                "messages": [{"role": "user", "content": "Hi"}],
            }
            for day in days
        ]
    )
    written = [result["output"].split("Today Date: ")[1].split("\n")[0] for result in results]
    assert written == [datetime.strptime(day, "%Y-%m-%d").strftime("%d %b %Y") for day in days]


@pytest.mark.parametrize(
    ("name", "family", "plain"),
    [
        ("meta-llama-Llama-3.1-8B-Instruct", "llama3.1", "llama3.1-plain"),
        ("mistralai-Mistral-Nemo-Instruct-2407", "mistral", "mistral-plain"),
        ("published/Mistral-7B-Instruct-v0.3", "mistral-v0.3", "mistral-v0.3-plain"),
    ],
)
def test_a_chat_template_of_the_family_without_tools_gets_the_template_without_tools(
    name, family, plain, go_render, reference_templates, smollm2_tokenizer
):
    # A fine-tune whose template keeps the chat layout but drops the tools: Ollama must not offer tools it never saw,
    # and the template without them still renders its chats as the chat template does.
    chat_template = _chat_template(name, reference_templates)
    stripped = chat_template.replace("tools is not none", "false").replace("not tools is none", "false")
    assert stripped != chat_template
    chosen = choose_chat_format(stripped, bos_token="<s>", eos_token="</s>")
    [registry] = [f for f in FAMILIES if f.name == family]
    assert (chosen.family, chosen.tools, chosen.template) == (family, None, registry.plain_template)
    assert ".Tools" not in chosen.template and ".ToolCalls" not in chosen.template
    assert registry.without_tools == plain
    conversations = [list(conversation) for conversation in CHECK_CONVERSATIONS]
    results = go_render([{"template": chosen.template, "messages": messages} for messages in conversations])
    for messages, result in zip(conversations, results):
        assert result["output"] == _hf(smollm2_tokenizer, stripped, messages, None, "<s>", "</s>"), messages


@pytest.mark.parametrize("name", ["openai-gpt-oss-120b", "Mistral-Small-3.2-24B-Instruct-2506"])
def test_a_derived_template_that_writes_the_date_says_it_is_frozen_at_packaging(name, reference_templates):
    chosen = choose_chat_format((reference_templates / f"{name}.jinja").read_text(), bos_token="<s>", eos_token="</s>")
    assert chosen.source == "derived"
    assert "the date the chat template writes (strftime_now) is frozen at the day of packaging" in chosen.note
    assert "currentDate" in chosen.note and "--template FILE" in chosen.note
    assert datetime.now().strftime("%Y-%m-%d") in chosen.template and "currentDate" not in chosen.template


_TAGS = {
    "type": "function",
    "function": {
        "name": "tag_photo",
        "description": "Tag a photo.",
        "parameters": {
            "type": "object",
            "properties": {
                "size": {"type": "object", "description": "Its size", "properties": {"w": {"type": "integer"}}},
                "tags": {"type": "array", "description": "The tags", "items": {"type": "string"}},
            },
            "required": ["tags"],
        },
    },
}


@pytest.mark.parametrize("name", TOOL_TEMPLATES)
def test_a_nested_schema_keeps_its_meaning_in_gos_compact_json(name, go_render, reference_templates, smollm2_tokenizer):
    # Ollama hands a parameter's `items` and `properties` to templates as values that Go's `json` writes compactly:
    # the model reads the same schema, spaced as Go writes it. Where the family writes JSON on one line (Mistral),
    # that spacing is the only difference from the chat template.
    bos, eos, *_ = TOOL_TEMPLATES[name]
    chat_template = _chat_template(name, reference_templates)
    chosen = choose_chat_format(chat_template, bos_token=bos, eos_token=eos)
    messages = [{"role": "user", "content": "Tag it."}]
    [result] = go_render([{"template": chosen.template, "messages": messages, "tools": [_TAGS]}])
    output = result["output"]
    assert '"items": {"type":"string"}' in output and '"properties": {"w":{"type":"integer"}}' in output
    expected = _hf(smollm2_tokenizer, chat_template, messages, [_TAGS], bos, eos)
    if "mistral" in chosen.family:
        assert (
            output.replace('{"type":"string"}', '{"type": "string"}').replace(
                '{"w":{"type":"integer"}}', '{"w": {"type": "integer"}}'
            )
            == expected
        )
    else:  # indented JSON around Go's compact values: the same tool once parsed
        listed = output.split("Do not use variables.\n\n")[1].split("\n\nTag it.")[0]
        assert json.loads(listed) == _TAGS and listed not in expected
