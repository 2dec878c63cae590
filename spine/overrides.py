"""`--set KEY=VALUE` overrides of a project's settings: `train.learning_rate=1e-4` sets a key inside a section,
`data.0.path=x.csv` indexes a list, and the value is read as YAML (numbers, lists, mappings), as the project file
would write it."""

from __future__ import annotations

import typing
from typing import Any

import yaml

from tunesmith.errors import ConfigError

__all__ = ["apply_overrides", "split_assignment"]


def split_assignment(item: str, *, flag: str, example: str) -> tuple[str, str]:
    """`KEY=VALUE` as (KEY, VALUE), split at the first `=`; ConfigError naming `flag` when it is not one."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{flag} {item!r} is not KEY=VALUE", where=flag, hint=f"Write it as e.g. {example}.")
    return key.strip(), value


def apply_overrides(raw: dict[str, Any], overrides: typing.Sequence[str]) -> dict[str, Any]:
    """Apply `key.sub=value` (`data.0.path=x.csv` indexes lists); the value is read as YAML (numbers, lists...)."""
    for item in overrides:
        key, text = split_assignment(item, flag="--set", example="--set train.learning_rate=1e-4 or --set lora.r=8")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        parts = key.strip().split(".")
        node: Any = raw
        for depth, name in enumerate(parts):
            last = depth == len(parts) - 1
            part: str | int = name
            if isinstance(node, list):
                if not name.isdigit() or int(name) >= len(node):
                    raise ConfigError(
                        f"`{'.'.join(parts[:depth])}` has {len(node)} item(s); index {name!r} does not exist",
                        where=f"--set {key}",
                        hint=f"Use an index from 0 to {len(node) - 1}.",
                    )
                part = int(name)
            elif not isinstance(node, dict):
                raise ConfigError(
                    f"`{'.'.join(parts[:depth])}` is not a section",
                    where=f"--set {key}",
                    hint="Override a key inside a section, e.g. train.max_steps.",
                )
            if last:
                node[part] = value
            else:
                if isinstance(node, dict) and not isinstance(node.get(part), (dict, list)):
                    node[part] = {}
                node = node[part]
    return raw
