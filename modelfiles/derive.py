"""Derive an Ollama Go template from a linear Jinja chat template, by rendering it on sentinel conversations.

Like `@huggingface/ollama-utils`, each role's prefix and suffix are read off the rendered text; unlike it, the result
is kept only when re-rendering several other conversations from those pieces gives the Jinja output byte for byte.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tunesmith.errors import ModelfileError
from tunesmith.modelfiles.jinja_chat import ChatTemplateError
from tunesmith.modelfiles.prompt import chat_text
from tunesmith.modelfiles.tokens import special_tokens

__all__ = ["CHECK_CONVERSATIONS", "DerivationError", "DerivedTemplate", "derive_template", "go_literal"]

_U1, _A1, _U2, _SYS = "tsUSERoneQ", "tsASSISTANToneQ", "tsUSERtwoQ", "tsSYSTEMQ"

CHECK_CONVERSATIONS: tuple[tuple[dict[str, str], ...], ...] = (
    ({"role": "user", "content": "What is the capital of France?"},),
    ({"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Name a colour."}),
    (
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello. How can I help?"},
        {"role": "user", "content": "Tell me a joke\nabout cats."},
    ),
    (
        {"role": "system", "content": "Be brief.\nUse plain words."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "6"},
        {"role": "user", "content": "Thanks"},
    ),
)


class DerivationError(ModelfileError):
    """The chat template is not linear (or renders differently from what its pieces predict)."""


@dataclass(frozen=True)
class DerivedTemplate:
    """Pieces of a linear chat format; `render` and `go_template` lay them out the same way."""

    header: str  # written when there is no system prompt (a default system prompt, or nothing)
    system_prefix: str | None  # None: the template rejects or ignores system messages
    system_suffix: str
    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str
    generation: str

    def render(self, messages: list[dict[str, str]]) -> str:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        parts = [
            self.system_prefix + system + self.system_suffix
            if system and self.system_prefix is not None
            else self.header
        ]
        for m in messages:
            if m["role"] == "user":
                parts.append(self.user_prefix + m["content"] + self.user_suffix)
            elif m["role"] == "assistant":
                parts.append(self.assistant_prefix + m["content"] + self.assistant_suffix)
        return "".join(parts) + self.generation

    def go_template(self) -> str:
        turns = (
            f'{{{{ range .Messages }}}}{{{{ if eq .Role "user" }}}}{go_literal(self.user_prefix)}'
            f'{{{{ .Content }}}}{go_literal(self.user_suffix)}{{{{ else if eq .Role "assistant" }}}}'
            f"{go_literal(self.assistant_prefix)}{{{{ .Content }}}}{go_literal(self.assistant_suffix)}"
            f"{{{{ end }}}}{{{{ end }}}}{go_literal(self.generation)}"
        )
        if self.system_prefix is None:
            return go_literal(self.header) + turns
        return (
            f"{{{{ if .System }}}}{go_literal(self.system_prefix)}{{{{ .System }}}}"
            f"{go_literal(self.system_suffix)}{{{{ else }}}}{go_literal(self.header)}{{{{ end }}}}" + turns
        )

    def stop(self) -> list[str]:
        # What ends a turn, and what would open a new user turn; never the assistant's own opening (it may hold
        # <think>, which the model writes first).
        return special_tokens(self.assistant_suffix + self.user_suffix + self.user_prefix)


def go_literal(text: str) -> str:
    """`text` as literal text of a Go template: only `{{` needs care, written as an action printing it."""
    return text.replace("{{", '{{ "{{" }}')


def _cut(text: str, sentinels: list[str]) -> list[str]:
    pieces, rest = [], text
    for sentinel in sentinels:
        if rest.count(sentinel) != 1:
            raise DerivationError(f"a message appears {rest.count(sentinel)} times in the rendering, not once")
        before, rest = rest.split(sentinel)
        pieces.append(before)
    return [*pieces, rest]


def _msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def derive_template(chat_template: str, *, bos_token: str | None, eos_token: str | None) -> DerivedTemplate:
    """The pieces of a linear chat template, checked on CHECK_CONVERSATIONS; DerivationError when it is not linear."""

    def render(messages: list[dict[str, str]], generation: bool = True) -> str:
        return chat_text(
            chat_template, messages, bos_token=bos_token, eos_token=eos_token, add_generation_prompt=generation
        )

    turns = [_msg("user", _U1), _msg("assistant", _A1), _msg("user", _U2)]
    try:
        with_prompt, without_prompt = render(turns), render(turns, generation=False)
    except ChatTemplateError as err:
        raise DerivationError(f"it fails on a plain user/assistant/user conversation ({err})") from err
    if eos_token and not with_prompt.startswith(without_prompt) and without_prompt.endswith(eos_token):
        without_prompt = without_prompt[: -len(eos_token)]  # templates that close a finished chat with EOS
    if not with_prompt.startswith(without_prompt):
        raise DerivationError("the generation prompt is not simply appended to the conversation")
    generation = with_prompt[len(without_prompt) :]
    first, between_ua, between_au, user_suffix = _cut(without_prompt, [_U1, _A1, _U2])
    if not between_ua.startswith(user_suffix):
        raise DerivationError("the text after a user message depends on what follows it")
    assistant_prefix = between_ua[len(user_suffix) :]
    system_rendering = None
    try:
        system_rendering = _cut(render([_msg("system", _SYS), _msg("user", _U1)]), [_SYS, _U1])
    except (ChatTemplateError, DerivationError):
        pass  # the template rejects or ignores system messages
    candidates = [first, between_au] + ([system_rendering[1]] if system_rendering else [])
    user_prefix = os.path.commonprefix([c[::-1] for c in candidates])[::-1]
    system_prefix = system_suffix = None
    if system_rendering:
        between = system_rendering[1]
        system_prefix, system_suffix = system_rendering[0], between[: len(between) - len(user_prefix)]
    derived = DerivedTemplate(
        header=first[: len(first) - len(user_prefix)],
        system_prefix=system_prefix,
        system_suffix=system_suffix or "",
        user_prefix=user_prefix,
        user_suffix=user_suffix,
        assistant_prefix=assistant_prefix,
        assistant_suffix=between_au[: len(between_au) - len(user_prefix)],
        generation=generation,
    )
    for conversation in CHECK_CONVERSATIONS:
        if system_prefix is None and any(m["role"] == "system" for m in conversation):
            continue
        try:
            expected = render(list(conversation))
        except ChatTemplateError as err:
            raise DerivationError(f"it fails on a check conversation ({err})") from err
        if derived.render(list(conversation)) != expected:
            raise DerivationError(
                "re-rendering a check conversation from the derived pieces differs from the Jinja "
                "rendering, so the template is not a simple prefix/suffix layout"
            )
    return derived
