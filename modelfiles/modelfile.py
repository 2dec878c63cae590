"""The typed Modelfile, and reading one: `parse_modelfile` (strict) and `lint_modelfile` (every issue, with lines).

Both run the same checks: Ollama's grammar (grammar.py), its parameter table (parameters.py), cheap TEMPLATE checks
(gotemplate.py), and the rules tunesmith adds so that a file means one thing (no repeats, no `#` inside bare values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from tunesmith.errors import ModelfileError
from tunesmith.modelfiles.gotemplate import template_problems
from tunesmith.modelfiles.grammar import Command, ScanError, scan
from tunesmith.modelfiles.parameters import (
    DEPRECATED_PARAMETERS,
    PARAMETER_TYPES,
    closest_parameter,
    convert_parameter,
)
from tunesmith.modelfiles.tokens import turn_enders

__all__ = ["LintIssue", "Modelfile", "lint_modelfile", "parse_modelfile"]

_SINGLE = {"from": "FROM", "adapter": "ADAPTER", "template": "TEMPLATE", "system": "SYSTEM"}
_UNSUPPORTED = {"draft", "renderer", "parser", "requires"}
_LOOKS_LIKE_COMMAND = re.compile(r"^\s*(FROM|ADAPTER|TEMPLATE|SYSTEM|PARAMETER|MESSAGE|LICENSE)\s", re.IGNORECASE)


@dataclass
class Modelfile:
    """What a Modelfile says. `parameters` holds typed values (`stop` is always a list of strings)."""

    from_: str
    adapter: str | None = None
    template: str | None = None
    system: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    messages: list[tuple[str, str]] = field(default_factory=list)
    license: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LintIssue:
    """One problem: `line` is 1-based (0 when it concerns the whole file)."""

    line: int
    severity: Literal["error", "warning"]
    message: str


def _check(commands: list[Command]) -> tuple[Modelfile, list[LintIssue]]:
    issues: list[LintIssue] = []
    seen: dict[str, int] = {}
    values: dict[str, Any] = {"parameters": {}, "messages": [], "license": []}

    def error(line: int, message: str) -> None:
        issues.append(LintIssue(line, "error", message))

    for cmd in commands:
        label = f"PARAMETER {cmd.name}" if cmd.keyword == "parameter" else cmd.keyword.upper()
        if not cmd.quoted and "#" in cmd.value:
            error(
                cmd.line,
                f"{label}: the bare value {cmd.value!r} holds a '#', which Ollama keeps as part of the "
                "value (comments only start a line); quote the value if the '#' belongs to it, or move "
                "the comment to its own line",
            )
        if cmd.quoted and cmd.end_line > cmd.line:
            for offset, text in enumerate(cmd.value.splitlines()[1:], start=1):
                if _LOOKS_LIKE_COMMAND.match(text):
                    issues.append(
                        LintIssue(
                            cmd.line + offset,
                            "warning",
                            f"this line looks like a command but is "
                            f"part of the {label} value opened on line {cmd.line}; is its closing "
                            "quote missing, or followed by more text?",
                        )
                    )
                    break
        if cmd.keyword in _UNSUPPORTED:
            error(cmd.line, f"{label} is an Ollama command tunesmith does not handle; remove it from this Modelfile")
        elif cmd.keyword in _SINGLE:
            if cmd.keyword in seen:
                error(cmd.line, f"{label} appears again (first on line {seen[cmd.keyword]}); keep only one")
            seen.setdefault(cmd.keyword, cmd.line)
            values[cmd.keyword] = cmd.value
            if cmd.keyword == "from" and not cmd.value.strip():
                error(cmd.line, "FROM is empty; name a model (e.g. llama3.2) or a path to a GGUF file")
            if cmd.keyword == "template":
                for offset, problem in template_problems(cmd.value):
                    error(cmd.line + offset - 1, f"TEMPLATE: Go's text/template would reject it: {problem}")
        elif cmd.keyword == "message":
            values["messages"].append((cmd.role, cmd.value))
        elif cmd.keyword == "license":
            values["license"].append(cmd.value)
        else:
            _check_parameter(cmd, values["parameters"], seen, error)
    if values.get("template"):
        _check_turn_end(values["template"], values["parameters"].get("stop", []), seen.get("template", 0), issues)
    if "from" not in seen:
        error(0, "there is no FROM line; add one first, e.g. `FROM ./model.gguf` or `FROM llama3.2`")
    modelfile = Modelfile(
        from_=values.get("from", ""),
        adapter=values.get("adapter"),
        template=values.get("template"),
        system=values.get("system"),
        parameters=values["parameters"],
        messages=values["messages"],
        license=values["license"],
    )
    return modelfile, issues


def _check_turn_end(template: str, stop: list[str], line: int, issues: list[LintIssue]) -> None:
    # A turn-ending token no stop names makes the model talk on, unless it is the GGUF's own end-of-generation.
    missing = [token for token in turn_enders(template) if token not in stop]
    if missing:
        issues.append(
            LintIssue(
                line,
                "warning",
                f"TEMPLATE ends messages with {', '.join(missing)} but no PARAMETER "
                f"stop names it; unless it is the model's end-of-generation token, replies will not "
                f"stop: add `PARAMETER stop {missing[0]}`",
            )
        )


def _check_parameter(cmd: Command, parameters: dict[str, Any], seen: dict[str, int], error: Any) -> None:
    name = cmd.name
    if not name:
        error(cmd.line, "PARAMETER has no name (two spaces after PARAMETER?); write `PARAMETER name value`")
    elif name in DEPRECATED_PARAMETERS:
        error(cmd.line, f"PARAMETER {name} is deprecated and Ollama ignores it; remove it")
    elif name not in PARAMETER_TYPES:
        guess = closest_parameter(name)
        hint = f"did you mean {guess}?" if guess else f"valid names: {', '.join(sorted(PARAMETER_TYPES))}"
        error(cmd.line, f"PARAMETER {name} is not a parameter Ollama knows; {hint}")
    else:
        try:
            value = convert_parameter(name, cmd.value)
        except ValueError as err:
            error(cmd.line, f"PARAMETER {err}")
            return
        if name == "stop":
            parameters.setdefault("stop", []).append(value)
        elif f"parameter:{name}" in seen:
            error(
                cmd.line,
                f"PARAMETER {name} is set again (first on line {seen[f'parameter:{name}']}); only stop "
                "may repeat, keep one",
            )
        else:
            seen[f"parameter:{name}"] = cmd.line
            parameters[name] = value


def _read(text: str) -> tuple[Modelfile | None, list[LintIssue]]:
    try:
        commands = scan(text)
    except ScanError as err:
        # Check what came before the syntax error too, but a FROM may well follow it: do not claim one is missing.
        _, issues = _check(err.commands)
        issues = [issue for issue in issues if issue.line != 0]
        return None, [*issues, LintIssue(err.line, "error", f"{err.message}; {err.hint}")]
    return _check(commands)


def lint_modelfile(text: str, source: str | None = None) -> list[LintIssue]:
    """Every problem in a Modelfile's text, in line order. A syntax error stops the reading where Ollama stops.

    `source` (the file's name) is accepted for symmetry with parse_modelfile; issues carry only their line.
    """
    _, issues = _read(text)
    return sorted(issues, key=lambda issue: issue.line)


def parse_modelfile(text: str, source: str | None = None) -> Modelfile:
    """Read a Modelfile; raise ModelfileError at the first error, naming `source:line` and the fix."""
    modelfile, issues = _read(text)
    errors = sorted((issue for issue in issues if issue.severity == "error"), key=lambda issue: issue.line)
    if errors:
        first = errors[0]
        where = f"{source or '<Modelfile>'}:{first.line}" if first.line else (source or "<Modelfile>")
        more = f" ({len(errors) - 1} more: run `tunesmith lint` to list them)" if len(errors) > 1 else ""
        raise ModelfileError(first.message + more, where=where)
    assert modelfile is not None
    return modelfile
