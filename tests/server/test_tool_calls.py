"""Tool calls parsed out of a Hermes/Qwen2.5 model's streamed text, from recorded outputs split at every point."""

from __future__ import annotations

import pytest

from tunesmith.server.backends.tool_calls import HermesToolCallParser

WEATHER = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
ADD = {"function": {"name": "add", "arguments": {"a": 2, "b": 3}}}

CASES = {
    "one call": ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', "", [WEATHER]),
    "text then a call": (
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        "Let me check.\n",
        [WEATHER],
    ),
    "two calls": (
        (
            '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>\n<tool_call>\n'
            '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
        ),
        "\n",
        [ADD, WEATHER],
    ),
    "arguments as a JSON string": (
        '<tool_call>\n{"name": "add", "arguments": "{\\"a\\": 2, \\"b\\": 3}"}\n</tool_call>',
        "",
        [ADD],
    ),
    "plain answer": ("It is sunny in Paris, 21 degrees.", "It is sunny in Paris, 21 degrees.", []),
    "a lone angle bracket": ("2 < 3 and <b>bold</b>", "2 < 3 and <b>bold</b>", []),
    "unparseable call stays text": (
        "<tool_call>\n{name: get_weather}\n</tool_call>",
        "<tool_call>\n{name: get_weather}\n</tool_call>",
        [],
    ),
    "a call that never closes stays text": (
        '<tool_call>\n{"name": "add", "argu',
        '<tool_call>\n{"name": "add", "argu',
        [],
    ),
    "a partial tag at the end stays text": ("Done. <tool_c", "Done. <tool_c", []),
}


def _run(pieces: list[str]) -> tuple[str, list[dict]]:
    parser, text, calls = HermesToolCallParser(), [], []
    for piece in pieces:
        released, found = parser.feed(piece)
        text.append(released)
        calls += found
    text.append(parser.finish())
    return "".join(text), calls


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_calls_and_text_come_out_the_same_however_the_stream_is_split(case):
    output, text, calls = case
    assert _run([output]) == (text, calls)
    assert _run(list(output)) == (text, calls)  # one character at a time
    for cut in range(1, len(output)):
        assert _run([output[:cut], output[cut:]]) == (text, calls), cut


def test_text_before_a_call_is_released_before_the_call_is_complete():
    parser = HermesToolCallParser()
    assert parser.feed("Checking") == ("Checking", [])
    assert parser.feed(" now <tool") == (" now ", [])
    assert parser.feed('_call>\n{"name": "add", "arguments": {}}') == ("", [])
    assert parser.feed("\n</tool_call>") == ("", [{"function": {"name": "add", "arguments": {}}}])


@pytest.mark.parametrize("split", ["one call closing with the next opening", "by character"])
def test_the_blank_line_between_two_calls_is_no_answer_text(split):
    from tunesmith.modelfiles import ChatFormat
    from tunesmith.server.backends.reply import ReplyParser

    output = CASES["two calls"][0]
    cut = output.index("\n<tool_call>", 10)
    pieces = [output[: cut - 5], output[cut - 5 : cut + 12], output[cut + 12 :]] if split.startswith("one") else output
    parser = ReplyParser(ChatFormat("qwen2.5", "", [], tools="hermes"), tools=True)
    deltas = [parser.feed(piece) for piece in pieces] + [parser.finish()]
    assert "".join(delta.content for delta in deltas) == ""
    assert [call for delta in deltas for call in delta.tool_calls or []] == [ADD, WEATHER]
