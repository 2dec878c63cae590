"""Choose the Ollama template, stop tokens and defaults for a model from its Jinja chat template.

Order: the user's own Go template; else a registry family whose layout renders the model's Jinja template byte for
byte; else a template derived from a linear Jinja template; else a ModelfileError asking for `--template FILE`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from tunesmith.errors import ModelfileError
from tunesmith.modelfiles.check_conversations import THINKING_CHECK_CONVERSATIONS, TOOL_CHECK_CONVERSATIONS
from tunesmith.modelfiles.derive import CHECK_CONVERSATIONS, DerivationError, derive_template, go_literal
from tunesmith.modelfiles.families import ChatFamily, detect_family, matching_families
from tunesmith.modelfiles.gotemplate import template_problems
from tunesmith.modelfiles.jinja_chat import ChatTemplateError
from tunesmith.modelfiles.prompt import chat_text

__all__ = ["ChatFormat", "choose_chat_format"]

_TOOLS_LOST = (
    "the chat template renders tools in a format tunesmith's templates do not carry, so the TEMPLATE has no "
    "tools and Ollama will refuse requests with tools; to keep them, write a TEMPLATE using .Tools and "
    ".ToolCalls and pass it with --template FILE"
)
_THINKING_LOST = (
    "the chat template writes reasoning between <think> tags, but this TEMPLATE has no Ollama "
    "thinking: Ollama offers no `think` for the model and returns any reasoning it writes as answer "
    "text; to have it, write a TEMPLATE with {{ .Thinking }} between <think> tags in the range over "
    ".Messages and pass it with --template FILE"
)
_TEMPLATE_HINT = (
    "write the prompt format as an Ollama Go template (see https://github.com/ollama/ollama/blob/main/"
    "docs/template.md) and pass it with --template FILE"
)


@dataclass(frozen=True)
class ChatFormat:
    """What goes into the Modelfile for chat: `parameters` are defaults and do not include `stop`."""

    family: str
    template: str
    stop: list[str]
    parameters: dict[str, Any] = field(default_factory=dict)
    source: Literal["registry", "derived", "override"] = "registry"
    note: str = ""
    # The tool-call format the template carries (`hermes`: <tool_call> JSON), or None when it renders no tools.
    tools: str | None = None
    # How the template carries reasoning (`think-tags`: between <think> and </think>, switched by Ollama's `think`),
    # or None when it has no thinking.
    thinking: str | None = None


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
    if text.startswith(opener) and closer in text[len(opener) :]:
        return text[len(opener) :].split(closer, 1)[0]
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
    template, tools = family.template, family.tools
    if tools is not None and not _renders_tools_as(family, chat_template, bos, eos, default_system):
        if family.without_tools is None:
            return None
        template, tools = family.plain_template, None
    notes = [f"chat family {family.name} (its layout matches the model's chat template)"]
    if default_system is not None:
        opener, closer = family.default_system_block or ("", "")
        template = f"{{{{- if not .System }}}}{go_literal(opener + default_system + closer)}{{{{ end }}}}\n" + template
        notes.append(f"default system prompt kept from the chat template: {default_system!r}")
    if rejected:
        notes.append(
            "the chat template rejects some conversations (e.g. a system message); the Ollama template accepts them"
        )
    if tools is not None:
        notes.append(f"tools, tool calls ({tools} format) and tool results carried")
    if family.thinking is not None:
        if not _renders_thinking_as(family, chat_template, bos, eos, default_system):
            return None
        notes.append(f"thinking carried ({family.thinking} format, switched by Ollama's think)")
    return ChatFormat(
        family.name,
        template,
        _with_eos(family.stop, eos),
        dict(family.parameters),
        "registry",
        "; ".join(notes),
        tools,
        family.thinking,
    )


def _choose_named(templates: Mapping[str, str], bos: str | None, eos: str | None, override: str | None) -> ChatFormat:
    names = sorted(templates, key=lambda name: (name != "tool_use", name != "default", name))
    chosen: dict[str, ChatFormat] = {}
    failure: ModelfileError | None = None
    for name in names:
        try:
            chosen[name] = choose_chat_format(templates[name], bos_token=bos, eos_token=eos, template_override=override)
        except ModelfileError as err:
            failure = failure or err
    if not chosen:
        raise failure or ModelfileError("the tokenizer's named chat templates are empty", hint=_TEMPLATE_HINT)
    name = next((n for n in chosen if chosen[n].tools), "default" if "default" in chosen else next(iter(chosen)))
    return replace(chosen[name], note=f"named chat template {name!r} of {sorted(templates)}; {chosen[name].note}")


def _renders_tools_as(
    family: ChatFamily, chat_template: str, bos: str | None, eos: str | None, default_system: str | None
) -> bool:
    """Whether the family renders every tools conversation the template accepts as it does, and the template
    accepts one with a call and its result at least (Llama 3.1's refuses two calls at once)."""
    rounds = 0
    for messages, tools in TOOL_CHECK_CONVERSATIONS:
        try:
            expected = chat_text(chat_template, list(messages), bos_token=bos, eos_token=eos, tools=list(tools))
        except ChatTemplateError:
            continue
        if family.render(list(messages), default_system, list(tools)) != expected:
            return False
        rounds += any(m["role"] == "tool" for m in messages)
    return rounds > 0


def _renders_thinking_as(
    family: ChatFamily, chat_template: str, bos: str | None, eos: str | None, default_system: str | None
) -> bool:
    for messages, tools in THINKING_CHECK_CONVERSATIONS:
        for enable_thinking in (None, True, False):
            try:
                expected = chat_text(
                    chat_template,
                    list(messages),
                    bos_token=bos,
                    eos_token=eos,
                    tools=list(tools) or None,
                    enable_thinking=enable_thinking,
                )
            except ChatTemplateError:
                return False
            if (
                family.render(list(messages), default_system, list(tools) or None, enable_thinking=enable_thinking)
                != expected
            ):
                return False
    return True


def _renders_tools(chat_template: str, bos: str | None, eos: str | None) -> bool:
    """Whether the template writes anything of a tools list (then a TEMPLATE without tools loses them)."""
    messages, tools = TOOL_CHECK_CONVERSATIONS[0]
    try:
        return chat_text(chat_template, list(messages), bos_token=bos, eos_token=eos, tools=list(tools)) != chat_text(
            chat_template, list(messages), bos_token=bos, eos_token=eos
        )
    except ChatTemplateError:
        return False


def choose_chat_format(
    chat_template: str | Mapping[str, str] | None,
    *,
    bos_token: str | None,
    eos_token: str | None,
    template_override: str | None = None,
) -> ChatFormat:
    """The chat format for a model, always with a template; ModelfileError when none can be chosen safely.

    A tokenizer may hold several named templates (Hermes 3: `default` and `tool_use`); the Modelfile gets one: the
    first, `tool_use` before `default`, whose tools the TEMPLATE carries, else the `default` one.
    """
    if isinstance(chat_template, Mapping):
        return _choose_named(chat_template, bos_token, eos_token, template_override)
    family = detect_family(chat_template) if chat_template else None
    if template_override is not None:
        problems = template_problems(template_override)
        if problems:
            line, problem = problems[0]
            raise ModelfileError(
                f"the template given with --template would not load in Ollama: {problem}",
                where=f"template line {line}",
                hint="fix the template and run again",
            )
        stop = _with_eos(family.stop if family else (), eos_token)
        return ChatFormat(
            family.name if family else "custom",
            template_override,
            stop,
            dict(family.parameters) if family else {},
            "override",
            "template given with --template" + (f"; stop tokens of chat family {family.name}" if family else ""),
        )
    if not chat_template:
        raise ModelfileError(
            "the model has no chat template, so tunesmith cannot tell how to format a chat", hint=_TEMPLATE_HINT
        )
    for candidate in matching_families(chat_template):
        chosen = _registry_match(candidate, chat_template, bos_token, eos_token)
        if chosen is not None:
            if chosen.tools is None and _renders_tools(chat_template, bos_token, eos_token):
                chosen = replace(chosen, note=chosen.note + "; " + _TOOLS_LOST)
            if chosen.thinking is None and "<think>" in chat_template:
                chosen = replace(chosen, note=chosen.note + "; " + _THINKING_LOST)
            return chosen
    try:
        derived = derive_template(chat_template, bos_token=bos_token, eos_token=eos_token)
    except DerivationError as err:
        looks = f" It looks like {family.name} but renders differently." if family else ""
        raise ModelfileError(
            f"the model's chat template is not in tunesmith's registry and cannot be turned into an "
            f"Ollama template automatically: {err}.{looks}",
            hint=_TEMPLATE_HINT,
        ) from err
    note = "template derived from the model's chat template (each role's prefix and suffix, checked on sample chats)"
    if family is not None:
        note += f"; it looks like {family.name} but does not render like tunesmith's {family.name} template"
    if "strftime_now" in chat_template:
        note += (
            "; the date the chat template writes (strftime_now) is frozen at the day of packaging: every prompt "
            "says that day; to keep it current, write a TEMPLATE that computes it with Ollama's currentDate and "
            "pass it with --template FILE"
        )
    if derived.system_prefix is None:
        note += "; the chat template takes no system messages, so a SYSTEM prompt is ignored"
    if _renders_tools(chat_template, bos_token, eos_token):
        note += "; " + _TOOLS_LOST
    if "<think>" in chat_template:
        note += "; " + _THINKING_LOST
    return ChatFormat(
        "derived",
        derived.go_template(),
        _with_eos(derived.stop(), eos_token),
        dict(family.parameters) if family else {"num_ctx": 4096},
        "derived",
        note,
    )
