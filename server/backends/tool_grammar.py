"""A llama.cpp grammar that makes the embedded model call a tool, in its chat format's own call syntax.

For tool_choice "required" (any of the tools) or a named function, the reply is held to the format's wrapper around
JSON call objects whose arguments follow each tool's `parameters` schema, so even a weak model returns a call the
reply parser reads. A thinking model (Qwen3) may reason in its `<think>` block first, as it would before any call.
llama-cpp-python's `json_schema_to_gbnf` writes the JSON part; the wrapper is added here because llama.cpp knows tool
formats only through its own chat handlers, not a GGUF template's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from tunesmith.server.backends.thinking import CLOSE_TAG, OPEN_TAG
from tunesmith.server.errors import BadRequestError

__all__ = ["CALL_LAYOUTS", "CallLayout", "tool_call_grammar"]


@dataclass(frozen=True)
class CallLayout:
    """How a tool format writes its calls: text before the first, between two (None: one call per reply) and after
    the last, the key of the arguments, and optional keys after them (Mistral's call ids)."""

    opening: str
    between: str | None
    closing: str
    arguments: str = "arguments"
    optional: tuple[tuple[str, dict[str, Any]], ...] = ()


# ChatFormat.tools -> its call layout (the parsers in tool_calls.py read the same text back).
CALL_LAYOUTS: dict[str, CallLayout] = {
    "hermes": CallLayout("<tool_call>\n", "\n</tool_call>\n<tool_call>\n", "\n</tool_call>"),
    # Llama 3.1-3.3 answer a call as the bare JSON object, one per reply.
    "llama3-json": CallLayout("", None, "", arguments="parameters"),
    "mistral": CallLayout(
        "[TOOL_CALLS][", ", ", "]", optional=(("id", {"type": "string", "pattern": "^[a-zA-Z0-9]{9}$"}),)
    ),
}
_ROOT = re.compile(r"^root ::=", re.MULTILINE)
# Reasoning runs to the closing tag: any text without "</" (GBNF has no "anything but this string"), then blank space.
_THOUGHT = f'([^<] | "<" [^/])* {json.dumps(CLOSE_TAG)} [ \\n]*'


def _call_schema(tool: dict[str, Any], layout: CallLayout) -> dict[str, Any]:
    function = tool["function"]
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    return {
        "type": "object",
        "properties": {"name": {"const": function["name"]}, layout.arguments: parameters, **dict(layout.optional)},
        "required": ["name", layout.arguments],
    }


def _schema_error(
    called: list[tuple[int, dict[str, Any]]], layout: CallLayout, order: list[str], err: Exception
) -> BadRequestError:
    """The error naming the first tool whose parameters schema the converter refuses on its own."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    param = "tools"
    for index, tool in called:
        try:
            json_schema_to_gbnf(json.dumps(_call_schema(tool, layout)), order)
        except Exception:  # noqa: BLE001 - the same bare exceptions, tool by tool
            param = f"tools[{index}].function.parameters"
            break
    return BadRequestError(
        f"{param} cannot be turned into a grammar that forces the call: {err}",
        param=param,
        hint='Simplify the parameters schema, or send tool_choice "auto".',
    )


def tool_call_grammar(
    tool_format: str | None,
    tools: list[dict[str, Any]],
    choice: str | dict[str, Any],
    *,
    parallel: bool = True,
    reasoning: Literal["may", "open"] | None = None,
) -> str:
    """GBNF for a reply that is only tool calls: of the named function, or (choice "required") of any tool; one call
    when `parallel` is false or the format writes one. `reasoning`: "may" lets a `<think>` block come first, "open"
    starts inside one (the prompt opened it). Raises `BadRequestError` (param tool_choice) for a format with no known
    layout, or (param tools) for a parameters schema llama.cpp's converter cannot take."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    layout = CALL_LAYOUTS.get(tool_format or "")
    if layout is None:
        raise BadRequestError(
            f"tool_choice {json.dumps(choice)} cannot be enforced for this model: its tool format "
            f"({tool_format or 'none'}) has no call grammar",
            param="tool_choice",
            hint='Send tool_choice "auto" (or leave it out) and let the model decide.',
        )
    named = choice["function"]["name"] if isinstance(choice, dict) else None
    called = [(index, tool) for index, tool in enumerate(tools) if named in (None, tool["function"]["name"])]
    schemas = [_call_schema(tool, layout) for _, tool in called]
    order = ["name", layout.arguments, *(key for key, _ in layout.optional)]
    try:
        calls = json_schema_to_gbnf(json.dumps(schemas[0] if len(schemas) == 1 else {"anyOf": schemas}), order)
    except Exception as err:  # the converter raises bare exceptions for schema features it lacks
        raise _schema_error(called, layout, order, err) from err
    literal = json.dumps  # a JSON string literal is a GBNF literal: the same escapes
    body = "call" if not (parallel and layout.between is not None) else f"call ({literal(layout.between)} call)*"
    wrapper = " ".join(
        part
        for part in (
            literal(layout.opening) if layout.opening else "",
            body,
            literal(layout.closing) if layout.closing else "",
        )
        if part
    )
    thought = {"may": f"({literal(OPEN_TAG)} {_THOUGHT})? ", "open": f"{_THOUGHT} ", None: ""}[reasoning]
    return f"root ::= {thought}{wrapper}\n" + _ROOT.sub("call ::=", calls)
