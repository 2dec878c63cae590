"""Cheap checks of an Ollama TEMPLATE for the mistakes Go's text/template parser rejects.

Hand-written because there is no Go template parser for Python; it covers what a Modelfile author gets wrong
(unclosed actions, strings and comments, unbalanced if/range/with/end, unknown functions, undefined variables), not
the whole language, and the tests check each rule against Go's own parser.
"""

from __future__ import annotations

import re

__all__ = ["template_problems"]

_BUILTINS = {
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
}
# Registered by Ollama's template/template.go (`funcs`).
_OLLAMA_FUNCS = {"json", "currentDate", "yesterdayDate", "toTypeScriptType"}
_WORDS = {
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "block",
    "template",
    "break",
    "continue",
    "nil",
    "true",
    "false",
}
_OPENERS = {"if", "range", "with", "define", "block"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VARIABLE = re.compile(r"\$[A-Za-z0-9_]*")
_FIELD = re.compile(r"\.[A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?(?:0[xXoObB])?[0-9A-Fa-f_.]+(?:[eEpP][+-]?[0-9]+)?i?")


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _split_action(body: str) -> tuple[list[tuple[str, str]], str | None]:
    """Tokens of one action as (kind, text): kinds ident, field, var, string, number, punct; or an error."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch.isspace():
            i += 1
        elif ch in "\"'`":
            end = body.find(ch, i + 1)
            while ch != "`" and end != -1 and body[end - 1] == "\\" and body[end - 2 : end] != "\\\\":
                end = body.find(ch, end + 1)
            if end == -1:
                return tokens, "unterminated quoted string"
            tokens.append(("string", body[i : end + 1]))
            i = end + 1
        elif ch == "$" and (match := _VARIABLE.match(body, i)):
            tokens.append(("var", match.group()))
            i = match.end()
        elif ch == "." and (match := _FIELD.match(body, i)):
            tokens.append(("field", match.group()))
            i = match.end()
        elif (ch.isdigit() or (ch in "+-" and i + 1 < len(body) and body[i + 1].isdigit())) and (
            match := _NUMBER.match(body, i)
        ):
            tokens.append(("number", match.group()))
            i = match.end()
        elif match := _IDENT.match(body, i):
            tokens.append(("ident", match.group()))
            i = match.end()
        else:
            tokens.append(("punct", ch))
            i += 1
    return tokens, None


def template_problems(template: str) -> list[tuple[int, str]]:
    """(line inside the template, message) for each problem Go's parser would reject; empty when none is found."""
    problems: list[tuple[int, str]] = []
    stack: list[tuple[str, int]] = []
    declared: set[str] = {"$"}
    pos = 0
    while (start := template.find("{{", pos)) != -1:
        line = _line_of(template, start)
        inner = start + 2
        if template.startswith("- ", inner) or template.startswith("-\t", inner) or template.startswith("-\n", inner):
            inner += 2
        comment = template[inner:].lstrip(" \t\n")
        if comment.startswith("/*"):
            close = template.find("*/", inner)
            if close == -1:
                return problems + [(line, "unclosed comment: a {{/* needs */}}")]
            pos = template.find("}}", close)
            if pos == -1:
                return problems + [(line, "unclosed action: a {{ needs a matching }}")]
            pos += 2
            continue
        end = inner
        quote = None
        while end < len(template):
            ch = template[end]
            if quote:
                if ch == "\\" and quote != "`":
                    end += 1
                elif ch == quote:
                    quote = None
            elif ch in "\"'`":
                quote = ch
            elif template.startswith("}}", end):
                break
            end += 1
        if end >= len(template):
            return problems + [(line, "unclosed action: a {{ needs a matching }}")]
        body = template[inner:end]
        pos = end + 2
        if body.endswith((" -", "\t-", "\n-")):
            body = body[:-2]
        tokens, error = _split_action(body)
        if error:
            problems.append((line, error))
            continue
        if not tokens:
            problems.append((line, "empty action {{ }}: it needs a value such as .Content"))
            continue
        kind, first = tokens[0]
        if kind == "ident" and first in _OPENERS:
            stack.append((first, line))
        elif kind == "ident" and first == "end":
            if not stack:
                problems.append((line, "{{ end }} without an opening if, range or with"))
            else:
                stack.pop()
        elif kind == "ident" and first == "else":
            if not stack or stack[-1][0] not in {"if", "range", "with"}:
                problems.append((line, "{{ else }} outside an if, range or with"))
        elif kind == "ident" and first in {"break", "continue"} and not any(name == "range" for name, _ in stack):
            problems.append((line, f"{{{{ {first} }}}} outside a range"))
        for index, (kind, text) in enumerate(tokens):
            if kind == "ident" and text not in _WORDS | _BUILTINS | _OLLAMA_FUNCS:
                problems.append(
                    (
                        line,
                        (
                            f"function {text!r} is not defined (Ollama knows Go's built-ins and "
                            f"{', '.join(sorted(_OLLAMA_FUNCS))})"
                        ),
                    )
                )
            elif kind == "var":
                following = "".join(t for _, t in tokens[index + 1 : index + 3])
                if following.startswith(":=") or (following.startswith(",") and ":=" in body):
                    declared.add(text)
                elif following.startswith("=") and not following.startswith("=="):
                    pass  # Go's parser leaves assignments to undeclared variables to execution time
                elif text not in declared:
                    problems.append((line, f"undefined variable {text}: declare it first with {text} := ..."))
    for name, line in stack:
        problems.append((line, f"{{{{ {name} }}}} is never closed with {{{{ end }}}}"))
    return problems
