"""Typed settings from loose input: msgspec validates, and its errors are re-worded for people.

msgspec says `Expected int >= 1, got 0 - at $.train.max_steps`; a user should read which key, the value they gave,
where it came from (the file or a `--set`) and what is allowed. Both the project config and the server's settings go
through `convert_struct`, so every settings error reads the same.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any, Literal

import msgspec

from tunesmith.errors import ConfigError

__all__ = ["convert_struct"]

T = typing.TypeVar("T")


def convert_struct(
    raw: dict[str, Any],
    kind: type[T],
    *,
    where: str,
    overridden: typing.Sequence[str] = (),
    prefix: str = "",
    hint: str | None = None,
) -> T:
    """`raw` as a `kind`, or a ConfigError naming the key (`prefix` + its path), the value and what is allowed.

    `where` is the file (or other origin) of `raw`; a key listed in `overridden` is reported at `--set KEY`.
    """
    try:
        return msgspec.convert(raw, kind, strict=False)
    except msgspec.ValidationError as err:
        message = str(err)
        match = re.search(r" - at `\$(.*)`$", message)
        reason = message[: match.start()] if match else message
        keys: list[Any] = (
            [int(i) if i else n for n, i in re.findall(r"\.(\w+)|\[(\d+)\]", match.group(1))] if match else []
        )
        unknown = re.match(r"Object contains unknown field `(.+)`", reason)
        if unknown:
            key = ".".join(map(str, keys + [unknown.group(1)]))
            allowed = ", ".join(getattr(_field_type(kind, keys), "__struct_fields__", ()))
            raise ConfigError(
                f"unknown key `{prefix}{key}`",
                where=_origin(key, where, overridden),
                hint=hint or f"Allowed keys here: {allowed}.",
            ) from err
        key = ".".join(map(str, keys))
        allowed = _describe(_field_type(kind, keys))
        raise ConfigError(
            f"`{prefix}{key}` = {_lookup(raw, keys)!r} is not valid ({reason})",
            where=_origin(key, where, overridden),
            hint=hint or (f"Allowed: {allowed}." if allowed else None),
        ) from err


def _origin(key: str, where: str, overridden: typing.Sequence[str]) -> str:
    """`--set KEY` when an override set the bad key (or the section holding it), else the config file."""
    for item in reversed(overridden):
        if key == item or key.startswith(f"{item}.") or item.startswith(f"{key}."):
            return f"--set {item}"
    return where


def _lookup(raw: Any, keys: list[Any]) -> Any:
    for key in keys:
        try:
            raw = raw[key]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _field_type(kind: Any, keys: list[Any]) -> Any:
    current: Any = kind
    for key in keys:
        current = _strip_optional(current)
        if isinstance(key, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, msgspec.Struct):
            current = typing.get_type_hints(current, include_extras=True).get(key)
        else:
            return None
    return current


def _strip_optional(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp


def _describe(tp: Any) -> str:
    tp = _strip_optional(tp)
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    if typing.get_origin(tp) is Annotated:
        base, *metas = typing.get_args(tp)
        bounds = []
        for meta in metas:
            for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                if getattr(meta, attr, None) is not None:
                    bounds.append(f"{sign} {getattr(meta, attr)}")
            if getattr(meta, "pattern", None):
                bounds.append(f"matching {meta.pattern}")
        return f"{base.__name__} {' and '.join(bounds)}".strip()
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp)) if tp is not None else ""
