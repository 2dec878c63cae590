"""Write a `Modelfile` as text through modelfiles/modelfile.jinja, quoting each value so Ollama reads it back as is.

The promise, tested on hostile values: `parse_modelfile(render_modelfile(mf)) == mf`. A value Ollama's grammar
cannot hold at all, or a TEMPLATE Go would reject, raises ModelfileError naming the field.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import jinja2

from tunesmith.errors import ModelfileError
from tunesmith.modelfiles.gotemplate import template_problems
from tunesmith.modelfiles.grammar import MESSAGE_ROLES, quote_value
from tunesmith.modelfiles.modelfile import Modelfile
from tunesmith.modelfiles.parameters import DEPRECATED_PARAMETERS, PARAMETER_TYPES, closest_parameter, format_parameter

__all__ = ["render_modelfile"]


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        trim_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
    )
    return env.from_string(resources.files("tunesmith.modelfiles").joinpath("modelfile.jinja").read_text("utf-8"))


def _quoted(value: str, what: str) -> str:
    try:
        return quote_value(value)
    except ValueError as err:
        raise ModelfileError(
            f"{what} cannot be written in a Modelfile: {err}", hint="change the value: Modelfile values have no escapes"
        ) from err


def _parameter_lines(parameters: dict[str, Any]) -> list[tuple[str, str]]:
    lines = []
    for name, value in parameters.items():
        if name not in PARAMETER_TYPES or name in DEPRECATED_PARAMETERS:
            guess = closest_parameter(name)
            raise ModelfileError(
                f"parameter {name!r} is not one Ollama knows" + (f"; did you mean {guess}?" if guess else ""),
                hint=f"valid names: {', '.join(sorted(PARAMETER_TYPES))}",
            )
        items = value if name == "stop" else [value]
        if name == "stop" and not isinstance(value, list):
            raise ModelfileError(f"parameter stop must be a list of strings, not {type(value).__name__}")
        for item in items:
            try:
                text = format_parameter(name, item)
            except ValueError as err:
                raise ModelfileError(f"parameter {err}") from err
            lines.append((name, _quoted(text, f"parameter {name} value {text!r}")))
    return lines


def render_modelfile(mf: Modelfile) -> str:
    """The text of `mf` as a Modelfile: FROM, ADAPTER, TEMPLATE, SYSTEM, PARAMETERs, MESSAGEs, LICENSEs."""
    if not mf.from_.strip():
        raise ModelfileError("FROM is empty", hint="set from_ to a model name or a path to a GGUF file")
    if mf.template is not None and (problems := template_problems(mf.template)):
        line, problem = problems[0]
        raise ModelfileError(
            f"TEMPLATE would not load in Ollama: {problem}", where=f"template line {line}", hint="fix the Go template"
        )
    for role, _ in mf.messages:
        if role not in MESSAGE_ROLES:
            raise ModelfileError(f"message role {role!r} is not one of {', '.join(MESSAGE_ROLES)}")
    optional = {
        key: None if getattr(mf, key) is None else _quoted(getattr(mf, key), key.upper())
        for key in ("adapter", "template", "system")
    }
    return _template().render(
        from_=_quoted(mf.from_, "FROM"),
        parameters=_parameter_lines(mf.parameters),
        messages=[(role, _quoted(content, f"MESSAGE {role}")) for role, content in mf.messages],
        license=[_quoted(text, "LICENSE") for text in mf.license],
        **optional,
    )
