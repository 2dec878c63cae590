"""What tells a step that its inputs changed: a cheap identity of a model folder, shared by the trainer (is the
adapter current?) and `tunesmith run` (is the package current?)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["folder_identity"]


def folder_identity(base: Path) -> dict[str, Any]:
    """A model folder as cheaply as it can be told apart: config.json's text and each file's name, size and
    mtime_ns. Hashing gigabytes of weights on every run would cost more than the check saves; replacing the weights
    (or downloading another revision into the same folder) changes a size or an mtime."""
    identity: dict[str, Any] = {"path": str(base)}
    if base.is_dir():
        config_json = base / "config.json"
        identity["config"] = config_json.read_text("utf-8", "replace") if config_json.is_file() else None
        identity["files"] = [
            [path.name, info.st_size, info.st_mtime_ns]
            for path in sorted(base.iterdir())
            if not path.name.startswith(".") and path.is_file()
            for info in [path.stat()]
        ]
    return identity
