"""Chats with tools, tool calls, tool results and reasoning: read from OpenAI, ShareGPT and Hermes rows into one
shape, checked with errors naming row and field, and counted in the data report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.trainer.helpers import write_jsonl
from tunesmith.config import Source
from tunesmith.errors import DataError
from tunesmith.trainer.ingest import read_source

TEMPLATES = Path(__file__).resolve().parents[2] / ".cache" / "reference" / "llama.cpp" / "models" / "templates"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ASK = {"role": "user", "content": "What is the weather in Paris?"}
ANSWER = {"role": "assistant", "content": "It is 21 degrees in Paris."}

# The one shape every format below is read into.
EXPECTED = (
    ASK,
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
        ],
    },
    {"role": "tool", "content": '{"temperature": 21}', "tool_call_id": "call00001", "name": "get_weather"},
    ANSWER,
)


def _read(tmp_path, rows, **source) -> list:
    return read_source(Source(path=str(write_jsonl(tmp_path / "chats.jsonl", rows)), **source)).records


def test_openai_rows_keep_tools_calls_results_and_reasoning(tmp_path):
    row = {
        "tools": [WEATHER],
        "messages": [
            ASK,
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "Paris: look it up.",
                "tool_calls": [
                    {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
                ],
            },
            {"role": "tool", "content": {"temperature": 21}},
            ANSWER,
        ],
    }
    [record] = _read(tmp_path, [row])
    assert record.tools == (WEATHER,)
    assert record.messages[1]["reasoning_content"] == "Paris: look it up."
    # Arguments become objects (what templates render), a call without an id gets one every template accepts, and a
    # result without a tool_call_id answers the open call.
    assert (
        record.messages[:1]
        + ({k: v for k, v in record.messages[1].items() if k != "reasoning_content"}, *record.messages[2:])
        == EXPECTED
    )


def test_sharegpt_function_call_turns_are_converted_and_counted(tmp_path):
    row = {
        "tools": json.dumps([WEATHER["function"]]),
        "conversations": [
            {"from": "human", "value": ASK["content"]},
            {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})},
            {"from": "observation", "value": '{"temperature": 21}'},
            {"from": "gpt", "value": ANSWER["content"]},
        ],
    }
    data = read_source(Source(path=str(write_jsonl(tmp_path / "chats.jsonl", [row]))))
    assert (data.records[0].messages, data.records[0].tools, data.converted) == (EXPECTED, (WEATHER,), {"sharegpt": 1})


def test_hermes_rows_take_their_tools_from_the_system_prompt(tmp_path):
    system = (
        "You are a function calling AI model. You are provided with function signatures within <tools></tools> "
        f"XML tags.\n<tools>\n{json.dumps(WEATHER)}\n</tools>\nFor each function call return a json object."
    )
    row = {
        "conversations": [
            {"from": "system", "value": system},
            {"from": "human", "value": ASK["content"]},
            {
                "from": "gpt",
                "value": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
            },
            {"from": "tool", "value": '<tool_response>\n{"temperature": 21}\n</tool_response>'},
            {"from": "gpt", "value": ANSWER["content"]},
        ]
    }
    data = read_source(Source(path=str(write_jsonl(tmp_path / "chats.jsonl", [row]))))
    assert (data.records[0].messages, data.records[0].tools, data.converted) == (EXPECTED, (WEATHER,), {"hermes": 1})


def test_a_source_tools_file_serves_rows_without_tools_and_reasoning_can_be_dropped(tmp_path):
    (tmp_path / "tools.json").write_text(json.dumps([WEATHER]), encoding="utf-8")
    thinking = {**ANSWER, "reasoning_content": "21 is mild."}
    rows = [{"messages": [*EXPECTED[:3], thinking]}]
    [learned] = _read(tmp_path, rows, tools=str(tmp_path / "tools.json"))
    [context] = _read(tmp_path, rows, tools=str(tmp_path / "tools.json"), reasoning="context")
    [dropped] = _read(tmp_path, rows, tools=str(tmp_path / "tools.json"), reasoning="drop")
    assert learned.tools == (WEATHER,) and learned.messages[-1] == thinking and learned.reasoning == "learn"
    assert context.messages[-1] == thinking and context.reasoning == "context"
    assert dropped.messages == EXPECTED


def _call(name="get_weather", arguments='{"city": "Paris"}', **extra) -> dict:
    return {
        "role": "assistant",
        "content": "",
        **extra,
        "tool_calls": [{"id": "call00001", "type": "function", "function": {"name": name, "arguments": arguments}}],
    }


@pytest.mark.parametrize(
    "messages, tools, message",
    [
        (
            [ASK, _call(name="get_time"), EXPECTED[2], ANSWER],
            [WEATHER],
            "messages[1].tool_calls[0] calls 'get_time', which is not in `tools` (get_weather)",
        ),
        (
            [ASK, _call(arguments='{"city": Paris}'), EXPECTED[2], ANSWER],
            [WEATHER],
            "messages[1].tool_calls[0].function.arguments is not valid JSON",
        ),
        (
            [ASK, _call(arguments="[1, 2]"), EXPECTED[2], ANSWER],
            [WEATHER],
            "messages[1].tool_calls[0].function.arguments must be a JSON object, got list",
        ),
        (
            [ASK, _call(), {**EXPECTED[2], "tool_call_id": "call00002"}, ANSWER],
            [WEATHER],
            "messages[2] gives tool_call_id 'call00002' that answers no open tool call",
        ),
        (
            [ASK, {"role": "tool", "content": "21"}, ANSWER],
            [WEATHER],
            "messages[1] gives a result that answers no open",
        ),
        (
            [ASK, _call(), ASK, ANSWER],
            [WEATHER],
            "tool call 'call00001' (get_weather) gets no result before the next user turn at messages[2]",
        ),
        (
            [ASK, _call(), EXPECTED[2], ANSWER],
            None,
            "messages[1] calls the tool 'get_weather' but the row has no `tools`",
        ),
        ([ASK, ANSWER], [WEATHER, WEATHER], "two tools are named 'get_weather'"),
        (
            [ASK, ANSWER],
            [{"type": "function", "function": {"description": "no name"}}],
            "tools[0] has no function name",
        ),
    ],
)
def test_bad_tool_data_names_the_row_and_field(tmp_path, messages, tools, message):
    with pytest.raises(DataError) as caught:
        _read(tmp_path, [{"messages": messages, **({"tools": tools} if tools else {})}])
    assert message in caught.value.message
    assert caught.value.where.endswith("chats.jsonl:1")
    assert caught.value.hint


def test_a_missing_tools_file_is_named(tmp_path):
    with pytest.raises(DataError, match="the tools file does not exist"):
        _read(tmp_path, [{"messages": [ASK, ANSWER]}], tools=str(tmp_path / "nope.json"))


def test_prepare_counts_tool_calls_and_thinking_and_writes_them_to_train_jsonl(tiny_llama, tmp_path):
    import shutil

    from tunesmith.config import load_config
    from tunesmith.trainer import prepare_data, read_split

    base = tmp_path / "base"
    shutil.copytree(tiny_llama, base)
    config_file = base / "tokenizer_config.json"
    settings = json.loads(config_file.read_text())
    settings["chat_template"] = (TEMPLATES / "Qwen-Qwen3-0.6B.jinja").read_text()
    config_file.write_text(json.dumps(settings))
    (base / "chat_template.jinja").unlink(missing_ok=True)
    sharegpt = {
        "tools": json.dumps([WEATHER]),
        "conversations": [  # {n} numbers the rows
            {"from": "human", "value": "What is the weather in city {n}?"},
            {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "c{n}"}})},
            {"from": "observation", "value": "sunny"},
            {"from": "gpt", "value": "It is sunny in city {n}."},
        ],
    }
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Say {n}."},
                {"role": "assistant", "content": f"{n}.", "reasoning_content": "Easy: say it."},
            ]
        }
        for n in range(10)
    ]
    write_jsonl(tmp_path / "thinking.jsonl", rows)
    (tmp_path / "calls.jsonl").write_text(
        "".join(json.dumps(sharegpt).replace("{n}", str(n)) + "\n" for n in range(6)), encoding="utf-8"
    )
    config = load_config(
        base=str(base),
        data=[str(tmp_path / "thinking.jsonl"), str(tmp_path / "calls.jsonl")],
        output_dir=str(tmp_path / "run"),
        overrides=["clean.near_dedup=false", "split.val_fraction=0.0"],
    )
    report = prepare_data(config).report
    chats = report["chats"]
    assert (chats["rows_with_tools"], chats["tool_calling_rows"], chats["tool_calls"]) == (6, 6, 6)
    assert chats["tools_called"] == ["get_weather"] and chats["calls_per_calling_row"] == {"mean": 1.0, "max": 1}
    assert chats["reasoning_rows"] == 10 and chats["thinking_tokens"] > 10
    assert [source["converted"] for source in report["sources"]] == [{}, {"sharegpt": 6}]
    records = read_split(prepare_data(config).paths, "train")
    assert sum(1 for r in records if r.tools == (WEATHER,)) == 6
