"""Ollama's Modelfile grammar: the cases of Ollama's own parser tests (parser/parser_test.go), read by our scanner."""

from __future__ import annotations

import pytest

from tunesmith.modelfiles.grammar import ScanError, quote_value, scan


def _commands(text: str) -> list[tuple[str, str]]:
    # Ollama's view of a command: parameters by their name, messages as "role: content".
    out = []
    for cmd in scan(text):
        if cmd.keyword == "parameter":
            out.append((cmd.name, cmd.value))
        elif cmd.keyword == "message":
            out.append(("message", f"{cmd.role}: {cmd.value}"))
        else:
            out.append(("model" if cmd.keyword == "from" else cmd.keyword, cmd.value))
    return out


TEMPLATE = (
    "   {{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
    "{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>   "
)

ACCEPTED = {
    "trim_space": (
        (
            f'\nFROM "     model 1"\nADAPTER      adapter3\nLICENSE "MIT       "\nPARAMETER param1        value1\n'
            f'PARAMETER param2    value2\nTEMPLATE """{TEMPLATE}"""    \n'
        ),
        [
            ("model", "     model 1"),
            ("adapter", "adapter3"),
            ("license", "MIT       "),
            ("param1", "value1"),
            ("param2", "value2"),
            ("template", TEMPLATE),
        ],
    ),
    "messages": (
        (
            "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\n"
            "MESSAGE assistant Hello, I want to parse all the things!\n"
        ),
        [
            ("model", "foo"),
            ("message", "system: You are a file parser. Always parse things."),
            ("message", "user: Hey there!"),
            ("message", "assistant: Hello, I want to parse all the things!"),
        ],
    ),
    "message_at_eof": (
        "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.",
        [("model", "foo"), ("message", "system: You are a file parser. Always parse things.")],
    ),
    "message_triple_quoted": (
        '\nFROM foo\nMESSAGE system """\nYou are a multiline file parser. Always parse things.\n"""\n\t\t\t',
        [("model", "foo"), ("message", "system: \nYou are a multiline file parser. Always parse things.\n")],
    ),
    "multiline": (
        '\nFROM foo\nSYSTEM """\nThis is a\nmultiline system.\n"""\n\t\t\t',
        [("model", "foo"), ("system", "\nThis is a\nmultiline system.\n")],
    ),
    "multiline_closing_on_text": (
        '\nFROM foo\nSYSTEM """This is a\nmultiline system."""\n',
        [("model", "foo"), ("system", "This is a\nmultiline system.")],
    ),
    "inner_quotes": (
        '\nFROM foo\nSYSTEM """\nThis is a multiline system with "quotes".\n"""\n',
        [("model", "foo"), ("system", '\nThis is a multiline system with "quotes".\n')],
    ),
    "empty_triple": ('\nFROM foo\nSYSTEM """"""\n', [("model", "foo"), ("system", "")]),
    "empty_double": ('\nFROM foo\nSYSTEM ""\n', [("model", "foo"), ("system", "")]),
    "single_quote_inside": ('\nFROM foo\nSYSTEM "\'"\n', [("model", "foo"), ("system", "'")]),
    "quote_soup": (
        '\nFROM foo\nSYSTEM """\'\'"\'""\'""\'"\'\'\'\'\'""\'""\'"""\n',
        [("model", "foo"), ("system", "''\"'\"\"'\"\"'\"'''''\"\"'\"\"'")],
    ),
    "stop_bare_trailing_space": ("FROM foo\nPARAMETER stop ### User: \n", [("model", "foo"), ("stop", "### User:")]),
    "stop_quoted_space": ('FROM foo\nPARAMETER stop "### User: "\n', [("model", "foo"), ("stop", "### User: ")]),
    "stop_triple_newline": (
        'FROM foo\nPARAMETER stop """### User:\n"""\n',
        [("model", "foo"), ("stop", "### User:\n")],
    ),
    "comment": ("\n# comment\nFROM foo\n\t", [("model", "foo")]),
    "case_insensitive": (
        "from foo\nsystem hi\nParameter stop x\n",
        [("model", "foo"), ("system", "hi"), ("stop", "x")],
    ),
    "hash_kept_in_bare_value": ("FROM foo\nSYSTEM hi # there\n", [("model", "foo"), ("system", "hi # there")]),
    "crlf": ("FROM foo\r\nSYSTEM hi\r\n", [("model", "foo"), ("system", "hi")]),
    "bom": ("\ufeffFROM foo\n", [("model", "foo")]),
    "non_printable_dropped": ("FROM foo\nSYSTEM a\x01b\u00a0c\n", [("model", "foo"), ("system", "abc")]),
}


@pytest.mark.parametrize("text, expected", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_scan_reads_commands_as_ollamas_parser_tests_expect(text: str, expected: list[tuple[str, str]]) -> None:
    assert _commands(text) == expected


REJECTED = {
    "parameter_without_value": ("\nFROM foo\nPARAMETER param1\n", 3, "PARAMETER param1"),
    "bad_command": ("\nFROM foo\nBADCOMMAND param1 value1\n", 3, "'BADCOMMAND' is not a Modelfile command"),
    "bad_role": ("\nFROM foo\nMESSAGE badguy I'm a bad guy!\n", 3, "role 'badguy'"),
    "message_without_text": ("\nFROM foo\nMESSAGE system\n", 3, "MESSAGE system"),
    "message_without_text_at_eof": ("\nFROM foo\nMESSAGE system", 3, "MESSAGE system"),
    "unclosed_triple": ('\nFROM foo\nSYSTEM """This is a multiline system.""\n\t\t\t', 3, 'opened with """'),
    "unclosed_double": ('\nFROM foo\nSYSTEM "\n\t\t\t', 3, 'opened with "'),
    "text_after_closing_quote": ('FROM foo\nSYSTEM "hi" # greeting\nPARAMETER stop x\n', 2, "text after its closing"),
    "from_without_value": ("FROM\n", 1, "FROM has no value"),
    "dash_in_parameter_name": ("FROM foo\nPARAMETER top-k 5\n", 2, "letters, digits and _"),
}


@pytest.mark.parametrize("text, line, fragment", REJECTED.values(), ids=REJECTED.keys())
def test_scan_rejects_what_ollama_rejects_with_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ScanError) as caught:
        scan(text)
    assert caught.value.line == line
    assert fragment in caught.value.message
    assert caught.value.hint


QUOTING = {
    "plain": ("llama3.2", "llama3.2"),
    "inner_spaces": ("a b  c", "a b  c"),
    "leading_space": (" x", '" x"'),
    "empty": ("", '""'),
    "hash": ("# not a comment", '"# not a comment"'),
    "newline": ("a\nb", '"a\nb"'),
    "starts_with_two_quotes": ('""x', '"""""x"""'),
    "line_ending_in_quote": ('say "hi"\nnow', '"""say "hi"\nnow"""'),
    "triple_quotes_inside_one_line": ('a """ b', 'a """ b'),
}


@pytest.mark.parametrize("value, spelled", QUOTING.values(), ids=QUOTING.keys())
def test_quote_value_picks_the_shortest_spelling_ollama_reads_back(value: str, spelled: str) -> None:
    assert quote_value(value) == spelled
    assert scan(f"SYSTEM {spelled}\n")[0].value == value


@pytest.mark.parametrize("value", ['a"\nb"""\nc', "bell\x07", "nbsp\u00a0"])
def test_quote_value_refuses_values_ollamas_grammar_cannot_hold(value: str) -> None:
    with pytest.raises(ValueError):
        quote_value(value)
