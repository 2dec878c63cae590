"""The cheap TEMPLATE checks agree with Go's own parser: each case is judged by Go, and ours must say the same."""

from __future__ import annotations

import pytest

from tunesmith.modelfiles.gotemplate import template_problems

CASES = {
    "plain_text": "Hello",
    "range_messages": "{{- range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}",
    "if_else_chain": '{{ if eq .Role "user" }}u{{ else if eq .Role "system" }}s{{ else }}a{{ end }}',
    "variables": "{{- $last := len .Messages }}{{ range $i, $m := .Messages }}{{ $i }}{{ $m.Role }}{{ end }}"
    "{{ $last }}",
    "assign_declared": '{{ $s := "" }}{{ range .Messages }}{{ $s = .Content }}{{ end }}{{ $s }}',
    "ollama_funcs": "{{ json .Messages }}{{ currentDate }}{{ yesterdayDate }}",
    "string_with_braces": '{{ "}}" }}{{ `{{` }}',
    "comment": "{{/* a comment with }} inside */}}x",
    "trim_markers": "{{- .System -}}",
    "break_in_range": "{{ range .Messages }}{{ break }}{{ end }}",
    "number_literal": "{{ if gt (len .Messages) -1 }}x{{ end }}",
    "unclosed_action": "{{ .System ",
    "unclosed_range": "{{ range .Messages }}x",
    "stray_end": "x{{ end }}",
    "stray_else": "{{ else }}",
    "unknown_function": "{{ trim .Content }}",
    "jinja_syntax": "{% for m in messages %}{{ m.content }}{% endfor %}",
    "undefined_variable": "{{ $x }}",
    "assign_undeclared": '{{ $s = "x" }}',
    "empty_action": "{{ }}",
    "unterminated_string": '{{ "abc }}',
    "unclosed_comment": "{{/* never closed",
    "break_outside_range": "{{ if .System }}{{ break }}{{ end }}",
    "else_in_define": '{{ define "x" }}{{ else }}{{ end }}',
}


def test_template_checks_agree_with_gos_parser_on_every_case(go_render) -> None:
    verdicts = go_render([{"template": t, "parse_only": True} for t in CASES.values()])
    disagreements = []
    for (name, template), verdict in zip(CASES.items(), verdicts):
        go_rejects = "error" in verdict
        ours = template_problems(template)
        if go_rejects != bool(ours):
            disagreements.append((name, verdict.get("error"), ours))
    assert not disagreements
    # The table must hold both kinds, or agreement would prove nothing.
    assert sum("error" in v for v in verdicts) >= 10 and sum("error" not in v for v in verdicts) >= 10


@pytest.mark.parametrize(
    "template, line, fragment",
    [
        ("line one\n{{ range .Messages }}\n", 2, "{{ range }} is never closed"),
        ("a\nb\n{{ trim .Content }}", 3, "function 'trim' is not defined"),
        ("{{ $x }}", 1, "undefined variable $x"),
    ],
)
def test_template_problems_say_which_line_and_what(template: str, line: int, fragment: str) -> None:
    problems = template_problems(template)
    assert problems and problems[0][0] == line and fragment in problems[0][1]
