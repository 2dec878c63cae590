"""The PARAMETER names Ollama accepts and the type of each, as in `api/types.go` (`Options` and `Runner`).

Values are read the way Go's strconv reads them (`ParseInt`, `ParseFloat`, `ParseBool`), so a value we accept is
one Ollama accepts; the table is ours because Ollama publishes it only as Go struct tags.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any

from tunesmith.errors import ModelfileError

__all__ = [
    "DEPRECATED_PARAMETERS",
    "PARAMETER_TYPES",
    "closest_parameter",
    "coerce_parameters",
    "convert_parameter",
    "format_parameter",
]

# json tag -> kind, from api/types.go: Options (predict-time) and Runner (load-time) fields.
PARAMETER_TYPES: dict[str, str] = {
    "num_keep": "int",
    "seed": "int",
    "num_predict": "int",
    "top_k": "int",
    "top_p": "float",
    "min_p": "float",
    "typical_p": "float",
    "repeat_last_n": "int",
    "temperature": "float",
    "repeat_penalty": "float",
    "presence_penalty": "float",
    "frequency_penalty": "float",
    "stop": "list",
    "num_ctx": "int",
    "num_batch": "int",
    "num_gpu": "int",
    "main_gpu": "int",
    "use_mmap": "bool",
    "num_thread": "int",
    "draft_num_predict": "int",
}

# Names Ollama still parses but ignores with a warning (parser.go `deprecatedParameters`).
DEPRECATED_PARAMETERS = frozenset(
    {
        "penalize_newline",
        "low_vram",
        "f16_kv",
        "logits_all",
        "vocab_only",
        "use_mlock",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
    }
)

_INT = re.compile(r"[+-]?[0-9]+")
# strconv.ParseFloat in base 10: digits with an optional fraction and exponent, or inf/infinity/nan.
_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)", re.IGNORECASE)
_BOOLS = {
    "1": True,
    "t": True,
    "T": True,
    "TRUE": True,
    "true": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "FALSE": False,
    "false": False,
    "False": False,
}
_INT64 = 2**63
_KIND_WORDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "list": "text"}


def closest_parameter(name: str) -> str | None:
    """The valid parameter name nearest to `name` (a likely typo), or None when nothing is close."""
    lowered = name.lower().replace("-", "_")
    if lowered in PARAMETER_TYPES:
        return lowered
    matches = difflib.get_close_matches(lowered, PARAMETER_TYPES, n=1, cutoff=0.6)
    return matches[0] if matches else None


def convert_parameter(name: str, text: str) -> Any:
    """Read `text` as the value of parameter `name`; raise ValueError saying what type was expected."""
    kind = PARAMETER_TYPES[name]
    if kind == "list":
        return text
    if kind == "int":
        if not _INT.fullmatch(text) or not -_INT64 <= int(text) < _INT64:
            raise ValueError(f"{name} takes a whole number (like 4096), not {text!r}")
        return int(text)
    if kind == "float":
        if not _FLOAT.fullmatch(text):
            raise ValueError(f"{name} takes a number (like 0.7), not {text!r}")
        return float(text)
    if text not in _BOOLS:
        raise ValueError(f"{name} takes true or false, not {text!r}")
    return _BOOLS[text]


def format_parameter(name: str, value: Any) -> str:
    """The text of one parameter value, such that `convert_parameter(name, text) == value`."""
    kind = PARAMETER_TYPES[name]
    if kind == "bool" and isinstance(value, bool):
        return "true" if value else "false"
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64:
        return str(value)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"{name} cannot be NaN")
        return repr(float(value))
    if kind == "list" and isinstance(value, str):
        return value
    raise ValueError(f"{name} takes {_KIND_WORDS[kind]}, not {type(value).__name__} {value!r}")


def coerce_parameters(parameters: Mapping[str, Any], *, where: str = "--param") -> dict[str, Any]:
    """Typed Modelfile parameters from user input (`--param k=v` strings or YAML values); `stop` becomes a list.

    Raises ModelfileError naming the parameter, the closest valid name or the type it takes.
    """
    typed: dict[str, Any] = {}
    for name, value in parameters.items():
        if name not in PARAMETER_TYPES or name in DEPRECATED_PARAMETERS:
            guess = closest_parameter(name)
            raise ModelfileError(
                f"{name!r} is not a parameter Ollama knows" + (f"; did you mean {guess}?" if guess else ""),
                where=where,
                hint=f"valid names: {', '.join(sorted(PARAMETER_TYPES))}",
            )
        items = value if name == "stop" and isinstance(value, (list, tuple)) else [value]
        try:
            converted = [
                convert_parameter(name, item if isinstance(item, str) else format_parameter(name, item))
                for item in items
            ]
        except ValueError as err:
            raise ModelfileError(str(err), where=f"{where} {name}", hint="give a value of that type") from err
        typed[name] = converted if name == "stop" else converted[0]
    return typed
