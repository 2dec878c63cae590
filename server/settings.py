"""The server's settings, read once: the YAML config's `serve:` section, then environment variables, then flags.

Every other server module receives a `ServerSettings`; nothing else reads the environment. API keys never appear
in the settings' repr, so logging the settings cannot leak them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tunesmith.errors import ConfigError
from tunesmith.structs import convert_struct
from tunesmith.user_files import read_yaml_file

__all__ = ["API_KEYS_ENV", "ENV_PREFIX", "ServerSettings", "load_settings"]

API_KEYS_ENV = "TUNESMITH_API_KEYS"
ENV_PREFIX = "TUNESMITH_SERVE_"
_LISTS = {"ollama", "models", "api_keys"}


@dataclass(frozen=True)
class ServerSettings:
    """Everything `create_app` needs. `models` are package folders for the embedded backend; `runs` is the folder of
    run folders (runs/<name>/) the runs routes read, whose packages the embedded backend serves too (None: no runs
    folder; `tunesmith serve`, through `load_settings`, takes runs/ of the working directory unless told otherwise).

    Timeouts are seconds: `connect_timeout` to reach an Ollama upstream (then the next is tried), `read_timeout` for
    an upstream's next byte or an embedded model's first piece (then 504).
    """

    ollama: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    runs: str | None = None
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    connect_timeout: float = 5.0
    read_timeout: float = 300.0
    max_body_bytes: int = 10_000_000
    health_interval: float = 10.0
    log_prompts: bool = False
    threads: int | None = None
    # Run packages kept loaded at once by the embedded backend (least recently used unloaded); --model ones not counted.
    max_loaded: int = 2

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "health_interval"):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"{name} must be a positive number of seconds, got {getattr(self, name)}", where=f"serve.{name}"
                )
        if self.max_body_bytes < 1024:
            raise ConfigError(
                f"max_body_bytes must be at least 1024, got {self.max_body_bytes}", where="serve.max_body_bytes"
            )
        if self.max_loaded < 1:
            raise ConfigError(f"max_loaded must be at least 1, got {self.max_loaded}", where="serve.max_loaded")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, got {self.port}", where="serve.port")


def _split(text: str) -> list[str]:
    return [item for item in text.replace(",", " ").split() if item]


def _from_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError("config file does not exist", where=str(path), hint="Pass the path of a YAML file.")
    raw = read_yaml_file(path, what="the config file", error=ConfigError) or {}
    section = raw.get("serve", {}) if isinstance(raw, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(
            "`serve` must be a mapping of settings", where=f"{path}: serve", hint="Write e.g. `serve:\\n  port: 8000`."
        )
    models = section.get("models")
    if isinstance(models, list):
        # Package folders are relative to the config file, like every path in it.
        section["models"] = [str((path.parent / str(item)).resolve()) for item in models]
    runs = section.get("runs")
    if isinstance(runs, str):
        section["runs"] = str((path.parent / runs).resolve())
    return section


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for spec in fields(ServerSettings):
        value = environ.get(ENV_PREFIX + spec.name.upper())
        if value is not None:
            raw[spec.name] = _split(value) if spec.name in _LISTS else value
    if environ.get(API_KEYS_ENV):
        raw["api_keys"] = _split(environ[API_KEYS_ENV])
    return raw


def load_settings(
    config: str | Path | None = None, *, environ: Mapping[str, str] | None = None, **flags: Any
) -> ServerSettings:
    """Layer the YAML `serve:` section, `TUNESMITH_SERVE_*` / `TUNESMITH_API_KEYS`, then flags that are not None.

    A later layer replaces an earlier one key by key; a list given in a later layer replaces the list whole.
    """
    known = {spec.name for spec in fields(ServerSettings)}
    raw: dict[str, Any] = {}
    where = "settings"
    if config is not None:
        where = str(config)
        raw.update(_from_yaml(Path(config)))
    raw.setdefault("runs", "runs")  # the command's default: the runs/ that `tunesmith run` writes
    raw.update(_from_env(os.environ if environ is None else environ))
    for name, value in flags.items():
        if name not in known:
            raise TypeError(f"unknown server setting {name!r}")
        if value is not None and value != ():
            raw[name] = list(value) if isinstance(value, (list, tuple)) else value
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r}",
            where=f"{where}: serve.{unknown[0]}",
            hint=f"Known settings: {', '.join(sorted(known))}.",
        )
    return convert_struct(
        raw,
        ServerSettings,
        where=where,
        prefix="serve.",
        hint="Fix that setting (flag, TUNESMITH_SERVE_* variable or `serve:` key).",
    )
