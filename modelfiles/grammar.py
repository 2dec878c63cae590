"""Ollama's Modelfile grammar: split text into commands exactly as Ollama's `parser/parser.go` state machine does.

Hand-written because no Python library reads Modelfiles; it follows Ollama's rules to the letter (values end at the
first newline where their quotes balance, `#` starts a comment only at the start of a line, non-printable runes
are dropped) so that what we accept, reject or quote is what `ollama create` will do with the same file.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from tunesmith.errors import ModelfileError

__all__ = ["COMMANDS", "MESSAGE_ROLES", "Command", "ScanError", "is_printable", "quote_value", "scan"]

# Every command Ollama's parser knows; tunesmith models the first seven.
COMMANDS = (
    "from",
    "adapter",
    "template",
    "system",
    "parameter",
    "message",
    "license",
    "draft",
    "renderer",
    "parser",
    "requires",
)
MESSAGE_ROLES = ("system", "user", "assistant")

_NIL, _NAME, _VALUE, _PARAMETER, _MESSAGE, _COMMENT = range(6)
_SPACE = " \t"
_NEWLINE = "\r\n"


@dataclass(frozen=True)
class Command:
    """One command as Ollama reads it: `keyword` lower-case, `name` set for PARAMETER, `role` for MESSAGE."""

    keyword: str
    value: str
    raw: str
    line: int
    end_line: int
    name: str = ""
    role: str = ""

    @property
    def quoted(self) -> bool:
        return self.raw.startswith('"')


class ScanError(ModelfileError):
    """Text Ollama's parser rejects; `line` is 1-based, `hint` says how to fix it."""

    def __init__(self, line: int, message: str, hint: str) -> None:
        super().__init__(message, where=f"line {line}", hint=hint)
        self.line = line
        self.commands: list[Command] = []  # what was read before the error, so lint can still check it


def is_printable(ch: str) -> bool:
    """Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def _unquote(text: str) -> tuple[str, bool]:
    # parser.go `unquote`: no escapes; a value is quoted when it starts with a quote and balanced when it ends in one.
    if text.startswith('"""'):
        if len(text) >= 6 and text.endswith('"""'):
            return text[3:-3], True
        return "", False
    if text.startswith('"'):
        if len(text) >= 2 and text.endswith('"'):
            return text[1:-1], True
        return "", False
    return text, True


def _step(ch: str, state: int) -> tuple[int, str | None, str | None]:
    """parser.go `parseRuneForState`: the next state, the rune to keep, or an error message."""
    if state == _NIL:
        if ch == "#":
            return _COMMENT, None, None
        if ch in _SPACE or ch in _NEWLINE:
            return _NIL, None, None
        return _NAME, ch, None
    if state == _NAME:
        if ch.isascii() and ch.isalpha():
            return _NAME, ch, None
        if ch in _SPACE:
            return _VALUE, None, None
        return _NIL, None, "name"
    if state == _VALUE:
        if ch in _NEWLINE or ch in _SPACE:
            return _NIL, ch, None
        return _VALUE, ch, None
    if state == _PARAMETER:
        if ch.isascii() and (ch.isalnum() or ch == "_"):
            return _PARAMETER, ch, None
        if ch in _SPACE:
            return _VALUE, None, None
        return _NIL, None, "parameter"
    if state == _MESSAGE:
        if ch.isascii() and ch.isalpha():
            return _MESSAGE, ch, None
        if ch in _SPACE:
            return _VALUE, None, None
        return _NIL, None, "message"
    if ch in _NEWLINE:
        return _NIL, None, None
    return _COMMENT, None, None


def _name_error(line: int, word: str, ch: str, state: int) -> ScanError:
    shown = word if ch.isspace() else word + ch
    what = "the end of the line" if ch in _NEWLINE else repr(ch)
    if state == _PARAMETER:
        return ScanError(
            line,
            f"PARAMETER {shown}: a parameter name may hold only letters, digits and _ and must be "
            "followed by one space and a value",
            "write it as `PARAMETER name value`, e.g. `PARAMETER num_ctx 4096`",
        )
    if state == _MESSAGE:
        return ScanError(
            line,
            f"MESSAGE {shown}: found {what} where a space and the message text should follow",
            'write it as `MESSAGE user "text"`',
        )
    if word.lower() in COMMANDS:
        return ScanError(
            line,
            f"{word.upper()} has no value (found {what} after it)",
            f"put the value on the same line, after one space: `{word.upper()} value`",
        )
    return ScanError(
        line,
        f"{shown!r} is not a Modelfile command",
        "start each line with one of FROM, ADAPTER, TEMPLATE, SYSTEM, PARAMETER, MESSAGE, LICENSE, or # for a comment",
    )


def scan(text: str) -> list[Command]:
    """Split a Modelfile into commands; raise ScanError where Ollama's parser would stop."""
    commands: list[Command] = []
    try:
        _scan(text.removeprefix("\ufeff"), commands)
    except ScanError as err:
        err.commands = commands
        raise
    return commands


def _scan(text: str, commands: list[Command]) -> None:
    state, line, start_line = _NIL, 1, 1
    buf: list[str] = []
    keyword = name = role = ""
    for index, ch in enumerate(text):
        nxt, keep, error = _step(ch, state)
        if error is not None:
            raise _name_error(line, "".join(buf), ch, state)
        if nxt != state:
            word = "".join(buf)
            if state == _NAME:
                lowered = word.lower()
                if lowered not in COMMANDS:
                    raise _name_error(line, word, ch, _NAME)
                keyword, name, role, start_line = lowered, "", "", line
                nxt = {"parameter": _PARAMETER, "message": _MESSAGE}.get(lowered, nxt)
            elif state == _PARAMETER:
                name = word
            elif state == _MESSAGE:
                if word not in MESSAGE_ROLES:
                    raise ScanError(
                        line,
                        f"MESSAGE role {word!r} is not one of system, user, assistant",
                        "roles are lower-case: `MESSAGE user ...` or `MESSAGE assistant ...`",
                    )
                role = word
            elif state == _VALUE:
                raw = word.strip(_SPACE + _NEWLINE)
                value, balanced = _unquote(raw)
                if not balanced or ch in _SPACE:
                    buf.append(ch)
                    if ch == "\n" or (ch == "\r" and text[index + 1 : index + 2] != "\n"):
                        line += 1
                    continue
                commands.append(Command(keyword, value, raw, start_line, line, name, role))
            buf = []
            state = nxt
        if keep is not None and is_printable(keep):
            buf.append(keep)
        if ch == "\n" or (ch == "\r" and text[index + 1 : index + 2] != "\n"):
            line += 1
    if state == _VALUE:
        raw = "".join(buf).strip(_SPACE + _NEWLINE)
        value, balanced = _unquote(raw)
        if not balanced:
            opener = '"""' if raw.startswith('"""') else '"'
            first = raw[len(opener) :].split("\n", 1)[0]
            if opener in first:
                raise ScanError(
                    start_line,
                    f"the {keyword.upper()} value has text after its closing {opener}, so "
                    "Ollama reads on to the end of the file looking for a line ending in a quote",
                    f"end the line with the closing {opener} (comments go on their own line)",
                )
            raise ScanError(
                start_line,
                f"the {keyword.upper()} value opened with {opener} is never closed",
                f"end the value with {opener} at the end of a line",
            )
        commands.append(Command(keyword, value, raw, start_line, line, name, role))
    elif state in (_NAME, _PARAMETER, _MESSAGE):
        raise _name_error(line, "".join(buf), "\n", state)


def _reads_back(candidate: str, value: str) -> bool:
    try:
        commands = scan(f"SYSTEM {candidate}\n")
    except ScanError:
        return False
    return len(commands) == 1 and commands[0].value == value


def quote_value(value: str) -> str:
    """The shortest spelling of `value` that Ollama's parser reads back unchanged; ValueError when none exists.

    Bare when it can be (never with a `#`, which lint flags), else in "quotes", else in \"\"\"triple quotes\"\"\".
    """
    bad = sorted({ch for ch in value if not is_printable(ch) and ch not in "\t\r\n"})
    if bad:
        raise ValueError(f"it holds characters Ollama drops when it reads a Modelfile ({', '.join(map(repr, bad))})")
    candidates = [f'"{value}"', f'"""{value}"""']
    if value and "#" not in value:
        candidates.insert(0, value)
    for candidate in candidates:
        if _reads_back(candidate, value):
            return candidate
    raise ValueError(
        'no quoting reads it back: a line inside it ends with " (or """) and Modelfile values have no escapes'
    )
