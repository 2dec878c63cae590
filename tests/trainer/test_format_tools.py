"""Tool-calling and reasoning chats through real chat templates: the tools reach the prompt, and the learned tokens
are exactly the assistant's parts (its tool calls, its answer and, when chosen, its thinking), never the tool
definitions, the tool results or the user's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainer.conftest import CHATML
from tests.trainer.test_format import _labelled_runs
from tests.trainer.test_tool_data import ANSWER, EXPECTED, WEATHER
from tunesmith.errors import ModelError
from tunesmith.trainer.base_model import load_tokenizer
from tunesmith.trainer.format import IGNORE, format_record
from tunesmith.trainer.records import Record

TEMPLATES = Path(__file__).resolve().parents[2] / ".cache" / "reference" / "llama.cpp" / "models" / "templates"


@pytest.fixture(scope="module")
def tokenizer(tiny_llama):
    return load_tokenizer(tiny_llama)


def _runs(tokenizer, template: str, record: Record) -> list[str]:
    tokenizer.chat_template = (TEMPLATES / template).read_text()
    example = format_record(record, tokenizer, 4096)
    # Everything the template renders is in the ids, the tool definitions included, and the last reply is learned
    # after the very prompt it is served with.
    assert "Get the current weather in a city." in tokenizer.decode(example.input_ids)
    last = max(i for i, label in enumerate(example.labels) if label == IGNORE and example.labels[i + 1] != IGNORE)
    served = tokenizer.apply_chat_template(
        list(record.messages[:-1]), tools=list(record.tools), tokenize=False, add_generation_prompt=True
    )
    prompt = tokenizer.decode(example.input_ids[: last + 1])
    assert prompt == served if record.reasoning == "learn" else prompt.startswith(served)
    return _labelled_runs(tokenizer, example)


def test_qwen25_learns_the_call_and_the_answer_exactly(tokenizer):
    runs = _runs(
        tokenizer, "Qwen-Qwen2.5-7B-Instruct.jinja", Record("chat", "t:1", messages=EXPECTED, tools=(WEATHER,))
    )
    assert runs == [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n',
        "It is 21 degrees in Paris.<|im_end|>\n",
    ]


@pytest.mark.parametrize(
    "template, end",
    [
        ("Qwen-Qwen3-0.6B.jinja", "<|im_end|>"),
        ("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|eot_id|>"),
        ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "<|im_end|>"),  # the template closes a reply with eos_token
        ("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "<|im_end|>"),
        ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "<|im_end|>"),
    ],
)
def test_real_tool_templates_learn_only_the_call_and_the_answer(tokenizer, template, end):
    runs = _runs(tokenizer, template, Record("chat", "t:1", messages=EXPECTED, tools=(WEATHER,)))
    call, answer = runs
    assert "get_weather" in call and "Paris" in call and end in call
    assert (
        answer.startswith(ANSWER["content"])
        or answer.endswith(ANSWER["content"] + end)
        or ANSWER["content"] + end in answer
    )
    for run in runs:  # the user's question, the tool result and the tool definitions are context
        assert "What is the weather" not in run and "temperature" not in run and "current weather" not in run


THINKING = (*EXPECTED[:3], {**ANSWER, "reasoning_content": "21 degrees is mild for Paris."})


@pytest.mark.parametrize(
    "reasoning, learned",
    [
        ("learn", "<think>\n21 degrees is mild for Paris.\n</think>\n\nIt is 21 degrees in Paris.<|im_end|>\n"),
        ("context", "\n</think>\n\nIt is 21 degrees in Paris.<|im_end|>\n"),
    ],
)
def test_qwen3_thinking_is_learned_or_read_as_context(tokenizer, reasoning, learned):
    record = Record("chat", "t:1", messages=THINKING, tools=(WEATHER,), reasoning=reasoning)
    runs = _runs(tokenizer, "Qwen-Qwen3-0.6B.jinja", record)
    assert runs[-1] == learned


def test_tools_for_a_template_without_them_are_refused_naming_the_templates_that_have_them(tokenizer):
    tokenizer.chat_template = CHATML  # renders every role, and no tools
    with pytest.raises(ModelError) as caught:
        format_record(Record("chat", "chats.jsonl:4", messages=EXPECTED, tools=(WEATHER,)), tokenizer, 4096)
    assert "renders no tools" in caught.value.message
    assert "chats.jsonl:4" in caught.value.where
    assert "Qwen2.5" in caught.value.hint
