"""Tool calls parsed out of Llama 3's and Mistral's streamed replies, from outputs as those models write them (their
chat templates' call format), split at every point."""

from __future__ import annotations

import re

import pytest

from tunesmith.modelfiles.families import FAMILIES
from tunesmith.server.backends.json_tool_calls import Llama3JsonToolCallParser, MistralToolCallParser
from tunesmith.server.backends.tool_calls import TOOL_CALL_PARSERS

WEATHER = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
ADD = {"function": {"name": "add", "arguments": {"a": 2, "b": 3}}}

LLAMA3 = {
    "one call": ('{"name": "get_weather", "parameters": {"city": "Paris"}}', "", [WEATHER]),
    "after the python tag": ('<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}', "", [WEATHER]),
    "arguments instead of parameters": ('{"name": "add", "arguments": {"a": 2, "b": 3}}', "", [ADD]),
    "leading blank line": ('\n{"name": "add", "parameters": {"a": 2, "b": 3}}', "", [ADD]),
    "two calls": (
        ('{"name": "add", "parameters": {"a": 2, "b": 3}}; {"name": "get_weather", "parameters": {"city": "Paris"}}'),
        "",
        [ADD, WEATHER],
    ),
    "braces inside strings": (
        '{"name": "get_weather", "parameters": {"city": "Par}is{"}}',
        "",
        [{"function": {"name": "get_weather", "arguments": {"city": "Par}is{"}}}],
    ),
    "plain answer": ("It is sunny in Paris, 21 degrees.", "It is sunny in Paris, 21 degrees.", []),
    "a brace later in a plain answer": ('Use {"a": 1} here.', 'Use {"a": 1} here.', []),
    "JSON that is no call stays text": ('{"answer": 42}', '{"answer": 42}', []),
    "unparseable call stays text": ('{name: "add"}', '{name: "add"}', []),
    "a call that never closes stays text": ('{"name": "add", "param', '{"name": "add", "param', []),
    "text after a call": ('{"name": "add", "parameters": {"a": 2, "b": 3}} Done.', "Done.", [ADD]),
    "a lone angle bracket": ("<3 you", "<3 you", []),
}

MISTRAL = {
    "one call": (
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1B2c3D4e"}]',
        "",
        [{**WEATHER, "id": "a1B2c3D4e"}],
    ),
    "v0.3's space": (
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1B2c3D4e"}]',
        "",
        [{**WEATHER, "id": "a1B2c3D4e"}],
    ),
    "two calls": (
        (
            '[TOOL_CALLS][{"name": "add", "arguments": {"a": 2, "b": 3}, "id": "call00001"}, {"name": '
            '"get_weather", "arguments": {"city": "Paris"}, "id": "call00002"}]'
        ),
        "",
        [{**ADD, "id": "call00001"}, {**WEATHER, "id": "call00002"}],
    ),
    "text then a call": (
        'Let me check.[TOOL_CALLS][{"name": "add", "arguments": {"a": 2, "b": 3}, "id": "Zz9Zz9Zz9"}]',
        "Let me check.",
        [{**ADD, "id": "Zz9Zz9Zz9"}],
    ),
    "plain answer": ("It is sunny [in Paris], 21 degrees.", "It is sunny [in Paris], 21 degrees.", []),
    # llama-cpp-python's streamed text leaves out control tokens such as [TOOL_CALLS]
    "the list without its control token": (
        '[{"name": "add", "arguments": {"a": 2, "b": 3}, "id": "Zz9Zz9Zz9"}]',
        "",
        [{**ADD, "id": "Zz9Zz9Zz9"}],
    ),
    "an answer opening with brackets": ("[1] Paris, [2] Rome", "[1] Paris, [2] Rome", []),
    "a lone tag start stays text": ("[TOOL", "[TOOL", []),
    "unparseable calls stay text": ("[TOOL_CALLS][{name: add}]", "[TOOL_CALLS][{name: add}]", []),
    "no list after the tag stays text": ("[TOOL_CALLS] sorry", "[TOOL_CALLS] sorry", []),
    "calls that never close stay text": (
        '[TOOL_CALLS][{"name": "add", "argu',
        '[TOOL_CALLS][{"name": "add", "argu',
        [],
    ),
    "a partial tag at the end stays text": ("Done. [TOOL_CA", "Done. [TOOL_CA", []),
}


def _run(parser_type, pieces: list[str]) -> tuple[str, list[dict]]:
    parser, text, calls = parser_type(), [], []
    for piece in pieces:
        released, found = parser.feed(piece)
        text.append(released)
        calls += found
    text.append(parser.finish())
    return "".join(text), calls


@pytest.mark.parametrize(
    ("parser_type", "case"),
    [(Llama3JsonToolCallParser, case) for case in LLAMA3.values()]
    + [(MistralToolCallParser, case) for case in MISTRAL.values()],
    ids=[f"llama3-{name}" for name in LLAMA3] + [f"mistral-{name}" for name in MISTRAL],
)
def test_calls_and_text_come_out_the_same_however_the_stream_is_split(parser_type, case):
    output, text, calls = case
    assert _run(parser_type, [output]) == (text, calls)
    assert _run(parser_type, list(output)) == (text, calls)  # one character at a time
    for cut in range(1, len(output)):
        assert _run(parser_type, [output[:cut], output[cut:]]) == (text, calls), cut


def test_a_llama3_plain_answer_streams_from_its_first_character():
    parser = Llama3JsonToolCallParser()
    assert parser.feed("  ") == ("", [])  # blanks could still open a call
    assert parser.feed("Sun") == ("  Sun", [])
    assert parser.feed("ny") == ("ny", [])
    assert parser.finish() == ""


def test_mistral_text_before_the_tag_is_released_before_the_calls_are_complete():
    parser = MistralToolCallParser()
    assert parser.feed("Checking [TOOL") == ("Checking ", [])
    assert parser.feed('_CALLS][{"name": "add", "arguments": {}, "id": "abcdefghi"}') == ("", [])
    assert parser.feed("]") == ("", [{"function": {"name": "add", "arguments": {}}, "id": "abcdefghi"}])


@pytest.mark.parametrize("written", ['"id": "call_1", ', '"id": 7, ', ""])
def test_a_mistral_call_without_an_id_its_template_accepts_gets_nine_letters_and_digits(written):
    # Mistral's chat templates refuse a call id that is not nine characters when the client sends the call back.
    text, [call] = _run(MistralToolCallParser, [f'[TOOL_CALLS][{{{written}"name": "add", "arguments": {{}}}}]'])
    assert text == "" and re.fullmatch(r"[A-Za-z0-9]{9}", call["id"])


def test_every_tool_format_a_registry_family_carries_has_a_parser():
    assert {family.tools for family in FAMILIES if family.tools} <= set(TOOL_CALL_PARSERS)
