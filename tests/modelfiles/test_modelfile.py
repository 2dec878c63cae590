"""Typed Modelfiles: parse, lint (with lines and fixes) and render, which must read back to the same Modelfile."""

from __future__ import annotations

import random

import pytest

from tunesmith.errors import ModelfileError
from tunesmith.modelfiles import (
    LintIssue,
    Modelfile,
    coerce_parameters,
    lint_modelfile,
    parse_modelfile,
    render_modelfile,
)


def test_parse_types_parameters_per_ollamas_table() -> None:
    text = (
        "FROM ./model.gguf\nADAPTER ./adapter.gguf\nPARAMETER num_ctx 8192\nPARAMETER temperature .5\n"
        'PARAMETER use_mmap TRUE\nPARAMETER stop <|im_end|>\nPARAMETER stop "<|im_start|>"\n'
        'PARAMETER seed -1\nPARAMETER top_p 1e-1\nMESSAGE user Hi\nMESSAGE assistant "Hello!"\n'
        'LICENSE MIT\nLICENSE """Line one\nLine two"""\n'
    )
    mf = parse_modelfile(text)
    assert mf == Modelfile(
        from_="./model.gguf",
        adapter="./adapter.gguf",
        parameters={
            "num_ctx": 8192,
            "temperature": 0.5,
            "use_mmap": True,
            "stop": ["<|im_end|>", "<|im_start|>"],
            "seed": -1,
            "top_p": 0.1,
        },
        messages=[("user", "Hi"), ("assistant", "Hello!")],
        license=["MIT", "Line one\nLine two"],
    )
    assert type(mf.parameters["num_ctx"]) is int and type(mf.parameters["temperature"]) is float


PARSE_ERRORS = {
    "hash_inside_unquoted_value": ("FROM x\nPARAMETER stop ### # the stop\n", 2, "holds a '#'"),
    "unknown_parameter_names_the_closest": ("FROM x\nPARAMETER temprature 0.2\n", 2, "did you mean temperature?"),
    "int_parameter_given_a_float": ("FROM x\nPARAMETER num_ctx 4096.5\n", 2, "num_ctx takes a whole number"),
    "int_with_underscore": ("FROM x\nPARAMETER num_ctx 4_096\n", 2, "num_ctx takes a whole number"),
    "float_parameter_given_text": ("FROM x\nPARAMETER top_p high\n", 2, "top_p takes a number"),
    "bool_parameter_given_yes": ("FROM x\nPARAMETER use_mmap yes\n", 2, "use_mmap takes true or false"),
    "repeated_parameter": ("FROM x\nPARAMETER top_k 4\nPARAMETER top_k 5\n", 3, "top_k is set again (first on line 2)"),
    "repeated_system": ("FROM x\nSYSTEM a\nSYSTEM b\n", 3, "SYSTEM appears again (first on line 2)"),
    "missing_from": ("SYSTEM hi\n", 0, "no FROM line"),
    "empty_from": ('FROM ""\n', 1, "FROM is empty"),
    "deprecated_parameter": ("FROM x\nPARAMETER mirostat 1\n", 2, "mirostat is deprecated"),
    "unsupported_command": ("FROM x\nREQUIRES 0.5.0\n", 2, "REQUIRES is an Ollama command tunesmith does not handle"),
    "unknown_command": ("FROM x\nSYTEM hi\n", 2, "'SYTEM' is not a Modelfile command"),
    "unterminated_quote": ('FROM x\nSYSTEM """hello\n', 2, 'opened with """ is never closed'),
    "template_go_rejects": (
        'FROM x\nTEMPLATE """{{ range .Messages }}\n{{ .Content }}"""\n',
        2,
        "{{ range }} is never closed",
    ),
    "template_unknown_function": ("FROM x\nTEMPLATE {{ trim .Content }}\n", 2, "function 'trim' is not defined"),
    "lower_case_role_only": ("FROM x\nMESSAGE User hi\n", 2, "role 'User'"),
}


@pytest.mark.parametrize("text, line, fragment", PARSE_ERRORS.values(), ids=PARSE_ERRORS.keys())
def test_parse_rejects_with_file_line_and_fix(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ModelfileError) as caught:
        parse_modelfile(text, source="Modelfile")
    assert caught.value.where == (f"Modelfile:{line}" if line else "Modelfile")
    assert fragment in caught.value.message


def test_parse_rejects_hash_inside_unquoted_value_but_accepts_it_quoted() -> None:
    with pytest.raises(ModelfileError, match="quote the value"):
        parse_modelfile("FROM x\nPARAMETER stop ### Human\n")
    assert parse_modelfile('FROM x\nPARAMETER stop "### Human"\n').parameters == {"stop": ["### Human"]}


def test_parse_error_counts_the_other_errors() -> None:
    with pytest.raises(ModelfileError, match=r"\(2 more: run `tunesmith lint`"):
        parse_modelfile("FROM x\nPARAMETER a 1\nPARAMETER b 2\nPARAMETER c 3\n")


def test_lint_lists_every_issue_with_its_line_and_severity() -> None:
    text = (
        "# a model\nFROM x\nPARAMETER temprature 0.2\nPARAMETER stop <|im_end|> # end\n"
        'PARAMETER num_ctx many\nSYSTEM """Be brief.\nPARAMETER stop x\n"""\n'
    )
    assert lint_modelfile(text) == [
        LintIssue(3, "error", "PARAMETER temprature is not a parameter Ollama knows; did you mean temperature?"),
        LintIssue(
            4,
            "error",
            "PARAMETER stop: the bare value '<|im_end|> # end' holds a '#', which Ollama keeps as "
            "part of the value (comments only start a line); quote the value if the '#' belongs "
            "to it, or move the comment to its own line",
        ),
        LintIssue(5, "error", "PARAMETER num_ctx takes a whole number (like 4096), not 'many'"),
        LintIssue(
            7,
            "warning",
            "this line looks like a command but is part of the SYSTEM value opened on line 6; "
            "is its closing quote missing, or followed by more text?",
        ),
    ]


def test_lint_still_checks_lines_before_a_syntax_error_and_does_not_claim_from_is_missing() -> None:
    issues = lint_modelfile("PARAMETER top_k x\nBOGUS y\nFROM z\n")
    assert [(i.line, i.severity) for i in issues] == [(1, "error"), (2, "error")]
    assert "top_k takes a whole number" in issues[0].message and "'BOGUS'" in issues[1].message


def test_lint_is_clean_on_a_rendered_modelfile() -> None:
    mf = Modelfile(
        from_="x.gguf",
        template="{{ range .Messages }}{{ .Content }}{{ end }}",
        parameters={"stop": ["#", "<|im_end|>"], "temperature": 0.7},
    )
    assert lint_modelfile(render_modelfile(mf)) == []


HOSTILE = [
    "",
    " ",
    "  lead",
    "trail  ",
    '"',
    '""',
    '"""',
    '""""""',
    'quote " inside',
    'ends with quote"',
    '"starts with quote',
    "back\\slash\\n not a newline",
    "line\nbreak",
    "\nleading newline",
    "trailing newline\n",
    "# hash",
    "mid # hash",
    "tab\tinside",
    "crlf\r\nline",
    'he said "hi"\nthen left',
    '""" x',
    'x\n"""',
    "unicode é 日本 🎉",
    "{{ .System }}",
    "\n\n",
    '" "',
    "'single'",
]


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v) for v in HOSTILE])
def test_render_then_parse_gives_back_the_same_modelfile_for_hostile_values(value: str) -> None:
    mf = Modelfile(
        from_="model" + value.replace("\n", ""),
        adapter=value,
        system=value,
        parameters={"stop": [value, value + "x"], "num_ctx": 2048, "temperature": 0.1},
        messages=[("user", value), ("assistant", value)],
        license=[value],
    )
    assert parse_modelfile(render_modelfile(mf)) == mf


def test_render_then_parse_round_trips_random_hostile_values() -> None:
    rng = random.Random(20240501)
    alphabet = ['"', '"""', "#", " ", "\t", "\n", "\\", "'", "a", "Z", "{{", "}}", "é", "\r\n", ":"]
    checked = 0
    for _ in range(400):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        mf = Modelfile(from_="m", system=value, parameters={"stop": [value]}, messages=[("user", value)])
        try:
            text = render_modelfile(mf)
        except ModelfileError as err:
            # Only values with a line ending in a quote (in both quote styles) may be refused.
            assert "no quoting reads it back" in str(err)
            continue
        assert parse_modelfile(text) == mf
        checked += 1
    assert checked > 300


RENDER_ERRORS = {
    "unexpressible_value": (Modelfile(from_="m", system='a"\nb"""\nc'), "SYSTEM cannot be written"),
    "starts_with_a_line_of_triple_quotes": (Modelfile(from_="m", adapter='"""\nx'), "ADAPTER cannot be written"),
    "dropped_characters": (Modelfile(from_="m", system="bell\x07"), "characters Ollama drops"),
    "unknown_parameter": (Modelfile(from_="m", parameters={"temprature": 1.0}), "did you mean temperature?"),
    "ill_typed_parameter": (
        Modelfile(from_="m", parameters={"num_ctx": "big"}),
        "num_ctx takes a whole number, not str",
    ),
    "stop_not_a_list": (Modelfile(from_="m", parameters={"stop": "</s>"}), "stop must be a list"),
    "empty_from": (Modelfile(from_=""), "FROM is empty"),
    "bad_role": (Modelfile(from_="m", messages=[("tool", "x")]), "role 'tool'"),
    "template_go_rejects": (Modelfile(from_="m", template="{{ range .Messages }}"), "{{ range }} is never closed"),
}


@pytest.mark.parametrize("mf, fragment", RENDER_ERRORS.values(), ids=RENDER_ERRORS.keys())
def test_render_refuses_what_a_modelfile_cannot_say(mf: Modelfile, fragment: str) -> None:
    with pytest.raises(ModelfileError, match=None) as caught:
        render_modelfile(mf)
    assert fragment in str(caught.value)


def test_render_writes_commands_in_ollamas_order() -> None:
    text = render_modelfile(
        Modelfile(
            from_="m",
            adapter="a",
            template="T",
            system="S",
            parameters={"stop": ["x", "y"], "num_ctx": 1},
            messages=[("user", "u")],
            license=["L"],
        )
    )
    assert text == (
        "FROM m\nADAPTER a\nTEMPLATE T\nSYSTEM S\nPARAMETER stop x\nPARAMETER stop y\n"
        "PARAMETER num_ctx 1\nMESSAGE user u\nLICENSE L\n"
    )


def test_coerce_parameters_types_user_strings_and_yaml_values() -> None:
    assert coerce_parameters(
        {"temperature": "0.2", "num_ctx": 2048, "stop": ["</s>", "###"], "use_mmap": "false", "top_p": 1}
    ) == {"temperature": 0.2, "num_ctx": 2048, "stop": ["</s>", "###"], "use_mmap": False, "top_p": 1.0}
    assert coerce_parameters({"stop": "<|im_end|>"}) == {"stop": ["<|im_end|>"]}


@pytest.mark.parametrize(
    "given, fragment",
    [
        ({"temprature": "0.2"}, "did you mean temperature?"),
        ({"num_ctx": "4k"}, "num_ctx takes a whole number"),
        ({"num_ctx": 4096.0}, "num_ctx takes a whole number, not float"),
        ({"use_mmap": "yes"}, "use_mmap takes true or false"),
        ({"mirostat": "1"}, "'mirostat' is not a parameter"),
    ],
)
def test_coerce_parameters_names_the_bad_parameter(given: dict, fragment: str) -> None:
    with pytest.raises(ModelfileError) as caught:
        coerce_parameters(given)
    assert fragment in str(caught.value) and caught.value.where.startswith("--param")


@pytest.mark.parametrize(
    "stops, warned",
    [
        ("", True),
        ("PARAMETER stop </s>\n", True),
        ("PARAMETER stop <|im_end|>\n", False),
    ],
)
def test_lint_warns_when_no_stop_names_the_token_that_ends_a_turn(stops: str, warned: bool) -> None:
    text = (
        'FROM m\nTEMPLATE """{{ range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"""\n'
        + stops
    )
    issues = lint_modelfile(text)
    assert [i.severity for i in issues] == (["warning"] if warned else [])
    if warned:
        assert issues[0].line == 2 and "add `PARAMETER stop <|im_end|>`" in issues[0].message
