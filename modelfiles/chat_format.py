"""Choose the Ollama template, stop tokens and defaults for a model from its Jinja chat template.

Order: the user's own Go template; else a registry family whose layout renders the model's Jinja template byte for
byte; else a template derived from a linear Jinja template; else a ModelfileError asking for `--template FILE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tunesmith.errors import ModelfileError
from tunesmith.modelfiles.derive import CHECK_CONVERSATIONS, DerivationError, derive_template, go_literal
from tunesmith.modelfiles.families import ChatFamily, detect_family, matching_families
from tunesmith.modelfiles.gotemplate import template_problems
from tunesmith.modelfiles.jinja_chat import ChatTemplateError
from tunesmith.modelfiles.prompt import chat_text

__all__ = ["ChatFormat", "choose_chat_format"]

_TEMPLATE_HINT = ("write the prompt format as an Ollama Go template (see https://github.com/ollama/ollama/blob/main/"
                  "docs/template.md) and pass it with --template FILE")


@dataclass(frozen=True)
class ChatFormat:
    """What goes into the Modelfile for chat: `parameters` are defaults and do not include `stop`."""

    family: str
    template: str
    stop: list[str]
    parameters: dict[str, Any] = field(default_factory=dict)
    source: Literal["registry", "derived", "override"] = "registry"
    note: str = ""


def _with_eos(stop: list[str] | tuple[str, ...], eos_token: str | None) -> list[str]:
    return list(dict.fromkeys([*stop, *([eos_token] if eos_token else [])]))


def _default_system(family: ChatFamily, chat_template: str, bos: str | None, eos: str | None) -> str | None:
    if family.default_system_block is None:
        return None
    opener, closer = family.default_system_block
    try:
        text = chat_text(chat_template, [CHECK_CONVERSATIONS[0][0]], bos_token=bos, eos_token=eos)
    except ChatTemplateError:
        return None
    if text.startswith(opener) and closer in text[len(opener):]:
        return text[len(opener):].split(closer, 1)[0]
    return None


def _registry_match(family: ChatFamily, chat_template: str, bos: str | None, eos: str | None) -> ChatFormat | None:
    """The family's format if it renders every check conversation the model's template accepts exactly as it."""
    default_system = _default_system(family, chat_template, bos, eos)
    checked, rejected = 0, 0
    for conversation in CHECK_CONVERSATIONS:
        try:
            expected = chat_text(chat_template, list(conversation), bos_token=bos, eos_token=eos)
        except ChatTemplateError:
            rejected += 1
            continue
        if family.render(list(conversation), default_system) != expected:
            return None
        checked += 1
    if not checked:
        return None
    template, notes = family.template, [f"chat family {family.name} (its layout matches the model's chat template)"]
    if default_system is not None:
        opener, closer = family.default_system_block or ("", "")
        template = (f"{{{{- if not .System }}}}{go_literal(opener + default_system + closer)}{{{{ end }}}}\n"
                    + template)
        notes.append(f"default system prompt kept from the chat template: {default_system!r}")
    if rejected:
        notes.append("the chat template rejects some conversations (e.g. a system message); the Ollama template "
                     "accepts them")
    return ChatFormat(family.name, template, _with_eos(family.stop, eos), dict(family.parameters), "registry",
                      "; ".join(notes))


def choose_chat_format(chat_template: str | None, *, bos_token: str | None, eos_token: str | None,
                       template_override: str | None = None) -> ChatFormat:
    """The chat format for a model, always with a template; ModelfileError when none can be chosen safely."""
    family = detect_family(chat_template) if chat_template else None
    if template_override is not None:
        problems = template_problems(template_override)
        if problems:
            line, problem = problems[0]
            raise ModelfileError(f"the template given with --template would not load in Ollama: {problem}",
                                 where=f"template line {line}", hint="fix the template and run again")
        stop = _with_eos(family.stop if family else (), eos_token)
        return ChatFormat(family.name if family else "custom", template_override, stop,
                          dict(family.parameters) if family else {}, "override",
                          "template given with --template" + (f"; stop tokens of chat family {family.name}"
                                                              if family else ""))
    if not chat_template:
        raise ModelfileError("the model has no chat template, so tunesmith cannot tell how to format a chat",
                             hint=_TEMPLATE_HINT)
    for candidate in matching_families(chat_template):
        chosen = _registry_match(candidate, chat_template, bos_token, eos_token)
        if chosen is not None:
            return chosen
    try:
        derived = derive_template(chat_template, bos_token=bos_token, eos_token=eos_token)
    except DerivationError as err:
        looks = f" It looks like {family.name} but renders differently." if family else ""
        raise ModelfileError(f"the model's chat template is not in tunesmith's registry and cannot be turned into an "
                             f"Ollama template automatically: {err}.{looks}", hint=_TEMPLATE_HINT) from err
    note = "template derived from the model's chat template (each role's prefix and suffix, checked on sample chats)"
    if family is not None:
        note += f"; it looks like {family.name} but does not render like tunesmith's {family.name} template"
    if "strftime_now" in chat_template:
        note += "; the date the chat template writes is fixed at the day of packaging"
    if derived.system_prefix is None:
        note += "; the chat template takes no system messages, so a SYSTEM prompt is ignored"
    return ChatFormat("derived", derived.go_template(),
                      _with_eos(derived.stop(), eos_token), dict(family.parameters) if family else {"num_ctx": 4096},
                      "derived", note)
