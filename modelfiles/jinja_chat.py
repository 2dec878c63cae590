"""Render a Hugging Face Jinja chat template the way transformers' `apply_chat_template` does, without transformers.

The environment matches transformers' (`ImmutableSandboxedEnvironment`, trim_blocks, lstrip_blocks, loop controls,
`raise_exception`, `strftime_now`, its `tojson`), so choosing and deriving Ollama templates needs no tokenizer.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any, TypedDict

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
from jinja2.sandbox import ImmutableSandboxedEnvironment
from typing_extensions import Required, Unpack

from tunesmith.errors import ModelfileError

__all__ = ["ChatTemplateError", "RenderOptions", "render_chat_template"]


class ChatTemplateError(ModelfileError):
    """The chat template failed to compile or raised while rendering (e.g. it rejects a system message)."""


class _Generation(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` marks assistant text for training masks; here it renders as is."""

    tags = {"generation"}  # noqa: RUF012 (jinja2.ext.Extension types `tags` as an instance attribute)

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body).set_lineno(lineno)


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(
    value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None, sort_keys: bool = False
) -> str:
    # transformers overrides Jinja's tojson, which would HTML-escape; templates rely on the plain form.
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@functools.lru_cache(maxsize=32)
def _compile(chat_template: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols, _Generation]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(chat_template)


class RenderOptions(TypedDict, total=False):
    """What a chat template is rendered with besides the messages: the tokenizer's BOS and EOS text (required), whether
    to open the assistant's turn (default True), the tools, and `enable_thinking`, which reaches the template only when
    set, as a keyword of `apply_chat_template` does (Qwen3's template tells "not given" from True)."""

    bos_token: Required[str | None]
    eos_token: Required[str | None]
    add_generation_prompt: bool
    tools: list[dict[str, Any]] | None
    enable_thinking: bool | None


def render_chat_template(chat_template: str, messages: list[dict[str, Any]], **options: Unpack[RenderOptions]) -> str:
    """The text the template makes of `messages` (and `tools`); ChatTemplateError when it cannot."""
    thinking = options.get("enable_thinking")
    extra = {} if thinking is None else {"enable_thinking": thinking}
    try:
        return _compile(chat_template).render(
            messages=messages,
            tools=options.get("tools") or None,  # transformers passes both, as None, when there are none
            documents=None,
            bos_token=options["bos_token"] or "",
            eos_token=options["eos_token"] or "",
            add_generation_prompt=options.get("add_generation_prompt", True),
            **extra,
        )
    except jinja2.exceptions.TemplateError as err:
        raise ChatTemplateError(str(err)) from err
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
        raise ChatTemplateError(f"{type(err).__name__}: {err}") from err
